// repair_stream_table and rebuild_cdc_triggers: what a stream table needs from the tables around
// it, put back when it was found missing or switched off (a trigger dropped or disabled by hand,
// a base backup taken while the extension was being set up).
//
// A DIFFERENTIAL or FULL stream table needs, on each source, a change buffer and its four
// capture triggers enabled ALWAYS; an IMMEDIATE one the five maintenance triggers; every
// stream table its storage's two guard triggers. Whatever is put back, the stream table's
// contents cannot be trusted (writes went uncaptured, or reached its storage directly): an
// IMMEDIATE one is recomputed at once, the others refresh FULL next.
#include <set>

#include <fmt/format.h>

#include "definition.hpp"
#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/immediate.hpp"
#include "pg_trickle/pg/lifecycle.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/storage.hpp"
#include "refresh/scopes.hpp"

namespace pgtrickle::pg {

namespace {

// How many of the triggers of `relid` named `prefix`<op>_<relid> fire ALWAYS.
int always_triggers(Spi& spi, Oid relid, std::string_view prefix) {
    return std::stoi(*spi.execute("SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t"
                                  " WHERE t.tgrelid = $1::oid AND t.tgenabled = 'A'"
                                  "   AND t.tgname ~ ('^' || $2 || '[a-z]+_' || $1 || '$')",
                                  {std::to_string(relid), std::string(prefix)})
                          .scalar());
}

bool capture_intact(Spi& spi, Oid relid) {
    if (!OidIsValid(buffer_oid(relid)) ||
        always_triggers(spi, relid, core::kCaptureTriggerPrefix) != 4)
        return false;
    // (A partitioned source's members carry its four triggers too.)
    return spi
        .execute(
            "SELECT 1 FROM pgtrickle._partition_tree($1::oid) p"
            " WHERE (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t"
            "        WHERE t.tgrelid = p.relid AND t.tgenabled = 'A'"
            "          AND t.tgname ~ ('^' || $2 || '[a-z]+_' || $1 || '$')) <> 4",
            {std::to_string(relid), std::string(core::kCaptureTriggerPrefix)})
        .empty();
}

}  // namespace

std::string repair_stream_table(const std::string& name) {
    Spi spi;
    StreamTable st = catalog::get(spi, name);
    ensure_owner(st);
    lock_for_recompute(spi, st.pgt_id);  // (waits for a refresh in progress)
    const bool immediate = st.refresh_mode == "IMMEDIATE";
    // (Its recomputation below reads the sources as they are now, and a statement's kept rows
    // would then be applied on top of it.)
    if (immediate && immediate_changes_pending())
        throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                          fmt::format("cannot repair IMMEDIATE stream table {} inside a statement "
                                      "that changes tables IMMEDIATE stream tables read",
                                      st.display_name()),
                          {}, "Repair it after the statement.");
    std::vector<std::string> done;
    std::set<Oid> remade;  // sources whose IMMEDIATE triggers were made again
    for (const auto& d : catalog::dependencies(spi, st.pgt_id)) {
        if (d.source_type == "VIEW")
            continue;  // (its base tables are sources of their own)
        const std::string source_name = qualified_relation_name(d.source_relid);
        if (source_name.empty()) {
            done.push_back(fmt::format("source {} no longer exists (nothing to repair there)",
                                       d.source_relid));
            continue;
        }
        if (!capturable(spi, d.source_relid))
            continue;  // (no triggers on it: FULL stream tables read it whole)
        AsCatalogOwner owner;
        if (immediate) {
            if (always_triggers(spi, d.source_relid, core::kImmediateTriggerPrefix) == 5)
                continue;
            {
                Quiet quiet;
                for (const auto& s : core::drop_immediate_trigger_ddl(d.source_relid, source_name))
                    spi.run(s);
            }
            sync_immediate_triggers(spi, d.source_relid);  // (makes them, none being there)
            done.push_back(
                fmt::format("IMMEDIATE maintenance triggers of {} made again", source_name));
            remade.insert(d.source_relid);
        } else if (!capture_intact(spi, d.source_relid)) {
            rebuild_capture(spi, d.source_relid);
            done.push_back(fmt::format("change capture of {} made again", source_name));
        }
    }
    {
        AsCatalogOwner owner;
        if (spi.execute("SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = $1::oid"
                        " AND t.tgname IN ('pgt_dml_guard', 'pgt_truncate_guard')"
                        " AND t.tgenabled = 'A' HAVING pg_catalog.count(*) = 2",
                        {std::to_string(st.relid)})
                .empty()) {
            install_storage_guards(spi, st.qualified_name());
            done.push_back("guard triggers of its storage made again");
        }
    }
    if (done.empty()) {
        spi.finish();
        return "nothing to repair";
    }
    std::string out;
    for (const auto& s : done)
        out += (out.empty() ? "" : "; ") + s;
    // (IMMEDIATE maintenance goes on while the stream table is SUSPENDED: so does this. One in
    // ERROR is recomputed when resumed.)
    if (immediate && st.status != "ERROR") {
        recompute_immediate(spi, st);
        out += "; recomputed";
    } else {
        AsCatalogOwner owner;
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET frontier = NULL, updated_at = pg_catalog.now()"
            " WHERE pgt_id = $1::bigint",
            {std::to_string(st.pgt_id)});
        out += immediate ? "; recomputed when resumed" : "; its next refresh is FULL";
    }
    // The other IMMEDIATE stream tables reading those sources missed the same writes (whatever
    // this one's status).
    std::set<std::int64_t> others;
    for (const Oid relid : remade)
        for (const std::int64_t id : catalog::dependents_of(spi, relid))
            if (id != st.pgt_id)
                others.insert(id);
    for (const std::int64_t id : others) {
        auto other = catalog::find_by_id(spi, id);
        if (other && other->refresh_mode == "IMMEDIATE" && other->status != "ERROR") {
            recompute_immediate(spi, *other);
            out += fmt::format("; {} recomputed", other->display_name());
        }
    }
    spi.finish();
    return out;
}

std::string rebuild_cdc_triggers() {
    Spi spi;
    auto sources = spi.execute(
        "SELECT DISTINCT d.source_relid, d.source_relid::pg_catalog.regclass::text"
        " FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
        " JOIN pg_catalog.pg_class c ON c.oid = d.source_relid"
        " WHERE st.refresh_mode <> 'IMMEDIATE' AND d.source_type <> 'VIEW' ORDER BY 1");
    for (const auto& r : sources.rows) {
        const Oid relid = static_cast<Oid>(std::stoul(*r[0]));
        const std::string failure = attempt([&] {
            if (capturable(spi, relid))
                rebuild_capture(spi, relid);
        });
        if (!failure.empty())
            warning(fmt::format("change capture of {} could not be rebuilt: {}", *r[1], failure));
    }
    spi.finish();
    return "done";
}

}  // namespace pgtrickle::pg
