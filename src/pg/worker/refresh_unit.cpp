// One scheduled refresh of one stream table (see refresh_unit.hpp).
#include "refresh_unit.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "pg_trickle/core/due.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/refresh.hpp"

extern "C" {
#include "storage/proc.h"
}

namespace pgtrickle::pg::worker {

std::optional<Failure> scheduler_transaction(const std::function<void(Spi&)>& work) {
    return in_transaction([&](Spi& spi) {
        int timeout_ms = std::max(DeadlockTimeout / 2, 10);
        if (LockTimeout > 0)
            timeout_ms = std::min(timeout_ms, LockTimeout);
        // For this transaction only (as set_config(..., true) would, without a statement to
        // plan and run in every transaction of the scheduler and its workers).
        const std::string value = std::to_string(timeout_ms);
        pg_call([&] {
            (void)set_config_option("lock_timeout", value.c_str(), PGC_USERSET, PGC_S_SESSION,
                                    GUC_ACTION_LOCAL, true, 0, false);
        });
        work(spi);
    });
}

namespace {

std::optional<std::int64_t> opt_int64(const Value& v) {
    return v ? std::optional<std::int64_t>(std::stoll(*v)) : std::nullopt;
}

// A FAILED history row, consecutive_errors + 1, and at the limit auto-suspension. False when
// that could not be written.
bool record_failure(const RefreshRequest& r, const Failure& failure, double duration_ms) {
    catalog::FailureOutcome outcome;
    auto not_recorded = scheduler_transaction([&](Spi& spi) {
        outcome = catalog::record_refresh_failure(spi, r.id, r.action, "SCHEDULER", failure.message,
                                                  failure.sqlstate, duration_ms,
                                                  guc::max_consecutive_errors);
    });
    if (not_recorded) {
        warning(fmt::format("pg_trickle: could not record the failed refresh of {}: {}", r.name,
                            not_recorded->message));
        return false;
    }
    if (outcome.suspended) {
        warning(fmt::format("pg_trickle: stream table {} suspended after {} consecutive errors",
                            r.name, outcome.consecutive_errors),
                "Last error: " + failure.message,
                fmt::format("Fix the cause, then run SELECT pgtrickle.resume_stream_table('{}').",
                            r.name));
    }
    return true;
}

}  // namespace

void record_unit_failure(const RefreshRequest& request, const Failure& failure) {
    warning(fmt::format("pg_trickle: scheduled refresh of {} keeps failing: {}", request.name,
                        failure.message),
            failure.detail);
    record_failure(request, failure, 0);
}

UnitOutcome run_refresh_unit(const RefreshRequest& r) {
    report_activity(STATE_RUNNING, "refreshing " + r.name);
    const auto started = std::chrono::steady_clock::now();
    bool refreshed = false;
    auto failure = scheduler_transaction([&](Spi& spi) {
        auto st = catalog::find_by_id(spi, r.id);
        // Dropped, suspended or switched to IMMEDIATE since the tick looked: nothing to do.
        if (!st || (st->status != "ACTIVE" && st->status != "INITIALIZING") ||
            st->refresh_mode == "IMMEDIATE")
            return;
        // A manual refresh under way: it does the work.
        if (!try_lock_for_refresh(spi, r.id))
            return;
        // Refreshed by someone else since the tick looked: not due any more.
        auto last = spi.execute_cached(
                           "SELECT (extract(epoch FROM last_refresh_at) * 1000000)::bigint"
                           " FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint",
                           {std::to_string(r.id)})
                        .scalar();
        if (opt_int64(last) != r.last_refresh_us)
            return;
        refresh(spi, *st, "SCHEDULER");
        refreshed = true;
    });
    const double duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    if (!failure)
        return {refreshed ? UnitResult::Refreshed : UnitResult::NotRefreshed, {}};
    if (core::is_retryable_sqlstate(failure->sqlstate))
        return {UnitResult::Retryable, *failure};
    warning(fmt::format("pg_trickle: scheduled refresh of {} failed: {}", r.name, failure->message),
            failure->detail);
    // A failure that could not be recorded leaves the stream table due at once: it is paused
    // and tried again as after a transient one, not in a loop.
    if (!record_failure(r, *failure, duration_ms))
        return {UnitResult::Retryable, *failure};
    return {UnitResult::Failed, *failure};
}

}  // namespace pgtrickle::pg::worker
