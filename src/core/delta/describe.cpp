// A readable description of how a delta plan maintains a query (explain_st's operator_tree).
#include <fmt/format.h>

#include "delta_internal.hpp"

namespace pgtrickle::core {

namespace {

std::string kind_name(AlgebraicColumn::Kind k) {
    switch (k) {
        case AlgebraicColumn::Kind::Key:
            return "group key";
        case AlgebraicColumn::Kind::CountStar:
            return "count(*) from __pgt_count";
        case AlgebraicColumn::Kind::Count:
            return "count from a running non-null count";
        case AlgebraicColumn::Kind::Sum:
            return "sum from a running sum";
        case AlgebraicColumn::Kind::Min:
            return "min kept as it is; the group is rescanned only when a removed value could "
                   "have been the minimum";
        case AlgebraicColumn::Kind::Max:
            return "max kept as it is; the group is rescanned only when a removed value could "
                   "have been the maximum";
        case AlgebraicColumn::Kind::Avg:
            return "avg from a running sum and count";
        case AlgebraicColumn::Kind::Expr:
            return "an expression over running counts and sums";
    }
    return "";
}

std::string products_text(const std::vector<RelationRef>& refs, const Products& products,
                          const std::vector<RestrictedText>& restrictions,
                          const std::vector<DeltaTable>& tables) {
    const Products all = detail::all_products(refs, products);
    std::vector<std::string> sums;
    for (const auto& p : all) {
        std::vector<std::string> factors;
        for (auto i : p) {
            std::string f =
                tables[refs[i].table].qualified_name + " " + quote_ident(refs[i].refname);
            if (refs[i].nonlinear && refs[i].restriction >= 0) {
                const auto& scope =
                    restrictions[static_cast<std::size_t>(refs[i].restriction)].scope;
                f += " (new minus old, restricted to " +
                     (scope.empty() ? std::string("matching rows") : scope) + ")";
            } else if (refs[i].nonlinear) {
                f += " (new minus old, whole)";
            }
            factors.push_back(f);
        }
        sums.push_back(factors.empty() ? "(constant rows)" : detail::join(factors, " JOIN "));
    }
    return detail::join(sums, "\n    UNION ALL ");
}

}  // namespace

std::string describe_plan(const DeltaPlan& plan) {
    std::string out;
    std::vector<std::string> names;
    for (const auto& t : plan.tables)
        names.push_back(t.qualified_name);
    if (plan.recursion && plan.recursion->all)
        return "Recursive (UNION ALL), counting paths: the paths through a deleted source row "
               "leave and the paths through an inserted source row arrive, each followed from "
               "the first changed row it meets to a fixpoint\n  reads: " +
               detail::join(names, ", ") +
               "\n  rows identified by a hash of their content; duplicates kept as copies";
    if (plan.recursion)
        return "Recursive, delete and rederive: rows derived through a deleted source row "
               "are removed with everything derived from them, those still derivable from "
               "the rows that stay come back, and rows derived through an inserted source "
               "row are added, each step iterated to a fixpoint (semi-naive)\n  reads: " +
               detail::join(names, ", ") + "\n  rows identified by a hash of their content";
    if (plan.top_k && !plan.recompute) {
        std::vector<std::string> order;
        for (const auto& item : plan.top_k->order)
            order.push_back(quote_ident(item.column) + " " + item.direction());
        // (The inner query's rows are not stored: its identity line says nothing here.)
        std::string inner;
        std::size_t from = 0;
        const std::string text = describe_plan(*plan.top_k->inner);
        while (from <= text.size()) {
            std::size_t end = text.find('\n', from);
            if (end == std::string::npos)
                end = text.size();
            std::string line = text.substr(from, end - from);
            if (line.rfind("  rows identified", 0) != 0)
                inner += (inner.empty() ? "" : "\n  ") + line;
            from = end + 1;
        }
        return fmt::format(
            "Top-K (ORDER BY {} LIMIT {}): the first rows among those the change leaves in "
            "place and those it brings into the inner query's result, when the last of them "
            "kept sorts no later than the last row stored (else the query is evaluated whole)\n"
            "  rows identified by a hash of their content; duplicates kept as copies\n"
            "  inner query: {}",
            detail::join(order, ", "), plan.top_k->limit, inner);
    }
    if (plan.recompute)
        return "Recomputed (" + plan.recompute_reason +
               "): the query is evaluated whole at each refresh and compared with the stored "
               "rows; only the rows that differ are written\n  reads: " +
               detail::join(names, ", ") +
               (plan.kind == DeltaPlan::Kind::Grouped
                    ? "\n  rows identified by their group key, with their running state"
                    : "\n  rows identified by a hash of their content; duplicates kept as "
                      "copies");
    if (plan.kind == DeltaPlan::Kind::Linear) {
        bool linear = true;
        for (const auto& r : plan.refs)
            linear = linear && !r.nonlinear;
        out =
            (linear ? std::string("Linear (select-project-join)")
                    : std::string("Terms per relation")) +
            ": delta of each join term from the changed rows of one relation, the new state "
            "of the relations before it and the old state of those after it" +
            (linear ? std::string()
                    : std::string("; a relation the query is not linear in (under a window, "
                                  "grouping, DISTINCT, a subquery or the nullable side of an "
                                  "outer join) is read new minus old")) +
            "\n  input: " + products_text(plan.refs, plan.products, plan.restrictions, plan.tables);
        if (plan.key_columns.empty()) {
            out += "\n  rows identified by a hash of their content; duplicates kept as copies";
        } else {
            std::vector<std::string> key;
            for (const auto& k : plan.key_columns)
                key.push_back(quote_ident(k));
            out += "\n  rows identified by their key (" + detail::join(key, ", ") +
                   "), a changed row updated in place";
        }
        return out;
    }
    std::vector<std::string> keys;
    for (const auto& g : plan.group_columns)
        keys.push_back(quote_ident(g));
    if (plan.algebraic.empty()) {
        out = fmt::format(
            "Grouped, rescan: groups touched by the change are recomputed\n"
            "  group key: ({})\n"
            "  {}",
            detail::join(keys, ", "),
            plan.groups_in_one_pass ? "all in one evaluation of the query (no group key column "
                                      "leads an index; IMMEDIATE: per group)"
                                    : "one evaluation of the query per group (the keys filter it)");
    } else {
        out = fmt::format(
            "Grouped, algebraic: running counts and sums per group\n"
            "  group key: ({})",
            detail::join(keys, ", "));
        for (std::size_t i = 0; i < plan.algebraic.size(); ++i)
            out += fmt::format("\n  {}: {}", quote_ident(plan.output_columns[i]),
                               kind_name(plan.algebraic[i].kind));
    }
    out += "\n  input: " +
           products_text(plan.key_refs, plan.key_products, plan.key_restrictions, plan.tables);
    return out;
}

}  // namespace pgtrickle::core
