// Change capture management: reconciling buffers and triggers with what the stream tables need.
#include "pg_trickle/pg/cdc.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/immediate.hpp"
#include "pg_trickle/pg/worker.hpp"

extern "C" {
#include "storage/lmgr.h"
#include "utils/snapmgr.h"
}

namespace pgtrickle::pg {

namespace {

// Columns of the existing buffer, as source column names (empty optional: no buffer).
std::optional<std::vector<std::string>> buffer_columns(Spi& spi, Oid relid) {
    auto exists =
        spi.execute("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {core::buffer_table(relid)});
    if (*exists.scalar() != "t")
        return std::nullopt;
    auto res = spi.execute(
        "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass($1)"
        " AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('xid', 'seq', 'action')"
        " ORDER BY attnum",
        {core::buffer_table(relid)});
    std::vector<std::string> out;
    for (const auto& r : res.rows) {
        std::string n = *r[0];
        if (n.rfind("__usr_", 0) == 0)
            n = n.substr(6);
        out.push_back(n);
    }
    return out;
}

void run_all(Spi& spi, const std::vector<std::string>& statements) {
    for (const auto& s : statements)
        spi.run(s);
}

}  // namespace

bool capturable(Spi& spi, Oid relid) {
    auto r = spi.execute(
        "SELECT c.relkind = 'r' AND NOT c.relhassubclass FROM pg_catalog.pg_class c"
        " WHERE c.oid = $1::oid",
        {std::to_string(relid)});
    return r.scalar() == Value("t");
}

void sync_capture(Spi& spi, Oid relid) {
    sync_change_buffer(spi, relid);
    sync_immediate_triggers(spi, relid);
}

void sync_change_buffer(Spi& spi, Oid relid) {
    AsCatalogOwner owner;
    const std::string id = std::to_string(relid);
    auto deps = spi.execute(
        "SELECT d.columns_used FROM pgtrickle.pgt_dependencies d"
        " JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
        " WHERE d.source_relid = $1::oid AND st.refresh_mode <> 'IMMEDIATE'",
        {id});
    auto qualified = spi.execute(
        "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = $1::oid",
        {id});
    auto existing = buffer_columns(spi, relid);
    if (deps.empty() || qualified.empty() || !capturable(spi, relid)) {
        if (existing)
            run_all(spi, core::drop_capture_ddl(relid, qualified.scalar().value_or(""),
                                                !qualified.empty()));
        return;
    }

    // Wanted: key columns, then every column some consumer uses.
    std::vector<std::string> wanted = primary_key(spi, relid);
    for (const auto& row : deps.rows) {
        if (!row[0])
            continue;
        auto cols = spi.execute("SELECT pg_catalog.unnest($1::text[])", {row[0]});
        for (const auto& c : cols.rows)
            if (std::find(wanted.begin(), wanted.end(), *c[0]) == wanted.end())
                wanted.push_back(*c[0]);
    }
    // Columns a stream table recorded but the source no longer has (dropped or renamed under
    // pg_trickle.block_source_ddl = off) cannot be captured; that stream table's refresh will
    // report it.
    auto present = spi.execute(
        "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = $1::oid AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = ''",
        {id});
    std::set<std::string> source_columns;
    for (const auto& r : present.rows)
        source_columns.insert(*r[0]);
    wanted.erase(std::remove_if(wanted.begin(), wanted.end(),
                                [&](const std::string& c) { return !source_columns.count(c); }),
                 wanted.end());
    std::vector<std::string> have = existing.value_or(std::vector<std::string>{});
    std::vector<std::string> missing;
    for (const auto& w : wanted)
        if (std::find(have.begin(), have.end(), w) == have.end())
            missing.push_back(w);
    // The stream tables' owners read the buffer when they refresh (they may read the source).
    auto grant_readers = [&] {
        auto owners = spi.execute(
            "SELECT DISTINCT pg_catalog.quote_ident(r.rolname) FROM pgtrickle.pgt_dependencies d"
            " JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
            " JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid"
            " JOIN pg_catalog.pg_roles r ON r.oid = c.relowner WHERE d.source_relid = $1::oid",
            {id});
        for (const auto& o : owners.rows)
            spi.run(fmt::format("GRANT SELECT ON {} TO {}", core::buffer_table(relid), *o[0]));
        // Owners of stream tables that no longer read it lose access (and can be dropped).
        auto stale = spi.execute(
            "SELECT DISTINCT pg_catalog.quote_ident(r.rolname)"
            " FROM pg_catalog.pg_class b, pg_catalog.aclexplode(b.relacl) a"
            " JOIN pg_catalog.pg_roles r ON r.oid = a.grantee"
            " WHERE b.oid = pg_catalog.to_regclass($2) AND a.grantee <> b.relowner"
            "   AND a.grantee NOT IN (SELECT c.relowner FROM pgtrickle.pgt_dependencies d"
            "     JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
            "     JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid WHERE d.source_relid = "
            "$1::oid)",
            {id, core::buffer_table(relid)});
        for (const auto& o : stale.rows)
            spi.run(fmt::format("REVOKE ALL ON {} FROM {}", core::buffer_table(relid), *o[0]));
    };
    if (existing && missing.empty()) {
        grant_readers();
        return;
    }

    // The buffer column has the source column's collation: the delta compares and sorts the
    // changed rows' values as the query does the table's (`name < 'a'` under "C" and under an
    // ICU collation keep different rows).
    auto column_of = [&](const std::string& name) {
        Value type = spi.execute(
                            "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod)"
                            " || CASE WHEN a.attcollation <> t.typcollation"
                            "    THEN ' COLLATE ' || a.attcollation::pg_catalog.regcollation::text"
                            "    ELSE '' END"
                            " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t"
                            " ON t.oid = a.atttypid WHERE a.attrelid = $1::oid AND a.attname = $2",
                            {id, name})
                         .scalar();
        return core::Column{name, *type};
    };
    core::CaptureSource src;
    src.relid = relid;
    src.qualified_name = *qualified.scalar();
    for (const auto& c : have)
        src.columns.push_back(column_of(c));
    std::vector<core::Column> added;
    for (const auto& c : missing)
        added.push_back(column_of(c));
    if (!existing) {
        src.columns = added;
        run_all(spi, core::buffer_ddl(src));
        spi.run(fmt::format("REVOKE ALL ON {} FROM PUBLIC", core::buffer_table(relid)));
    } else {
        run_all(spi, core::add_buffer_columns_ddl(relid, added));
        src.columns.insert(src.columns.end(), added.begin(), added.end());
    }
    run_all(spi, core::capture_ddl(src));
    grant_readers();
}

std::vector<CapturedSource> captured_sources(Spi& spi, std::int64_t pgt_id) {
    auto res = spi.execute(
        "SELECT d.source_relid, EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
        "  WHERE c.relnamespace = 'pgtrickle_changes'::pg_catalog.regnamespace"
        "    AND c.relname = 'changes_' || d.source_relid)"
        " FROM pgtrickle.pgt_dependencies d"
        " WHERE d.pgt_id = $1::bigint AND d.source_type <> 'VIEW'"  // views: DDL tracking only
        " ORDER BY d.source_relid",
        {std::to_string(pgt_id)});
    std::vector<CapturedSource> out;
    for (const auto& r : res.rows)
        out.push_back({static_cast<Oid>(std::stoul(*r[0])), *r[1] == "t"});
    return out;
}

std::vector<std::string> broken_capture_columns(Spi& spi, Oid relid) {
    auto res = spi.execute(
        "SELECT a.attname FROM pg_catalog.pg_attribute a"
        " WHERE a.attrelid = pg_catalog.to_regclass($2) AND a.attnum > 0 AND NOT a.attisdropped"
        "   AND a.attname NOT IN ('xid', 'seq', 'action')"
        "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute s"
        "     WHERE s.attrelid = $1::oid AND s.attnum > 0 AND NOT s.attisdropped"
        "       AND (s.attname = a.attname OR '__usr_' || s.attname = a.attname)"
        "       AND s.atttypid = a.atttypid AND s.atttypmod = a.atttypmod"
        "       AND s.attcollation = a.attcollation)"
        " ORDER BY a.attnum",
        {std::to_string(relid), core::buffer_table(relid)});
    std::vector<std::string> out;
    for (const auto& r : res.rows)
        out.push_back(*r[0]);
    return out;
}

void rebuild_capture(Spi& spi, Oid relid) {
    {
        AsCatalogOwner owner;
        auto qualified = spi.execute("SELECT $1::oid::regclass::text", {std::to_string(relid)});
        for (const auto& s : core::drop_capture_ddl(relid, *qualified.scalar(), true))
            spi.run(s);
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET frontier = NULL, needs_reinit = true"
            " WHERE pgt_id IN (SELECT pgt_id FROM pgtrickle.pgt_dependencies"
            "                  WHERE source_relid = $1::oid)",
            {std::to_string(relid)});
    }
    sync_capture(spi, relid);
}

namespace {

// Rows of buffer `b` that every consumer has consumed, given the cutoff $2 of trim_buffer.
std::string consumed_condition(const std::string& b) {
    return fmt::format(
        "{0}.xid < $2::pg_catalog.xid8"
        " AND {0}.xid <> ALL (ARRAY(SELECT (st.frontier->>'own_xid')::pg_catalog.xid8"
        " FROM pgtrickle.pgt_stream_tables st JOIN pgtrickle.pgt_dependencies d"
        " USING (pgt_id) WHERE d.source_relid = $1::oid"
        " AND st.frontier->>'own_xid' IS NOT NULL))",
        b);
}

// pg_trickle.cleanup_use_truncate: when every row of the buffer has been consumed, TRUNCATE it
// instead of deleting row by row (constant time, and no dead rows for autovacuum). Only with
// the buffer locked exclusively at once: a writer holds its lock on the buffer until it
// commits, so none is in progress then, and none can start until this transaction ends; a
// snapshot taken under the lock sees every row, those committed after the refresh's snapshot
// included. Not inside a transaction block: the lock, held to its end, would stop writers.
bool truncate_consumed(Spi& spi, Oid relid, const std::string& cutoff) {
    if (!guc::cleanup_use_truncate || pg_call([] { return IsTransactionBlock(); }))
        return false;
    const std::string name = "changes_" + std::to_string(relid);
    const Oid buffer = pg_call([&] {
        return get_relname_relid(name.c_str(), get_namespace_oid("pgtrickle_changes", false));
    });
    if (!OidIsValid(buffer) ||
        !pg_call([&] { return ConditionalLockRelationOid(buffer, AccessExclusiveLock); }))
        return false;
    spi.use_snapshot(pg_call([] { return GetLatestSnapshot(); }));
    Value unconsumed;
    try {
        unconsumed = spi.execute(fmt::format("SELECT EXISTS (SELECT 1 FROM {} b WHERE NOT ({}))",
                                             core::buffer_table(relid), consumed_condition("b")),
                                 {std::to_string(relid), cutoff})
                         .scalar();
    } catch (...) {
        spi.use_snapshot(nullptr);
        throw;
    }
    spi.use_snapshot(nullptr);
    if (unconsumed == Value("t")) {
        pg_call([&] { UnlockRelationOid(buffer, AccessExclusiveLock); });
        return false;
    }
    spi.run("TRUNCATE " + core::buffer_table(relid));
    return true;
}

}  // namespace

void trim_buffer(Spi& spi, Oid relid) {
    AsCatalogOwner owner;
    const std::string id = std::to_string(relid);
    // Conservative: everything older than every consumer's snapshot xmin, except rows of a
    // transaction some consumer refreshed in (those are told apart by their sequence number).
    auto cut = spi.execute_cached(
        "SELECT pg_catalog.min(pg_catalog.pg_snapshot_xmin("
        "(st.frontier->>'snapshot')::pg_catalog.pg_snapshot))::text, pg_catalog.count(*)"
        " FROM pgtrickle.pgt_stream_tables st JOIN pgtrickle.pgt_dependencies d USING (pgt_id)"
        " WHERE d.source_relid = $1::oid AND st.frontier IS NOT NULL",
        {id});
    const Value cutoff = cut.rows[0][0];
    if (!cutoff)
        return;
    // With several consumers, most refreshes move the cutoff past no buffered row (the last of
    // them to consume a change deletes it): the buffer floor (worker.hpp) says so without a
    // scan of the buffer.
    const bool shared = std::stoll(*cut.rows[0][1]) > 1;
    const uint64 floor = worker::buffer_floor(relid);
    if (shared && floor != 0 && std::stoull(*cutoff) <= floor)
        return;
    if (!truncate_consumed(spi, relid, *cutoff))
        spi.run(fmt::format("DELETE FROM {} b WHERE {}", core::buffer_table(relid),
                            consumed_condition("b")),
                {id, *cutoff});
    if (!shared)
        return;
    // The rows left, and those of transactions this snapshot cannot see yet (whose xids are at
    // least its xmin), are no older than this.
    auto left = spi.execute(fmt::format(
        "SELECT LEAST(pg_catalog.min(b.xid),"
        " pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()))::text FROM {} b",
        core::buffer_table(relid)));
    worker::set_buffer_floor(relid, std::stoull(*left.scalar()));
}

}  // namespace pgtrickle::pg
