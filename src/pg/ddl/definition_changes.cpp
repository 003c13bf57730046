// DDL on what a stream table's query uses besides its sources: functions (CREATE OR REPLACE,
// ALTER, DROP FUNCTION / AGGREGATE) and views (CREATE OR REPLACE VIEW).
//
// The stored rows were computed with the old function body, or with the view's old definition
// (inlined into the stored query when the stream table was created). A differential refresh
// would only apply the changes since, computed with the new one, and leave a mix of both: so
// each such stream table is reinitialised. Its definition is derived again from the query its
// user gave (views inlined again, names resolved again, change capture following the sources
// it now reads); an IMMEDIATE one is recomputed at once (its contents are read in the same
// transaction), the others at their next refresh, which is FULL.
//
// DDL after which the query no longer analyses, or returns other columns, is refused (55000)
// while pg_trickle.block_source_ddl is on, and always for IMMEDIATE stream tables (every write
// to their sources would fail); with it off the stream table goes into ERROR with the reason.
#include <set>

#include <fmt/format.h>

#include "api/definition.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/ddl.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/spi.hpp"
#include "pg_trickle/pg/storage.hpp"
#include "refresh/scopes.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/errcodes.h"
#include "utils/lsyscache.h"
}

namespace pgtrickle::pg {
namespace {

// Functions and schemas the running RenameStmt / AlterObjectSchemaStmt renames or moves, with
// their names before (at ddl_command_end only the new ones are known). Set by the utility hook
// just before such a statement runs; matched by OID, so an entry left by a statement that
// failed is never taken for another's.
struct Renamed {
    Oid objid;
    std::string old_name;  // schema.name of a function, the schema's name (quoted as needed)
};
std::vector<Renamed> renamed;

// A type the running statement changes (set like `renamed`): `reprints` when the text of its
// values changes (an enum's label renamed, a composite type's attributes added, dropped or
// retyped), otherwise a name queries may spell changes (the type, a domain, a collation or a
// composite type's attribute renamed or moved to another schema; collations have no type:
// InvalidOid).
struct TypeChange {
    Oid type;
    bool reprints;
    bool table_rowtype = false;  // a table's row type: its name is the table's
};
std::optional<TypeChange> type_change;

// The columns the running ALTER TABLE retypes (set like `renamed`).
std::optional<RetypedColumns> retyped;
bool types_changing = false;  // while handle_changed_type runs (for the wording of refusals)

std::string qualified_function_name(Oid f) {
    return pg_call([&] {
        return quote_qualified_identifier(get_namespace_name(get_func_namespace(f)),
                                          get_func_name(f));
    });
}

bool is_routine(ObjectType t) {
    return t == OBJECT_FUNCTION || t == OBJECT_AGGREGATE || t == OBJECT_ROUTINE ||
           t == OBJECT_PROCEDURE;
}

// Errors that say the query no longer fits what it uses (a name gone, a type changed, a
// function no longer maintainable); anything else (a cancel, out of memory) is raised as it is.
bool caused_by_definition(int sqlerrcode) {
    if (sqlerrcode == ERRCODE_INVALID_TEXT_REPRESENTATION)
        return true;  // (a constant of the query no longer valid: an enum label renamed)
    const int cls = ERRCODE_TO_CATEGORY(sqlerrcode);
    return cls == ERRCODE_TO_CATEGORY(ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION) ||
           cls == ERRCODE_TO_CATEGORY(ERRCODE_FEATURE_NOT_SUPPORTED) ||
           cls == ERRCODE_TO_CATEGORY(ERRCODE_INVALID_SCHEMA_NAME) ||
           cls == ERRCODE_TO_CATEGORY(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
}

struct Derived {
    std::optional<Definition> def;
    core::RefreshMode mode = core::RefreshMode::Full;
    std::string why_not;   // set when the stream table can no longer be defined by its query
    bool missing = false;  // because something its query names does not exist (now)
};

// The stream table's definition derived again from its user's query, as its owner (who reads
// its sources), in a subtransaction (the analysis raises the user's error).
Derived derive_again(Spi& spi, const StreamTable& st) {
    Derived d;
    AsOwner as_owner(relation_owner(st.relid));
    Subtransaction sub;
    try {
        {
            // The query as given (views are inlined again), its names resolved as when it was
            // given; without those, the stored one (every name qualified).
            std::optional<SearchPath> path;
            const bool original = st.original_query && st.original_search_path;
            if (original)
                path.emplace(*st.original_search_path);
            d.def = prepare_definition(spi, original ? *st.original_query : st.defining_query,
                                       st.pgt_id);
            d.mode = choose_mode(*d.def, core::requested_from_catalog(st.refresh_mode),
                                 st.display_name());
            // (A view now reading a partitioned table, or another role's table.)
            if (d.mode == core::RefreshMode::Immediate)
                check_immediate_triggers_allowed(dependencies_of(*d.def, d.mode),
                                                 relation_owner(st.relid));
            if (!storage_matches(spi, st.relid, storage_columns(*d.def, d.mode)))
                d.why_not = "its query now returns other columns";
        }
        sub.commit();
    } catch (const PgException& e) {
        if (!caused_by_definition(e.edata()->sqlerrcode))
            throw;
        const std::string message = e.what();
        d.why_not = "its query no longer runs: " + message.substr(0, message.find('\n'));
        const int code = e.edata()->sqlerrcode;
        d.missing = code == ERRCODE_UNDEFINED_FUNCTION || code == ERRCODE_UNDEFINED_TABLE ||
                    code == ERRCODE_UNDEFINED_COLUMN || code == ERRCODE_UNDEFINED_OBJECT ||
                    code == ERRCODE_INVALID_SCHEMA_NAME;
    } catch (const core::Error& e) {
        d.why_not = std::string("its query can no longer be maintained: ") + e.what();
    }
    if (!d.why_not.empty())
        d.def.reset();
    return d;
}

void refuse_or_fail(Spi& spi, const StreamTable& st, const std::string& what,
                    const std::string& why) {
    const bool immediate = st.refresh_mode == "IMMEDIATE";
    if (!guc::block_source_ddl && !immediate) {
        AsCatalogOwner owner;
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET status = 'ERROR',"
            " last_error_message = $2, last_error_at = now(), updated_at = now()"
            " WHERE pgt_id = $1::bigint",
            {std::to_string(st.pgt_id), fmt::format("after {}, {}; give it its query again with "
                                                    "alter_stream_table(query => ...)",
                                                    what, why)});
        return;
    }
    throw core::Error(
        core::sqlstate::kObjectNotInPrerequisiteState,
        fmt::format("{} would break stream table {}: {}", what, st.display_name(), why),
        immediate ? "An IMMEDIATE stream table runs its query in every statement that writes to "
                    "its sources: the change would make those statements fail."
                  : (types_changing ? "Types, domains and collations" : "Functions and views") +
                        std::string(" a stream table's query uses may not be changed so that the "
                                    "query no longer works while pg_trickle.block_source_ddl is "
                                    "on."),
        immediate ? (types_changing
                         ? "Give the stream table a query that works after the change first "
                           "(alter_stream_table(query => ...)), or switch it to FULL first with "
                           "alter_stream_table(refresh_mode => 'FULL')."
                         : "Use CREATE OR REPLACE to change a function or view in place, or "
                           "switch the stream table to FULL first with "
                           "alter_stream_table(refresh_mode => 'FULL').")
                  : "Drop the stream table first, or SET pg_trickle.block_source_ddl = off to "
                    "allow it (it then goes into ERROR until alter_stream_table(query => ...) "
                    "gives it a query that works).");
}

// Derives the stream table's definition again after `what` changed something its query uses,
// and has its contents recomputed with it.
void reinitialise(Spi& spi, StreamTable st, bool needs_reinit, const std::string& what) {
    const bool immediate = st.refresh_mode == "IMMEDIATE";
    // (One in ERROR is not this DDL's doing, nor is it maintained: it does not hold the DDL
    // up; resuming it derives its definition again. Nor does one already waiting to be
    // reinitialised whose query names something missing, as between DROP FUNCTION and CREATE
    // FUNCTION of several functions: the DDL that completes the set reinitialises it. One
    // that could be derived but not maintained (a view replaced a second time, to read a
    // partition) is refused as any other: its next refresh would recompute it with the
    // definition stored before.)
    if (st.status == "ERROR")
        return;
    if (immediate) {
        // Its recomputation would see the rows of a statement still running (DDL run by a
        // function that statement calls) whose own maintenance is yet to come: counted twice.
        for (const auto& dep : catalog::dependencies(spi, st.pgt_id)) {
            if (pg_call([&] { return AfterTriggerPendingOnRel(dep.source_relid); }))
                throw core::Error(
                    core::sqlstate::kObjectNotInPrerequisiteState,
                    fmt::format("{} cannot reinitialise stream table {} while a statement "
                                "writing to its source {} is in progress",
                                what, st.display_name(),
                                spi.execute("SELECT $1::pg_catalog.oid::pg_catalog.regclass::text",
                                            {std::to_string(dep.source_relid)})
                                    .scalar()
                                    .value_or("?")),
                    "An IMMEDIATE stream table is recomputed when a function or view its "
                    "query uses changes; the running statement's changes are not applied "
                    "yet.",
                    "Run the DDL in a statement of its own.");
        }
    }
    Derived d = derive_again(spi, st);
    if (!d.def) {
        if (needs_reinit && d.missing && !immediate)
            return;
        refuse_or_fail(spi, st, what, d.why_not);
        return;
    }
    // With the owner's rights, whoever changed the function or view.
    AsOwner as_owner(relation_owner(st.relid));
    const std::string status = st.status;
    st.defining_query = d.def->query.deparsed;
    st.functions_used = d.def->query.functions_used;
    st.refresh_mode = std::string(core::to_string(d.mode));
    const bool unique = unique_row_ids(*d.def, d.mode);
    if (!unique)
        ensure_row_id_index(spi, st.relid, false);
    std::set<Oid> maintained;  // (its writers maintain it; those of new sources do not)
    if (immediate)
        for (const auto& dep : catalog::dependencies(spi, st.pgt_id))
            maintained.insert(dep.source_relid);
    install_dependencies(spi, st.pgt_id, dependencies_of(*d.def, d.mode));
    catalog::update_definition(spi, st);
    if (st.refresh_mode == "IMMEDIATE") {
        lock_for_recompute(spi, st.pgt_id);
        wait_for_source_writers(spi, st, maintained);
        refresh(spi, st, "MANUAL", true);
        if (status != "ACTIVE") {
            // (The refresh marked it ACTIVE; a suspended one stays suspended.)
            if (auto now = catalog::find_by_id(spi, st.pgt_id)) {
                now->status = status;
                catalog::update_definition(spi, *now);
            }
        }
        return;
    }
    // The next refresh recomputes it (no frontier: FULL), failures of the old definition
    // forgotten (the scheduler would wait a period after the last one); suspended by them (as
    // between DROP FUNCTION and CREATE FUNCTION a few ticks apart), it is ACTIVE again.
    AsCatalogOwner owner;
    spi.run(
        "UPDATE pgtrickle.pgt_stream_tables SET frontier = NULL, needs_reinit = true,"
        " status = CASE WHEN status = 'SUSPENDED' AND consecutive_errors > 0 THEN 'ACTIVE'"
        "          ELSE status END,"
        " consecutive_errors = 0, last_error_message = NULL, last_error_at = NULL"
        " WHERE pgt_id = $1::bigint",
        {std::to_string(st.pgt_id)});
}

// Stream tables whose query calls a function the event's commands created, replaced, altered
// or dropped (by name, the current one or the one before a rename: a new overload may change
// which one the query resolves to), reads a view they replaced, or names a schema they renamed
// (functions or sources in it); with the command, as "CREATE FUNCTION public.f(integer)".
// ($1, $2: the OIDs, comma-separated, and the former names, chr(31)-separated, of renamed
// objects.)
const char* const kAffected = R"sql(
SELECT DISTINCT ON (st.pgt_id) st.pgt_id, d.command_tag || ' ' || d.object_identity,
       st.needs_reinit
FROM {} d
LEFT JOIN LATERAL (
    SELECT r.old_name
    FROM ROWS FROM (pg_catalog.unnest(pg_catalog.string_to_array($1, ',')::pg_catalog.oid[]),
                    pg_catalog.unnest(pg_catalog.string_to_array($2, pg_catalog.chr(31))))
         AS r(objid, old_name)
    WHERE r.objid = d.objid LIMIT 1) r ON true
JOIN pgtrickle.pgt_stream_tables st ON CASE
    WHEN d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
        d.name = ANY (st.functions_used) OR r.old_name = ANY (st.functions_used)
    WHEN d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass THEN
        r.old_name IS NOT NULL AND (
            EXISTS (SELECT 1 FROM pg_catalog.unnest(st.functions_used) u(f)
                    WHERE pg_catalog.starts_with(u.f, r.old_name || '.'))
            OR EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies dep
                       JOIN pg_catalog.pg_class c ON c.oid = dep.source_relid
                       WHERE dep.pgt_id = st.pgt_id AND c.relnamespace = d.objid))
    WHEN d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN
        EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies dep
                WHERE dep.pgt_id = st.pgt_id AND dep.source_relid = d.objid
                  AND dep.source_type = 'VIEW')
    ELSE false END
ORDER BY st.pgt_id)sql";

// Stream tables whose rows or sources hold values of type $1 or of a type built on it (arrays,
// domains, ranges, composite types with such an attribute, at any depth).
const char* const kHoldingType = R"sql(
WITH RECURSIVE ty(oid) AS (
    SELECT $1::pg_catalog.oid
    UNION
    SELECT t.oid FROM pg_catalog.pg_type t, ty
    WHERE t.typelem = ty.oid OR t.typbasetype = ty.oid
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_range r
                  WHERE r.rngsubtype = ty.oid AND t.oid IN (r.rngtypid, r.rngmultitypid))
       OR (t.typrelid <> 0 AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = t.typrelid AND a.atttypid = ty.oid AND NOT a.attisdropped)))
SELECT st.pgt_id FROM pgtrickle.pgt_stream_tables st
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
              WHERE a.attnum > 0 AND NOT a.attisdropped AND a.atttypid IN (SELECT oid FROM ty)
                AND (a.attrelid = st.pgt_relid
                     OR a.attrelid IN (SELECT d.source_relid FROM pgtrickle.pgt_dependencies d
                                       WHERE d.pgt_id = st.pgt_id)))
   -- (or whose query names one, as in enum_range(NULL::colour) or s::colour: the value is
   -- computed in the query; a name that only looks alike costs a needless recomputation)
   OR $2::boolean AND EXISTS (SELECT 1 FROM pg_catalog.pg_type t
              WHERE t.oid IN (SELECT oid FROM ty)
                AND pg_catalog.strpos(st.defining_query, t.typname::text) > 0)
ORDER BY st.pgt_id)sql";

// After a type changed (type_change). Rows and groups are identified by the text of their
// values (a hash of it): when that text changes, the stored identities are no longer the ones
// a change computes, and a deleted row would not be found again. So the stream tables holding
// such values are reinitialised (recomputed, with identities from the new text). A rename
// breaks a stored query that spells the old name: each stream table's query is derived again,
// and a stream table whose query no longer derives or derives differently is reinitialised
// (refused when it no longer derives, as for functions).
void handle_changed_type(Spi& spi, const TypeChange& change, const std::string& what) {
    types_changing = true;
    struct Reset {
        ~Reset() { types_changing = false; }
    } reset;
    // (A table's row type that no column uses: nothing holds its values, no query spells its
    // fields as (a).street; a query reading the table itself is checked by the ALTER TABLE
    // tracker. Asked first: every ALTER TABLE ... ADD / DROP / ALTER COLUMN or RENAME of a
    // table in the database comes here.)
    if (change.table_rowtype &&
        spi.execute("SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t"
                    "   ON t.oid = $1::pg_catalog.oid"
                    " WHERE a.atttypid IN (t.oid, t.typarray) AND a.attnum > 0"
                    "   AND NOT a.attisdropped LIMIT 1",
                    {std::to_string(change.type)})
            .empty())
        return;
    if (change.reprints) {
        auto ids = spi.execute(kHoldingType,
                               {std::to_string(change.type), change.table_rowtype ? "f" : "t"});
        for (const auto& r : ids.rows)
            if (auto st = catalog::find_by_id(spi, std::stoll(*r[0])))
                reinitialise(spi, *st, false, what);
        return;
    }
    auto ids = spi.execute("SELECT pgt_id FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id");
    for (const auto& r : ids.rows) {
        auto st = catalog::find_by_id(spi, std::stoll(*r[0]));
        if (!st || st->status == "ERROR")
            continue;
        Derived d = derive_again(spi, *st);
        if (!d.def || d.def->query.deparsed != st->defining_query)
            reinitialise(spi, *st, false, what);
    }
}

}  // namespace

void handle_noted_type_change(Spi& spi) {
    if (!type_change)
        return;
    const TypeChange change = *type_change;
    type_change.reset();
    // (Matched with this statement's commands: one left by a statement that failed, or by
    // pg_trickle's own DDL, is not taken for this one's.)
    auto cmd = spi.execute(
        "SELECT c.command_tag || ' ' || c.object_identity"
        " FROM pg_catalog.pg_event_trigger_ddl_commands() c"
        " WHERE c.objid = $1::pg_catalog.oid OR ($1::pg_catalog.oid = 0"
        "   AND c.classid = 'pg_catalog.pg_collation'::pg_catalog.regclass)"
        "   OR (c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
        "       AND c.objid = (SELECT typrelid FROM pg_catalog.pg_type WHERE oid = $1::oid))"
        " LIMIT 1",
        {std::to_string(change.type)});
    if (!cmd.empty())
        handle_changed_type(spi, change, *cmd.scalar());
}

std::optional<RetypedColumns> take_retyped_columns() {
    auto r = std::move(retyped);
    retyped.reset();
    return r;
}

// After ALTER COLUMN ... TYPE on a source: the stream tables reading a retyped column, whose
// query it did not break (check_readers refused those, or put them into ERROR), are derived
// again and recomputed, as after a change of a function they call: their stored rows hold the
// values before the rewrite, which no change capture saw.
void handle_retyped_columns(Spi& spi, const std::optional<RetypedColumns>& noted) {
    if (!noted)
        return;
    const RetypedColumns& r = *noted;
    // (Matched with this statement's commands: one left by a statement that failed is not
    // taken for this one's.)
    auto cmd = spi.execute(
        "SELECT c.command_tag || ' ' || c.object_identity"
        " FROM pg_catalog.pg_event_trigger_ddl_commands() c"
        " WHERE c.objid IN ($1::pg_catalog.oid, $2::pg_catalog.oid) LIMIT 1",
        {std::to_string(r.rel), std::to_string(r.of_type)});
    const auto what = cmd.scalar();
    if (!what)
        return;
    std::vector<Oid> tables{r.rel};
    if (OidIsValid(r.of_type)) {
        tables.clear();
        for (const auto& row : spi.execute("SELECT c.oid FROM pg_catalog.pg_class c"
                                           " WHERE c.reloftype = $1::pg_catalog.oid ORDER BY c.oid",
                                           {std::to_string(r.of_type)})
                                   .rows)
            tables.push_back(static_cast<Oid>(std::stoul(*row[0])));
    }
    std::string columns;
    for (const auto& c : r.columns)
        columns += (columns.empty() ? "" : "\x1f") + c;
    for (const Oid table : tables) {
        if (OidIsValid(r.of_type))
            follow_altered_table(spi, table);
        if (columns.empty())
            continue;
        auto readers = spi.execute(
            "SELECT DISTINCT st.pgt_id, st.needs_reinit"
            " FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
            " WHERE d.source_relid = $1::pg_catalog.oid AND st.status <> 'ERROR'"
            "   AND (coalesce(pg_catalog.cardinality(d.columns_used), 0) = 0"
            "        OR d.columns_used && pg_catalog.string_to_array($2, pg_catalog.chr(31)))"
            " ORDER BY st.pgt_id",
            {std::to_string(table), columns});
        for (const auto& row : readers.rows)
            if (auto st = catalog::find_by_id(spi, std::stoll(*row[0])))
                reinitialise(spi, *st, *row[1] == "t", *what);
    }
}

namespace {

void handle_changed_definitions() {
    // pg_trickle's own DDL (capture trigger functions) is not checked.
    if (running_own_statement())
        return;
    // (Before any statement of ours runs: each notes its own.)
    const auto retyped_columns = take_retyped_columns();
    Spi spi;
    JitOff no_jit;
    handle_noted_type_change(spi);
    // ALTER TYPE ... CASCADE: the tables created OF the type.
    if (retyped_columns && OidIsValid(retyped_columns->of_type))
        handle_retyped_columns(spi, retyped_columns);
    std::string oids, names;
    for (const auto& r : renamed) {
        oids += (oids.empty() ? "" : ",") + std::to_string(r.objid);
        names += (names.empty() ? "" : "\x1f") + r.old_name;
    }
    auto affected = spi.execute(fmt::format(fmt::runtime(kAffected), R"sql((
    SELECT c.classid, c.objid, c.command_tag, c.object_identity,
           (SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)
            FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
            WHERE p.oid = c.objid AND c.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass) AS name
    FROM pg_catalog.pg_event_trigger_ddl_commands() c))sql"),
                                {oids, names});
    for (const auto& row : affected.rows) {
        if (auto st = catalog::find_by_id(spi, std::stoll(*row[0])))
            reinitialise(spi, *st, *row[2] == "t", *row[1]);
    }
    // A schema renamed: the catalog's names of the storage tables and sources in it follow.
    if (!spi.execute("SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands()"
                     " WHERE classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass")
             .empty())
        catalog::follow_renames(spi);
    spi.finish();
}

void handle_dropped_functions() {
    Spi spi;
    JitOff no_jit;
    auto affected = spi.execute(fmt::format(fmt::runtime(kAffected), R"sql((
    SELECT o.classid, o.objid, 'DROP ' || o.object_type AS command_tag, o.object_identity,
           pg_catalog.quote_ident(o.schema_name) || '.' || pg_catalog.quote_ident(o.address_names[2]) AS name
    FROM pg_catalog.pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass))sql"),
                                {"", ""});
    for (const auto& row : affected.rows) {
        auto st = catalog::find_by_id(spi, std::stoll(*row[0]));
        if (!st)
            continue;
        // (A function of the same name created later, as in DROP and CREATE, reinitialises it
        // again; until then its refreshes fail and say why.)
        if (st->refresh_mode == "IMMEDIATE")
            refuse_or_fail(spi, *st, *row[1], "its query calls it");
        AsCatalogOwner owner;
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET frontier = NULL, needs_reinit = true"
            " WHERE pgt_id = $1::bigint",
            {*row[0]});
    }
    spi.finish();
}

}  // namespace

void track_dropped_functions() {
    handle_dropped_functions();
}

void note_renames(Node* stmt) {
    std::vector<Renamed> found;
    auto routine = [&](ObjectType type, Node* object) {
        const Oid f = pg_call(
            [&] { return LookupFuncWithArgs(type, castNode(ObjectWithArgs, object), true); });
        if (OidIsValid(f))
            found.push_back({f, qualified_function_name(f)});
    };
    auto type_named = [&](List* names) {
        return pg_call(
            [&] { return LookupTypeNameOid(nullptr, makeTypeNameFromNameList(names), true); });
    };
    type_change.reset();
    retyped.reset();
    if (IsA(stmt, AlterEnumStmt)) {
        auto* e = reinterpret_cast<AlterEnumStmt*>(stmt);
        if (e->oldVal != nullptr)  // RENAME VALUE (ADD VALUE changes no value's text)
            if (const Oid t = type_named(e->typeName); OidIsValid(t))
                type_change = TypeChange{t, true};
        return;
    }
    if (IsA(stmt, AlterTableStmt)) {
        // ALTER TYPE of a composite type's attributes, or ALTER TABLE of a table's columns
        // (whose row type may be a column's type elsewhere): its values print other fields.
        auto* a = reinterpret_cast<AlterTableStmt*>(stmt);
        bool columns = a->objtype == OBJECT_TYPE;
        std::vector<std::string> retyped_columns;
        ListCell* lc;
        foreach (lc, a->cmds) {
            auto* cmd = castNode(AlterTableCmd, lfirst(lc));
            const AlterTableType t = cmd->subtype;
            columns = columns || t == AT_AddColumn || t == AT_DropColumn || t == AT_AlterColumnType;
            if (t == AT_AlterColumnType && cmd->name != nullptr)
                retyped_columns.emplace_back(cmd->name);
        }
        if (!columns)
            return;
        const Oid rel = pg_call([&] { return RangeVarGetRelid(a->relation, NoLock, true); });
        const Oid t = OidIsValid(rel) ? pg_call([&] { return get_rel_type_id(rel); }) : InvalidOid;
        // (ALTER TYPE ... CASCADE: the tables OF the type change too.)
        if (OidIsValid(rel) && (a->objtype == OBJECT_TYPE || !retyped_columns.empty()))
            retyped = RetypedColumns{rel, std::move(retyped_columns),
                                     a->objtype == OBJECT_TYPE ? t : InvalidOid};
        if (OidIsValid(t))
            type_change = TypeChange{t, true, a->objtype != OBJECT_TYPE};
        return;
    }
    bool table_rowtype = false;
    auto names_of = [&](ObjectType type, Node* object, RangeVar* relation) -> std::optional<Oid> {
        switch (type) {
            case OBJECT_TABLE:
            case OBJECT_FOREIGN_TABLE:
            case OBJECT_COLUMN: {  // its row type's name and fields (handle_changed_type)
                if (relation == nullptr)
                    return std::nullopt;
                const Oid rel = pg_call([&] { return RangeVarGetRelid(relation, NoLock, true); });
                table_rowtype = true;
                return OidIsValid(rel) ? pg_call([&] { return get_rel_type_id(rel); }) : InvalidOid;
            }
            case OBJECT_TYPE:
            case OBJECT_DOMAIN:
                return type_named(castNode(List, object));
            case OBJECT_COLLATION:
                return InvalidOid;
            case OBJECT_ATTRIBUTE: {  // of a composite type (its fields are spelled (x).f)
                const Oid rel = pg_call([&] { return RangeVarGetRelid(relation, NoLock, true); });
                return OidIsValid(rel) ? pg_call([&] { return get_rel_type_id(rel); }) : InvalidOid;
            }
            default:
                return std::nullopt;
        }
    };
    if (IsA(stmt, RenameStmt)) {
        auto* r = reinterpret_cast<RenameStmt*>(stmt);
        if (auto t = names_of(r->renameType, r->object, r->relation))
            type_change = TypeChange{*t, false, table_rowtype};
    } else if (IsA(stmt, AlterObjectSchemaStmt)) {
        auto* a = reinterpret_cast<AlterObjectSchemaStmt*>(stmt);
        if (auto t = names_of(a->objectType, a->object, a->relation))
            type_change = TypeChange{*t, false, table_rowtype};
    }
    if (IsA(stmt, RenameStmt)) {
        auto* r = reinterpret_cast<RenameStmt*>(stmt);
        if (is_routine(r->renameType)) {
            routine(r->renameType, r->object);
        } else if (r->renameType == OBJECT_SCHEMA) {
            const Oid nsp = pg_call([&] { return get_namespace_oid(r->subname, true); });
            if (OidIsValid(nsp))
                found.push_back({nsp, pg_call([&] { return quote_identifier(r->subname); })});
        }
    } else if (IsA(stmt, AlterObjectSchemaStmt)) {
        auto* a = reinterpret_cast<AlterObjectSchemaStmt*>(stmt);
        if (is_routine(a->objectType))
            routine(a->objectType, a->object);
    } else {
        return;  // (other statements, nested ones included, leave the list alone)
    }
    renamed = std::move(found);
}

}  // namespace pgtrickle::pg

extern "C" {

PG_FUNCTION_INFO_V1(pgt_on_definition_change);
Datum pgt_on_definition_change(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pgtrickle._on_definition_change() may only be called as an event "
                               "trigger")));
    pgtrickle::pg::pg_guard([] { pgtrickle::pg::handle_changed_definitions(); });
    PG_RETURN_NULL();
}

}  // extern "C"
