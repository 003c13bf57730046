// Background workers: one launcher per cluster, one scheduler per database that has pg_trickle.
//
// The launcher (static bgworker "pg_trickle launcher") connects to database `postgres`, lists the
// databases every couple of seconds and keeps one dynamic "pg_trickle scheduler" bgworker running
// per database that accepts connections. A scheduler whose database lacks the extension exits at
// once, and the launcher leaves that database alone for a while (CREATE EXTENSION ends the pause
// at commit). Each scheduler refreshes its database's stream tables on their schedules.
//
// Everything here needs pg_trickle in shared_preload_libraries; without it, available() is false
// and the functions below do nothing.
#pragma once

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg::worker {

// Called from _PG_init while shared_preload_libraries is processed: requests shared memory,
// registers the launcher and installs the hook that stops a database's scheduler before
// commands that need the database to themselves (DROP DATABASE, ALTER DATABASE RENAME, ...).
void initialize();

// True when shared memory for the workers exists (pg_trickle was preloaded).
bool available();

// When the current transaction commits, ends any pause of this database's scheduler and wakes
// the launcher, so that a freshly created extension is picked up at once.
void wake_launcher_at_commit();

// Called by the capture trigger: when the current transaction commits, bumps the change counter
// of source `relid` and wakes this database's scheduler. Plain C: never throws or raises.
void note_source_change(Oid relid);

// The buffer floor of source `relid`: no row of its change buffer has an older xid (a full
// transaction id as uint64), so a trim below it would delete nothing; 0 when not known (after a
// restart, without shared memory, or while another source hashing to the same bucket holds it).
// Plain C, never raises.
// The capture trigger lowers the floor to its transaction's xid before writing rows;
// trim_buffers (cdc.hpp) sets it after trimming.
void note_buffer_write(Oid relid, uint64 xid);
uint64 buffer_floor(Oid relid);
void set_buffer_floor(Oid relid, uint64 xid);
// The buffer ceiling of source `relid`: no row of its change buffer has a newer xid; 0 when not
// known (as the floor). Known from the first set_buffer_floor on: that sets it to the next xid,
// and note_buffer_write raises it. Plain C, never raises.
uint64 buffer_ceiling(Oid relid);

// Trims of a change buffer, for its readers that trims do not wait for (FULL stream tables;
// trim_buffers): note_trim records that a trim deleted rows with xids below `bound` (0: none);
// it is entered just before the transaction commits (a reader that read the buffer before the
// commit still saw those rows), and not if it (or the savepoint around the trim) rolls back;
// trimmed_past says whether a trim may have deleted a row with an xid at or above `xmin` (one a
// snapshot with that xmin may not have seen). Trims before trims were first noted since the server
// started count as having deleted every older xid. Plain C; note_trim can raise (out of memory)
// the first time a backend calls it, registering its transaction callbacks: C++ callers go
// through pg_call. trimmed_past never raises.
void note_trim(Oid relid, uint64 bound);
bool trimmed_past(Oid relid, uint64 xmin);
// Sets when trims are first noted from (the next xid now, if not yet set): the launcher calls
// it at its start, so that only frontiers written before it count every older xid as trimmed.
void start_noting_trims();

}  // namespace pgtrickle::pg::worker

extern "C" {
PGDLLEXPORT void pgt_launcher_main(Datum main_arg);
PGDLLEXPORT void pgt_scheduler_main(Datum main_arg);
PGDLLEXPORT void pgt_refresh_worker_main(Datum main_arg);
}
