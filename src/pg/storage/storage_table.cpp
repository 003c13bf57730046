// Storage tables and their guard.
//
// The guard is a statement-level trigger calling one C function: it costs one call per
// statement (not per row) during refreshes, and bypassing it takes this backend's own flag, not a
// setting a user could SET.
#include "pg_trickle/pg/storage.hpp"

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/statement_depth.hpp"

namespace pgtrickle::pg {

namespace {
// A storage table the refresh engine is writing, and the executor depth of its statements.
struct AllowedWrite {
    Oid relid;
    int depth;
};
// Innermost last: a refresh of one stream table can maintain IMMEDIATE stream tables reading
// it from inside its own statement.
std::vector<AllowedWrite> internal_writes;
}  // namespace

InternalWrite::InternalWrite(Oid relid) {
    // The engine's statements run through SPI from here: one executor deeper.
    internal_writes.push_back({relid, executor_depth() + 1});
}
InternalWrite::~InternalWrite() {
    if (!internal_writes.empty())
        internal_writes.pop_back();
}
void reset_internal_writes() {
    internal_writes.clear();
}

std::string creation_schema(Spi& spi) {
    Value schema = spi.execute("SELECT pg_catalog.current_schema()", {}).scalar();
    if (!schema) {
        throw core::Error("3F000", "no schema has been selected to create in", {},
                          "Qualify the stream table name with a schema, or set search_path.");
    }
    return *schema;
}

void install_storage_guards(Spi& spi, const std::string& table) {
    // ENABLE ALWAYS: the guard holds under session_replication_role = replica too.
    spi.run("CREATE OR REPLACE TRIGGER pgt_dml_guard BEFORE INSERT OR UPDATE OR DELETE ON " +
            table + " FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._pgt_guard()");
    spi.run("CREATE OR REPLACE TRIGGER pgt_truncate_guard BEFORE TRUNCATE ON " + table +
            " FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._pgt_guard()");
    spi.run("ALTER TABLE " + table + " ENABLE ALWAYS TRIGGER pgt_dml_guard");
    spi.run("ALTER TABLE " + table + " ENABLE ALWAYS TRIGGER pgt_truncate_guard");
}

Oid create_storage_table(Spi& spi, const std::string& schema, const std::string& name,
                         const std::vector<OutputColumn>& columns, bool unique_row_ids) {
    const std::string table = core::quote_ident(schema) + "." + core::quote_ident(name);
    std::string ddl = "CREATE TABLE " + table + " (__pgt_row_id bigint NOT NULL";
    for (const auto& c : columns)
        ddl += ", " + core::quote_ident(c.name) + " " + c.type_sql;
    ddl += ")";
    spi.run(ddl);
    spi.run(std::string("CREATE ") + (unique_row_ids ? "UNIQUE " : "") + "INDEX ON " + table +
            " (__pgt_row_id)");
    install_storage_guards(spi, table);
    Value oid = spi.execute("SELECT $1::regclass::oid", {table}).scalar();
    return static_cast<Oid>(std::stoul(*oid));
}

void ensure_row_id_index(Spi& spi, Oid relid, bool unique) {
    const std::string id = std::to_string(relid);
    auto idx = spi.execute(
        "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(ic.relname),"
        " i.indisunique FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attname = '__pgt_row_id'"
        " WHERE i.indrelid = $1::oid AND i.indnatts = 1 AND i.indkey[0] = a.attnum",
        {id});
    if (!idx.empty() && (*idx.rows[0][1] == "t") == unique)
        return;
    if (!idx.empty())
        spi.run("DROP INDEX " + *idx.rows[0][0]);
    spi.run(std::string("CREATE ") + (unique ? "UNIQUE " : "") + "INDEX ON " +
            qualified_relation_name(relid) + " (__pgt_row_id)");
}

bool row_identity_holds(Spi& spi, const core::DeltaPlan& plan, Oid relid,
                        const std::string& table) {
    const bool unique =
        spi.execute_cached(
               "SELECT pg_catalog.bool_or(i.indisunique) FROM pg_catalog.pg_index i"
               " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid"
               " AND a.attname = '__pgt_row_id'"
               " WHERE i.indrelid = $1::oid AND i.indnatts = 1 AND i.indkey[0] = a.attnum",
               {std::to_string(relid)})
            .scalar() == Value("t");
    if (unique != core::unique_row_ids(plan))
        return false;
    const std::string check = core::row_id_check(plan, table);
    return check.empty() || spi.execute_cached(check, {}).scalar() != Value("f");
}

bool storage_matches(Spi& spi, Oid relid, const std::vector<OutputColumn>& columns) {
    auto res = spi.execute(
        "SELECT a.attname, a.atttypid, a.atttypmod, a.attcollation"
        " FROM pg_catalog.pg_attribute a"
        " WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped"
        "   AND a.attname <> '__pgt_row_id' ORDER BY a.attnum",
        {std::to_string(relid)});
    if (res.rows.size() != columns.size())
        return false;
    for (std::size_t i = 0; i < columns.size(); ++i) {
        const Row& r = res.rows[i];
        const OutputColumn& c = columns[i];
        if (*r[0] != c.name || std::stoul(*r[1]) != c.type || std::stol(*r[2]) != c.typmod ||
            std::stoul(*r[3]) != c.collation)
            return false;
    }
    return true;
}

bool internal_write_allowed(Oid relid) {
    // Only the innermost storage, and only by the engine's own statements: a user's trigger on
    // a stream table, fired by its refresh, runs its statements deeper and writes neither
    // another stream table nor this one.
    return !internal_writes.empty() && internal_writes.back().relid == relid &&
           internal_writes.back().depth == executor_depth();
}

}  // namespace pgtrickle::pg

extern "C" {
PG_FUNCTION_INFO_V1(pgt_dml_guard);
Datum pgt_dml_guard(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pgtrickle._pgt_guard() may only be called as a trigger")));
    auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (pgtrickle::pg::internal_write_allowed(RelationGetRelid(trigdata->tg_relation)))
        return PointerGetDatum(nullptr);
    const char* op = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event)   ? "INSERT"
                     : TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? "UPDATE"
                     : TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "DELETE"
                                                                   : "TRUNCATE";
    ereport(
        ERROR,
        (errcode(ERRCODE_WRONG_OBJECT_TYPE),
         errmsg("Direct DML on stream table \"%s\" is not allowed",
                RelationGetRelationName(trigdata->tg_relation)),
         errdetail("%s on a stream table's storage is refused; pg_trickle maintains its rows.", op),
         errhint("Change the source tables, or the defining query with "
                 "pgtrickle.alter_stream_table().")));
    return PointerGetDatum(nullptr);
}
}
