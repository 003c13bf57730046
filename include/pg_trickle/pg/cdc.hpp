// Change capture on source tables: one buffer and one set of statement-level triggers per
// source, shared by every stream table reading it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

// Whether a relation can be captured with triggers: a plain table outside any inheritance tree,
// or the root of a partition tree without foreign partitions.
bool capturable(Spi& spi, Oid relid);

// The members of a captured partitioned source's tree (every level) carry the source's capture
// triggers, which write into the source's buffer: makes those missing, and drops them from tables
// no longer in the tree (detached). Whether one of those tables has rows (attached or detached
// with rows no statement capture saw: the source's readers must refresh FULL).
// (`probe_rows` false: not looked for, as when the buffer was just made.)
bool sync_partition_capture(Spi& spi, Oid source, bool probe_rows = true);

// Records in `source`'s buffer, as a TRUNCATE does, that its rows changed without a statement
// capture saw (a partition with rows attached, detached or dropped): the next refresh of every
// stream table reading it is FULL, once its snapshot sees this transaction's commit. Unlike
// forgetting their frontiers, it waits for no refresh in progress (DDL on a partition holds the
// partitioned table's lock, which such a refresh may be about to ask for).
void add_truncate_marker(Spi& spi, Oid source);

// Brings capture of `relid` in line with the stream tables that read it (their
// pgt_dependencies.columns_used): creates buffer and triggers for the first, adds columns
// another one needs, removes everything when none is left. The change buffer serves the
// scheduled modes; IMMEDIATE stream tables get their own triggers (sync_immediate_triggers).
void sync_capture(Spi& spi, Oid relid);

// Drops pg_trickle's capture and IMMEDIATE triggers on `relid` (and on the members of its
// partition tree) named for another relation than the table or one of its ancestors
// (restored from a dump, for the dumped database's OIDs: restore.cpp); left beside the capture
// made here they would write every change twice. Whether there were any. (sync_capture calls it.)
bool drop_foreign_triggers(Spi& spi, Oid relid);
// The change-buffer half of sync_capture.
void sync_change_buffer(Spi& spi, Oid relid);

// Whether two values of a column (of attribute `att`) are the same value: equal images, an
// out-of-line value compared by its TOAST pointer. False when not sure. Plain C: callable
// where no C++ object may live (the capture trigger).
bool same_column_value(Datum a, bool a_null, Datum b, bool b_null, Form_pg_attribute att);

// The changed_cols bits (core::changed_column_bit) of the buffer columns of `source` holding
// `columns` (source column names), for core::DeltaTable::changed_bits. None when the buffer has
// no changed_cols (made before it was), lacks one of the columns, or `reader` (the role the
// delta runs as) may not read changed_cols.
std::optional<std::uint64_t> changed_bits(Oid source, const std::vector<core::Column>& columns,
                                          Oid reader);

// Sources of stream table `pgt_id`, and whether changes to each are captured: it has a change
// buffer (`buffered`) and its four capture triggers are there and fire ALWAYS (see
// ddl/capture_switches.cpp for what turning them off by hand does).
struct CapturedSource {
    Oid relid;
    bool captured;
    bool buffered;
    bool detaching = false;   // a partition of it is being detached (not captured meanwhile)
    bool subscribed = false;  // a logical replication subscription applies rows to it (or to
                              // a partition): its apply worker fires no statement trigger, so
                              // it is not captured
    bool unlogged = false;    // it (or a partition) is UNLOGGED: a crash empties it unseen
};
std::vector<CapturedSource> captured_sources(Spi& spi, std::int64_t pgt_id);

// After ALTER TABLE on a source: the captured columns it no longer has as they were (dropped,
// renamed, retyped). Empty when capture is unaffected.
std::vector<std::string> broken_capture_columns(Spi& spi, Oid relid);

// Whether relid's primary key has a column its change buffer does not capture (a key added or
// changed after capture began: the deltas identify rows by the key).
bool key_uncaptured(Spi& spi, Oid relid);

// Rebuilds capture of `relid` from scratch for its current columns; every stream table reading
// it loses its frontier, so its next refresh is FULL.
void rebuild_capture(Spi& spi, Oid relid);

// UNLOGGED buffers (pg_trickle.unlogged_buffers) are emptied by a crash, by a standby's
// promotion and by a restore from a base backup. So that no refresh continues from a frontier
// whose changes were lost that way, each database has an epoch of its unlogged buffers: an
// UNLOGGED table pgtrickle_changes.buffer_epoch, emptied by the same events, holds it. A refresh
// reading an unlogged buffer records the epoch in its frontier; the next one refreshes FULL when
// the epoch differs (the previous frontier records another epoch or none).
//
// A prepared transaction survives a crash, but the rows it captured into an unlogged buffer do
// not: a new epoch also records the prepared transactions of the database then (survivors),
// and a frontier whose snapshot still saw one of them in progress cannot be continued from
// either (once it commits, its changes are in the source and in no buffer).

// Whether the buffer of some source in `relids` is UNLOGGED.
bool any_unlogged_buffer(const std::vector<Oid>& relids);

// The OID of relid's change buffer, InvalidOid when it has none.
Oid buffer_oid(Oid relid);

struct UnloggedEpoch {
    std::string epoch;  // as Frontier::buffer_epoch records it
    bool lost = false;  // the changes since `prev` may be incomplete: refresh FULL
};

// The current epoch of this database's unlogged buffers, and whether continuing from `prev`
// could miss changes. When there is no epoch (first use, or after the buffers were emptied),
// starts a new one, the current transaction's xid: larger than any epoch before it. Call it
// outside the refresh's snapshot: it reads what committed last.
UnloggedEpoch check_unlogged_epoch(Spi& spi, const std::optional<core::Frontier>& prev);

// Deletes the buffered changes of `relids` that every consumer has consumed. With
// `may_truncate` (a scheduled refresh, whose transaction ends right after) and
// pg_trickle.cleanup_use_truncate, a big buffer all of whose rows are consumed is emptied with
// TRUNCATE instead, if it can be locked at once; otherwise it is left for the next trim.
void trim_buffers(Spi& spi, const std::vector<Oid>& relids, bool may_truncate);

}  // namespace pgtrickle::pg
