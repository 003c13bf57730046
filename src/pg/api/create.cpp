// create_stream_table, create_stream_table_if_not_exists, create_or_replace_stream_table.
#include <fmt/format.h>

#include "definition.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/core/schedule.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/lifecycle.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/storage.hpp"

namespace pgtrickle::pg {

namespace {

std::string required(const std::optional<std::string>& v, const char* what) {
    if (!v)
        throw core::invalid_argument(fmt::format("{} must not be NULL", what));
    return *v;
}

// Validated schedule text for the catalog (nullopt = calculated).
std::optional<std::string> checked_schedule(const std::optional<std::string>& text) {
    if (!text) {
        throw core::invalid_argument(
            "use 'calculated' instead of NULL to set a CALCULATED schedule", {},
            "Pass schedule => 'calculated', or omit it.");
    }
    core::Schedule s = core::parse_schedule(*text);
    core::check_min_schedule(s, guc::min_schedule_seconds);
    if (s.kind == core::ScheduleKind::Calculated)
        return std::nullopt;
    return s.stored;
}

std::string collapse_whitespace(const std::string& s) {
    std::string out;
    bool space = false;
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            space = !out.empty();
            continue;
        }
        if (space)
            out += ' ';
        space = false;
        out += c;
    }
    return out;
}

// create_or_replace on an existing stream table: alter only what differs.
void replace_existing(Spi& spi, const StreamTable& st, const CreateRequest& r) {
    AnalyzedQuery q = analyze_query(*r.query);
    core::StreamTableOptions o = r.options;
    core::RequestedMode requested = core::parse_refresh_mode(*r.refresh_mode);
    std::optional<std::string> schedule =
        requested == core::RequestedMode::Immediate ? st.schedule : checked_schedule(r.schedule);

    AlterRequest alter;
    alter.name = st.qualified_name();
    bool changed = false;
    if (collapse_whitespace(q.deparsed) != collapse_whitespace(st.defining_query)) {
        alter.query = *r.query;
        changed = true;
    }
    auto differs = [&](auto& field, const auto& wanted, const auto& current) {
        if (wanted != current) {
            field = wanted;
            changed = true;
        }
    };
    if (schedule != st.schedule) {
        alter.schedule = schedule.value_or("calculated");
        changed = true;
    }
    // AUTO matches whatever AUTO resolved to at creation.
    if (requested != core::RequestedMode::Auto) {
        core::RefreshMode mode = requested == core::RequestedMode::Full ? core::RefreshMode::Full
                                 : requested == core::RequestedMode::Differential
                                     ? core::RefreshMode::Differential
                                     : core::RefreshMode::Immediate;
        differs(alter.refresh_mode, std::string(core::to_string(mode)), st.refresh_mode);
    } else if (alter.query) {
        alter.refresh_mode = "AUTO";
    }
    core::validate_options(o, core::RefreshMode::Differential);
    differs(alter.diamond_consistency, o.diamond_consistency.value_or("atomic"),
            st.diamond_consistency);
    differs(alter.diamond_schedule_policy, o.diamond_schedule_policy.value_or("fastest"),
            st.diamond_schedule_policy);
    if (o.cdc_mode != st.requested_cdc_mode && o.cdc_mode) {
        alter.cdc_mode = o.cdc_mode;
        changed = true;
    }
    differs(alter.append_only, o.append_only, st.is_append_only);
    differs(alter.pooler_compatibility_mode, o.pooler_compatibility_mode,
            st.pooler_compatibility_mode);
    if (o.max_differential_joins != st.max_differential_joins) {
        alter.max_differential_joins = o.max_differential_joins;
        changed = changed || o.max_differential_joins.has_value();
    }
    if (o.max_delta_fraction != st.max_delta_fraction) {
        alter.max_delta_fraction = o.max_delta_fraction;
        changed = changed || o.max_delta_fraction.has_value();
    }
    spi.finish();
    if (!changed) {
        info(fmt::format("stream table {} already exists with this definition; nothing changed",
                         st.display_name()));
        return;
    }
    alter_stream_table(alter);
}

}  // namespace

void create_stream_table(CreateRequest r, OnExisting on_existing) {
    const std::string name_text = required(r.name, "name");
    const std::string query = required(r.query, "query");
    if (!r.refresh_mode)
        r.refresh_mode = "AUTO";

    Spi spi;
    // The name in the schema it is created in: an unqualified one in current_schema() (a
    // stream table of that name elsewhere on search_path is another one).
    const core::QualifiedName target = core::parse_qualified_name(name_text);
    const std::string target_schema = target.schema ? *target.schema : creation_schema(spi);
    const std::string target_name =
        core::quote_ident(target_schema) + "." + core::quote_ident(target.name);
    // One creation of a name at a time: a second session waits for the first to commit and
    // then finds its stream table (42P07) instead of failing on pg_type's unique index.
    // (Keyed by the resolved name: 'x' and 'public.x' are one.)
    spi.run("SELECT pg_catalog.pg_advisory_xact_lock($1::integer, pg_catalog.hashtext($2))",
            {kCreateLockClass, target_name});
    if (auto existing = catalog::find(spi, target_name)) {
        switch (on_existing) {
            case OnExisting::Error:
                throw core::Error(
                    core::sqlstate::kDuplicateTable,
                    fmt::format("stream table already exists: {}", existing->display_name()), {},
                    "Use create_or_replace_stream_table() or "
                    "alter_stream_table() to change it.");
            case OnExisting::Skip:
                spi.finish();
                info(fmt::format("stream table {} already exists, skipping",
                                 existing->display_name()));
                return;
            case OnExisting::Replace:
                replace_existing(spi, *existing, r);
                return;
        }
    }

    // Options first: a typo in an option is reported before any work is done.
    core::RequestedMode requested = core::parse_refresh_mode(*r.refresh_mode);
    // IMMEDIATE has no schedule: one given is checked (as alter_stream_table does), then
    // ignored; NULL is accepted. Stored NULL.
    if (requested == core::RequestedMode::Immediate && r.schedule)
        (void)checked_schedule(r.schedule);
    std::optional<std::string> schedule =
        requested == core::RequestedMode::Immediate ? std::nullopt : checked_schedule(r.schedule);
    core::validate_options(r.options, requested == core::RequestedMode::Full
                                          ? core::RefreshMode::Full
                                          : core::RefreshMode::Differential);

    StreamTable st;
    st.schema = target_schema;
    st.name = target.name;
    if (st.schema == "pgtrickle" || st.schema == "pgtrickle_changes" || st.schema == "pg_catalog" ||
        st.schema == "information_schema" || st.schema == "pg_toast")
        throw core::Error(core::sqlstate::kInsufficientPrivilege,
                          fmt::format("stream tables cannot be created in schema {}", st.schema),
                          "That schema belongs to pg_trickle or to the system.",
                          "Create it in a schema of your own.");
    // A temporary table ends with its session, which the scheduler and other sessions cannot
    // read; its catalog rows and its sources' capture would outlive it.
    const char* schema_c = st.schema.c_str();
    if (st.schema == "pg_temp" || pg_call([&] {
            const Oid nsp = get_namespace_oid(schema_c, true);
            return OidIsValid(nsp) && isAnyTempNamespace(nsp);
        }))
        throw core::unsupported(
            "stream tables cannot be temporary",
            fmt::format("Schema {} is a session's temporary schema.", st.schema),
            "Create the stream table in a permanent schema.");

    Definition def = prepare_definition(spi, query, 0);
    core::RefreshMode mode = choose_mode(def, requested, st.display_name());
    core::validate_options(r.options, mode);
    // An IMMEDIATE stream table is maintained by every statement writing to its sources from
    // its creation on, and no scheduler refreshes it: left empty, it would hold only what later
    // statements changed.
    if (mode == core::RefreshMode::Immediate && !r.initialize)
        throw core::invalid_argument(
            "initialize => false is not supported for an IMMEDIATE stream table",
            "An IMMEDIATE stream table is kept up to date by the statements that write to its "
            "sources from its creation on; it is filled when it is created.",
            "Omit initialize, or create it DIFFERENTIAL with initialize => false and switch it "
            "later with alter_stream_table(refresh_mode => 'IMMEDIATE').");
    if (mode == core::RefreshMode::Immediate)
        check_immediate_triggers_allowed(dependencies_of(def, mode),
                                         pg_call([] { return GetUserId(); }));
    const AnalyzedQuery& q = def.query;

    st.relid = create_storage_table(spi, st.schema, st.name, storage_columns(def, mode),
                                    unique_row_ids(def, mode));
    st.defining_query = q.deparsed;
    st.functions_used = q.functions_used;
    if (collapse_whitespace(q.statement) != collapse_whitespace(q.deparsed))
        st.original_query = q.statement;
    st.original_search_path = def.search_path;
    st.schedule = schedule;
    st.refresh_mode = std::string(core::to_string(mode));
    st.status = "INITIALIZING";
    st.diamond_consistency = r.options.diamond_consistency.value_or("atomic");
    st.diamond_schedule_policy = r.options.diamond_schedule_policy.value_or("fastest");
    st.requested_cdc_mode = r.options.cdc_mode;
    st.is_append_only = r.options.append_only;
    st.pooler_compatibility_mode = r.options.pooler_compatibility_mode;
    st.max_differential_joins = r.options.max_differential_joins;
    st.max_delta_fraction = r.options.max_delta_fraction;
    st.refresh_tier = "hot";
    st.effective_refresh_mode = st.refresh_mode;
    st.pgt_id = catalog::insert(spi, st);
    install_dependencies(spi, st.pgt_id, dependencies_of(def, mode));

    if (r.initialize) {
        if (st.refresh_mode == "IMMEDIATE")
            wait_for_source_writers(spi, st);
        try {
            refresh(spi, st, "INITIAL", true);
        } catch (const PgException& e) {
            // A name the query resolved in the caller's session but a refresh does not: refreshes
            // pin search_path, so a function the query calls that names a table unqualified
            // finds nothing. Said in a hint (the message is PostgreSQL's own).
            ErrorData* d = e.edata();
            const bool unresolved = d->sqlerrcode == ERRCODE_UNDEFINED_TABLE ||
                                    d->sqlerrcode == ERRCODE_UNDEFINED_FUNCTION ||
                                    d->sqlerrcode == ERRCODE_UNDEFINED_OBJECT;
            if (unresolved && d->hint == nullptr)
                d->hint = pg_call([] {
                    return pstrdup(
                        "Refreshes run with search_path = pg_catalog, pg_temp: functions the "
                        "query calls must schema-qualify the tables and functions they use, or "
                        "set search_path in their definition (ALTER FUNCTION ... SET "
                        "search_path = ...).");
                });
            throw;
        }
    }
    spi.finish();
    info(fmt::format("Stream table {} created (pgt_id={}, mode={}, initialized={})",
                     st.display_name(), st.pgt_id, st.refresh_mode,
                     r.initialize ? "true" : "false"));
}

}  // namespace pgtrickle::pg
