// Change capture management: reconciling buffers and triggers with what the stream tables need.
#include "pg_trickle/pg/cdc.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/immediate.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/worker.hpp"
#include "refresh/scopes.hpp"

extern "C" {
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
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
        fmt::format("SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = "
                    "pg_catalog.to_regclass($1) AND attnum > 0 AND NOT attisdropped AND attname "
                    "NOT IN ({}) ORDER BY attnum",
                    core::kOwnBufferColumnsSql),
        {core::buffer_table(relid)});
    std::vector<std::string> out;
    for (const auto& r : res.rows)
        out.push_back(core::source_column(*r[0]));
    return out;
}

void run_all(Spi& spi, const std::vector<std::string>& statements) {
    for (const auto& s : statements)
        spi.run(s);
}

}  // namespace

std::optional<std::uint64_t> changed_bits(Oid source, const std::vector<core::Column>& columns,
                                          Oid reader) {
    const std::string name = core::buffer_name(source);
    const Oid buffer = pg_call([&] {
        const Oid nsp = get_namespace_oid(core::kChangeSchema, true);
        return OidIsValid(nsp) ? get_relname_relid(name.c_str(), nsp) : InvalidOid;
    });
    if (!OidIsValid(buffer))
        return std::nullopt;
    const AttrNumber changed = pg_call([&] { return get_attnum(buffer, "changed_cols"); });
    if (changed == InvalidAttrNumber)
        return std::nullopt;
    // (Not granted to a reader kept from some captured column: see sync_change_buffer. The
    // table-level check first: a superuser or the buffer's owner is granted no column and
    // needs none, which the column-level check does not know.)
    if (pg_call([&] {
            return pg_class_aclcheck(buffer, reader, ACL_SELECT) == ACLCHECK_OK ||
                   pg_attribute_aclcheck(buffer, changed, reader, ACL_SELECT) == ACLCHECK_OK;
        }) == false)
        return std::nullopt;
    std::uint64_t bits = 0;
    for (const auto& c : columns) {
        const std::string column = core::buffer_column(c.name);
        const AttrNumber attnum = pg_call([&] { return get_attnum(buffer, column.c_str()); });
        if (attnum == InvalidAttrNumber)
            return std::nullopt;  // (not captured: the refresh finds out)
        bits |= core::changed_column_bit(attnum);
    }
    // Every captured column used: every update buffered changed one of them (core::kEveryColumn).
    const std::uint64_t captured = pg_call([&] {
        std::uint64_t all = 0;
        Relation r = relation_open(buffer, AccessShareLock);
        TupleDesc d = RelationGetDescr(r);
        for (int i = 0; i < d->natts; ++i) {
            Form_pg_attribute a = TupleDescAttr(d, i);
            if (!a->attisdropped && !core::own_buffer_column(NameStr(a->attname)))
                all |= core::changed_column_bit(a->attnum);
        }
        relation_close(r, NoLock);
        return all;
    });
    return (bits & captured) == captured ? core::kEveryColumn : bits;
}

bool capturable(Spi& spi, Oid relid) {
    // A plain table outside any inheritance tree, or the root of a tree of partitions that are
    // plain or partitioned tables (each member carries the root's triggers: a statement on a
    // partition fires its own statement triggers, not its parents'). Not a partition, nor any
    // other member of an inheritance tree: a statement on the parent fires the parent's
    // statement triggers, not the child's, whose capture would miss those changes (and a
    // parent's statements read and change its children's rows too). Not a tree with a foreign
    // partition: its rows change on the foreign server.
    auto r = spi.execute(
        "SELECT CASE c.relkind"
        "   WHEN 'r' THEN NOT c.relhassubclass AND NOT c.relispartition"
        "     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)"
        "   WHEN 'p' THEN NOT c.relispartition"
        "     AND NOT EXISTS (SELECT 1 FROM pgtrickle._partition_tree(c.oid) t"
        "       JOIN pg_catalog.pg_class m ON m.oid = t.relid WHERE m.relkind NOT IN ('r', 'p'))"
        "   ELSE false END"
        "   AND c.relnamespace <> 'pg_catalog'::pg_catalog.regnamespace"
        " FROM pg_catalog.pg_class c WHERE c.oid = $1::oid",
        {std::to_string(relid)});
    return r.scalar() == Value("t");
}

namespace {

void record_trigger_dependencies(Spi& spi, Oid relid);

// Tables other than `source` that carry capture triggers named for it (its partitions, or
// tables detached from its partition tree), as quoted qualified names by OID.
std::vector<std::pair<Oid, std::string>> tables_with_capture_of(Spi& spi, Oid source) {
    auto res = spi.execute(
        "SELECT DISTINCT t.tgrelid, pg_catalog.quote_ident(n.nspname) || '.' ||"
        "   pg_catalog.quote_ident(c.relname)"
        " FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE t.tgrelid <> $1::oid AND t.tgname IN ($2::text || 'ins_' || $1,"
        "   $2::text || 'upd_' || $1, $2::text || 'del_' || $1, $2::text || 'trunc_' || $1)",
        {std::to_string(source), std::string(core::kCaptureTriggerPrefix)});
    std::vector<std::pair<Oid, std::string>> out;
    for (const auto& r : res.rows)
        out.emplace_back(static_cast<Oid>(std::stoul(*r[0])), *r[1]);
    return out;
}

// (Only a partitioned table has members: a plain source skips the scan of pg_trigger.)
bool partitioned(Oid relid) {
    return pg_call([&] { return get_rel_relkind(relid); }) == RELKIND_PARTITIONED_TABLE;
}

void drop_partition_capture(Spi& spi, Oid source) {
    if (!partitioned(source))
        return;
    for (const auto& [relid, table] : tables_with_capture_of(spi, source))
        run_all(spi, core::drop_capture_trigger_ddl(source, table));
}

}  // namespace

void add_truncate_marker(Spi& spi, Oid source) {
    AsCatalogOwner owner;
    const std::string xid = *spi.execute("SELECT pg_catalog.pg_current_xact_id()::text").scalar();
    // (Before the row exists, as the capture trigger does: trims compare with the floor.)
    const uint64 full_xid = std::stoull(xid);
    pg_call([&] { worker::note_buffer_write(source, full_xid); });
    spi.run(fmt::format("INSERT INTO {} (xid, seq, action) VALUES ($1::pg_catalog.xid8,"
                        " pg_catalog.nextval('pgtrickle_changes.change_seq'), 'T')",
                        core::buffer_table(source)),
            {xid});
    pg_call([&] { worker::note_source_change(source); });
}

bool sync_partition_capture(Spi& spi, Oid source, bool probe_rows) {
    if (!partitioned(source))
        return false;
    AsCatalogOwner owner;
    const std::string id = std::to_string(source);
    // Members of the tree (every level) with how many of the source's triggers each has, and
    // tables that have some but are members no more.
    auto res = spi.execute(
        "SELECT x.relid, pg_catalog.quote_ident(n.nspname) || '.' ||"
        "   pg_catalog.quote_ident(c.relname), x.member, c.relkind = 'r'"
        " FROM (SELECT coalesce(m.relid, t.tgrelid) AS relid, m.relid IS NOT NULL AS member,"
        "         coalesce(t.triggers, 0) AS triggers"
        "       FROM (SELECT p.relid::pg_catalog.oid AS relid"
        "             FROM pgtrickle._partition_tree($1::oid) p"
        "             WHERE p.relid::oid <> $1::oid AND NOT p.detaching) m"
        "       FULL JOIN (SELECT tgrelid, pg_catalog.count(*) AS triggers"
        "                  FROM pg_catalog.pg_trigger WHERE tgrelid <> $1::oid"
        "                    AND tgname IN ($2::text || 'ins_' || $1, $2::text || 'upd_' || $1,"
        "                      $2::text || 'del_' || $1, $2::text || 'trunc_' || $1)"
        "                  GROUP BY tgrelid) t ON t.tgrelid = m.relid) x"
        " JOIN pg_catalog.pg_class c ON c.oid = x.relid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE NOT x.member OR x.triggers < 4 ORDER BY 1",
        {id, std::string(core::kCaptureTriggerPrefix)});
    bool rows_moved = false;
    for (const auto& r : res.rows) {
        const std::string& table = *r[1];
        const bool member = *r[2] == "t", leaf = *r[3] == "t";
        // Rows that joined (ATTACH PARTITION) or left (DETACH PARTITION) the source without a
        // statement capture saw. (A partition just created is empty.)
        // (With the latest snapshot: under REPEATABLE READ the transaction's own one would miss
        // rows committed since it began. No writer is left in the table: ATTACH and DETACH
        // hold it exclusively.)
        if (leaf && probe_rows && !rows_moved) {
            RegisteredSnapshot latest(true);
            spi.use_snapshot(latest.get());
            try {
                rows_moved =
                    !spi.execute(fmt::format("SELECT 1 FROM ONLY {} LIMIT 1", table)).empty();
            } catch (...) {
                spi.use_snapshot(nullptr);
                throw;
            }
            spi.use_snapshot(nullptr);
        }
        run_all(spi, member ? core::capture_trigger_ddl(source, table)
                            : core::drop_capture_trigger_ddl(source, table));
    }
    if (!res.empty() && OidIsValid(buffer_oid(source)))
        record_trigger_dependencies(spi, source);
    return rows_moved;
}

void sync_capture(Spi& spi, Oid relid) {
    drop_foreign_triggers(spi, relid);
    sync_change_buffer(spi, relid);
    sync_immediate_triggers(spi, relid);
}

bool drop_foreign_triggers(Spi& spi, Oid relid) {
    const std::string id = std::to_string(relid);
    // (On the table and the members of its partition tree; a partition's triggers may be
    // named for one of its ancestors, a captured partitioned source.)
    auto foreign = spi.execute(
        "SELECT t.tgname, pg_catalog.quote_ident(n.nspname) || '.' ||"
        " pg_catalog.quote_ident(c.relname) FROM pg_catalog.pg_trigger t"
        " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE (t.tgrelid = $1::pg_catalog.oid OR t.tgrelid IN (SELECT p.relid::pg_catalog.oid"
        "          FROM pgtrickle._partition_tree($1::pg_catalog.oid) p))"
        "   AND t.tgname ~ '^pg_trickle_(cdc|ivm)_[a-z]+_[0-9]+$'"
        "   AND pg_catalog.substring(t.tgname, '_([0-9]+)$') <> t.tgrelid::text"
        "   AND pg_catalog.substring(t.tgname, '_([0-9]+)$') NOT IN (SELECT a.relid::oid::text"
        "         FROM pg_catalog.pg_partition_ancestors(t.tgrelid) a)",
        {id});
    if (foreign.empty())
        return false;
    AsCatalogOwner owner;
    for (const auto& row : foreign.rows)
        spi.run(fmt::format("DROP TRIGGER {} ON {}", core::quote_ident(*row[0]), *row[1]));
    return true;
}

namespace {

// Each capture trigger of `relid` depends on the buffer it writes into (pg_depend, as if the
// trigger's definition named it): the buffer cannot be dropped from under it, and pg_dump
// restores the triggers after the buffer's rows (a parallel pg_restore otherwise may create
// them first, and the restore's rewiring drop the buffer before its rows come: restore.cpp).
void record_trigger_dependencies(Spi& spi, Oid relid) {
    const Oid buffer = buffer_oid(relid);
    // (Also those on the members of its partition tree.)
    auto triggers = spi.execute(
        "SELECT t.oid FROM pg_catalog.pg_trigger t"
        " WHERE (t.tgrelid = $1::pg_catalog.oid OR t.tgrelid IN (SELECT p.relid::pg_catalog.oid"
        "          FROM pgtrickle._partition_tree($1::pg_catalog.oid) p))"
        "   AND t.tgname ~ ('^' || $3::text || '[a-z]+_' || $1 || '$')"
        "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
        "     WHERE d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass AND d.objid = t.oid"
        "       AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        "       AND d.refobjid = $2::pg_catalog.oid)",
        {std::to_string(relid), std::to_string(buffer), std::string(core::kCaptureTriggerPrefix)});
    for (const auto& row : triggers.rows) {
        const Oid trigger = static_cast<Oid>(std::stoul(*row[0]));
        pg_call([&] {
            ObjectAddress dependent{TriggerRelationId, trigger, 0};
            ObjectAddress referenced{RelationRelationId, buffer, 0};
            recordDependencyOn(&dependent, &referenced, DEPENDENCY_NORMAL);
        });
    }
}

}  // namespace

void sync_change_buffer(Spi& spi, Oid relid) {
    AsCatalogOwner owner;
    const std::string id = std::to_string(relid);
    // One session at a time sets up a source's capture: another one creating a stream table
    // over the same new source waits, then finds the buffer made (instead of failing on the
    // unique index of pg_class when both create it).
    spi.run("SELECT pg_catalog.pg_advisory_xact_lock($1::integer, $2::oid::integer)",
            {kCaptureLockClass, id});
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
    if (existing && !qualified.empty() &&
        spi.execute("SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1::oid"
                    "   AND tgname = $2::text || 'ins_' || $1",
                    {id, std::string(core::kCaptureTriggerPrefix)})
            .empty()) {
        // A buffer of this name without capture on the table: another relation's, of the same
        // OID in a database dumped and restored here (restore.cpp). Made again.
        spi.run("DROP TABLE " + core::buffer_table(relid) + " CASCADE");
        existing.reset();
    }
    if (deps.empty() || qualified.empty() || !capturable(spi, relid)) {
        drop_partition_capture(spi, relid);
        if (existing)
            run_all(spi, core::drop_capture_ddl(relid, qualified.scalar().value_or(""),
                                                !qualified.empty()));
        return;
    }
    // (A partition tree's members carry the source's triggers: made when the buffer is.)
    bool rows_moved = false;
    // (A buffer made now has no reader to catch up: its members' rows are not looked for.)
    auto partitions = [&] {
        if (sync_partition_capture(spi, relid, existing.has_value()))
            rows_moved = true;
    };

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
        " AND NOT attisdropped",
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
    // GRANT and REVOKE rewrite the buffer's pg_class row without locking the buffer, as a
    // TRUNCATE of it does too (trim_buffers): the lock keeps the two apart (one waits for the
    // other instead of failing with "tuple concurrently updated").
    auto grant_readers = [&] {
        if (existing)
            spi.run("LOCK TABLE " + core::buffer_table(relid) + " IN ACCESS SHARE MODE");
        // Each owner may read the buffer's columns of source columns it may read itself (and
        // the buffer's own): the buffer also holds columns other stream tables read, which a
        // role with SELECT on some columns of the source only must not see through it.
        auto owners = spi.execute(
            "SELECT DISTINCT pg_catalog.quote_ident(r.rolname), r.oid"
            " FROM pgtrickle.pgt_dependencies d"
            " JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
            " JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid"
            " JOIN pg_catalog.pg_roles r ON r.oid = c.relowner WHERE d.source_relid = $1::oid"
            "   AND r.oid <> (SELECT b.relowner FROM pg_catalog.pg_class b"
            "                 WHERE b.oid = pg_catalog.to_regclass($2))",
            {id, core::buffer_table(relid)});
        std::set<std::string> in_buffer;
        for (const auto& r : spi.execute("SELECT attname FROM pg_catalog.pg_attribute"
                                         " WHERE attrelid = pg_catalog.to_regclass($1)"
                                         "   AND attnum > 0 AND NOT attisdropped",
                                         {core::buffer_table(relid)})
                                 .rows)
            in_buffer.insert(*r[0]);
        for (const auto& o : owners.rows) {
            // (The buffer's name of each source column the owner may read: core::buffer_column.)
            std::vector<std::string> columns{"xid", "seq", "action"};
            std::size_t captured = 0;
            for (const auto& r :
                 spi.execute("SELECT s.attname FROM pg_catalog.pg_attribute s"
                             " WHERE s.attrelid = $1::oid AND s.attnum > 0 AND NOT s.attisdropped"
                             "   AND pg_catalog.has_column_privilege($2::oid, $1::oid, s.attnum,"
                             "                                       'SELECT')"
                             " ORDER BY s.attnum",
                             {id, *o[1]})
                     .rows) {
                const std::string name = core::buffer_column(*r[0]);
                if (in_buffer.count(name)) {
                    columns.push_back(core::quote_ident(name));
                    ++captured;
                }
            }
            // Which columns an update changed, only to an owner who may read them all: the
            // bits name columns (core::changed_column_bit). Without it, its refreshes read
            // every update (changed_bits). (Absent from buffers made before it was.)
            const auto own = static_cast<std::size_t>(
                std::count_if(in_buffer.begin(), in_buffer.end(),
                              [](const std::string& c) { return core::own_buffer_column(c); }));
            if (in_buffer.count("changed_cols") && captured + own == in_buffer.size())
                columns.push_back("changed_cols");
            spi.run(fmt::format("REVOKE ALL ON {} FROM {}", core::buffer_table(relid), *o[0]));
            spi.run(fmt::format("GRANT SELECT ({}) ON {} TO {}", fmt::join(columns, ", "),
                                core::buffer_table(relid), *o[0]));
        }
        // Owners of stream tables that no longer read it lose access (and can be dropped).
        auto stale = spi.execute(
            "SELECT DISTINCT pg_catalog.quote_ident(r.rolname)"
            " FROM pg_catalog.pg_class b,"
            "   LATERAL (SELECT x.grantee FROM pg_catalog.aclexplode(b.relacl) x"
            "            UNION SELECT y.grantee FROM pg_catalog.pg_attribute c,"
            "              pg_catalog.aclexplode(c.attacl) y WHERE c.attrelid = b.oid) a"
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
        partitions();
        grant_readers();
        if (rows_moved)
            add_truncate_marker(spi, relid);
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
        src.unlogged = guc::unlogged_buffers;
        run_all(spi, core::buffer_ddl(src));
        spi.run(fmt::format("REVOKE ALL ON {} FROM PUBLIC", core::buffer_table(relid)));
    } else {
        run_all(spi, core::add_buffer_columns_ddl(relid, added));
        src.columns.insert(src.columns.end(), added.begin(), added.end());
    }
    run_all(spi, core::capture_ddl(src));
    partitions();
    record_trigger_dependencies(spi, relid);
    grant_readers();
    if (existing && rows_moved)
        add_truncate_marker(spi, relid);
}

std::vector<CapturedSource> captured_sources(Spi& spi, std::int64_t pgt_id) {
    // Captured: a buffer, and the four triggers firing ALWAYS on the source and, for a
    // partitioned source, on each member of its tree, none of them being detached (DETACH
    // PARTITION ... CONCURRENTLY not finalized: its rows left the source without a statement,
    // and a refresh is FULL until the DDL that finalizes it has made that known).
    auto res = spi.execute_cached(
        // (The tree is read for partitioned sources only: a one-time filter on the relkind.)
        "SELECT d.source_relid, b.buffered, b.buffered AND NOT EXISTS ("
        "   SELECT 1 FROM (SELECT d.source_relid AS relid, false AS detaching UNION ALL"
        "                  SELECT p.relid::pg_catalog.oid, p.detaching"
        "                  FROM pgtrickle._partition_tree(d.source_relid) p"
        "                  WHERE s.relkind = 'p') m"
        "   WHERE m.detaching OR (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t"
        "     WHERE t.tgrelid = m.relid AND t.tgenabled = 'A'"
        "     AND t.tgname IN ($2::text || 'ins_' || d.source_relid,"
        "       $2::text || 'upd_' || d.source_relid, $2::text || 'del_' || d.source_relid,"
        "       $2::text || 'trunc_' || d.source_relid)) <> 4)"
        "   , s.relkind = 'p' AND EXISTS (SELECT 1"
        "       FROM pgtrickle._partition_tree(d.source_relid) p WHERE p.detaching)"
        // (Tables a subscription applies rows to: its apply worker fires no statement trigger.)
        "   , EXISTS (SELECT 1 FROM pg_catalog.pg_subscription_rel r"
        "       WHERE r.srrelid = d.source_relid OR (s.relkind = 'p' AND r.srrelid IN ("
        "         SELECT p.relid FROM pgtrickle._partition_tree(d.source_relid) p)))"
        // (UNLOGGED tables, which a crash empties without a trigger firing.)
        "   , s.relpersistence = 'u' OR (s.relkind = 'p' AND EXISTS (SELECT 1"
        "       FROM pgtrickle._partition_tree(d.source_relid) p"
        "       JOIN pg_catalog.pg_class m ON m.oid = p.relid WHERE m.relpersistence = 'u'))"
        " FROM pgtrickle.pgt_dependencies d"
        " LEFT JOIN pg_catalog.pg_class s ON s.oid = d.source_relid"
        " CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
        "  WHERE c.relnamespace = 'pgtrickle_changes'::pg_catalog.regnamespace"
        "    AND c.relname = 'changes_' || d.source_relid) AS buffered) b"
        " WHERE d.pgt_id = $1::bigint AND d.source_type <> 'VIEW'"  // views: DDL tracking only
        " ORDER BY d.source_relid",
        {std::to_string(pgt_id), std::string(core::kCaptureTriggerPrefix)});
    std::vector<CapturedSource> out;
    for (const auto& r : res.rows) {
        CapturedSource c{static_cast<Oid>(std::stoul(*r[0])), *r[2] == "t", *r[1] == "t"};
        c.detaching = r[3] == Value("t");
        c.subscribed = r[4] == Value("t");
        c.unlogged = r[5] == Value("t");
        // (Not captured: every refresh is FULL and records no frontier.)
        c.captured = c.captured && !c.subscribed;
        out.push_back(c);
    }
    return out;
}

std::vector<std::string> broken_capture_columns(Spi& spi, Oid relid) {
    auto res = spi.execute(
        "SELECT a.attname FROM pg_catalog.pg_attribute a"
        " WHERE a.attrelid = pg_catalog.to_regclass($2) AND a.attnum > 0 AND NOT a.attisdropped"
        "   AND a.attname NOT IN (" +
            std::string(core::kOwnBufferColumnsSql) +
            ")"
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

bool key_uncaptured(Spi& spi, Oid relid) {
    const auto buffered = buffer_columns(spi, relid);
    if (!buffered)
        return false;
    for (const auto& k : primary_key(spi, relid))
        if (std::find(buffered->begin(), buffered->end(), k) == buffered->end())
            return true;
    return false;
}

void rebuild_capture(Spi& spi, Oid relid) {
    {
        AsCatalogOwner owner;
        const std::string qualified = qualified_relation_name(relid);
        Quiet quiet;
        drop_partition_capture(spi, relid);
        for (const auto& s : core::drop_capture_ddl(relid, qualified, true))
            spi.run(s);
        // (Not IMMEDIATE readers: they read the statements' own rows, never the buffer, and
        // no refresh would clear the flag.)
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET frontier = NULL, needs_reinit = true"
            " WHERE pgt_id IN (SELECT pgt_id FROM pgtrickle.pgt_dependencies"
            "                  WHERE source_relid = $1::oid)"
            "   AND refresh_mode <> 'IMMEDIATE'",
            {std::to_string(relid)});
    }
    sync_capture(spi, relid);
}

Oid buffer_oid(Oid relid) {
    const std::string name = core::buffer_name(relid);
    return pg_call([&] {
        return get_relname_relid(name.c_str(), get_namespace_oid("pgtrickle_changes", false));
    });
}

bool any_unlogged_buffer(const std::vector<Oid>& relids) {
    return std::any_of(relids.begin(), relids.end(), [](Oid relid) {
        const Oid buffer = buffer_oid(relid);
        return OidIsValid(buffer) &&
               pg_call([&] { return get_rel_persistence(buffer) == RELPERSISTENCE_UNLOGGED; });
    });
}

UnloggedEpoch check_unlogged_epoch(Spi& spi, const std::optional<core::Frontier>& prev) {
    AsCatalogOwner owner;
    // The current epoch, and whether one of its survivors was in progress in the previous
    // snapshot (xip holds xid8s; survivors are the 32-bit xids pg_prepared_xacts shows: compared
    // modulo 2^32, where a false match costs a FULL refresh). No row: no epoch.
    const Value snapshot = prev ? Value(prev->snapshot) : Value();
    auto current = [&] {
        return spi.execute_cached(
            "SELECT e.epoch::text, EXISTS (SELECT 1 FROM pg_catalog.unnest(e.survivors) s,"
            " pg_catalog.pg_snapshot_xip($1::pg_catalog.pg_snapshot) x"
            " WHERE x::text::bigint % 4294967296 = s)"
            " FROM pgtrickle_changes.buffer_epoch e ORDER BY e.epoch DESC LIMIT 1",
            {snapshot});
    };
    QueryResult r = current();
    if (r.empty()) {
        // Concurrent refreshes after a crash start one epoch: the second waits for the first
        // and, reading again with a new snapshot, finds its epoch. (Under REPEATABLE READ it
        // cannot see it and starts another one; the larger wins, which costs one more FULL
        // refresh of the stream tables that recorded the smaller.)
        spi.run("LOCK TABLE pgtrickle_changes.buffer_epoch IN SHARE ROW EXCLUSIVE MODE");
        r = current();
        if (r.empty()) {
            spi.run(
                "INSERT INTO pgtrickle_changes.buffer_epoch"
                " SELECT pg_catalog.pg_current_xact_id()::text::bigint,"
                " ARRAY(SELECT p.transaction::text::bigint FROM pg_catalog.pg_prepared_xacts p"
                "       WHERE p.database = pg_catalog.current_database())");
            r = current();
        }
    }
    UnloggedEpoch out{*r.rows[0][0], false};
    out.lost = prev && (prev->buffer_epoch != out.epoch || r.rows[0][1] == Value("t"));
    return out;
}

namespace {

// Rows of buffer `b` that every consumer has consumed, given the cutoff $2 (trim_buffers).
std::string consumed_condition(const std::string& b) {
    return fmt::format(
        "{0}.xid < $2::pg_catalog.xid8"
        " AND {0}.xid <> ALL (ARRAY(SELECT (st.frontier->>'own_xid')::pg_catalog.xid8"
        " FROM pgtrickle.pgt_stream_tables st JOIN pgtrickle.pgt_dependencies d"
        " USING (pgt_id) WHERE d.source_relid = $1::oid"
        " AND st.frontier->>'own_xid' IS NOT NULL))",
        b);
}

// Buffers smaller than this are trimmed with DELETE whatever the setting: a TRUNCATE has costs
// of its own (catalog rows rewritten, new files, a pass over shared_buffers at commit).
constexpr BlockNumber kTruncateMinPages = 64;

struct Trim {
    Oid relid;
    std::string cutoff;
    bool shared;
};

// Whether some row of the buffer is not consumed, seen with `snapshot` (nullptr: the usual),
// and the highest xid in it ("" when it is empty).
struct BufferState {
    bool unconsumed = false;
    std::string max_xid;
};

BufferState buffer_state(Spi& spi, const Trim& t, Snapshot snapshot) {
    spi.use_snapshot(snapshot);
    QueryResult r;
    try {
        r = spi.execute_cached(
            fmt::format("SELECT pg_catalog.bool_or(NOT ({1})), pg_catalog.max(b.xid)::text"
                        " FROM {0} b",
                        core::buffer_table(t.relid), consumed_condition("b")),
            {std::to_string(t.relid), t.cutoff});
    } catch (...) {
        spi.use_snapshot(nullptr);
        throw;
    }
    spi.use_snapshot(nullptr);
    return {r.rows[0][0] == Value("t"), r.rows[0][1].value_or("")};
}

// Tells the buffer's FULL readers (worker::note_trim) that a trim deleted rows up to `max_xid`
// ("": none).
void note_trimmed(const Trim& t, const std::string& max_xid) {
    const uint64 bound = max_xid.empty() ? 0 : std::stoull(max_xid) + 1;
    const Oid relid = t.relid;
    pg_call([&] { worker::note_trim(relid, bound); });
}

// Whether every row of the buffer has an xid older than the cutoff, as the buffer ceiling says
// (worker.hpp; false when it is not known): then every DIFFERENTIAL reader has consumed them all,
// without a scan of the buffer to tell. (Rows of a FULL reader's own refresh transaction go
// too, unlike with consumed_condition: that reader learns of the trim, note_trimmed.)
bool all_older_than_cutoff(const Trim& t) {
    const uint64 ceiling = worker::buffer_ceiling(t.relid);
    return ceiling != 0 && ceiling < std::stoull(t.cutoff);
}

// A big buffer every row of which has been consumed, for TRUNCATE (see trim_buffers).
bool truncate_candidate(Spi& spi, const Trim& t) {
    const Oid buffer = buffer_oid(t.relid);
    if (!OidIsValid(buffer))
        return false;
    const BlockNumber pages = pg_call([&] {
        Relation r = table_open(buffer, AccessShareLock);
        BlockNumber n = RelationGetNumberOfBlocks(r);
        table_close(r, NoLock);
        return n;
    });
    if (pages < kTruncateMinPages)
        return false;
    if (all_older_than_cutoff(t))
        return true;
    // (Stops at the first row not consumed: a buffer other readers still need is common.)
    return spi.execute_cached(fmt::format("SELECT NOT EXISTS (SELECT 1 FROM {} b WHERE NOT ({}))",
                                          core::buffer_table(t.relid), consumed_condition("b")),
                              {std::to_string(t.relid), t.cutoff})
               .scalar() == Value("t");
}

// Whether `buffer` could be locked ACCESS EXCLUSIVE at once (tried, and released at once).
bool lockable(Oid buffer) {
    return pg_call([&] {
        if (!ConditionalLockRelationOid(buffer, AccessExclusiveLock))
            return false;
        UnlockRelationOid(buffer, AccessExclusiveLock);
        return true;
    });
}

void unlock_all(const std::vector<Oid>& rels) {
    pg_call([&] {
        for (Oid r : rels)
            UnlockRelationOid(r, AccessExclusiveLock);
    });
}

// Locks the buffer, its TOAST table and its indexes ACCESS EXCLUSIVE if they are free at once
// (TRUNCATE would otherwise wait for them with the buffer already locked: writers would wait
// behind it) and returns them; empty, holding none of them, if one is not free or the buffer is
// in use in this session.
std::vector<Oid> lock_for_truncate(Oid buffer) {
    std::vector<Oid> rels{buffer};
    const bool locked = pg_call([&] {
        if (!ConditionalLockRelationOid(buffer, AccessExclusiveLock))
            return false;
        Relation r = table_open(buffer, NoLock);
        // A scan of the buffer still open in this session (a manual refresh called from a
        // statement that reads it) would make TRUNCATE fail: its rows are left for next time.
        if (r->rd_refcnt > 1) {
            table_close(r, NoLock);
            UnlockRelationOid(buffer, AccessExclusiveLock);
            return false;
        }
        if (OidIsValid(r->rd_rel->reltoastrelid))
            rels.push_back(r->rd_rel->reltoastrelid);
        List* indexes = RelationGetIndexList(r);
        ListCell* lc;
        foreach (lc, indexes)
            rels.push_back(lfirst_oid(lc));
        table_close(r, NoLock);
        for (std::size_t i = 1; i < rels.size(); ++i) {
            if (!ConditionalLockRelationOid(rels[i], AccessExclusiveLock)) {
                for (std::size_t j = 0; j < i; ++j)
                    UnlockRelationOid(rels[j], AccessExclusiveLock);
                return false;
            }
        }
        return true;
    });
    return locked ? rels : std::vector<Oid>{};
}

void set_floor_after_trim(Spi& spi, Oid relid) {
    // The rows left, and those of transactions this snapshot cannot see yet (whose xids are at
    // least its xmin), are no older than this.
    auto left = spi.execute_cached(fmt::format(
        "SELECT LEAST(pg_catalog.min(b.xid),"
        " pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()))::text FROM {} b",
        core::buffer_table(relid)));
    worker::set_buffer_floor(relid, std::stoull(*left.scalar()));
}

}  // namespace

void trim_buffers(Spi& spi, const std::vector<Oid>& relids, bool may_truncate) {
    AsCatalogOwner owner;
    std::vector<Trim> deletes, truncates;
    for (Oid relid : relids) {
        // Conservative: everything older than every consumer's snapshot xmin, except rows of a
        // transaction some consumer refreshed in (told apart by their sequence number). Only
        // DIFFERENTIAL stream tables count while the buffer has one: the others (FULL) read the
        // buffer only to tell whether anything changed, and one refreshed rarely would keep
        // every change buffered for the others to scan. They learn of the trims from shared
        // memory (note_trim; without pg_trickle preloaded there is none, and they count). A
        // buffer no DIFFERENTIAL stream table reads is trimmed as far as all have seen.
        auto cut = spi.execute_cached(
            "SELECT coalesce(pg_catalog.min(pg_catalog.pg_snapshot_xmin("
            "(st.frontier->>'snapshot')::pg_catalog.pg_snapshot))"
            " FILTER (WHERE st.refresh_mode = 'DIFFERENTIAL' OR NOT $2::boolean),"
            " pg_catalog.min("
            "pg_catalog.pg_snapshot_xmin((st.frontier->>'snapshot')::pg_catalog.pg_snapshot)))"
            "::text, pg_catalog.count(*)"
            " FROM pgtrickle.pgt_stream_tables st JOIN pgtrickle.pgt_dependencies d USING "
            "(pgt_id)"
            " WHERE d.source_relid = $1::oid AND st.frontier IS NOT NULL",
            {std::to_string(relid), worker::available() ? "true" : "false"});
        const Value cutoff = cut.rows[0][0];
        if (!cutoff)
            continue;
        // With several consumers, most refreshes move the cutoff past no buffered row (the
        // last of them to consume a change deletes it): the buffer floor (worker.hpp) says so
        // without a scan of the buffer.
        const Trim t{relid, *cutoff, std::stoll(*cut.rows[0][1]) > 1};
        const uint64 floor = worker::buffer_floor(relid);
        if (t.shared && floor != 0 && std::stoull(t.cutoff) <= floor)
            continue;
        // A buffer a writer in progress holds locked is deleted from now: waiting for its
        // lock to come free could take as long as the writer's transaction.
        if (may_truncate && guc::cleanup_use_truncate && lockable(buffer_oid(relid)) &&
            truncate_candidate(spi, t))
            truncates.push_back(t);
        else
            deletes.push_back(t);
    }
    for (const Trim& t : deletes) {
        // (Noted once deleted, before this transaction commits: a FULL reader that read the
        // buffer before the commit still saw the rows.)
        auto gone = spi.execute_cached(
            fmt::format("WITH gone AS (DELETE FROM {} b WHERE {} RETURNING b.xid)"
                        " SELECT pg_catalog.max(xid)::text FROM gone",
                        core::buffer_table(t.relid), consumed_condition("b")),
            {std::to_string(t.relid), t.cutoff});
        note_trimmed(t, gone.rows[0][0].value_or(""));
        if (t.shared)
            set_floor_after_trim(spi, t.relid);
    }
    // Last, so that nothing this transaction does while holding a buffer's exclusive lock
    // waits for another lock: each lock is taken only if free at once. No writer holds one then
    // (a writer keeps its lock on the buffer until it commits), and none can start before this
    // transaction ends: a snapshot taken now sees every row, those committed after the
    // refresh's snapshot included. A buffer locked again meanwhile, or with such a row (both
    // a matter of the last moments), is trimmed next time.
    for (const Trim& t : truncates) {
        const std::vector<Oid> locked = lock_for_truncate(buffer_oid(t.relid));
        if (locked.empty())
            continue;
        // With the lock held no writer is left that has not raised the ceiling.
        BufferState now;
        if (all_older_than_cutoff(t))
            now.max_xid = std::to_string(worker::buffer_ceiling(t.relid));  // (at least)
        else
            now = buffer_state(spi, t, pg_call([] { return GetLatestSnapshot(); }));
        if (now.unconsumed) {
            unlock_all(locked);  // nothing was changed under them
            continue;
        }
        // (A FULL reader waits for this transaction's lock to read the buffer: noted first.)
        note_trimmed(t, now.max_xid);
        spi.run("TRUNCATE " + core::buffer_table(t.relid));
        // (Also for a buffer of one reader: the floor and ceiling it sets let the next
        // truncation skip the scans above.)
        set_floor_after_trim(spi, t.relid);
    }
}

}  // namespace pgtrickle::pg
