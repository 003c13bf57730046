// DDL tracking: what happens when relations a stream table depends on are dropped.
//
//  - sql_drop event trigger: a dropped source (table, view, ...) puts every stream table that
//    reads it, and everything downstream of those, into status ERROR with a message; a dropped
//    storage table takes its stream table's catalog row with it.
//  - ProcessUtility hook: DROP EXTENSION pg_trickle first drops every stream table, so the
//    extension leaves nothing behind (CASCADE is passed on to the storage tables' own drops).
#include <algorithm>

#include <fmt/format.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/lifecycle.hpp"
#include "pg_trickle/pg/ddl.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/query_analysis.hpp"
#include "pg_trickle/pg/spi.hpp"
#include "refresh/scopes.hpp"

extern "C" {
#include "utils/rls.h"
}

namespace pgtrickle::pg {

namespace {

void handle_dropped_relations() {
    Spi spi;
    JitOff no_jit;
    // Columns dropped along with another object (DROP TYPE / DOMAIN ... CASCADE drops the
    // columns of that type) from a stream table's storage, or from a source where a stream table
    // reads them: no ALTER TABLE ran, so nothing rebuilt capture or the stream table, and every
    // refresh (for an IMMEDIATE one, every write to the source) would fail. Refused.
    auto columns = spi.execute(R"sql(
SELECT d.object_identity, pg_catalog.string_agg(DISTINCT st.pgt_schema || '.' || st.pgt_name, ', ')
FROM pg_catalog.pg_event_trigger_dropped_objects() d
JOIN pgtrickle.pgt_stream_tables st ON st.pgt_relid = d.objid
     OR EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies dep
                WHERE dep.pgt_id = st.pgt_id AND dep.source_relid = d.objid
                  AND (d.address_names[pg_catalog.array_length(d.address_names, 1)]
                       = ANY (dep.columns_used) OR dep.columns_used IS NULL))
WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid > 0
  AND NOT d.original
GROUP BY d.object_identity ORDER BY 1 LIMIT 1)sql",
                               {});
    if (!columns.empty())
        throw core::Error(
            "2BP01",
            fmt::format("cannot drop column {} because stream table(s) {} use it",
                        columns.rows[0][0].value_or("?"), columns.rows[0][1].value_or("?")),
            "It would be dropped along with the object this statement drops (CASCADE); stream "
            "tables do not follow columns dropped that way.",
            "Drop or alter those stream tables first.");
    // One query, cheap when nothing of ours was dropped: this runs on every DROP in the database.
    auto dropped = spi.execute(R"sql(
SELECT d.objid, d.object_identity,
       EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables st WHERE st.pgt_relid = d.objid)
FROM pg_catalog.pg_event_trigger_dropped_objects() d
WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0
  AND (EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables st WHERE st.pgt_relid = d.objid)
       OR EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies dep WHERE dep.source_relid = d.objid))
)sql",
                               {});
    if (dropped.empty()) {
        spi.finish();
        return;
    }
    AsCatalogOwner owner;
    for (const auto& row : dropped.rows) {
        const std::string& relid = *row[0];
        const std::string message =
            fmt::format("source relation {} was dropped", row[1].value_or(relid));
        // Every stream table downstream of the dropped relation, transitively.
        spi.run(R"sql(
WITH RECURSIVE affected(pgt_id) AS (
    SELECT pgt_id FROM pgtrickle.pgt_dependencies WHERE source_relid = $1::oid
  UNION
    SELECT dep.pgt_id
    FROM affected a
    JOIN pgtrickle.pgt_stream_tables up ON up.pgt_id = a.pgt_id
    JOIN pgtrickle.pgt_dependencies dep ON dep.source_relid = up.pgt_relid
)
UPDATE pgtrickle.pgt_stream_tables
SET status = 'ERROR', last_error_message = $2, last_error_at = now(), updated_at = now()
WHERE pgt_id IN (SELECT pgt_id FROM affected)
)sql",
                {relid, message});
        if (*row[2] == "t") {
            // A storage table dropped directly: forget the stream table, and capture that only
            // it needed.
            // (The storage table is already gone from pg_class: look up by pgt_relid only.)
            auto sources = spi.execute(
                "SELECT d.source_relid FROM pgtrickle.pgt_dependencies d"
                " JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
                " WHERE st.pgt_relid = $1::oid",
                {relid});
            spi.run("DELETE FROM pgtrickle.pgt_stream_tables WHERE pgt_relid = $1::oid", {relid});
            for (const auto& d : sources.rows)
                sync_capture(spi, static_cast<Oid>(std::stoul(*d[0])));
        }
        // The dependency rows of the dropped relation keep its OID but lose its name: a restore
        // (restore.cpp), finding relations by name, would tie the stream tables to a new table
        // of that name.
        spi.run(
            "UPDATE pgtrickle.pgt_dependencies SET source_stable_name = NULL"
            " WHERE source_relid = $1::oid",
            {relid});
        // A dropped source takes its triggers along; its buffer and functions go here.
        sync_capture(spi, static_cast<Oid>(std::stoul(relid)));
    }
    spi.finish();
}

// Why stream table `st`'s defining query no longer describes its storage after DDL on one of
// its sources, or "" when it still does: the query no longer analyses (a source or a column
// renamed, dropped, moved to another schema: the stored text names them), or one of its output
// columns has another type, modifier or collation than the stored column (a retyped column:
// the storage would round, truncate or refuse the new values). Analysed as the stream table's
// owner (who reads its sources), in a subtransaction (the analysis raises the user's error).
std::string definition_broken(Spi& spi, const StreamTable& st) {
    std::string why;
    AsOwner as_owner(relation_owner(st.relid));
    Subtransaction sub;
    try {
        const AnalyzedQuery q = analyze_query(st.defining_query);
        auto stored = spi.execute(
            "SELECT a.attname, a.atttypid, a.atttypmod, a.attcollation"
            " FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1::oid AND a.attnum > 0"
            "   AND NOT a.attisdropped AND a.attname NOT LIKE '\\_\\_pgt\\_%'",
            {std::to_string(st.relid)});
        for (const auto& c : q.columns) {
            const auto it = std::find_if(stored.rows.begin(), stored.rows.end(),
                                         [&](const Row& r) { return *r[0] == c.name; });
            if (it == stored.rows.end()) {
                why = fmt::format("its query no longer returns column {}", c.name);
            } else if (std::stoul(*(*it)[1]) != c.type || std::stol(*(*it)[2]) != c.typmod ||
                       (OidIsValid(c.collation) && std::stoul(*(*it)[3]) != c.collation)) {
                why = fmt::format("its column {} would now be of type {}", c.name, c.type_sql);
            }
            if (!why.empty())
                break;
        }
        // The query as given, which reinitialising derives the stream table from again (after
        // DDL on a function or view it uses): a view it names renamed, say, breaks only this.
        if (why.empty() && st.original_query && st.original_search_path) {
            SearchPath path(*st.original_search_path);
            analyze_query(*st.original_query);
        }
        sub.commit();
    } catch (const PgException& e) {
        // Only names that no longer resolve are the DDL's doing; anything else (a cancel, a
        // lock timeout, a lost privilege) is raised as it is.
        const int code = e.edata()->sqlerrcode;
        if (code != ERRCODE_UNDEFINED_TABLE && code != ERRCODE_UNDEFINED_COLUMN &&
            code != ERRCODE_UNDEFINED_FUNCTION && code != ERRCODE_UNDEFINED_OBJECT &&
            code != ERRCODE_INVALID_SCHEMA_NAME && code != ERRCODE_DATATYPE_MISMATCH &&
            code != ERRCODE_UNDEFINED_SCHEMA)
            throw;
        const std::string message = e.what();
        why = "its query no longer runs: " + message.substr(0, message.find('\n'));
    }
    return why;
}

}  // namespace

void check_readers(Spi& spi, Oid relid, const std::string& what) {
    // Stream tables whose query the DDL broke (the source renamed or moved, a column it
    // reads renamed or retyped): refused while block_source_ddl is on, and always for
    // IMMEDIATE ones (their triggers run the query in every statement writing to the
    // source: each such write would fail); with it off, the others go into ERROR.
    for (const std::int64_t id : catalog::dependents_of(spi, relid)) {
        const auto st = catalog::find_by_id(spi, id);
        const bool immediate = st && st->refresh_mode == "IMMEDIATE";
        // (One already in ERROR, as after a source renamed with block_source_ddl off or held
        // after a restore, is not this DDL's doing: it does not hold up DDL on its other
        // sources. An IMMEDIATE one in ERROR is not maintained either: resuming it recomputes
        // it.)
        if (!st || st->status == "ERROR")
            continue;
        const std::string why = definition_broken(spi, *st);
        if (why.empty())
            continue;
        if (!guc::block_source_ddl && !immediate) {
            // Allowed: the stream table goes into ERROR (a refresh would fail, or store
            // the new values in columns of the old type) until it is given its query again.
            AsCatalogOwner owner;
            spi.run(
                "UPDATE pgtrickle.pgt_stream_tables SET status = 'ERROR',"
                " last_error_message = $2, last_error_at = now(), updated_at = now()"
                " WHERE pgt_id = $1::bigint",
                {std::to_string(id),
                 fmt::format("after ALTER on {}, {}; give it its query again with "
                             "alter_stream_table(query => ...)",
                             what, why)});
            continue;
        }
        throw core::Error(
            core::sqlstate::kObjectNotInPrerequisiteState,
            fmt::format("ALTER on {} would break stream table {}: {}", what, st->display_name(),
                        why),
            immediate ? "An IMMEDIATE stream table runs its query in every statement that "
                        "writes to its sources: the change would make those statements fail."
                      : "Sources that stream tables read may not be renamed or moved, nor "
                        "the columns they read renamed or retyped, while "
                        "pg_trickle.block_source_ddl is on.",
            immediate ? "Drop the stream table before this change and create it again after it, "
                        "or first switch it to FULL with alter_stream_table(refresh_mode => "
                        "'FULL') and SET pg_trickle.block_source_ddl = off (then give it a query "
                        "for the new shape with alter_stream_table(query => ...))."
                      : "Drop the stream table first, or SET pg_trickle.block_source_ddl = off to "
                        "allow it (it then goes into ERROR until alter_stream_table(query => ...) "
                        "gives it a query for the new shape).");
    }
}

namespace {

// Partitioned sources whose tree this DDL changed (CREATE TABLE ... PARTITION OF, ATTACH or
// DETACH PARTITION, at any level): their capture triggers follow the tree (a partition added
// gets them, one detached loses them), and rows that joined or left it without a captured
// statement make their readers' next refresh FULL. A foreign-table partition cannot be captured:
// refused under a DIFFERENTIAL reader, as at creation; FULL readers lose capture (they refresh
// at every schedule).
void follow_partition_trees(Spi& spi) {
    auto roots = spi.execute(R"sql(
SELECT DISTINCT r.root FROM pg_catalog.pg_event_trigger_ddl_commands() d
CROSS JOIN LATERAL (
    SELECT pg_catalog.pg_partition_root(d.objid)::pg_catalog.oid AS root
  UNION ALL  -- (a table detached: the source its capture triggers are for)
    SELECT pg_catalog.substring(t.tgname, '_([0-9]+)$')::pg_catalog.oid
    FROM pg_catalog.pg_trigger t
    WHERE t.tgrelid = d.objid AND t.tgname ~ ('^' || $1 || 'ins_[0-9]+$')) r
WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
  AND EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies dep WHERE dep.source_relid = r.root)
ORDER BY 1)sql",
                             {std::string(core::kCaptureTriggerPrefix)});
    for (const auto& row : roots.rows) {
        const Oid root = static_cast<Oid>(std::stoul(*row[0]));
        if (!capturable(spi, root)) {
            auto reader = spi.execute(
                "SELECT st.pgt_schema || '.' || st.pgt_name, st.refresh_mode"
                " FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st"
                " USING (pgt_id) WHERE d.source_relid = $1::oid AND st.refresh_mode <> 'FULL'"
                " ORDER BY 1 LIMIT 1",
                {*row[0]});
            if (!reader.empty())
                throw core::Error(
                    core::sqlstate::kObjectNotInPrerequisiteState,
                    fmt::format("a foreign table would become a partition of {}, which {} "
                                "stream table {} reads",
                                qualified_relation_name(root), *reader.rows[0][1],
                                *reader.rows[0][0]),
                    "The rows of a foreign table change on its server, where no change capture "
                    "sees them.",
                    "Switch the stream table to FULL first (alter_stream_table(refresh_mode => "
                    "'FULL')), or drop it.");
            sync_capture(spi, root);
            continue;
        }
        if (!OidIsValid(buffer_oid(root)))
            continue;
        if (sync_partition_capture(spi, root))
            add_truncate_marker(spi, root);
        // (Its partitions' triggers switched off by hand: ALTER TABLE ... DISABLE TRIGGER.)
        check_capture_switches(spi, root);
    }
}

}  // namespace

// The checks after ALTER TABLE (or ALTER TYPE ... CASCADE of a typed table's type) on `relid`, a
// source, a buffered table or a stream table's storage: captured columns a stream table reads
// dropped, renamed or retyped are refused (pg_trickle.block_source_ddl), as are queries the
// change breaks (check_readers), row-level security or UNLOGGED under maintained readers; the
// capture switches are checked and the capture rebuilt where its columns or key moved.
void follow_altered_table(Spi& spi, Oid relid) {
    auto name = [&] {
        return spi.execute("SELECT $1::oid::regclass::text", {std::to_string(relid)})
            .scalar()
            .value_or(std::to_string(relid));
    };
    // Captured columns dropped, renamed or retyped.
    const bool buffered = OidIsValid(buffer_oid(relid));
    const auto broken = buffered ? broken_capture_columns(spi, relid) : std::vector<std::string>{};
    // (Captured columns no stream table uses any more, as after alter_stream_table gave
    // one a query without them, only have capture rebuilt: capture keeps columns once added.)
    std::string cols;
    for (const auto& c : broken) {
        const std::string source_column = core::source_column(c);
        if (!spi.execute("SELECT 1 FROM pgtrickle.pgt_dependencies"
                         " WHERE source_relid = $1::oid"
                         "   AND ($2 = ANY (columns_used) OR $3 = ANY (columns_used))",
                         {std::to_string(relid), c, source_column})
                 .empty())
            cols += (cols.empty() ? "" : ", ") + c;
    }
    if (!cols.empty() && guc::block_source_ddl) {
        throw core::Error(
            core::sqlstate::kObjectNotInPrerequisiteState,
            fmt::format("ALTER TABLE on {} would break change capture of column(s) {} used "
                        "by stream tables",
                        name(), cols),
            "Columns that stream tables read may not be dropped, renamed or retyped while "
            "pg_trickle.block_source_ddl is on.",
            "Drop or alter those stream tables first, or SET pg_trickle.block_source_ddl = "
            "off to allow it (their next refresh is then FULL).");
    }
    check_readers(spi, relid, name());
    // Row-level security switched on (or forced) under a DIFFERENTIAL or IMMEDIATE reader
    // whose owner it applies to: the delta would go on reading every row (change buffer,
    // transition tables) where FULL reads through the policies. Refused, as at creation.
    auto readers = spi.execute(
        "SELECT DISTINCT st.pgt_schema || '.' || st.pgt_name, st.pgt_relid"
        " FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
        " WHERE d.source_relid = $1::oid AND st.status <> 'ERROR'"
        "   AND st.refresh_mode IN ('DIFFERENTIAL', 'IMMEDIATE')"
        "   AND (SELECT c.relrowsecurity FROM pg_catalog.pg_class c WHERE c.oid = $1::oid)"
        " ORDER BY 1",
        {std::to_string(relid)});
    for (const auto& reader : readers.rows) {
        const Oid owner = relation_owner(static_cast<Oid>(std::stoul(*reader[1])));
        if (pg_call([&] { return check_enable_rls(relid, owner, true); }) == RLS_ENABLED)
            throw core::Error(
                core::sqlstate::kObjectNotInPrerequisiteState,
                fmt::format("row-level security on {} would apply to the owner of stream "
                            "table {}, which is maintained differentially",
                            name(), *reader[0]),
                "A differential or IMMEDIATE stream table reads the source's changes "
                "without its policies; only a FULL refresh reads through them.",
                "Switch the stream table to FULL first (alter_stream_table(refresh_mode => "
                "'FULL')), or drop it.");
    }
    // Made UNLOGGED under an IMMEDIATE reader: a crash would empty it without a trigger,
    // and an IMMEDIATE stream table has no refresh to catch up. Refused, as at creation.
    auto immediate_unlogged = spi.execute(
        "SELECT pg_catalog.string_agg(DISTINCT st.pgt_schema || '.' || st.pgt_name, ', ')"
        " FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
        " WHERE d.source_relid = $1::oid AND st.refresh_mode = 'IMMEDIATE'"
        "   AND st.status <> 'ERROR'"
        "   AND (SELECT c.relpersistence FROM pg_catalog.pg_class c WHERE c.oid = $1::oid)"
        "       = 'u'",
        {std::to_string(relid)});
    if (auto readers = immediate_unlogged.scalar())
        throw core::Error(
            core::sqlstate::kObjectNotInPrerequisiteState,
            fmt::format("{} would become UNLOGGED, but IMMEDIATE stream table(s) {} read it",
                        name(), *readers),
            "A crash empties an UNLOGGED table without firing any trigger, and an IMMEDIATE "
            "stream table has no refresh to catch up.",
            "Switch the stream table to DIFFERENTIAL first (alter_stream_table(refresh_mode "
            "=> 'DIFFERENTIAL')), or drop it.");
    check_capture_switches(spi, relid);
    // Capture rebuilt for the source's columns as they are now; also when a primary key
    // was added or moved to columns the buffer lacks (the deltas identify rows by the key).
    // The dependents then refresh FULL (their buffered changes are gone).
    if (buffered && (!broken.empty() || key_uncaptured(spi, relid)))
        rebuild_capture(spi, relid);
}

namespace {

void handle_altered_tables() {
    // pg_trickle's own DDL (storage tables, change buffers, capture triggers) is not checked.
    if (running_own_statement())
        return;
    // (Before any statement of ours runs: each notes its own.)
    const auto retyped = take_retyped_columns();
    Spi spi;
    JitOff no_jit;
    // A table whose row type is a column's type elsewhere: its values print other fields.
    handle_noted_type_change(spi);
    // The catalog follows renames and moves of storage tables and sources.
    catalog::follow_renames(spi);
    // A source of a DIFFERENTIAL or IMMEDIATE stream table that has become part of an
    // inheritance tree (ATTACH PARTITION, INHERIT, CREATE TABLE ... INHERITS): statements on the
    // parent read and write the children's rows, and fire only the parent's statement triggers,
    // so change capture on the source would miss changes made through the parent (or to the
    // children of a source that is the parent). Such sources are refused when a stream table is
    // created; the DDL is refused here, whatever block_source_ddl says (allowed, the stream
    // table would go stale without an error).
    auto inherited = spi.execute(R"sql(
SELECT x.source, x.st, x.refresh_mode, x.relid FROM (
    SELECT DISTINCT s.oid::pg_catalog.regclass::text AS source,
           st.pgt_schema || '.' || st.pgt_name AS st, st.refresh_mode, s.oid AS relid
    FROM pg_catalog.pg_event_trigger_ddl_commands() d
    CROSS JOIN LATERAL (  -- (two index scans, not a scan of every inheritance link)
        SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = d.objid
        UNION ALL
        SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhparent = d.objid) i
    JOIN pg_catalog.pg_class s ON s.oid IN (i.inhrelid, i.inhparent)
         -- (a partitioned source gaining partitions is captured on them: below)
         AND NOT (s.oid = i.inhparent AND s.relkind = 'p')
    JOIN pgtrickle.pgt_dependencies dep ON dep.source_relid = s.oid
    JOIN pgtrickle.pgt_stream_tables st ON st.pgt_id = dep.pgt_id
    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass) x
ORDER BY x.refresh_mode = 'FULL', x.source, x.st)sql");
    if (!inherited.empty() && *inherited.rows[0][2] != "FULL") {
        const Row& r = inherited.rows[0];
        throw core::Error(
            core::sqlstate::kObjectNotInPrerequisiteState,
            fmt::format("{} would become part of an inheritance tree (a partition, a parent or a "
                        "child), but {} stream table {} reads it",
                        *r[0], *r[2], *r[1]),
            "Writes through a parent table do not fire the statement triggers of its children, "
            "which capture the changes DIFFERENTIAL and IMMEDIATE stream tables are maintained "
            "from.",
            "Switch the stream table to FULL first (alter_stream_table(refresh_mode => 'FULL')), "
            "or drop it.");
    }
    // A stream table's storage made a partition or an inheritance child (ATTACH PARTITION,
    // INHERIT), or a parent: statements on the parent write the storage without firing its
    // guard, the parent's BEFORE ROW triggers are copied to a partition, and a parent's rows
    // would show in the stream table.
    auto storage_inherits = spi.execute(
        "SELECT st.pgt_schema || '.' || st.pgt_name"
        " FROM pg_catalog.pg_event_trigger_ddl_commands() d"
        " JOIN pg_catalog.pg_inherits i ON d.objid IN (i.inhrelid, i.inhparent)"
        " JOIN pgtrickle.pgt_stream_tables st ON st.pgt_relid IN (i.inhrelid, i.inhparent)"
        " WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        " ORDER BY 1 LIMIT 1");
    if (!storage_inherits.empty())
        throw core::Error(
            core::sqlstate::kFeatureNotSupported,
            fmt::format("stream table {} cannot be part of an inheritance tree (a partition, a "
                        "parent or a child)",
                        *storage_inherits.rows[0][0]),
            "Writes through a parent would change it without pg_trickle, and rows of a child "
            "would show in it.",
            "Copy its rows into a table of your own, or read it through a view.");
    // Only FULL stream tables read them: their capture, which tells a FULL refresh whether
    // anything changed, goes (capturable() is false now); they refresh at every schedule.
    for (const auto& r : inherited.rows)
        sync_capture(spi, static_cast<Oid>(std::stoul(*r[3])));
    follow_partition_trees(spi);
    // Sources with a change buffer, sources of any stream table (IMMEDIATE ones have none), and
    // storage tables (their guards).
    auto altered = spi.execute(
        "SELECT DISTINCT d.objid FROM pg_catalog.pg_event_trigger_ddl_commands() d"
        " WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        "   AND (EXISTS (SELECT 1 FROM pg_catalog.pg_class b"
        "     WHERE b.relnamespace = 'pgtrickle_changes'::pg_catalog.regnamespace"
        "       AND b.relname = 'changes_' || d.objid)"
        "     OR EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies dep"
        "       WHERE dep.source_relid = d.objid)"
        "     OR EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables st"
        "       WHERE st.pgt_relid = d.objid))");
    for (const auto& row : altered.rows)
        follow_altered_table(spi, static_cast<Oid>(std::stoul(*row[0])));
    // Columns retyped (values rewritten, to the same type too) under their readers.
    handle_retyped_columns(spi, retyped);
    spi.finish();
}

bool extension_installed() {
    Oid ext = pg_call([] { return get_extension_oid("pg_trickle", true); });
    return OidIsValid(ext);
}

void drop_all_stream_tables(bool cascade) {
    if (!extension_installed())
        return;
    Spi spi;
    AsCatalogOwner owner;
    // Each still-present stream table with whatever reads it; change capture goes with the
    // last reader of each source.
    for (const auto& st : catalog::all(spi)) {
        if (catalog::find_by_id(spi, st.pgt_id))
            drop_stream_table_now(spi, st, cascade);
    }
    // Buffers left by sources dropped earlier.
    auto leftovers = spi.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relnamespace = "
        "'pgtrickle_changes'::regnamespace AND c.relkind = 'r'"
        " AND c.relname LIKE 'changes\\_%'");
    for (const auto& r : leftovers.rows)
        spi.run("DROP TABLE pgtrickle_changes." + core::quote_ident(*r[0]));
    spi.finish();
}

bool drops_this_extension(Node* stmt, bool* cascade) {
    if (!IsA(stmt, DropStmt))
        return false;
    auto* drop = reinterpret_cast<DropStmt*>(stmt);
    if (drop->removeType != OBJECT_EXTENSION)
        return false;
    ListCell* lc;
    foreach (lc, drop->objects) {
        if (strcmp(strVal(lfirst(lc)), "pg_trickle") == 0) {
            *cascade = drop->behavior == DROP_CASCADE;
            return true;
        }
    }
    return false;
}

ProcessUtility_hook_type previous_utility_hook = nullptr;

}  // namespace

}  // namespace pgtrickle::pg

extern "C" {

PG_FUNCTION_INFO_V1(pgt_on_ddl_end);
Datum pgt_on_ddl_end(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pgtrickle._on_ddl_end() may only be called as an event trigger")));
    pgtrickle::pg::pg_guard([] { pgtrickle::pg::handle_altered_tables(); });
    PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(pgt_on_sql_drop);
Datum pgt_on_sql_drop(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pgtrickle._on_sql_drop() may only be called as an event trigger")));
    pgtrickle::pg::pg_guard([] {
        pgtrickle::pg::handle_dropped_relations();
        pgtrickle::pg::track_dropped_functions();
        pgtrickle::pg::track_dropped_triggers();
    });
    PG_RETURN_NULL();
}

static void pgt_process_utility(PlannedStmt* pstmt, const char* query_string, bool read_only_tree,
                                ProcessUtilityContext context, ParamListInfo params,
                                QueryEnvironment* query_env, DestReceiver* dest,
                                QueryCompletion* qc) {
    bool cascade = false;
    if (pgtrickle::pg::drops_this_extension(pstmt->utilityStmt, &cascade)) {
        pgtrickle::pg::pg_guard([&] { pgtrickle::pg::drop_all_stream_tables(cascade); });
    }
    if (IsA(pstmt->utilityStmt, CreateTrigStmt) || IsA(pstmt->utilityStmt, RuleStmt))
        pgtrickle::pg::pg_guard(
            [&] { pgtrickle::pg::refuse_stream_table_hooks(pstmt->utilityStmt); });
    if (IsA(pstmt->utilityStmt, RenameStmt) || IsA(pstmt->utilityStmt, AlterObjectSchemaStmt))
        pgtrickle::pg::pg_guard([&] {
            pgtrickle::pg::refuse_trigger_renames(pstmt->utilityStmt);
            pgtrickle::pg::note_renames(pstmt->utilityStmt);
        });
    if (IsA(pstmt->utilityStmt, AlterEnumStmt) || IsA(pstmt->utilityStmt, AlterTableStmt))
        pgtrickle::pg::pg_guard([&] { pgtrickle::pg::note_renames(pstmt->utilityStmt); });
    // No C++ object is alive in this frame: the next hook may longjmp through it.
    if (pgtrickle::pg::previous_utility_hook != nullptr)
        pgtrickle::pg::previous_utility_hook(pstmt, query_string, read_only_tree, context, params,
                                             query_env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env,
                                dest, qc);
}

}  // extern "C"

namespace pgtrickle::pg {
void install_ddl_hooks() {
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = pgt_process_utility;
}
}  // namespace pgtrickle::pg
