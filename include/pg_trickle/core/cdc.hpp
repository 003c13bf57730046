// Change capture: change buffers, the statement-level triggers that fill them, and the frontier
// that says which buffered changes a stream table has already consumed.
//
// A change buffer holds one row per changed source row: the transaction that made the change
// (`xid`, top-level xid8), the action ('I' insert, 'D' delete, 'T' truncate marker) and the
// captured columns. An UPDATE is a 'D' of the old row plus an 'I' of the new one. There is no
// ordering column: changes are a Z-set (I = +1, D = -1), and summing weights does not depend on
// order.
//
// Frontier. A refresh reads the buffers and the sources under one snapshot S and records S. The
// changes a refresh consumes are exactly those visible in its S and not visible in the previous
// refresh's S. A writer that commits late is therefore never skipped: its xid was in progress in
// the earlier snapshot, so its rows count as new to the next refresh. Changes written by the
// refreshing transaction itself are told apart by a change sequence number taken once per
// capturing statement (`own_xid`, `own_seq`): a command id would not do, since PostgreSQL reuses
// a tuple's command-id field for combo ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgtrickle::core {

// pg_trickle's triggers on a source are named <prefix><op>_<source oid>: capture triggers
// (ins, upd, del, trunc) and IMMEDIATE maintenance triggers (before, ins, upd, del, trunc).
// pg_trickle finds them by these names (and refuses to rename them).
inline constexpr std::string_view kCaptureTriggerPrefix = "pg_trickle_cdc_";
inline constexpr std::string_view kImmediateTriggerPrefix = "pg_trickle_ivm_";

struct Column {
    std::string name;      // unquoted
    std::string type_sql;  // as format_type prints it
};

// A source table as change capture sees it.
struct CaptureSource {
    std::uint32_t relid = 0;
    std::string qualified_name;    // quoted "schema"."table"
    std::vector<Column> columns;   // captured columns
    std::vector<std::string> key;  // primary key columns (unquoted); empty = no key
    bool unlogged = false;         // buffer created UNLOGGED (pg_trickle.unlogged_buffers)
};

inline constexpr const char* kChangeSchema = "pgtrickle_changes";

std::string buffer_name(std::uint32_t relid);   // changes_<relid>
std::string buffer_table(std::uint32_t relid);  // quoted pgtrickle_changes.changes_<relid>
// Whether a source column of this name would clash with a column the buffer uses (or may) for
// itself. Allocates nothing: callable in plain-C frames (the capture trigger).
constexpr bool reserved_buffer_name(std::string_view name) {
    return name == "xid" || name == "seq" || name == "action" || name == "change_id" ||
           name == "lsn" || name == "pk_hash" || name == "changed_cols";
}
// The buffer's own columns (the others hold captured source columns), for SQL: `attname NOT IN
// (...)`; and the test of one name. Allocates nothing: callable in plain-C frames.
inline constexpr const char* kOwnBufferColumnsSql = "'xid', 'seq', 'action', 'changed_cols'";
constexpr bool own_buffer_column(std::string_view name) {
    return name == "xid" || name == "seq" || name == "action" || name == "changed_cols";
}
// An UPDATE's buffer rows carry in changed_cols (bigint) a bit per buffer column whose value the
// update changed: this one for the column at attribute number `attnum` of the buffer, the last
// bit standing for every column from the 64th on. (NULL: an insert or delete, or an update whose
// rows could not be paired. 0: the marker row, action 'U', of an update that changed no captured
// column, which FULL readers see and delta reads skip.) Allocates nothing: callable in plain-C
// frames.
constexpr std::uint64_t changed_column_bit(int attnum) {
    return attnum >= 64 ? std::uint64_t{1} << 63 : std::uint64_t{1} << (attnum - 1);
}
// The bits of a reader using every captured column: every update's rows in the buffer changed
// one of its columns (those changing none are not buffered), so none needs testing.
inline constexpr std::uint64_t kEveryColumn = ~std::uint64_t{0};
// Name of a captured column inside the buffer: the source's name, except reserved ones, which
// get a __usr_ prefix.
std::string buffer_column(std::string_view source_column);
// The other way: the source column a buffer column holds (a source column whose own name starts
// with __usr_ keeps it).
std::string source_column(std::string_view buffer_column);

// DDL creating the buffer (without its data columns' constraints) and the partial index on its
// TRUNCATE markers.
std::vector<std::string> buffer_ddl(const CaptureSource& source);
// ALTER TABLE statements adding `columns` to an existing buffer.
std::vector<std::string> add_buffer_columns_ddl(std::uint32_t relid,
                                                const std::vector<Column>& columns);
// Trigger functions and triggers on the source (CREATE OR REPLACE: also used to re-point them
// after the captured column set changed).
std::vector<std::string> capture_ddl(const CaptureSource& source);
// The capture triggers of source `source` on table `table` (quoted, qualified): the source
// itself, or a partition of a partitioned source, whose triggers are named for the source and
// write into its buffer. And their removal.
std::vector<std::string> capture_trigger_ddl(std::uint32_t source, const std::string& table);
std::vector<std::string> drop_capture_trigger_ddl(std::uint32_t source, const std::string& table);
// Removes triggers, functions and the buffer.
std::vector<std::string> drop_capture_ddl(std::uint32_t relid, const std::string& qualified_name,
                                          bool source_exists);

// Triggers of IMMEDIATE maintenance on a source (a BEFORE statement trigger that counts the
// statements in flight, AFTER statement triggers with transition tables), and their removal.
std::vector<std::string> immediate_trigger_ddl(std::uint32_t relid,
                                               const std::string& qualified_name);
std::vector<std::string> drop_immediate_trigger_ddl(std::uint32_t relid,
                                                    const std::string& qualified_name);

struct Frontier {
    std::string snapshot;                // pg_snapshot text "xmin:xmax:xip,..."
    std::optional<std::string> own_xid;  // xid8 of the refreshing transaction, if it had one
    std::int64_t own_seq = 0;            // change sequence value taken at the start of that refresh
    // Epoch of the database's UNLOGGED change buffers when the refresh ran (set only when a
    // source's buffer is UNLOGGED): a crash empties those buffers and starts a new epoch, and a
    // frontier of another epoch cannot be continued from (src/pg/cdc/capture.cpp).
    std::optional<std::string> buffer_epoch;
    // Trims may not have waited for this frontier (trim_buffers waits for DIFFERENTIAL stream
    // tables only): written by a refresh in FULL or IMMEDIATE mode, or by the first refresh of
    // a stream table (create, alter, resume: until that transaction commits, others see it in
    // its old mode or not at all), or later in that same transaction. Changes after it may be
    // gone from the buffers (worker::trimmed_past).
    bool full_reader = false;
    // The system identifier of the cluster that wrote it (pg_control): a frontier restored into
    // another cluster (pg_dump copies the catalog, transaction ids and all) says nothing of the
    // changes there. Absent in frontiers written before it was recorded.
    std::optional<std::string> system;
    // SQL built from this frontier reads it from parameters instead of literals: $1 the snapshot
    // text, $2 own_xid (NULL when none), $3 own_seq (all text; frontier_parameters gives them).
    // One statement text then serves every refresh, so a backend can keep its plan.
    bool as_parameters = false;

    std::string to_json() const;
    static std::optional<Frontier> from_json(std::string_view json);
};

// SQL predicate over buffer alias `b`: the change was not consumed by a refresh that recorded
// `prev`. (Visibility in the current snapshot is MVCC's job.)
std::string unconsumed_predicate(const Frontier& prev, std::string_view alias = "b");

// The values of $1..$3 for SQL built from `f` with as_parameters (std::nullopt: NULL).
std::vector<std::optional<std::string>> frontier_parameters(const Frontier& f);

}  // namespace pgtrickle::core
