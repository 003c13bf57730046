// After a restore (pg_restore, or a dump replayed by psql): the catalog rows, change buffers and
// capture triggers came back named for the OIDs of the dumped database.
//
//  - The catalog's insert triggers (_pgt_remap_*, in the extension script) point each restored
//    row at the relation of its name here, and hold the stream table in ERROR ("restored from a
//    dump: run restore_stream_tables()"): the scheduler leaves it alone while the restore goes
//    on (its rows, indexes and grants may come after the catalog's, in parallel or in the last
//    section; refreshed then, its rows were loaded twice, or its owner could not read yet).
//  - restore_stream_tables(), run once the restore is over, replaces capture made for the old
//    OIDs (triggers, buffers; their changes predate the dump) with capture for the new ones,
//    recomputes the stream tables held, and makes them ACTIVE again.
// Until then writes to the sources of differential stream tables fail (their capture finds no
// buffer, and says to run it); IMMEDIATE maintenance works (its triggers find the catalog by the
// table's OID).
#include <functional>

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/ddl.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/spi.hpp"
#include "refresh/scopes.hpp"

namespace pgtrickle::pg {
namespace {

constexpr const char* kRestoredMessage =
    "restored from a dump: run SELECT pgtrickle.restore_stream_tables() once the restore is "
    "complete";

// Drops pg_trickle's triggers on `relid` named for another relation; when there were any, also
// what capture the table has besides (a buffer of its OID, restored for another relation of
// that OID, or part of its capture), and makes it again whole for the catalog's stream tables.
void rewire(Spi& spi, Oid relid) {
    const std::string id = std::to_string(relid);
    if (!drop_foreign_triggers(spi, relid)) {
        sync_capture(spi, relid);
        return;
    }
    const std::string table = qualified_relation_name(relid);
    auto ours = spi.execute(
        "SELECT tgname FROM pg_catalog.pg_trigger WHERE tgrelid = $1::pg_catalog.oid"
        "   AND tgname ~ '^pg_trickle_(cdc|ivm)_'",
        {id});
    for (const auto& row : ours.rows)
        spi.run(fmt::format("DROP TRIGGER {} ON {}", core::quote_ident(*row[0]), table));
    if (OidIsValid(buffer_oid(relid)))
        spi.run("DROP TABLE pgtrickle_changes." + core::quote_ident("changes_" + id));
    spi.run(
        "UPDATE pgtrickle.pgt_stream_tables SET frontier = NULL, needs_reinit = true"
        " WHERE pgt_id IN (SELECT pgt_id FROM pgtrickle.pgt_dependencies"
        "                  WHERE source_relid = $1::pg_catalog.oid)",
        {id});
    sync_capture(spi, relid);
}

}  // namespace

void restore_stream_tables() {
    Spi spi;
    AsCatalogOwner owner;
    JitOff no_jit;
    // (The insert triggers' work, for rows loaded with triggers disabled: held as they hold.)
    spi.run(R"sql(
UPDATE pgtrickle.pgt_stream_tables st
SET pgt_relid = r.here, frontier = NULL, needs_reinit = true,
    status = CASE WHEN st.status IN ('ERROR', 'SUSPENDED') THEN st.status ELSE 'ERROR' END,
    last_error_message = CASE WHEN st.status IN ('ERROR', 'SUSPENDED') THEN st.last_error_message
                              ELSE $1 END,
    last_error_at = CASE WHEN st.status IN ('ERROR', 'SUSPENDED') THEN st.last_error_at
                         ELSE now() END
FROM (SELECT pgt_id, pg_catalog.to_regclass(pg_catalog.quote_ident(pgt_schema) || '.'
                                             || pg_catalog.quote_ident(pgt_name))::oid AS here
      FROM pgtrickle.pgt_stream_tables) r
WHERE r.pgt_id = st.pgt_id AND r.here IS NOT NULL AND r.here <> st.pgt_relid)sql",
            {kRestoredMessage});
    spi.run(R"sql(
UPDATE pgtrickle.pgt_dependencies d SET source_relid = r.here
FROM (SELECT pgt_id, source_relid, pg_catalog.to_regclass(source_stable_name)::oid AS here
      FROM pgtrickle.pgt_dependencies) r
WHERE r.pgt_id = d.pgt_id AND r.source_relid = d.source_relid
  AND r.here IS NOT NULL AND r.here <> d.source_relid)sql");
    // Every table with a trigger of pg_trickle's named for another OID, and every source of a
    // stream table held: stale triggers go, capture is made as the catalog says. (Not the
    // sources of stream tables in ERROR or SUSPENDED for reasons of their own: a source of
    // theirs that was dropped may have the name, or the dumped OID, of an unrelated table now.)
    // Each in a subtransaction: a table that cannot be captured is left with a WARNING.
    auto tables = spi.execute(R"sql(
SELECT coalesce(pg_catalog.pg_partition_root(t.tgrelid)::pg_catalog.oid, t.tgrelid)
FROM pg_catalog.pg_trigger t  -- (a partition's: its root's, which rewire() mends together)
WHERE t.tgname ~ '^pg_trickle_(cdc|ivm)_[a-z]+_[0-9]+$'
  AND pg_catalog.substring(t.tgname, '_([0-9]+)$') <> t.tgrelid::text
  AND pg_catalog.substring(t.tgname, '_([0-9]+)$') NOT IN (
        SELECT a.relid::pg_catalog.oid::text FROM pg_catalog.pg_partition_ancestors(t.tgrelid) a)
UNION
SELECT d.source_relid FROM pgtrickle.pgt_dependencies d
JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
WHERE st.last_error_message = $1
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = d.source_relid))sql",
                              {kRestoredMessage});
    for (const auto& row : tables.rows) {
        const Oid relid = static_cast<Oid>(std::stoul(*row[0]));
        const std::string failure = attempt([&] { rewire(spi, relid); });
        if (!failure.empty())
            warning(fmt::format("capture of relation {} was not rewired: {}", *row[0], failure));
    }
    // Buffers of no source here.
    auto orphans = spi.execute(R"sql(
SELECT c.relname FROM pg_catalog.pg_class c
WHERE c.relnamespace = 'pgtrickle_changes'::pg_catalog.regnamespace AND c.relkind = 'r'
  AND c.relname ~ '^changes_[0-9]+$'
  AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d
                  WHERE d.source_relid::text = pg_catalog.substring(c.relname, '[0-9]+$')))sql");
    for (const auto& row : orphans.rows)
        spi.run("DROP TABLE pgtrickle_changes." + core::quote_ident(*row[0]) + " CASCADE");
    // The stream tables held: recomputed, upstream first (by the depth of the chain of stream
    // tables each reads through), and released.
    auto held = spi.execute(R"sql(
WITH RECURSIVE depth(pgt_id, level) AS (
    SELECT st.pgt_id, 0 FROM pgtrickle.pgt_stream_tables st
  UNION ALL
    SELECT d.pgt_id, depth.level + 1
    FROM depth
    JOIN pgtrickle.pgt_stream_tables up ON up.pgt_id = depth.pgt_id
    JOIN pgtrickle.pgt_dependencies d ON d.source_relid = up.pgt_relid
    WHERE depth.level < 64)
SELECT st.pgt_id FROM pgtrickle.pgt_stream_tables st
JOIN (SELECT pgt_id, max(level) AS level FROM depth GROUP BY pgt_id) l USING (pgt_id)
WHERE st.last_error_message = $1
ORDER BY l.level, st.pgt_id)sql",
                            {kRestoredMessage});
    // Each in a subtransaction: one whose query fails now stays in ERROR with that reason, and
    // the others are released.
    for (const auto& row : held.rows) {
        auto st = catalog::find_by_id(spi, std::stoll(*row[0]));
        if (!st)
            continue;
        const std::string failure = attempt([&] {
            lock_for_recompute(spi, st->pgt_id);
            refresh(spi, *st, "MANUAL", true);
        });
        if (failure.empty()) {
            spi.run(
                "UPDATE pgtrickle.pgt_stream_tables SET status = 'ACTIVE',"
                " last_error_message = NULL, last_error_at = NULL, consecutive_errors = 0"
                " WHERE pgt_id = $1::bigint",
                {*row[0]});
        } else {
            spi.run(
                "UPDATE pgtrickle.pgt_stream_tables SET last_error_message = $2,"
                " last_error_at = now() WHERE pgt_id = $1::bigint",
                {*row[0], "recomputing it after the restore failed: " +
                              failure.substr(0, failure.find('\n'))});
            warning(fmt::format("stream table {} stays in ERROR: {}", st->display_name(),
                                failure.substr(0, failure.find('\n'))),
                    {}, "Fix the cause, then run SELECT pgtrickle.resume_stream_table(...).");
        }
    }
    spi.finish();
}

}  // namespace pgtrickle::pg

extern "C" {

PG_FUNCTION_INFO_V1(pgt_restore_stream_tables);
Datum pgt_restore_stream_tables(PG_FUNCTION_ARGS) {
    pgtrickle::pg::pg_guard([] { pgtrickle::pg::restore_stream_tables(); });
    PG_RETURN_VOID();
}

}  // extern "C"
