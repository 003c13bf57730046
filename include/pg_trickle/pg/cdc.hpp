// Change capture on source tables: one buffer and one set of statement-level triggers per
// source, shared by every stream table reading it.
#pragma once

#include <string>
#include <vector>

#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

// Whether a relation can be captured with triggers (a plain table without inheritance
// children).
bool capturable(Spi& spi, Oid relid);

// Brings capture of `relid` in line with the stream tables that read it (their
// pgt_dependencies.columns_used): creates buffer and triggers for the first, adds columns
// another one needs, removes everything when none is left. The change buffer serves the
// scheduled modes; IMMEDIATE stream tables get their own triggers (sync_immediate_triggers).
void sync_capture(Spi& spi, Oid relid);
// The change-buffer half of sync_capture.
void sync_change_buffer(Spi& spi, Oid relid);

// Sources of stream table `pgt_id`, and whether each has a change buffer.
struct CapturedSource {
    Oid relid;
    bool captured;
};
std::vector<CapturedSource> captured_sources(Spi& spi, std::int64_t pgt_id);

// After ALTER TABLE on a source: the captured columns it no longer has as they were (dropped,
// renamed, retyped). Empty when capture is unaffected.
std::vector<std::string> broken_capture_columns(Spi& spi, Oid relid);

// Rebuilds capture of `relid` from scratch for its current columns; every stream table reading
// it loses its frontier, so its next refresh is FULL.
void rebuild_capture(Spi& spi, Oid relid);

// Deletes the buffered changes of `relids` that every consumer has consumed. With
// `may_truncate` (a scheduled refresh, whose transaction ends right after) and
// pg_trickle.cleanup_use_truncate, a big buffer all of whose rows are consumed is emptied with
// TRUNCATE instead, if it can be locked at once; otherwise it is left for the next trim.
void trim_buffers(Spi& spi, const std::vector<Oid>& relids, bool may_truncate);

}  // namespace pgtrickle::pg
