// Relation references of a query text replaced by other relations (see delta.hpp): the one
// operation every delta term is built from, and the change filters the reads of change buffers
// are built from.
#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "delta_internal.hpp"
#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core {

using detail::join;

std::string substitute(const std::string& text, const std::vector<RelationRef>& refs,
                       const std::vector<std::string>& replacement) {
    std::vector<std::size_t> order(refs.size());
    std::iota(order.begin(), order.end(), 0);
    // Back to front, so earlier offsets stay valid.
    std::sort(order.begin(), order.end(),
              [&](auto a, auto b) { return refs[a].location > refs[b].location; });
    std::string out = text;
    for (auto i : order) {
        if (replacement[i].empty())
            continue;
        std::string r = replacement[i];
        if (!refs[i].projection.empty())
            r = fmt::format("(SELECT {} FROM {})", refs[i].projection, r);
        if (!refs[i].has_alias)
            r += " " + quote_ident(refs[i].refname);
        out.replace(refs[i].location, refs[i].length, r);
    }
    return out;
}

std::string substitute_split(const std::string& text, const std::vector<RelationRef>& refs,
                             const std::vector<std::string>& replacement,
                             const std::vector<bool>& keyed) {
    std::vector<std::size_t> order(refs.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](auto a, auto b) { return refs[a].location > refs[b].location; });
    // A span holding another reference cannot be written twice reference by reference.
    auto alone = [&](std::size_t i) {
        const RelationRef& r = refs[i];
        if (r.split_end == 0 || r.split_begin > r.location || r.location + r.length > r.split_end ||
            r.split_end > text.size())
            return false;
        for (std::size_t j = 0; j < refs.size(); ++j)
            if (j != i && refs[j].location + refs[j].length > r.split_begin &&
                refs[j].location < r.split_end)
                return false;
        const auto marks = std::count(r.split_del.begin(), r.split_del.end(), '\x01');
        return (r.split_op == '|' || r.split_op == '&') && (r.split_del.empty() || marks == 1);
    };
    std::string out = text;
    for (auto i : order) {
        if (replacement[i].empty())
            continue;
        const RelationRef& ref = refs[i];
        const std::string alias = ref.has_alias ? "" : " " + quote_ident(ref.refname);
        const std::string oldh = fmt::format("__pgt_oldh_{}", ref.table);
        if (replacement[i] == oldh && ref.table < keyed.size() && keyed[ref.table] && alone(i)) {
            // Later references are already replaced and earlier ones start before the span,
            // which holds no other: its offsets in `out` are those of `text`.
            const std::string span = out.substr(ref.split_begin, ref.split_end - ref.split_begin);
            const std::size_t at = ref.location - ref.split_begin;
            auto over = [&](const std::string& rel) {
                std::string part = span;
                part.replace(at, ref.length, rel + alias);
                return part;
            };
            std::string deleted = over(fmt::format("__pgt_del_{}", ref.table));
            if (!ref.split_del.empty()) {
                deleted = ref.split_del;
                deleted.replace(deleted.find('\x01'), 1, fmt::format("__pgt_del_{}", ref.table));
            }
            out.replace(ref.split_begin, ref.split_end - ref.split_begin,
                        fmt::format("({} {} {})", over(fmt::format("__pgt_cur_{}", ref.table)),
                                    ref.split_op == '|' ? "OR" : "AND", deleted));
            continue;
        }
        out.replace(ref.location, ref.length,
                    (ref.projection.empty()
                         ? replacement[i]
                         : fmt::format("(SELECT {} FROM {})", ref.projection, replacement[i])) +
                        alias);
    }
    return out;
}

void compose_change_filters(std::vector<DeltaTable>& tables) {
    for (auto& t : tables) {
        if (t.reference_filters.empty())
            continue;
        std::vector<std::string> refs;
        bool unfiltered = false;
        for (const auto& r : t.reference_filters) {
            std::vector<std::string> parts;
            if (!r.own.empty())
                parts.push_back(r.own);
            for (const auto& [table, condition] : r.partners)
                if (table < tables.size() && !tables[table].changed)
                    parts.push_back(condition);
            if (parts.empty()) {
                unfiltered = true;
                break;
            }
            refs.push_back(join(parts, " AND "));
        }
        std::sort(refs.begin(), refs.end());
        refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
        t.change_filter = unfiltered || refs.empty() ? std::string()
                          : refs.size() == 1         ? refs.front()
                                                     : "(" + join(refs, ") OR (") + ")";
    }
}

}  // namespace pgtrickle::core
