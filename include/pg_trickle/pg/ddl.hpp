// DDL tracking (drops of sources and storage tables, DROP EXTENSION).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {
// Installs the ProcessUtility hook; called once from _PG_init.
void install_ddl_hooks();

class Spi;

// After DDL on `relid` (named `what` in messages): the stream tables reading it whose stored
// query no longer analyses, or returns other column types, are refused (55000), always for
// IMMEDIATE ones and for the others while pg_trickle.block_source_ddl is on; with it off they go
// into ERROR with the reason.
void check_readers(Spi& spi, Oid relid, const std::string& what);

// In the sql_drop event trigger: stream tables whose query calls a dropped function are
// reinitialised at their next refresh (a function of that name created again serves them); for
// an IMMEDIATE one the DROP is refused (definition_changes.cpp).
void track_dropped_functions();

// Called by the utility hook before each statement: notes the functions and schemas a
// RenameStmt / AlterObjectSchemaStmt is about to rename or move, with their names before, for
// the definition tracker (definition_changes.cpp).
void note_renames(Node* stmt);
// At ddl_command_end: the stream tables a type change noted by note_renames concerns are
// reinitialised, or the change refused (ddl/definition_changes.cpp).
void handle_noted_type_change(Spi& spi);
// Columns of a table an ALTER TABLE retypes (ALTER COLUMN ... TYPE): every value is rewritten,
// by a conversion or a USING expression, to the same type too, and no trigger fires. For ALTER
// TYPE ... CASCADE of a composite type (`rel` its pg_class entry), of_type is the type: the
// tables created OF it change with it, without an ALTER TABLE of theirs.
struct RetypedColumns {
    Oid rel;
    std::vector<std::string> columns;
    Oid of_type = InvalidOid;
};
// What the running ALTER TABLE / ALTER TYPE retypes, as note_renames noted it (taken: nested
// statements note their own).
std::optional<RetypedColumns> take_retyped_columns();
// At ddl_command_end of ALTER TABLE or ALTER TYPE: the tables created OF an altered type are
// checked as after an ALTER TABLE of their own (follow_altered_table), and the stream tables
// reading a retyped column are reinitialised (ddl/definition_changes.cpp).
void handle_retyped_columns(Spi& spi, const std::optional<RetypedColumns>& noted);
// The checks after ALTER TABLE on `relid` (drop_tracking.cpp).
void follow_altered_table(Spi& spi, Oid relid);

// pg_trickle's triggers on source `relid` switched by hand (capture_switches.cpp), after ALTER
// TABLE on it: ours disabled are refused for IMMEDIATE stream tables and make the others'
// next refresh FULL; ours enabled in another mode are set back to ALWAYS.
void check_capture_switches(Spi& spi, Oid relid);

// In the sql_drop event trigger: a trigger of ours dropped by name (DROP TRIGGER) is refused
// when an IMMEDIATE stream table is maintained by it, and makes the other readers' next
// refresh FULL.
void track_dropped_triggers();

// Called by the utility hook: ALTER TRIGGER ... RENAME of a trigger of pg_trickle's on a table
// (capture, IMMEDIATE maintenance) is refused (55000); pg_trickle finds them by name.
void refuse_trigger_renames(Node* stmt);

// Called by the utility hook: CREATE TRIGGER ... BEFORE ... FOR EACH ROW and CREATE RULE on a
// stream table are refused (0A000): they change, skip or redirect the rows maintenance writes.
void refuse_stream_table_hooks(Node* stmt);

// The stream tables reading `relid`, but IMMEDIATE ones, forget their frontier (their next
// refresh is FULL), each under its refresh lock.
void forget_frontiers_of_readers(Spi& spi, Oid relid);

// pgtrickle.restore_stream_tables(): the catalog pointed at the relations of its names, every
// table's capture rewired, buffers of no source dropped.
void restore_stream_tables();
}  // namespace pgtrickle::pg
