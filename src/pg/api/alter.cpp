// alter_stream_table: each given option changes; everything else stays. A new query swaps the
// storage in place when its columns are unchanged, or builds a new storage table and renames it
// into place when they differ; either way inside the caller's transaction, so readers see the
// old contents until commit and the new ones after.
#include <set>

#include <fmt/format.h>

#include "definition.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/core/schedule.hpp"
#include "refresh/scopes.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/ddl.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/immediate.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/lifecycle.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/storage.hpp"

extern "C" {
#include "commands/defrem.h"
}

namespace pgtrickle::pg {

namespace {

// Replaces the storage table of `st` with a new one shaped for `q`; returns the new OID.
Oid rebuild_storage(Spi& spi, const StreamTable& st, const std::vector<OutputColumn>& columns,
                    bool unique) {
    const std::string temp_name = fmt::format("__pgt_new_{}", st.pgt_id);
    Oid new_relid = create_storage_table(spi, st.schema, temp_name, columns, unique);
    {
        // Point the catalog (this row and readers of this stream table) at the new table before
        // the old one is dropped, so the drop tracker does not take it for a user's DROP.
        AsCatalogOwner owner;
        const std::string old_oid = std::to_string(st.relid), new_oid = std::to_string(new_relid);
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET pgt_relid = $2::oid"
            " WHERE pgt_relid = $1::oid",
            {old_oid, new_oid});
        spi.run(
            "UPDATE pgtrickle.pgt_dependencies SET source_relid = $2::oid"
            " WHERE source_relid = $1::oid",
            {old_oid, new_oid});
    }
    spi.run("DROP TABLE " + st.qualified_name());
    spi.run("ALTER TABLE " + core::quote_ident(st.schema) + "." + core::quote_ident(temp_name) +
            " RENAME TO " + core::quote_ident(st.name));
    // The row-id index gets the name the table's own would have had (<table>___pgt_row_id_idx),
    // not the temporary table's.
    // (The new table's only index so far.)
    if (auto index = spi.execute("SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_index i"
                                 " JOIN pg_catalog.pg_class ON pg_class.oid = i.indexrelid"
                                 " WHERE i.indrelid = $1::oid",
                                 {std::to_string(new_relid)})
                         .scalar()) {
        const Oid nsp = pg_call([&] { return get_rel_namespace(new_relid); });
        const char* table_name = st.name.c_str();
        const char* chosen = pg_call(
            [&] { return ChooseRelationName(table_name, "__pgt_row_id", "idx", nsp, false); });
        spi.run("ALTER INDEX " + core::quote_ident(st.schema) + "." + core::quote_ident(*index) +
                " RENAME TO " + core::quote_ident(chosen));
    }
    // Stream tables reading this one: capture on the new table (the old one's buffer and
    // trigger functions go, which the drop tracker no longer connects with them), and a FULL
    // refresh next (their frontiers were positions in the old buffer). Without this they
    // refreshed FULL at every schedule, and held back trimming of their other sources.
    if (!catalog::dependents_of(spi, new_relid).empty()) {
        // (Their queries name it and its columns: one that no longer fits is refused, or goes
        // into ERROR, as after ALTER TABLE on any source.)
        check_readers(spi, new_relid, st.display_name());
        sync_capture(spi, st.relid);
        rebuild_capture(spi, new_relid);
    }
    warning(fmt::format("the columns of stream table {} changed; its storage table was rebuilt",
                        st.display_name()),
            "Indexes, grants and other objects on the old storage table were not carried over.");
    return new_relid;
}

}  // namespace

void alter_stream_table(const AlterRequest& r) {
    Spi spi;
    StreamTable st = catalog::get(spi, r.name);
    ensure_owner(st);
    // (Maintenance goes on after the trigger that called this, over what it looked up before.)
    if (immediate_maintenance_running())
        throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                          fmt::format("cannot alter stream table {} while IMMEDIATE stream tables "
                                      "are being maintained",
                                      st.display_name()),
                          "A trigger on a stream table called alter_stream_table.",
                          "Alter it after the statement that changed the sources.");
    // Leaving ERROR other than with a new query: as resume_stream_table does (a source dropped
    // and created again has a new OID; an IMMEDIATE stream table was not maintained meanwhile).
    if (r.status && !r.query && st.status == "ERROR" && core::parse_status(*r.status) != "ERROR")
        revive_from_error(spi, st);

    bool needs_refresh = false, storage_rebuilt = false;
    std::optional<Definition> def;
    if (r.query)
        def = prepare_definition(spi, *r.query, st.pgt_id);
    if (r.schedule) {
        core::Schedule s = core::parse_schedule(*r.schedule);
        core::check_min_schedule(s, guc::min_schedule_seconds);
        st.schedule =
            s.kind == core::ScheduleKind::Calculated ? std::nullopt : std::optional(s.stored);
    }
    const std::string old_mode = st.refresh_mode;
    // The sources whose writers maintain it now (IMMEDIATE, not in ERROR): a new query's other
    // sources' writers do not, and are waited for before it is computed.
    std::set<Oid> maintained;
    if (old_mode == "IMMEDIATE" && st.status != "ERROR")
        for (const auto& d : catalog::dependencies(spi, st.pgt_id))
            maintained.insert(d.source_relid);
    if (r.refresh_mode || def) {
        core::RequestedMode requested = r.refresh_mode
                                            ? core::parse_refresh_mode(*r.refresh_mode)
                                            : core::requested_from_catalog(st.refresh_mode);
        if (!def)
            def = prepare_definition(spi, st.defining_query, st.pgt_id);
        st.refresh_mode =
            std::string(core::to_string(choose_mode(*def, requested, st.display_name())));
        st.effective_refresh_mode = st.refresh_mode;
    }
    const bool mode_changed = st.refresh_mode != old_mode;
    if (st.refresh_mode == "IMMEDIATE" && (mode_changed || r.query) && def)
        check_immediate_triggers_allowed(dependencies_of(*def, core::RefreshMode::Immediate),
                                         relation_owner(st.relid));
    // IMMEDIATE has no schedule (one given with it is ignored, as at creation); leaving it
    // without one restores the default '1m'.
    if (st.refresh_mode == "IMMEDIATE")
        st.schedule = std::nullopt;
    else if (mode_changed && old_mode == "IMMEDIATE" && !r.schedule)
        st.schedule = guc::min_schedule_seconds > 60
                          ? fmt::format("{}s", guc::min_schedule_seconds)
                          : std::string("1m");  // (never below pg_trickle.min_schedule_seconds)
    if (r.status) {
        st.status = core::parse_status(*r.status);
        if (st.status == "ACTIVE")
            st.consecutive_errors = 0;
    }

    // Options shared with create_stream_table go through the same validation.
    core::StreamTableOptions o;
    o.diamond_consistency = r.diamond_consistency.value_or(st.diamond_consistency);
    o.diamond_schedule_policy = r.diamond_schedule_policy.value_or(st.diamond_schedule_policy);
    o.cdc_mode = r.cdc_mode ? r.cdc_mode : st.requested_cdc_mode;
    o.append_only = r.append_only.value_or(st.is_append_only);
    o.pooler_compatibility_mode =
        r.pooler_compatibility_mode.value_or(st.pooler_compatibility_mode);
    o.partition_by = r.partition_by && !r.partition_by->empty() ? r.partition_by : std::nullopt;
    o.max_differential_joins =
        r.max_differential_joins ? r.max_differential_joins : st.max_differential_joins;
    o.max_delta_fraction = r.max_delta_fraction ? r.max_delta_fraction : st.max_delta_fraction;
    o.sink = r.sink;
    o.ducklake_sink_path = r.ducklake_sink_path;
    o.ducklake_sink_table_id = r.ducklake_sink_table_id;
    core::validate_options(o, *core::refresh_mode_from_catalog(st.refresh_mode));
    st.diamond_consistency = *o.diamond_consistency;
    st.diamond_schedule_policy = *o.diamond_schedule_policy;
    st.requested_cdc_mode = o.cdc_mode;
    st.is_append_only = o.append_only;
    st.pooler_compatibility_mode = o.pooler_compatibility_mode;
    st.max_differential_joins = o.max_differential_joins;
    st.max_delta_fraction = o.max_delta_fraction;

    if (r.tier)
        st.refresh_tier = core::parse_choice("tier", *r.tier, {"hot", "warm", "cold", "frozen"});
    if (r.fuse) {
        std::string fuse = core::parse_choice("fuse", *r.fuse, {"off", "on", "auto"});
        if (fuse != "off")
            throw core::unsupported("fuse is not supported by this version of pg_trickle", {},
                                    "Leave fuse at 'off'.");
    }
    if (r.fuse_ceiling || r.fuse_sensitivity)
        throw core::unsupported(
            "fuse_ceiling and fuse_sensitivity are not supported by this "
            "version of pg_trickle");
    if (r.post_refresh_action) {
        std::string action = core::parse_choice("post_refresh_action", *r.post_refresh_action,
                                                {"none", "analyze", "reindex", "reindex_if_drift"});
        if (action != "none")
            throw core::unsupported(
                fmt::format("post_refresh_action '{}' is not supported by this version of "
                            "pg_trickle",
                            action));
    }
    if (r.reindex_drift_threshold &&
        !(*r.reindex_drift_threshold > 0 && *r.reindex_drift_threshold <= 1))
        throw core::invalid_argument("reindex_drift_threshold must be in (0, 1]");

    if (r.query || mode_changed) {
        core::RefreshMode mode = *core::refresh_mode_from_catalog(st.refresh_mode);
        bool unique = unique_row_ids(*def, mode);
        auto columns = storage_columns(*def, mode);
        if (!storage_matches(spi, st.relid, columns)) {
            st.relid = rebuild_storage(spi, st, columns, unique);
            storage_rebuilt = true;
        }
        if (r.query) {
            st.defining_query = def->query.deparsed;
            st.functions_used = def->query.functions_used;
            st.original_query = def->query.statement;
            st.original_search_path = def->search_path;
        }
        // A unique row-id index is made only after the rebuild (the old rows may repeat
        // ids), a non-unique one before it (the new rows may).
        if (!unique)
            ensure_row_id_index(spi, st.relid, false);
        install_dependencies(spi, st.pgt_id, dependencies_of(*def, mode));
        needs_refresh = true;
    }
    catalog::update_definition(spi, st);
    if (mode_changed) {
        // Capture follows the mode now in the catalog: change buffer and its triggers for the
        // scheduled modes, IMMEDIATE's own triggers for IMMEDIATE.
        for (const auto& d : catalog::dependencies(spi, st.pgt_id))
            sync_capture(spi, d.source_relid);
    }
    if (needs_refresh) {
        // After the capture DDL (which waits for open writers of the sources): IMMEDIATE
        // writers that apply increments hold this lock shared until they end.
        lock_for_recompute(spi, st.pgt_id);
        if (st.refresh_mode == "IMMEDIATE")
            wait_for_source_writers(spi, st, maintained);
        refresh(spi, st, "MANUAL", true);
        // IMMEDIATE stream tables reading it kept the old storage's rows (its drop told them
        // nothing) and were given the new rows too: recomputed. (Those downstream of them
        // follow through their triggers.)
        if (storage_rebuilt) {
            for (const std::int64_t id : catalog::dependents_of(spi, st.relid)) {
                auto reader = catalog::find_by_id(spi, id);
                if (reader && reader->refresh_mode == "IMMEDIATE" && reader->status != "ERROR")
                    recompute_immediate(spi, *reader);
            }
        }
        if (def)
            ensure_row_id_index(
                spi, st.relid,
                unique_row_ids(*def, *core::refresh_mode_from_catalog(st.refresh_mode)));
        if (r.status && st.status != "ACTIVE") {
            // The refresh marked it ACTIVE; the status the user asked for wins.
            st.is_populated = true;
            st.consecutive_errors = 0;
            catalog::update_definition(spi, st);
        }
        if (mode_changed && !r.query)
            warning(
                fmt::format("refresh mode changed to {} for stream table {}; a full refresh "
                            "was applied",
                            st.refresh_mode, st.display_name()));
    }
    spi.finish();
}

}  // namespace pgtrickle::pg
