// Definition checks shared by create_stream_table and alter_stream_table.
#include "definition.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

#include "pg_trickle/core/dag.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/pg/guard.hpp"

namespace pgtrickle::pg {

AnalyzedQuery prepare_definition(Spi& spi, const std::string& query, std::int64_t self) {
    AnalyzedQuery q = analyze_query(query);
    check_can_read(spi, q);
    if (q.order_by_without_limit) {
        warning("ORDER BY without LIMIT has no effect on a stream table",
                "A table has no row order; the stream table keeps all rows.",
                "Order the rows when you query the stream table.");
    }

    // Which sources are stream tables, and the graph between stream tables.
    std::map<Oid, StreamTable> by_relid;
    core::Dag dag;
    for (auto& st : catalog::all(spi)) {
        dag.add_node(st.pgt_id);
        by_relid.emplace(st.relid, st);
    }
    for (const auto& [relid, st] : by_relid) {
        for (const auto& dep : catalog::dependencies(spi, st.pgt_id)) {
            auto up = by_relid.find(dep.source_relid);
            if (up != by_relid.end())
                dag.add_edge(up->second.pgt_id, st.pgt_id);
        }
    }
    std::set<core::Dag::Node> upstream_sts;
    for (auto& src : q.sources) {
        auto it = by_relid.find(src.source_relid);
        if (it == by_relid.end())
            continue;
        src.source_type = "STREAM_TABLE";
        upstream_sts.insert(it->second.pgt_id);
    }
    if (self != 0) {
        if (auto cycle = dag.cycle_if_reads(self, upstream_sts)) {
            std::string path;
            std::map<std::int64_t, std::string> names;
            for (const auto& [relid, st] : by_relid)
                names[st.pgt_id] = st.display_name();
            for (auto n : *cycle)
                path += (path.empty() ? "" : " -> ") + names[n];
            throw core::Error(core::sqlstate::kInvalidRecursion,
                              fmt::format("cycle detected in stream table dependencies: {}", path),
                              {},
                              "A stream table may not read itself, directly or through "
                              "other stream tables.");
        }
    }
    return q;
}

void ensure_owner(const StreamTable& st) {
    Oid relid = st.relid;
    bool owner = pg_call([&] { return pg_class_ownercheck(relid, GetUserId()); });
    if (!owner) {
        throw core::Error(core::sqlstate::kInsufficientPrivilege,
                          fmt::format("must be owner of stream table {}", st.display_name()));
    }
}

}  // namespace pgtrickle::pg
