// Refreshing a stream table. Today: FULL refresh; the differential engine plugs in here.
#pragma once

#include <cstdint>
#include <string_view>

#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

struct RefreshResult {
    std::int64_t rows_inserted = 0;
    std::int64_t rows_deleted = 0;
    double duration_ms = 0;
};

// Tries to take this stream table's refresh lock for the rest of the transaction: an advisory
// xact lock on the pgt_id plus its catalog row FOR UPDATE SKIP LOCKED. False if another
// transaction holds either (a refresh already in progress).
bool try_lock_for_refresh(Spi& spi, std::int64_t pgt_id);

// The one refresh entry point, for manual refreshes and the scheduler alike: decides what the
// refresh must do (today always FULL) and does it in the current transaction. The caller holds
// the refresh lock (try_lock_for_refresh). Errors propagate as exceptions; nothing is recorded
// for a failed refresh here (the caller's transaction aborts).
RefreshResult refresh(Spi& spi, const StreamTable& st, std::string_view initiated_by);

// Replaces the contents of the storage table with the defining query's result inside the
// current transaction (DELETE + INSERT, so concurrent readers see the old rows until commit and
// the new ones after: never an empty table), as the storage table's owner, then records the
// refresh in the catalog and history. `initiated_by` is MANUAL, INITIAL or SCHEDULER.
RefreshResult full_refresh(Spi& spi, const StreamTable& st, std::string_view initiated_by);

}  // namespace pgtrickle::pg
