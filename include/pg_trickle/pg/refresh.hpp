// Refreshing a stream table: NO_DATA, FULL or DIFFERENTIAL, decided per refresh.
#pragma once

#include <set>

#include <cstdint>
#include <string>
#include <string_view>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

struct RefreshResult {
    std::string action;  // NO_DATA | FULL | DIFFERENTIAL
    std::int64_t rows_inserted = 0;
    std::int64_t rows_deleted = 0;
    double duration_ms = 0;
};

// Advisory lock namespace of the refresh lock: the two-key form keeps our keys (class 'pgtr',
// pgt_id) apart from the single-bigint advisory locks applications use.
inline constexpr const char* kRefreshLockClass = "1885828210";  // 0x70677472 = 'pgtr'
// Advisory lock classes that serialize the creation of stream tables of one name, and the
// setting up of one source's change capture, between concurrent sessions (the second waits,
// then finds what the first made, instead of failing on a unique index of the system catalog).
inline constexpr const char* kCreateLockClass = "1885828195";   // 'pgtc'
inline constexpr const char* kCaptureLockClass = "1885828193";  // 'pgta'

// Tries to take this stream table's refresh lock for the rest of the transaction: an advisory
// xact lock on the pgt_id plus its catalog row FOR UPDATE SKIP LOCKED. False if another
// transaction holds either (a refresh already in progress).
bool try_lock_for_refresh(Spi& spi, std::int64_t pgt_id);

// The same advisory lock, waited for: taken by alter_stream_table before it recomputes.
void lock_for_recompute(Spi& spi, std::int64_t pgt_id);
// That lock in shared mode: IMMEDIATE writers that apply increments (DeltaPlan::relative_apply)
// hold it, so they never overlap a refresh or recomputation, but do overlap each other.
void share_lock_for_increments(Spi& spi, std::int64_t pgt_id);

// How a refresh of the stream table stored in `storage` applies `plan` (what explain_st and
// explain_diff_sql show too, taking every source as changed):
// - by increments (DeltaPlan::relative_apply) only while no trigger but pg_trickle's guards is on
//   the storage table: an emptied group keeps a row with count 0 between the increments and
//   their cleanup, a row the triggers of stream tables reading this one (or a user's) would
//   otherwise see;
// - recomputed, a linear or grouped algebraic plan (core::recompute_cheaper), only under
//   pg_trickle.refresh_strategy = 'auto'; 'differential' always runs the delta rules.
void choose_apply(Spi& spi, Oid storage, core::DeltaPlan& plan);

// 42501 unless role `owner` may read source `relid`: SELECT on the table, or on each of
// `columns` (on any column when empty, as for count(*)). Maintenance that reads a source's
// changes (a change buffer, a statement's transition tables) instead of the source itself asks
// this, as the query over the source would.
void check_owner_reads(Spi& spi, Oid owner, Oid relid, const std::vector<std::string>& columns,
                       const std::string& stream_table);

// Before a stream table writers have not been maintaining is computed as IMMEDIATE (created so,
// switched to it, resumed from ERROR, or given a query with new sources): waits for the
// transactions writing its sources and locks them against writers (SHARE) to the end of the
// transaction, so that no writer's rows escape both its maintenance and the computation. Not
// the sources in `maintained`, whose writers maintained it already (see refresh.cpp).
void wait_for_source_writers(Spi& spi, const StreamTable& st, const std::set<Oid>& maintained = {});

// The one refresh entry point, for manual refreshes, the scheduler and create/alter alike.
// Inside the current transaction, under one snapshot:
//  - nothing changed in any source since the last refresh: NO_DATA (only the frontier moves);
//  - DIFFERENTIAL stream table, populated, all sources captured, no TRUNCATE: apply the delta;
//  - otherwise FULL: DELETE + INSERT, so readers see the old rows until commit, never an empty
//    table.
// The defining query runs with the storage table owner's rights. Then the catalog, the
// refresh history and the change buffers are updated in the same transaction: changes are
// consumed only if the refresh commits. `force_full` skips the NO_DATA and DIFFERENTIAL paths
// (after a definition change). Errors propagate as exceptions; the caller's transaction aborts.
RefreshResult refresh(Spi& spi, const StreamTable& st, std::string_view initiated_by,
                      bool force_full = false);

}  // namespace pgtrickle::pg
