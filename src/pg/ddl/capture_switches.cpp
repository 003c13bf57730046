// pg_trickle's triggers on a source switched by hand: disabled (ALTER TABLE ... DISABLE TRIGGER
// ALL / USER / name), enabled again, or dropped (DROP TRIGGER).
//
// Writes made while a capture trigger is off reach no change buffer, and a DIFFERENTIAL or FULL
// stream table reading the table would not know: its next refresh would apply what was
// captured and miss the rest, for good. So its frontier is forgotten (the next refresh is FULL),
// under its refresh lock: a refresh in progress, begun before capture went off, ends first, and
// the next one waits for this DDL's transaction. While capture stays off every refresh is FULL
// and records no frontier (captured_sources), so the first refresh after it is back is FULL too.
// An IMMEDIATE stream table has no refresh to catch up with: disabling or dropping the triggers
// it is maintained by is refused.
//
// pg_trickle's triggers fire ALWAYS (also under session_replication_role = replica, as logical
// replication applies rows). ENABLE TRIGGER makes a trigger fire in origin mode only; ours (and
// the guards of storage tables) are set back to ALWAYS.
#include <fmt/format.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/ddl.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/spi.hpp"
#include "refresh/scopes.hpp"

extern "C" {
#include "catalog/pg_trigger.h"
}

namespace pgtrickle::pg {

namespace {

// The IMMEDIATE stream tables maintained from `relid`, as "schema.name, ..." ("" if none).
std::string immediate_readers(Spi& spi, Oid relid) {
    return spi
        .execute(
            "SELECT pg_catalog.string_agg(DISTINCT st.pgt_schema || '.' || st.pgt_name, ', ')"
            " FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
            " WHERE d.source_relid = $1::oid AND st.refresh_mode = 'IMMEDIATE'"
            "   AND st.status <> 'ERROR'",  // (not maintained: resuming recomputes it)
            {std::to_string(relid)})
        .scalar()
        .value_or("");
}

}  // namespace

void forget_frontiers_of_readers(Spi& spi, Oid relid) {
    AsCatalogOwner owner;
    auto ids = spi.execute(
        "SELECT DISTINCT st.pgt_id FROM pgtrickle.pgt_dependencies d"
        " JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
        " WHERE d.source_relid = $1::oid AND st.refresh_mode <> 'IMMEDIATE' ORDER BY 1",
        {std::to_string(relid)});
    for (const auto& r : ids.rows) {
        lock_for_recompute(spi, std::stoll(*r[0]));
        spi.run(
            "UPDATE pgtrickle.pgt_stream_tables SET frontier = NULL, updated_at = pg_catalog.now()"
            " WHERE pgt_id = $1::bigint",
            {*r[0]});
    }
}

void check_capture_switches(Spi& spi, Oid relid) {
    const std::string id = std::to_string(relid);
    // (On the table, and on the members of its partition tree, which carry its capture
    // triggers.)
    auto triggers = spi.execute(
        "SELECT t.tgname, t.tgenabled::text, t.tgname LIKE 'pg\\_trickle\\_ivm\\_%',"
        "   t.tgrelid::pg_catalog.regclass::text"
        " FROM pg_catalog.pg_trigger t"
        " WHERE (t.tgrelid = $1::oid OR t.tgrelid IN (SELECT p.relid::pg_catalog.oid"
        "          FROM pgtrickle._partition_tree($1::oid) p))"
        "   AND (t.tgname ~ ('^pg_trickle_(cdc|ivm)_[a-z]+_' || $1 || '$')"
        "     OR (t.tgrelid = $1::oid AND t.tgname IN ('pgt_dml_guard', 'pgt_truncate_guard')))"
        "   AND t.tgenabled <> 'A'",
        {id});
    if (triggers.empty())
        return;
    auto name = [&] { return *spi.execute("SELECT $1::oid::regclass::text", {id}).scalar(); };
    bool capture_off = false;
    for (const auto& r : triggers.rows) {
        if (*r[1] != "D" || r[0]->rfind("pgt_", 0) == 0)
            continue;  // (a storage table's guard may be disabled: its owner's choice)
        if (*r[2] == "t") {
            const std::string readers = immediate_readers(spi, relid);
            if (readers.empty())
                continue;  // (left by a stream table no longer IMMEDIATE: not ours to keep)
            throw core::Error(
                core::sqlstate::kObjectNotInPrerequisiteState,
                fmt::format("ALTER TABLE would disable trigger {} on {}, which maintains IMMEDIATE "
                            "stream table(s) {}",
                            *r[0], name(), readers),
                "Writes while it is disabled would leave the stream table different from its "
                "query.",
                "Disable your own triggers by name, or switch the stream table to DIFFERENTIAL "
                "first (pgtrickle.alter_stream_table(name, refresh_mode => 'DIFFERENTIAL')).");
        }
        capture_off = true;
    }
    if (capture_off)
        forget_frontiers_of_readers(spi, relid);
    for (const auto& r : triggers.rows)
        if (*r[1] != "D")
            spi.run(fmt::format("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}", *r[3],
                                core::quote_ident(*r[0])));
}

void refuse_trigger_renames(Node* stmt) {
    if (!IsA(stmt, RenameStmt) || running_own_statement())
        return;
    const auto* rename = reinterpret_cast<RenameStmt*>(stmt);
    if (rename->renameType != OBJECT_TRIGGER || rename->subname == nullptr)
        return;
    const std::string_view name(rename->subname);
    if (!name.starts_with(core::kCaptureTriggerPrefix) &&
        !name.starts_with(core::kImmediateTriggerPrefix))
        return;
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      fmt::format("trigger {} belongs to pg_trickle and cannot be renamed", name),
                      "pg_trickle finds the triggers that capture changes or maintain IMMEDIATE "
                      "stream tables by their names.",
                      "Leave it as it is; pgtrickle.trigger_inventory() lists them.");
}

void refuse_stream_table_hooks(Node* stmt) {
    if (running_own_statement())
        return;
    const RangeVar* relation = nullptr;
    const char* what = nullptr;
    if (IsA(stmt, CreateTrigStmt)) {
        const auto* create = reinterpret_cast<CreateTrigStmt*>(stmt);
        if (create->row && (create->timing & TRIGGER_TYPE_BEFORE) != 0) {
            relation = create->relation;
            what = "BEFORE ROW triggers";
        }
    } else if (IsA(stmt, RuleStmt)) {
        relation = reinterpret_cast<RuleStmt*>(stmt)->relation;
        what = "rules";
    }
    if (relation == nullptr)
        return;
    const Oid relid = pg_call([&] { return RangeVarGetRelid(relation, NoLock, true); });
    if (!OidIsValid(relid))
        return;
    Spi spi;
    const auto st = catalog::find_by_relid(spi, relid);
    spi.finish();
    if (!st)
        return;
    throw core::Error(
        core::sqlstate::kFeatureNotSupported,
        fmt::format("{} on stream tables are not supported ({})", what, st->display_name()),
        fmt::format("{} can change, skip or redirect the rows pg_trickle writes, and the stream "
                    "table would no longer equal its query.",
                    IsA(stmt, RuleStmt) ? "A rule" : "A BEFORE ROW trigger"),
        "Use an AFTER trigger (FOR EACH ROW or FOR EACH STATEMENT).");
}

void track_dropped_triggers() {
    if (running_own_statement())
        return;
    Spi spi;
    // Ours, dropped by name (not along with their table), on the table their name is for; and
    // capture triggers of a partitioned source dropped from one of its partitions, by name or
    // with the partition (DROP TABLE: its rows left the source without a captured statement).
    // As the relation their name is for.
    auto dropped = spi.execute(R"sql(
SELECT x.source, x.name, x.name LIKE 'pg\_trickle\_ivm\_%', x.relid IS NULL FROM (
    SELECT d.address_names[3] AS name, d.original,
           pg_catalog.substring(d.address_names[3], '_([0-9]+)$') AS source,
           pg_catalog.to_regclass(pg_catalog.quote_ident(d.address_names[1]) || '.' ||
                                  pg_catalog.quote_ident(d.address_names[2]))::pg_catalog.oid AS relid
    FROM pg_catalog.pg_event_trigger_dropped_objects() d
    WHERE d.object_type = 'trigger'
      AND d.address_names[3] ~ '^pg_trickle_(cdc|ivm)_[a-z]+_[0-9]+$') x
WHERE (x.original AND x.relid::text = x.source)
   OR (x.relid IS DISTINCT FROM x.source::pg_catalog.oid AND x.name ~ '^pg_trickle_cdc_'
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = x.source::pg_catalog.oid)
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_class b
                   WHERE b.relnamespace = 'pgtrickle_changes'::pg_catalog.regnamespace
                     AND b.relname = 'changes_' || x.source)))sql");
    for (const auto& r : dropped.rows) {
        const Oid relid = static_cast<Oid>(std::stoul(*r[0]));
        if (*r[2] == "t") {
            const std::string readers = immediate_readers(spi, relid);
            if (readers.empty())
                continue;
            throw core::Error(
                core::sqlstate::kObjectNotInPrerequisiteState,
                fmt::format("trigger {} maintains IMMEDIATE stream table(s) {}", *r[1], readers),
                "Writes without it would leave the stream table different from its query.",
                "Drop the stream table, or switch it to DIFFERENTIAL or FULL "
                "(pgtrickle.alter_stream_table), which removes the trigger.");
        }
        if (*r[3] == "t") {
            // Dropped with its table, a partition of the source: its rows left the source
            // without a statement. (Recorded once, for the INSERT trigger; without waiting for
            // a refresh in progress, which may wait for the partitioned table this DROP holds.)
            if (r[1]->starts_with("pg_trickle_cdc_ins_"))
                add_truncate_marker(spi, relid);
            continue;
        }
        forget_frontiers_of_readers(spi, relid);
    }
    spi.finish();
}

}  // namespace pgtrickle::pg
