// drop_stream_table, refresh_stream_table, resume_stream_table.
#include <fmt/format.h>

#include "definition.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/storage.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/immediate.hpp"
#include "pg_trickle/pg/lifecycle.hpp"
#include "pg_trickle/pg/refresh.hpp"

namespace pgtrickle::pg {

namespace {

std::vector<StreamTable> dependent_stream_tables(Spi& spi, const StreamTable& st) {
    std::vector<StreamTable> out;
    for (auto id : catalog::dependents_of(spi, st.relid)) {
        if (auto d = catalog::find_by_id(spi, id))
            out.push_back(*d);
    }
    return out;
}

}  // namespace

void drop_stream_table_now(Spi& spi, const StreamTable& st, bool cascade) {
    for (const auto& d : dependent_stream_tables(spi, st))
        drop_stream_table_now(spi, d, cascade);
    auto deps = catalog::dependencies(spi, st.pgt_id);
    catalog::remove(spi, st.pgt_id);
    {
        // Ownership was checked on the stream table the user named; dependents go with it, as
        // DROP ... CASCADE takes dependent objects of other owners along.
        AsCatalogOwner owner;
        spi.run("DROP TABLE IF EXISTS " + st.qualified_name() + (cascade ? " CASCADE" : ""));
    }
    for (const auto& d : deps)
        sync_capture(spi, d.source_relid);
}

void drop_stream_table(const std::string& name, bool cascade) {
    Spi spi;
    StreamTable st = catalog::get(spi, name);
    ensure_owner(st);
    // (Maintenance goes on after the trigger that called this, over what it looked up before.)
    if (immediate_maintenance_running())
        throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                          fmt::format("cannot drop stream table {} while IMMEDIATE stream tables "
                                      "are being maintained",
                                      st.display_name()),
                          "A trigger on a stream table called drop_stream_table.",
                          "Drop it after the statement that changed the sources.");
    auto dependents = dependent_stream_tables(spi, st);
    if (!dependents.empty() && !cascade) {
        std::string names;
        for (const auto& d : dependents)
            names += (names.empty() ? "" : ", ") + d.display_name();
        throw core::invalid_argument(fmt::format("stream table {} has dependent stream tables: {}",
                                                 st.display_name(), names),
                                     {}, "Use cascade => true to drop them too.");
    }
    drop_stream_table_now(spi, st, cascade);
    spi.finish();
}

void refresh_stream_table(const std::string& name) {
    Spi spi;
    StreamTable st = catalog::get(spi, name);
    ensure_owner(st);
    if (RecoveryInProgress()) {
        throw core::invalid_argument("cannot refresh a stream table during recovery",
                                     "This server is a standby.",
                                     "Refresh stream tables on the primary.");
    }
    if (st.status == "SUSPENDED" || st.status == "ERROR") {
        throw core::invalid_argument(
            fmt::format("stream table {} is {} and cannot be refreshed", st.display_name(),
                        st.status),
            {},
            fmt::format("Run SELECT pgtrickle.resume_stream_table({}) first.",
                        core::quote_literal(st.sql_name())));
    }
    if (!try_lock_for_refresh(spi, st.pgt_id)) {
        spi.finish();
        notice(fmt::format("refresh skipped: {} — another refresh is already in progress",
                           st.display_name()));
        return;
    }
    refresh(spi, st, "MANUAL");
    spi.finish();
}

std::string explain_diff_sql(const std::string& name) {
    Spi spi;
    StreamTable st = catalog::get(spi, name);
    std::optional<core::DeltaPlan> plan;
    if (st.refresh_mode == "DIFFERENTIAL")
        plan = analyze_differential(spi, st.defining_query).plan;
    if (plan)
        choose_apply(spi, st.relid, *plan);
    std::optional<core::Frontier> frontier;
    if (st.frontier)
        frontier = core::Frontier::from_json(*st.frontier);
    if (!plan || !frontier) {
        throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                          fmt::format("stream table {} has no delta query", st.display_name()),
                          "Only DIFFERENTIAL stream tables that have been refreshed have one.");
    }
    std::string sql =
        core::apply_statement(*plan, *frontier, st.qualified_name(), core::Consolidation::Lean);
    spi.finish();
    return sql;
}

void revive_from_error(Spi& spi, StreamTable& st) {
    {
        AsCatalogOwner owner;
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET status = 'ACTIVE', consecutive_errors = 0,"
            " last_error_message = NULL, last_error_at = NULL, updated_at = now()"
            " WHERE pgt_id = $1::bigint",
            {std::to_string(st.pgt_id)});
    }
    // A source was dropped: resolve the query's names again (a recreated source has a new
    // OID), re-record the sources, and rebuild the contents.
    Definition def = prepare_definition(spi, st.defining_query, st.pgt_id);
    core::RefreshMode mode =
        choose_mode(def, core::requested_from_catalog(st.refresh_mode), st.display_name());
    if (!storage_matches(spi, st.relid, storage_columns(def, mode))) {
        throw core::Error("42P17",
                          fmt::format("the columns of stream table {}'s defining query "
                                      "changed",
                                      st.display_name()),
                          {}, "Give it its query again with alter_stream_table(query => ...).");
    }
    install_dependencies(spi, st.pgt_id, dependencies_of(def, mode));
    st.refresh_mode = std::string(core::to_string(mode));
    st.status = "ACTIVE";
    st.consecutive_errors = 0;
    catalog::update_definition(spi, st);
    // Capture follows the mode now in the catalog (install_dependencies synced it with the
    // one recorded before, which a downgrade to FULL changed).
    for (const auto& d : catalog::dependencies(spi, st.pgt_id))
        sync_capture(spi, d.source_relid);
    bool unique = unique_row_ids(def, mode);
    if (!unique)
        ensure_row_id_index(spi, st.relid, false);
    // (In ERROR it was not maintained: writers of its sources went on without it.)
    if (st.refresh_mode == "IMMEDIATE")
        wait_for_source_writers(spi, st);
    refresh(spi, st, "MANUAL", true);
    if (unique)
        ensure_row_id_index(spi, st.relid, true);
}

void recompute_immediate(Spi& spi, const StreamTable& st) {
    lock_for_recompute(spi, st.pgt_id);
    refresh(spi, st, "MANUAL", true);
    if (st.status == "SUSPENDED") {
        AsCatalogOwner owner;
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET status = 'SUSPENDED'"
            " WHERE pgt_id = $1::bigint",
            {std::to_string(st.pgt_id)});
    }
}

void resume_stream_table(const std::string& name) {
    Spi spi;
    StreamTable st = catalog::get(spi, name);
    ensure_owner(st);
    if (st.status != "SUSPENDED" && st.status != "ERROR") {
        throw core::invalid_argument(
            fmt::format("stream table {} is not suspended or in error "
                        "state (current status: {})",
                        st.display_name(), st.status));
    }
    if (st.status == "ERROR") {
        revive_from_error(spi, st);
    } else {
        AsCatalogOwner owner;
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET status = 'ACTIVE', consecutive_errors = 0,"
            " last_error_message = NULL, last_error_at = NULL, updated_at = now()"
            " WHERE pgt_id = $1::bigint",
            {std::to_string(st.pgt_id)});
    }
    spi.finish();
}

}  // namespace pgtrickle::pg
