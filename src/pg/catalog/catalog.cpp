// Catalog access through SPI. Names shown to users come from pg_class, not from the copies in
// pgt_stream_tables, so a renamed storage table is still found under its new name.
#include "pg_trickle/pg/catalog.hpp"

#include <cstdlib>
#include <exception>

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/guard.hpp"

namespace pgtrickle::pg {

// As the bootstrap superuser, every name pg_trickle's SQL leaves unqualified (now(), chr(), an
// operator) is looked up in pg_catalog only: under the caller's search_path a function of the
// caller's (evil.now()) would run as superuser.
AsCatalogOwner::AsCatalogOwner() {
    GetUserIdAndSecContext(&saved_user_, &saved_context_);
    guc_nest_ = pg_call([] {
        const int nest = NewGUCNestLevel();
        (void)set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
                                GUC_ACTION_SAVE, true, 0, false);
        return nest;
    });
    SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, saved_context_ | SECURITY_LOCAL_USERID_CHANGE);
}

AsCatalogOwner::~AsCatalogOwner() {
    SetUserIdAndSecContext(saved_user_, saved_context_);
    // (After an error, the (sub)transaction's abort restores the setting.)
    if (std::uncaught_exceptions() == 0)
        AtEOXact_GUC(true, guc_nest_);
}

std::string qualified_relation_name(Oid relid) {
    const char* name = pg_call([&]() -> const char* {
        const char* rel = get_rel_name(relid);
        return rel == nullptr
                   ? nullptr
                   : quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
    });
    return name == nullptr ? std::string() : std::string(name);
}

std::string StreamTable::qualified_name() const {
    return core::quote_ident(schema) + "." + core::quote_ident(name);
}

std::string StreamTable::display_name() const {
    return schema + "." + name;
}

namespace catalog {

namespace {

constexpr const char* kSelect = R"sql(
SELECT st.pgt_id, st.pgt_relid, n.nspname, c.relname, st.defining_query, st.original_query,
       st.schedule, st.refresh_mode, st.status, st.is_populated, st.consecutive_errors,
       st.diamond_consistency, st.diamond_schedule_policy, st.requested_cdc_mode,
       st.is_append_only, st.pooler_compatibility_mode, st.max_differential_joins,
       st.max_delta_fraction, st.refresh_tier, st.effective_refresh_mode, st.frontier::text,
       pg_catalog.array_to_string(st.functions_used, pg_catalog.chr(31)),
       st.original_search_path
FROM pgtrickle.pgt_stream_tables st
JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
)sql";

bool to_bool(const Value& v) {
    return v && (*v == "t" || *v == "true");
}

StreamTable from_row(const Row& r) {
    StreamTable st;
    st.pgt_id = std::stoll(*r[0]);
    st.relid = static_cast<Oid>(std::stoul(*r[1]));
    st.schema = *r[2];
    st.name = *r[3];
    st.defining_query = *r[4];
    st.original_query = r[5];
    st.schedule = r[6];
    st.refresh_mode = *r[7];
    st.status = *r[8];
    st.is_populated = to_bool(r[9]);
    st.consecutive_errors = std::stoi(*r[10]);
    st.diamond_consistency = *r[11];
    st.diamond_schedule_policy = *r[12];
    st.requested_cdc_mode = r[13];
    st.is_append_only = to_bool(r[14]);
    st.pooler_compatibility_mode = to_bool(r[15]);
    if (r[16])
        st.max_differential_joins = std::stoi(*r[16]);
    if (r[17])
        // (strtod: std::stod refuses a subnormal such as 1e-310, which float8 stores.)
        st.max_delta_fraction = std::strtod(r[17]->c_str(), nullptr);
    st.refresh_tier = *r[18];
    st.effective_refresh_mode = r[19];
    st.frontier = r[20];
    if (r[21] && !r[21]->empty()) {
        std::size_t pos = 0;
        while (pos <= r[21]->size()) {
            std::size_t end = r[21]->find('\x1f', pos);
            if (end == std::string::npos)
                end = r[21]->size();
            st.functions_used.push_back(r[21]->substr(pos, end - pos));
            pos = end + 1;
        }
    }
    st.original_search_path = r[22];
    return st;
}

std::optional<StreamTable> first(const QueryResult& res) {
    if (res.rows.empty())
        return std::nullopt;
    return from_row(res.rows[0]);
}

Value opt_num(const std::optional<std::int32_t>& v) {
    return v ? Value(std::to_string(*v)) : Value{};
}
Value opt_num(const std::optional<double>& v) {
    return v ? Value(fmt::format("{}", *v)) : Value{};
}
Value boolean(bool b) {
    return Value(b ? "true" : "false");
}
// A text[] parameter's text: elements separated by chr(31) (read back with string_to_array),
// which no function name contains, so no element needs quoting.
Value text_array(const std::vector<std::string>& items) {
    std::string joined;
    for (std::size_t i = 0; i < items.size(); ++i)
        joined += (i ? "\x1f" : "") + items[i];
    return Value(joined);
}

}  // namespace

std::optional<StreamTable> find(Spi& spi, std::string_view name) {
    core::QualifiedName qn = core::parse_qualified_name(name);
    if (qn.schema) {
        return first(
            spi.execute_cached(std::string(kSelect) + " WHERE n.nspname = $1 AND c.relname = $2",
                               {*qn.schema, qn.name}));
    }
    // Unqualified: the first schema of the search path holding a stream table of that name.
    return first(spi.execute_cached(
        std::string(kSelect) +
            " JOIN unnest(pg_catalog.current_schemas(true)) WITH ORDINALITY AS sp(nsp, pos)"
            "   ON sp.nsp = n.nspname"
            " WHERE c.relname = $1 ORDER BY sp.pos LIMIT 1",
        {qn.name}));
}

StreamTable get(Spi& spi, std::string_view name) {
    if (auto st = find(spi, name))
        return *st;
    throw core::Error(core::sqlstate::kUndefinedTable,
                      fmt::format("stream table not found: {}", name), {},
                      "List stream tables with SELECT * FROM pgtrickle.pgt_status().");
}

std::optional<StreamTable> find_by_relid(Spi& spi, Oid relid) {
    return first(spi.execute_cached(std::string(kSelect) + " WHERE st.pgt_relid = $1::oid",
                                    {std::to_string(relid)}));
}

std::optional<StreamTable> find_by_id(Spi& spi, std::int64_t pgt_id) {
    return first(spi.execute_cached(std::string(kSelect) + " WHERE st.pgt_id = $1::bigint",
                                    {std::to_string(pgt_id)}));
}

std::vector<StreamTable> all(Spi& spi) {
    std::vector<StreamTable> out;
    for (const auto& r : spi.execute(std::string(kSelect) + " ORDER BY st.pgt_id", {}).rows)
        out.push_back(from_row(r));
    return out;
}

std::int64_t insert(Spi& spi, const StreamTable& st) {
    AsCatalogOwner owner;
    auto res = spi.execute(
        R"sql(
INSERT INTO pgtrickle.pgt_stream_tables
    (pgt_relid, pgt_schema, pgt_name, defining_query, original_query, schedule, refresh_mode,
     status, diamond_consistency, diamond_schedule_policy, requested_cdc_mode, is_append_only,
     pooler_compatibility_mode, max_differential_joins, max_delta_fraction,
     effective_refresh_mode, functions_used, original_search_path)
VALUES ($1::oid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::boolean, $13::boolean,
        $14::integer, $15::double precision, $16, pg_catalog.string_to_array($17, pg_catalog.chr(31)),
        $18)
RETURNING pgt_id)sql",
        {std::to_string(st.relid), st.schema, st.name, st.defining_query, st.original_query,
         st.schedule, st.refresh_mode, st.status, st.diamond_consistency,
         st.diamond_schedule_policy, st.requested_cdc_mode, boolean(st.is_append_only),
         boolean(st.pooler_compatibility_mode), opt_num(st.max_differential_joins),
         opt_num(st.max_delta_fraction), st.effective_refresh_mode, text_array(st.functions_used),
         st.original_search_path});
    return std::stoll(*res.scalar());
}

void update_definition(Spi& spi, const StreamTable& st) {
    AsCatalogOwner owner;
    spi.run(R"sql(
UPDATE pgtrickle.pgt_stream_tables SET
    pgt_relid = $2::oid, pgt_schema = $3, pgt_name = $4, defining_query = $5,
    original_query = $6, schedule = $7, refresh_mode = $8, status = $9,
    is_populated = $10::boolean, consecutive_errors = $11::integer,
    diamond_consistency = $12, diamond_schedule_policy = $13, requested_cdc_mode = $14,
    is_append_only = $15::boolean, pooler_compatibility_mode = $16::boolean,
    max_differential_joins = $17::integer, max_delta_fraction = $18::double precision,
    refresh_tier = $19, effective_refresh_mode = $20, functions_used = pg_catalog.string_to_array($21, pg_catalog.chr(31)),
    original_search_path = $22, updated_at = now()
WHERE pgt_id = $1::bigint)sql",
            {std::to_string(st.pgt_id),
             std::to_string(st.relid),
             st.schema,
             st.name,
             st.defining_query,
             st.original_query,
             st.schedule,
             st.refresh_mode,
             st.status,
             boolean(st.is_populated),
             std::to_string(st.consecutive_errors),
             st.diamond_consistency,
             st.diamond_schedule_policy,
             st.requested_cdc_mode,
             boolean(st.is_append_only),
             boolean(st.pooler_compatibility_mode),
             opt_num(st.max_differential_joins),
             opt_num(st.max_delta_fraction),
             st.refresh_tier,
             st.effective_refresh_mode,
             text_array(st.functions_used),
             st.original_search_path});
}

void remove(Spi& spi, std::int64_t pgt_id) {
    AsCatalogOwner owner;
    spi.run("DELETE FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint",
            {std::to_string(pgt_id)});
}

std::vector<Dependency> dependencies(Spi& spi, std::int64_t pgt_id) {
    std::vector<Dependency> out;
    auto res = spi.execute_cached(  // (read at every differential refresh: check_owner_reads)
        "SELECT source_relid, source_type, pg_catalog.array_to_string(columns_used, chr(1))"
        " FROM pgtrickle.pgt_dependencies WHERE pgt_id = $1::bigint ORDER BY source_relid",
        {std::to_string(pgt_id)});
    for (const auto& r : res.rows) {
        Dependency d{static_cast<Oid>(std::stoul(*r[0])), *r[1], {}};
        if (r[2] && !r[2]->empty()) {
            std::string cols = *r[2];
            std::size_t start = 0;
            for (std::size_t pos; (pos = cols.find('\x01', start)) != std::string::npos;
                 start = pos + 1)
                d.columns_used.push_back(cols.substr(start, pos - start));
            d.columns_used.push_back(cols.substr(start));
        }
        out.push_back(std::move(d));
    }
    return out;
}

void replace_dependencies(Spi& spi, std::int64_t pgt_id, const std::vector<Dependency>& deps) {
    AsCatalogOwner owner;
    spi.run("DELETE FROM pgtrickle.pgt_dependencies WHERE pgt_id = $1::bigint",
            {std::to_string(pgt_id)});
    for (const auto& d : deps) {
        std::string cols = "{";
        for (std::size_t i = 0; i < d.columns_used.size(); ++i) {
            std::string c = d.columns_used[i];
            std::string escaped;
            for (char ch : c) {
                if (ch == '"' || ch == '\\')
                    escaped += '\\';
                escaped += ch;
            }
            cols += (i ? ",\"" : "\"") + escaped + "\"";
        }
        cols += "}";
        spi.run(
            "INSERT INTO pgtrickle.pgt_dependencies (pgt_id, source_relid, source_type,"
            " columns_used, source_stable_name)"
            " SELECT $1::bigint, $2::oid, $3, $4::text[],"
            "        pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)"
            " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            "   ON n.oid = c.relnamespace WHERE c.oid = $2::oid",
            {std::to_string(pgt_id), std::to_string(d.source_relid), d.source_type, cols});
    }
}

void follow_renames(Spi& spi) {
    AsCatalogOwner owner;
    spi.run_cached(R"sql(
UPDATE pgtrickle.pgt_stream_tables st SET pgt_schema = n.nspname, pgt_name = c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = st.pgt_relid AND (st.pgt_schema, st.pgt_name) IS DISTINCT FROM (n.nspname, c.relname))sql");
    spi.run_cached(R"sql(
UPDATE pgtrickle.pgt_dependencies d
SET source_stable_name = pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = d.source_relid AND d.source_stable_name IS DISTINCT FROM
      pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname))sql");
}

std::vector<std::int64_t> dependents_of(Spi& spi, Oid relid) {
    std::vector<std::int64_t> out;
    auto res = spi.execute(
        "SELECT pgt_id FROM pgtrickle.pgt_dependencies WHERE source_relid = $1::oid"
        " ORDER BY pgt_id",
        {std::to_string(relid)});
    for (const auto& r : res.rows)
        out.push_back(std::stoll(*r[0]));
    return out;
}

void record_refresh_success(Spi& spi, std::int64_t pgt_id, std::string_view action,
                            std::string_view initiated_by, double duration_ms,
                            std::int64_t rows_inserted, std::int64_t rows_deleted,
                            const std::optional<std::string>& frontier) {
    AsCatalogOwner owner;
    const std::string id = std::to_string(pgt_id);
    const std::string ms = fmt::format("{}", duration_ms);
    spi.run_cached(R"sql(
UPDATE pgtrickle.pgt_stream_tables SET
    data_timestamp = now(), last_refresh_at = now(), is_populated = true, status = 'ACTIVE',
    pgt_schema = (SELECT n.nspname FROM pg_catalog.pg_class c
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = pgt_relid),
    pgt_name = (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = pgt_relid),
    consecutive_errors = 0, needs_reinit = false, last_error_message = NULL,
    last_error_at = NULL, effective_refresh_mode = $2,
    last_full_ms = CASE WHEN $2 = 'FULL' THEN $3::double precision ELSE last_full_ms END,
    frontier = $4::jsonb, updated_at = now()
WHERE pgt_id = $1::bigint)sql",
                   {id, std::string(action), ms, frontier});
    spi.run_cached(R"sql(
INSERT INTO pgtrickle.pgt_refresh_history
    (pgt_id, data_timestamp, start_time, end_time, action, rows_inserted, rows_deleted,
     status, initiated_by)
VALUES ($1::bigint, now(), clock_timestamp() - make_interval(secs => $3::double precision / 1000),
        clock_timestamp(), $2, $4::bigint, $5::bigint, 'COMPLETED', $6))sql",
                   {id, std::string(action), ms, std::to_string(rows_inserted),
                    std::to_string(rows_deleted), std::string(initiated_by)});
}

void record_no_data(Spi& spi, std::int64_t pgt_id, std::string_view initiated_by,
                    const std::string& frontier) {
    AsCatalogOwner owner;
    const std::string id = std::to_string(pgt_id);
    spi.run_cached(
        "UPDATE pgtrickle.pgt_stream_tables SET last_refresh_at = now(), frontier = $2::jsonb"
        " WHERE pgt_id = $1::bigint",
        {id, frontier});
    if (initiated_by == "MANUAL") {
        spi.run_cached(
            "INSERT INTO pgtrickle.pgt_refresh_history (pgt_id, data_timestamp, start_time,"
            " end_time, action, rows_inserted, rows_deleted, status, initiated_by)"
            " SELECT $1::bigint, coalesce(data_timestamp, now()), clock_timestamp(),"
            " clock_timestamp(), 'NO_DATA', 0, 0, 'COMPLETED', $2"
            " FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint",
            {id, std::string(initiated_by)});
    }
}

}  // namespace catalog
}  // namespace pgtrickle::pg

namespace pgtrickle::pg {
std::string StreamTable::sql_name() const {
    return std::string(quote_identifier(schema.c_str())) + "." + quote_identifier(name.c_str());
}
}  // namespace pgtrickle::pg
