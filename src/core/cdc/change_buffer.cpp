// Change buffers and capture triggers: the SQL text, generated here, executed by src/pg/cdc.
#include "pg_trickle/core/cdc.hpp"

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core {

namespace {

constexpr const char* kCaptureFunction = "pgtrickle.pg_trickle_capture";

std::string trigger_name(std::string_view op, std::uint32_t relid) {
    return quote_ident(fmt::format("{}{}_{}", kCaptureTriggerPrefix, op, relid));
}

}  // namespace

std::string buffer_name(std::uint32_t relid) {
    return fmt::format("changes_{}", relid);
}

std::string buffer_table(std::uint32_t relid) {
    return fmt::format("{}.{}", kChangeSchema, quote_ident(buffer_name(relid)));
}

std::string buffer_column(std::string_view source_column) {
    if (reserved_buffer_name(source_column))
        return fmt::format("__usr_{}", source_column);
    return std::string(source_column);
}

std::string source_column(std::string_view buffer_column) {
    constexpr std::string_view kPrefix = "__usr_";
    if (buffer_column.substr(0, kPrefix.size()) == kPrefix &&
        reserved_buffer_name(buffer_column.substr(kPrefix.size())))
        return std::string(buffer_column.substr(kPrefix.size()));
    return std::string(buffer_column);
}

std::vector<std::string> buffer_ddl(const CaptureSource& s) {
    std::string cols;
    for (const auto& c : s.columns)
        cols += fmt::format(", {} {}", quote_ident(buffer_column(c.name)), c.type_sql);
    // No index on the changes themselves: an index on xid costs every writer about as much as
    // the copy itself, and a buffer holds only changes not yet consumed by every reader, which a
    // refresh reads in full anyway. Only the TRUNCATE markers are indexed, by a partial index no
    // change row enters (the capture trigger writes changes without index maintenance, and
    // markers through the executor): every refresh asks whether a marker is pending, which
    // otherwise scans the whole buffer.
    return {
        fmt::format("CREATE {}TABLE {} (xid pg_catalog.xid8 NOT NULL, seq bigint NOT NULL, "
                    "action \"char\" NOT NULL, changed_cols bigint{})",
                    s.unlogged ? "UNLOGGED " : "", buffer_table(s.relid), cols),
        fmt::format("CREATE INDEX {} ON {} (xid) WHERE action = 'T'",
                    quote_ident(buffer_name(s.relid) + "_truncates"), buffer_table(s.relid)),
    };
}

std::vector<std::string> add_buffer_columns_ddl(std::uint32_t relid,
                                                const std::vector<Column>& columns) {
    std::vector<std::string> out;
    for (const auto& c : columns)
        out.push_back(fmt::format("ALTER TABLE {} ADD COLUMN {} {}", buffer_table(relid),
                                  quote_ident(buffer_column(c.name)), c.type_sql));
    return out;
}

std::vector<std::string> capture_trigger_ddl(std::uint32_t source, const std::string& t) {
    // One C function (src/pg/cdc/capture_trigger.cpp) serves every trigger: it finds the
    // buffer from the table it fires on (a partition's: its partitioned root's buffer) and
    // copies the transition tables into it.
    std::vector<std::string> out = {
        fmt::format("CREATE OR REPLACE TRIGGER {} AFTER INSERT ON {} REFERENCING NEW TABLE AS "
                    "__pgt_new FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    trigger_name("ins", source), t, kCaptureFunction),
        fmt::format("CREATE OR REPLACE TRIGGER {} AFTER UPDATE ON {} REFERENCING OLD TABLE AS "
                    "__pgt_old NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    trigger_name("upd", source), t, kCaptureFunction),
        fmt::format("CREATE OR REPLACE TRIGGER {} AFTER DELETE ON {} REFERENCING OLD TABLE AS "
                    "__pgt_old FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    trigger_name("del", source), t, kCaptureFunction),
        fmt::format("CREATE OR REPLACE TRIGGER {} AFTER TRUNCATE ON {} FOR EACH STATEMENT "
                    "EXECUTE FUNCTION {}()",
                    trigger_name("trunc", source), t, kCaptureFunction),
    };
    // ENABLE ALWAYS: writes made with session_replication_role = replica are captured too. (A
    // subscription's apply worker fires no statement trigger: captured_sources.)
    for (std::string_view op : {"ins", "upd", "del", "trunc"})
        out.push_back(
            fmt::format("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}", t, trigger_name(op, source)));
    return out;
}

std::vector<std::string> capture_ddl(const CaptureSource& s) {
    return capture_trigger_ddl(s.relid, s.qualified_name);
}

std::vector<std::string> drop_capture_trigger_ddl(std::uint32_t source, const std::string& t) {
    std::vector<std::string> out;
    for (std::string_view op : {"ins", "upd", "del", "trunc"})
        out.push_back(fmt::format("DROP TRIGGER IF EXISTS {} ON {}", trigger_name(op, source), t));
    return out;
}

std::vector<std::string> drop_capture_ddl(std::uint32_t relid, const std::string& qualified_name,
                                          bool source_exists) {
    std::vector<std::string> out;
    if (source_exists)
        out = drop_capture_trigger_ddl(relid, qualified_name);
    out.push_back(fmt::format("DROP TABLE IF EXISTS {}", buffer_table(relid)));
    return out;
}

std::string Frontier::to_json() const {
    std::string extra =
        buffer_epoch ? fmt::format(R"(, "buffer_epoch": "{}")", *buffer_epoch) : std::string();
    if (full_reader)
        extra += R"(, "full_reader": true)";
    if (system)
        extra += fmt::format(R"(, "system": "{}")", *system);
    return fmt::format(R"({{"snapshot": "{}", "own_xid": {}, "own_seq": {}{}}})", snapshot,
                       own_xid ? fmt::format("\"{}\"", *own_xid) : "null", own_seq, extra);
}

namespace {
// Minimal reader for the JSON written by to_json (PostgreSQL's jsonb output of it).
std::optional<std::string> json_field(std::string_view json, std::string_view key) {
    std::string needle = fmt::format("\"{}\": ", key);
    auto pos = json.find(needle);
    if (pos == std::string_view::npos)
        return std::nullopt;
    pos += needle.size();
    if (json.substr(pos, 4) == "null")
        return std::nullopt;
    if (json[pos] == '"') {
        auto end = json.find('"', pos + 1);
        return std::string(json.substr(pos + 1, end - pos - 1));
    }
    auto end = json.find_first_of(",}", pos);
    return std::string(json.substr(pos, end - pos));
}
}  // namespace

std::optional<Frontier> Frontier::from_json(std::string_view json) {
    auto snap = json_field(json, "snapshot");
    if (!snap)
        return std::nullopt;
    Frontier f;
    f.snapshot = *snap;
    f.own_xid = json_field(json, "own_xid");
    if (auto seq = json_field(json, "own_seq"))
        f.own_seq = std::stoll(*seq);
    f.buffer_epoch = json_field(json, "buffer_epoch");
    f.full_reader = json_field(json, "full_reader") == std::optional<std::string>("true");
    f.system = json_field(json, "system");
    return f;
}

std::string unconsumed_predicate(const Frontier& prev, std::string_view a) {
    // Rows older than the previous snapshot's xmin were all visible to it: the cheap first test
    // skips them before the exact visibility check. The refreshing transaction's own
    // xid is never "visible" in its own snapshot, so its rows are told apart by command id: those
    // written before that refresh started were consumed by it, later ones were not.
    //
    // Wrapped in CASE so the planner takes it for an opaque condition keeping half the rows.
    // Compared with the buffer's statistics, `xid >= <the last frontier>` keeps almost none:
    // the newest xids are always past the highest value ANALYZE saw. Estimated at a few dozen
    // rows, a buffer of thousands of changes was then joined by nested loops.
    // As parameters, each value is read once per statement (an initplan), not cast per row.
    const std::string snap = prev.as_parameters
                                 ? std::string("(SELECT $1::pg_catalog.pg_snapshot)")
                                 : quote_literal(prev.snapshot) + "::pg_catalog.pg_snapshot";
    // Rows of xids at or past the previous snapshot's xmax (most rows of a busy buffer) were
    // not visible to it, and are not the previous refresh's own when its xid is below that
    // xmax: one comparison with a value computed once (an initplan) decides them, before the
    // per-row function calls of the exact test. The bound is NULL (no row passes the first
    // test) when the previous refresh's own xid is at or past the xmax.
    std::string fast;
    if (prev.as_parameters)
        fast = fmt::format(
            "{a}.xid >= (SELECT CASE WHEN $2::pg_catalog.xid8 IS NULL OR $2::pg_catalog.xid8 < "
            "pg_catalog.pg_snapshot_xmax($1::pg_catalog.pg_snapshot) THEN "
            "pg_catalog.pg_snapshot_xmax($1::pg_catalog.pg_snapshot) END)",
            fmt::arg("a", a));
    std::string test;
    if (prev.as_parameters) {
        // Both forms in one text: $2 is NULL when the refresh had no xid of its own.
        test = fmt::format(
            "({a}.xid >= pg_catalog.pg_snapshot_xmin({s}) AND NOT "
            "pg_catalog.pg_visible_in_snapshot({a}.xid, {s}) AND {a}.xid IS DISTINCT FROM {x})"
            " OR ({a}.xid = {x} AND {a}.seq > (SELECT $3::pg_catalog.int8))",
            fmt::arg("a", a), fmt::arg("s", snap), fmt::arg("x", "(SELECT $2::pg_catalog.xid8)"));
    } else if (!prev.own_xid) {
        test = fmt::format(
            "{a}.xid >= pg_catalog.pg_snapshot_xmin({s}) AND NOT "
            "pg_catalog.pg_visible_in_snapshot({a}.xid, {s})",
            fmt::arg("a", a), fmt::arg("s", snap));
    } else {
        test = fmt::format(
            "({a}.xid >= pg_catalog.pg_snapshot_xmin({s}) AND NOT "
            "pg_catalog.pg_visible_in_snapshot({a}.xid, {s}) AND {a}.xid <> {x}::pg_catalog.xid8)"
            " OR ({a}.xid = {x}::pg_catalog.xid8 AND {a}.seq > {c})",
            fmt::arg("a", a), fmt::arg("s", snap), fmt::arg("x", quote_literal(*prev.own_xid)),
            fmt::arg("c", prev.own_seq));
    }
    return "(CASE " + (fast.empty() ? std::string() : "WHEN " + fast + " THEN true ") + "WHEN " +
           test + " THEN true ELSE false END)";
}

std::vector<std::optional<std::string>> frontier_parameters(const Frontier& f) {
    return {f.snapshot, f.own_xid, std::to_string(f.own_seq)};
}

}  // namespace pgtrickle::core
