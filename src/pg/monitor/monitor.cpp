// SQL-callable monitoring and scheduler-control functions written in C++: dependency_tree() and
// _signal_launcher_rescan(). The other monitoring functions and views are plain SQL in the
// extension script ("Scheduling and monitoring" section).
#include <string>
#include <vector>

#include "pg_trickle/core/dependency_tree.hpp"
#include "pg_trickle/pg/args.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/spi.hpp"
#include "pg_trickle/pg/worker.hpp"

extern "C" {
#include "utils/tuplestore.h"
}

using namespace pgtrickle;
using namespace pgtrickle::pg;

namespace {

std::vector<core::TreeRow> dependency_tree_rows() {
    Spi spi;
    std::vector<core::TreeStreamTable> stream_tables;
    for (const auto& r : spi.execute(R"sql(
SELECT n.nspname || '.' || c.relname, st.status, st.refresh_mode
FROM pgtrickle.pgt_stream_tables st
JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace)sql")
                             .rows)
        stream_tables.push_back({*r[0], *r[1], *r[2]});
    std::vector<core::TreeEdge> edges;
    for (const auto& r : spi.execute(R"sql(
SELECT cn.nspname || '.' || cc.relname,
       coalesce(sn.nspname || '.' || sc.relname, d.source_stable_name, d.source_relid::text),
       EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables u WHERE u.pgt_relid = d.source_relid)
FROM pgtrickle.pgt_dependencies d
JOIN pgtrickle.pgt_stream_tables st ON st.pgt_id = d.pgt_id
JOIN pg_catalog.pg_class cc ON cc.oid = st.pgt_relid
JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
LEFT JOIN pg_catalog.pg_class sc ON sc.oid = d.source_relid
LEFT JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace)sql")
                             .rows)
        edges.push_back({*r[0], *r[1], *r[2] == "t"});
    spi.finish();
    return core::render_dependency_tree(stream_tables, edges);
}

Datum optional_text(const std::optional<std::string>& v, bool& is_null) {
    is_null = !v;
    return v ? text_datum(*v) : Datum(0);
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(pgt_dependency_tree);
Datum pgt_dependency_tree(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        const auto rows = dependency_tree_rows();
        pg_call([&] { InitMaterializedSRF(fcinfo, 0); });
        auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
        for (const auto& row : rows) {
            Datum values[6];
            bool nulls[6] = {false, false, false, false, false, false};
            values[0] = text_datum(row.tree_line);
            values[1] = text_datum(row.node);
            values[2] = text_datum(row.node_type);
            values[3] = Int32GetDatum(row.depth);
            values[4] = optional_text(row.status, nulls[4]);
            values[5] = optional_text(row.refresh_mode, nulls[5]);
            pg_call(
                [&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls); });
        }
        return Datum(0);
    });
}

PG_FUNCTION_INFO_V1(pgt_signal_launcher_rescan);
Datum pgt_signal_launcher_rescan(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        worker::wake_launcher_at_commit();
        PG_RETURN_VOID();
    });
}

}  // extern "C"
