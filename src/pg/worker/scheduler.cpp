// The per-database scheduler: refreshes stream tables on their schedules.
//
// Each tick (pg_trickle.scheduler_interval_ms) reads the catalog in a transaction of its own and
// asks core::plan_refreshes which stream tables are due, upstream first. Each due stream table is
// then refreshed in a transaction of its own through the same entry point as a manual refresh
// (pg::refresh, initiated_by SCHEDULER), so one failure rolls back only that refresh. A failure
// is recorded in a fresh transaction: a FAILED history row, consecutive_errors + 1, and at
// pg_trickle.max_consecutive_errors auto-suspension. Transient errors (lock timeouts,
// serialization failures, cancels) are not counted: they are retried after an exponential
// back-off.
//
// Nothing is consumed before its transaction commits, so the scheduler can be killed at any
// point; history rows a crash left RUNNING are marked FAILED when the scheduler starts again.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pg_trickle/core/due.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/worker.hpp"
#include "shared_state.hpp"
#include "transaction.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
}

namespace pgtrickle::pg::worker {

namespace {

// Set just before a clean exit because the database has no pg_trickle; read by scheduler_exit.
bool leaving_for_missing_extension = false;

// SIGTERM between ticks: leave at the top of the loop, exit code 0, nothing to roll back. During
// a tick: PostgreSQL's die(), so that a long refresh is interrupted at its next interrupt check
// and rolled back (FATAL "terminating background worker ... due to administrator command").
volatile sig_atomic_t terminate_requested = false;
volatile sig_atomic_t working = false;

void handle_sigterm(SIGNAL_ARGS) {
    terminate_requested = true;
    if (working) {
        die(postgres_signal_arg);
    } else {
        const int saved_errno = errno;
        SetLatch(MyLatch);
        errno = saved_errno;
    }
}
// The slot's rescan_requests as read just before the latest look for the extension.
uint64 rescan_requests_before_look = 0;

void scheduler_exit(int, Datum) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    if (SchedulerSlot* slot = find_slot(s, MyDatabaseId); slot && slot->pid == MyProcPid) {
        slot->pid = 0;
        slot->extension_missing = leaving_for_missing_extension;
        slot->rescan_requests_when_missing = rescan_requests_before_look;
    }
    LWLockRelease(s->lock);
    wake_launcher();
}

// Called before each look for the extension; see SchedulerSlot::rescan_requests.
void note_rescan_requests() {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_SHARED);
    if (SchedulerSlot* slot = find_slot(s, MyDatabaseId))
        rescan_requests_before_look = slot->rescan_requests;
    LWLockRelease(s->lock);
}

// Takes this database's slot; false if another scheduler already runs here.
bool claim_slot(Oid dboid) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    SchedulerSlot* slot = find_or_add_slot(s, dboid);
    const bool ok = slot != nullptr && (slot->pid == 0 || slot->pid == MyProcPid);
    if (ok)
        slot->pid = MyProcPid;
    LWLockRelease(s->lock);
    return ok;
}

// Needs a transaction. Looks with a catalog snapshot taken after noting the rescan requests, so
// a CREATE EXTENSION that committed before the note is always seen.
bool extension_installed() {
    return pg_call([] {
        note_rescan_requests();
        InvalidateCatalogSnapshot();
        return OidIsValid(get_extension_oid("pg_trickle", true));
    });
}

// Every scheduler transaction gives up waiting for a lock before the deadlock detector would
// run (deadlock_timeout): in a lock cycle with a user's DDL, the scheduler is always the one that
// backs off (55P03, retried later), never the user's statement.
std::optional<Failure> scheduler_transaction(const std::function<void(Spi&)>& work) {
    return in_transaction([&](Spi& spi) {
        int timeout_ms = std::max(DeadlockTimeout / 2, 10);
        if (LockTimeout > 0)
            timeout_ms = std::min(timeout_ms, LockTimeout);
        spi.run("SELECT pg_catalog.set_config('lock_timeout', $1, true)",
                {std::to_string(timeout_ms)});
        work(spi);
    });
}

std::optional<std::int64_t> opt_int64(const Value& v) {
    return v ? std::optional<std::int64_t>(std::stoll(*v)) : std::nullopt;
}

// A due stream table as the tick saw it.
struct DueTable {
    std::int64_t id = 0;
    std::string name;  // schema.name, for messages
    std::optional<std::int64_t> last_refresh_us;
    std::string action;  // what a failure is recorded as
};

enum class ExitReason { ExtensionMissing, Terminated };

class Scheduler {
  public:
    // Returns when the extension is not (or no longer) installed in this database, or on SIGTERM.
    ExitReason run();

  private:
    enum class TickOutcome { Done, ExtensionMissing };

    bool start();
    TickOutcome tick();
    void refresh_one(const DueTable& table);
    void record_failure(const DueTable& table, const Failure& failure, double duration_ms);
    void wait_for_next_tick();

    struct Backoff {
        int attempts = 0;
        TimestampTz until = 0;
    };
    std::map<std::int64_t, Backoff> backoff_;  // stream tables after a transient failure
    MemoryContext loop_context_ = nullptr;
};

bool Scheduler::start() {
    report_activity(STATE_RUNNING, "starting");
    bool installed = false;
    std::uint64_t interrupted = 0;
    auto failure = scheduler_transaction([&](Spi& spi) {
        installed = extension_installed();
        if (installed)
            interrupted = catalog::fail_interrupted_refreshes(spi);
    });
    if (failure) {
        // Best effort: the clean-up runs again at the next start.
        in_transaction([&](Spi&) { installed = extension_installed(); });
        if (installed)
            log_message("pg_trickle scheduler could not mark interrupted refreshes as FAILED: " +
                        failure->message);
    }
    if (interrupted > 0)
        log_message(fmt::format("pg_trickle scheduler marked {} interrupted refresh(es) as FAILED",
                                interrupted));
    return installed;
}

Scheduler::TickOutcome Scheduler::tick() {
    std::vector<DueTable> due;
    bool installed = true;
    bool enabled = true;
    auto failure = scheduler_transaction([&](Spi& spi) {
        installed = extension_installed();
        enabled = guc::enabled;
        if (!installed || !enabled)
            return;
        report_activity(STATE_RUNNING, "checking schedules");
        auto rows = spi.execute(R"sql(
SELECT st.pgt_id, st.status, st.refresh_mode, st.refresh_tier, st.schedule, st.is_populated,
       (extract(epoch FROM st.last_refresh_at) * 1000000)::bigint,
       n.nspname || '.' || c.relname, st.effective_refresh_mode,
       (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
FROM pgtrickle.pgt_stream_tables st
JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
ORDER BY st.pgt_id)sql");
        if (rows.empty())
            return;
        auto edges = spi.execute(
            "SELECT d.pgt_id, u.pgt_id FROM pgtrickle.pgt_dependencies d"
            " JOIN pgtrickle.pgt_stream_tables u ON u.pgt_relid = d.source_relid");

        std::vector<core::ScheduledTable> tables;
        std::map<std::int64_t, DueTable> info;
        core::SchedulerSettings settings;
        settings.default_schedule_seconds = guc::default_schedule_seconds;
        settings.tiered_scheduling = guc::tiered_scheduling;
        for (const auto& r : rows.rows) {
            core::ScheduledTable t;
            t.id = std::stoll(*r[0]);
            t.status = *r[1];
            t.refresh_mode = *r[2];
            t.refresh_tier = *r[3];
            t.schedule = r[4];
            t.is_populated = r[5] && *r[5] == "t";
            t.last_refresh_us = opt_int64(r[6]);
            settings.now_us = std::stoll(*r[9]);
            // A failed refresh is recorded as the refresh it would have been.
            std::string action = "FULL";
            if (t.is_populated && r[8] && *r[8] == "DIFFERENTIAL")
                action = "DIFFERENTIAL";
            info[t.id] = DueTable{t.id, *r[7], t.last_refresh_us, action};
            tables.push_back(std::move(t));
        }
        std::map<std::int64_t, std::vector<std::int64_t>> upstreams;
        for (const auto& r : edges.rows)
            upstreams[std::stoll(*r[0])].push_back(std::stoll(*r[1]));
        for (auto& t : tables)
            t.upstreams = upstreams[t.id];

        for (auto id : core::plan_refreshes(tables, settings).due)
            due.push_back(info[id]);
    });
    if (failure) {
        // A DROP EXTENSION that committed while the tick waited for its locks shows up as an
        // error here; that is a normal way to end, not a failure worth a warning.
        bool still_installed = true;
        in_transaction([&](Spi&) { still_installed = extension_installed(); });
        if (!still_installed)
            return TickOutcome::ExtensionMissing;
        const std::string message =
            fmt::format("pg_trickle scheduler could not read the catalog: {}", failure->message);
        if (core::is_retryable_sqlstate(failure->sqlstate))
            log_message(message + " (retrying at the next tick)");
        else
            warning(message, failure->detail);
        return TickOutcome::Done;
    }
    if (!installed)
        return TickOutcome::ExtensionMissing;
    if (!enabled) {
        report_activity(STATE_IDLE, "pg_trickle.enabled is off");
        return TickOutcome::Done;
    }

    for (const auto& table : due) {
        auto b = backoff_.find(table.id);
        if (b != backoff_.end() && GetCurrentTimestamp() < b->second.until)
            continue;
        try {
            pg_call([] { CHECK_FOR_INTERRUPTS(); });
        } catch (const PgException&) {
            // A cancel request between two refreshes: nothing was running, carry on.
        }
        refresh_one(table);
    }
    report_activity(STATE_IDLE, "waiting for the next tick");
    return TickOutcome::Done;
}

void Scheduler::refresh_one(const DueTable& table) {
    report_activity(STATE_RUNNING, "refreshing " + table.name);
    const auto started = std::chrono::steady_clock::now();
    bool refreshed = false;
    auto failure = scheduler_transaction([&](Spi& spi) {
        auto st = catalog::find_by_id(spi, table.id);
        // Dropped, suspended or switched to IMMEDIATE since the tick looked: nothing to do.
        if (!st || (st->status != "ACTIVE" && st->status != "INITIALIZING") ||
            st->refresh_mode == "IMMEDIATE")
            return;
        // A manual refresh under way: it does the work.
        if (!try_lock_for_refresh(spi, table.id))
            return;
        // Refreshed by someone else since the tick looked: not due any more.
        auto last = spi.execute(
                           "SELECT (extract(epoch FROM last_refresh_at) * 1000000)::bigint"
                           " FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint",
                           {std::to_string(table.id)})
                        .scalar();
        if (opt_int64(last) != table.last_refresh_us)
            return;
        refresh(spi, *st, "SCHEDULER");
        refreshed = true;
    });
    const double duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    if (!failure) {
        if (refreshed)
            backoff_.erase(table.id);
        return;
    }

    if (core::is_retryable_sqlstate(failure->sqlstate)) {
        // Transient (lock timeout, serialization failure, cancel): not the stream table's fault,
        // so neither counted nor written to its history; retried after a growing pause.
        Backoff& b = backoff_[table.id];
        ++b.attempts;
        const auto pause_ms = core::retry_backoff_ms(b.attempts);
        b.until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pause_ms);
        log_message(
            fmt::format("pg_trickle: scheduled refresh of {} failed ({}: {}); retrying "
                        "in {} ms",
                        table.name, failure->sqlstate, failure->message, pause_ms));
        return;
    }
    warning(
        fmt::format("pg_trickle: scheduled refresh of {} failed: {}", table.name, failure->message),
        failure->detail);
    record_failure(table, *failure, duration_ms);
}

void Scheduler::record_failure(const DueTable& table, const Failure& failure, double duration_ms) {
    catalog::FailureOutcome outcome;
    auto not_recorded = scheduler_transaction([&](Spi& spi) {
        outcome = catalog::record_refresh_failure(spi, table.id, table.action, "SCHEDULER",
                                                  failure.message, duration_ms,
                                                  guc::max_consecutive_errors);
    });
    if (not_recorded) {
        warning(fmt::format("pg_trickle: could not record the failed refresh of {}: {}", table.name,
                            not_recorded->message));
        return;
    }
    if (outcome.suspended) {
        warning(fmt::format("pg_trickle: stream table {} suspended after {} consecutive errors",
                            table.name, outcome.consecutive_errors),
                "Last error: " + failure.message,
                fmt::format("Fix the cause, then run SELECT pgtrickle.resume_stream_table('{}').",
                            table.name));
    }
}

void Scheduler::wait_for_next_tick() {
    const long timeout = guc::scheduler_interval_ms;
    pg_call([&] {
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    });
}

ExitReason Scheduler::run() {
    loop_context_ = pg_call([] {
        return AllocSetContextCreate(TopMemoryContext, "pg_trickle scheduler",
                                     ALLOCSET_DEFAULT_SIZES);
    });
    working = true;
    const bool installed = start();
    working = false;
    if (!installed)
        return ExitReason::ExtensionMissing;
    for (;;) {
        if (terminate_requested)
            return ExitReason::Terminated;
        MemoryContext context = loop_context_;
        try {
            pg_call([&] {
                MemoryContextSwitchTo(context);
                MemoryContextReset(context);
                CHECK_FOR_INTERRUPTS();  // a cancel request is an ERROR here
                if (ConfigReloadPending) {
                    ConfigReloadPending = false;
                    ProcessConfigFile(PGC_SIGHUP);
                }
            });
        } catch (const PgException&) {
            // pg_cancel_backend() between ticks: there is nothing to cancel, carry on.
        }
        working = true;
        const TickOutcome outcome = tick();
        working = false;
        if (outcome == TickOutcome::ExtensionMissing)
            return ExitReason::ExtensionMissing;
        if (!terminate_requested)
            wait_for_next_tick();
    }
}

}  // namespace

}  // namespace pgtrickle::pg::worker

extern "C" void pgt_scheduler_main(Datum main_arg) {
    using namespace pgtrickle::pg::worker;
    const Oid dboid = DatumGetObjectId(main_arg);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, handle_sigterm);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

    if (!claim_slot(dboid))
        proc_exit(0);  // another scheduler already serves this database
    before_shmem_exit(scheduler_exit, 0);

    const ExitReason reason = pgtrickle::pg::pg_guard([] { return Scheduler().run(); });
    // No pg_trickle here: the launcher pauses before trying this database again.
    leaving_for_missing_extension = reason == ExitReason::ExtensionMissing;
    proc_exit(0);
}
