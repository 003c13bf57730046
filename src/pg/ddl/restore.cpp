// After a restore (pg_restore, or a dump replayed by psql): the catalog rows, change buffers and
// capture triggers came back named for the OIDs of the dumped database.
//
//  - The catalog's insert triggers (_pgt_remap_*, in the extension script) point each restored
//    row at the relation of its name here, and take the stream table's frontier away.
//  - The capture triggers come back in the restore's post-data section, each created and then
//    set ENABLE ALWAYS by one ALTER TABLE: at that ALTER TABLE (ddl_command_end), a trigger of
//    pg_trickle's named for another relation is dropped, and once none is left on the table its
//    capture is made again for the stream tables now reading it (a buffer named for its OID).
//    The stream tables refresh FULL next. The buffers of the old OIDs stay: a restore goes on
//    with them after the triggers (their rows, indexes and grants come later, in parallel or in
//    its last section), so they cannot be dropped then; restore_stream_tables() drops them.
//  - restore_stream_tables() does all of it at once, for restores that ran with the triggers
//    disabled (--disable-triggers) or left something behind.
#include <fmt/format.h>

#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/ddl.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/spi.hpp"
#include "refresh/scopes.hpp"

namespace pgtrickle::pg {
namespace {

// pg_trickle's capture and IMMEDIATE triggers on `relid` named for another relation, with the
// OID they name; only those already set ENABLE ALWAYS when `enabled_only`.
const char* const kStaleTriggers = R"sql(
SELECT t.tgname, pg_catalog.substring(t.tgname, '_([0-9]+)$')
FROM pg_catalog.pg_trigger t
WHERE t.tgrelid = $1::pg_catalog.oid
  AND t.tgname ~ '^pg_trickle_(cdc|ivm)_[a-z]+_[0-9]+$'
  AND pg_catalog.substring(t.tgname, '_([0-9]+)$') <> t.tgrelid::text
  AND (NOT $2::boolean OR t.tgenabled = 'A')
ORDER BY 1)sql";

}  // namespace

void rewire_restored_capture(Spi& spi, Oid relid, bool enabled_only) {
    const std::string id = std::to_string(relid);
    auto stale = spi.execute(kStaleTriggers, {id, enabled_only ? "true" : "false"});
    if (stale.empty())
        return;
    AsCatalogOwner owner;
    const std::string table =
        *spi.execute("SELECT $1::pg_catalog.oid::pg_catalog.regclass::text", {id}).scalar();
    for (const auto& row : stale.rows)
        spi.run(fmt::format("DROP TRIGGER {} ON {}", core::quote_ident(*row[0]), table));
    // (The others are dropped at their own ALTER TABLE, which would fail without them.)
    if (!spi.execute(kStaleTriggers, {id, "false"}).empty())
        return;
    // Whatever capture the table has left is made again whole (it may hold only part of it,
    // or a buffer of changes made before the dump); the stream tables reading it refresh FULL
    // next.
    auto left = spi.execute(
        "SELECT tgname FROM pg_catalog.pg_trigger WHERE tgrelid = $1::pg_catalog.oid"
        "   AND tgname ~ '^pg_trickle_(cdc|ivm)_'",
        {id});
    for (const auto& row : left.rows)
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

void restore_stream_tables() {
    Spi spi;
    AsCatalogOwner owner;
    JitOff no_jit;
    // (The insert triggers' work, for rows loaded with triggers disabled.)
    spi.run(R"sql(
UPDATE pgtrickle.pgt_stream_tables st
SET pgt_relid = r.here, frontier = NULL, needs_reinit = true
FROM (SELECT pgt_id, pg_catalog.to_regclass(pg_catalog.quote_ident(pgt_schema) || '.'
                                             || pg_catalog.quote_ident(pgt_name))::oid AS here
      FROM pgtrickle.pgt_stream_tables) r
WHERE r.pgt_id = st.pgt_id AND r.here IS NOT NULL AND r.here <> st.pgt_relid)sql");
    spi.run(R"sql(
WITH moved AS (
    UPDATE pgtrickle.pgt_dependencies d SET source_relid = r.here
    FROM (SELECT pgt_id, source_relid,
                 pg_catalog.to_regclass(source_stable_name)::oid AS here
          FROM pgtrickle.pgt_dependencies) r
    WHERE r.pgt_id = d.pgt_id AND r.source_relid = d.source_relid
      AND r.here IS NOT NULL AND r.here <> d.source_relid
    RETURNING d.pgt_id)
UPDATE pgtrickle.pgt_stream_tables SET frontier = NULL, needs_reinit = true
WHERE pgt_id IN (SELECT pgt_id FROM moved))sql");
    // Every table with a trigger of pg_trickle's, and every source: stale triggers go, capture
    // is made as the catalog says.
    auto tables = spi.execute(R"sql(
SELECT t.tgrelid FROM pg_catalog.pg_trigger t
WHERE t.tgname ~ '^pg_trickle_(cdc|ivm)_[a-z]+_[0-9]+$'
UNION
SELECT source_relid FROM pgtrickle.pgt_dependencies d
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = d.source_relid))sql");
    for (const auto& row : tables.rows) {
        const Oid relid = static_cast<Oid>(std::stoul(*row[0]));
        rewire_restored_capture(spi, relid, false);
        sync_capture(spi, relid);
    }
    // Buffers of no source here.
    auto orphans = spi.execute(R"sql(
SELECT c.relname FROM pg_catalog.pg_class c
WHERE c.relnamespace = 'pgtrickle_changes'::pg_catalog.regnamespace AND c.relkind = 'r'
  AND c.relname ~ '^changes_[0-9]+$'
  AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d
                  WHERE d.source_relid::text = pg_catalog.substring(c.relname, '[0-9]+$')))sql");
    for (const auto& row : orphans.rows)
        spi.run("DROP TABLE pgtrickle_changes." + core::quote_ident(*row[0]));
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
