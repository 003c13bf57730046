// One scheduled refresh of one stream table, as the scheduler runs it itself or hands it to a
// refresh worker: its own transaction, the checks that it is still wanted, the refresh, and for a
// permanent failure the FAILED history row and the error count (auto-suspension included).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "shared_state.hpp"
#include "transaction.hpp"

namespace pgtrickle::pg::worker {

struct RefreshRequest {
    std::int64_t id = 0;
    std::string name;                             // schema.name, for messages
    std::optional<std::int64_t> last_refresh_us;  // as the tick saw it
    std::string action;                           // what a failure is recorded as
};

enum class UnitResult {
    Refreshed,     // refreshed (NO_DATA included)
    NotRefreshed,  // no longer wanted: dropped, suspended, refreshed by someone else
    Retryable,     // transient failure (lock timeout, serialization failure, cancel): not counted
    Failed,        // permanent failure, recorded in the history
};

struct UnitOutcome {
    UnitResult result = UnitResult::NotRefreshed;
    Failure failure;  // for Retryable and Failed
};

UnitOutcome run_refresh_unit(const RefreshRequest& request);

// Records `failure` as a permanent failure of the request (history row, error count,
// suspension at the limit): for a transient failure that keeps coming back.
void record_unit_failure(const RefreshRequest& request, const Failure& failure);

// A transaction of background work whose lock waits give up before the deadlock detector would
// run: in a lock cycle with a user's statement, pg_trickle is the one that backs off (55P03).
std::optional<Failure> scheduler_transaction(const std::function<void(Spi&)>& work);

// A job a scheduler assigned (jobs[index] of the shared state), as refresh workers and pool
// workers run it. Plain C under the lock: copies the job out and names this process as its
// worker; false when the slot is not (any more) assigned with this generation.
bool take_job(int index, uint64 generation, RefreshJob* out);
// Runs the refresh unit of a job taken with take_job and writes its outcome into the slot
// (unless the slot was taken back meanwhile). A pool worker passes its pool slot and token: it
// is idle again (PoolWorker::has_job) from the moment the outcome is there to collect.
void run_job(int index, const RefreshJob& job, int pool_slot = -1, uint64 pool_token = 0);

}  // namespace pgtrickle::pg::worker
