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
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pg_trickle/core/time_dependence.hpp"
#include "pg_trickle/core/due.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/worker.hpp"
#include "history_prune.hpp"
#include "refresh_unit.hpp"
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
        slot->scheduler_latch = nullptr;
        slot->extension_missing = leaving_for_missing_extension;
        slot->rescan_requests_when_missing = rescan_requests_before_look;
    }
    // Jobs handed out and not collected: a worker still running finds its generation gone.
    for (auto& job : s->jobs)
        if (job.owner == MyProcPid && job.state != kJobFree) {
            job.state = kJobFree;
            ++job.generation;
        }
    // Its pool workers leave (they would notice within a second anyway); a slot whose worker
    // has not started yet is freed, and the worker, if it starts, finds its token gone.
    Latch* pool_latches[kMaxPoolWorkers];
    int npool = 0;
    for (auto& w : s->pool) {
        if (w.token == 0 || w.scheduler != MyProcPid)
            continue;
        if (w.pid == 0) {
            std::memset(&w, 0, sizeof(w));
            continue;
        }
        w.retire = true;
        if (w.latch != nullptr)
            pool_latches[npool++] = w.latch;
    }
    LWLockRelease(s->lock);
    for (int i = 0; i < npool; ++i)
        SetLatch(pool_latches[i]);
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
    if (ok) {
        slot->pid = MyProcPid;
        slot->scheduler_latch = MyLatch;
    }
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

std::optional<std::int64_t> opt_int64(const Value& v) {
    return v ? std::optional<std::int64_t>(std::stoll(*v)) : std::nullopt;
}

// A due stream table as the tick saw it.
struct DueTable {
    std::int64_t id = 0;
    std::string name;  // schema.name, for messages
    std::optional<std::int64_t> last_refresh_us;
    std::string action;        // what a failure is recorded as
    std::vector<Oid> sources;  // tables and stream tables it reads
    // Populated, ACTIVE, and every source has a change buffer: when no source's change counter
    // moved since the last look, the look can be skipped.
    bool skippable = false;
    std::vector<std::int64_t> upstreams;  // stream tables it reads
    // One of them is suspended, failing or not yet populated: refreshing now could pair its
    // old rows with newer ones of another branch, so the stream table waits.
    bool upstream_unhealthy = false;
};

// How long a skipped stream table goes without a real look at its buffers at most: a safety net
// only (every commit of captured changes, COMMIT PREPARED included, bumps the counters).
constexpr std::int64_t kRecheckUs = 300'000'000;
// Consecutive transient failures after which one is recorded as a failure.
constexpr int kRetriesBeforeCounting = 10;
// Least time between two ticks woken by commits (a burst of commits makes one tick).
constexpr long kMinWakeSpacingMs = 20;

// Microseconds since the Unix epoch, as the catalog's timestamps are read by the tick.
std::int64_t now_unix_us() {
    return static_cast<std::int64_t>(GetCurrentTimestamp()) +
           static_cast<std::int64_t>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

RefreshRequest request_of(const struct DueTable& t);

std::vector<Oid> parse_oids(const Value& v) {
    std::vector<Oid> out;
    if (!v)
        return out;
    std::size_t pos = 0;
    const std::string& s = *v;
    while (pos < s.size()) {
        std::size_t end = s.find(',', pos);
        if (end == std::string::npos)
            end = s.size();
        out.push_back(static_cast<Oid>(std::stoul(s.substr(pos, end - pos))));
        pos = end + 1;
    }
    return out;
}

RefreshRequest request_of(const DueTable& t) {
    return RefreshRequest{t.id, t.name, t.last_refresh_us, t.action};
}

// Starts a dynamic background worker of this database running `function`(main_arg) with `extra`
// in bgw_extra; the postmaster sets this scheduler's latch when it stops. nullptr when no
// background worker slot is free.
BackgroundWorkerHandle* start_worker(const char* function, const char* type,
                                     const std::string& name, int main_arg, uint64 extra) {
    BackgroundWorker w;
    std::memset(&w, 0, sizeof(w));
    w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(w.bgw_library_name, "pg_trickle", BGW_MAXLEN);
    strlcpy(w.bgw_function_name, function, BGW_MAXLEN);
    strlcpy(w.bgw_name, name.c_str(), BGW_MAXLEN);
    strlcpy(w.bgw_type, type, BGW_MAXLEN);
    w.bgw_main_arg = Int32GetDatum(main_arg);
    static_assert(sizeof(extra) <= BGW_EXTRALEN);
    std::memcpy(w.bgw_extra, &extra, sizeof(extra));
    w.bgw_notify_pid = MyProcPid;
    BackgroundWorkerHandle* handle = nullptr;
    const bool started = pg_call([&] {
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        const bool ok = RegisterDynamicBackgroundWorker(&w, &handle);
        MemoryContextSwitchTo(old);
        return ok;
    });
    return started ? handle : nullptr;
}

// Plain C under the lock: a free job slot filled with `t` for a worker (*generation: the new
// generation), or -1 when none is free or `cap` jobs are handed out already.
int assign_job(SharedState* s, const DueTable& t, int cap, uint64* generation) {
    int index = -1;
    int busy = 0;
    for (int i = 0; i < kMaxRefreshJobs; ++i) {
        if (s->jobs[i].state != kJobFree)
            ++busy;
        else if (index < 0)
            index = i;
    }
    if (index < 0 || busy >= cap)
        return -1;
    RefreshJob& job = s->jobs[index];
    *generation = job.generation + 1;
    std::memset(&job, 0, sizeof(job));
    job.generation = *generation;
    job.state = kJobAssigned;
    job.dboid = MyDatabaseId;
    job.owner = MyProcPid;
    job.pgt_id = t.id;
    job.has_last_refresh = t.last_refresh_us.has_value();
    job.last_refresh_us = t.last_refresh_us.value_or(0);
    strlcpy(job.action, t.action.c_str(), sizeof(job.action));
    strlcpy(job.name, t.name.c_str(), sizeof(job.name));
    return index;
}

enum class ExitReason { ExtensionMissing, Terminated };

class Scheduler {
  public:
    // Returns when the extension is not (or no longer) installed in this database, or on SIGTERM.
    ExitReason run();

  private:
    enum class TickOutcome { Done, ExtensionMissing };

    // A refresh to run: the stream table, and its sources' change counters read before it.
    struct Work {
        const DueTable* table;
        std::uint64_t sum;
        std::int64_t now_us;
    };
    // A refresh handed to a refresh worker or a pool worker.
    struct Running {
        Work work;
        int job;
        uint64 generation;
        BackgroundWorkerHandle* handle;  // the worker's (a pool worker's stays in pool_)
        bool pooled;
    };
    // A pool worker this scheduler started (see pool_worker.cpp).
    struct PoolMember {
        int slot;      // in SharedState::pool
        uint64 token;  // PoolWorker::token: the slot is still this member's while they match
        BackgroundWorkerHandle* handle;
        bool retiring;
    };
    // What became of the tick's due stream tables so far.
    struct TickState {
        std::set<std::int64_t> due, done, failed;
        std::vector<std::int64_t> unchanged;
    };

    bool start();
    TickOutcome tick();
    void execute(const std::vector<DueTable>& due);
    std::optional<Running> dispatch(const Work& work, std::size_t running);
    std::optional<Running> dispatch_to_pool(const Work& work, bool* pool_running);
    void maintain_pool();
    void collect(std::vector<Running>& running, TickState& state);
    void apply(const Work& work, const UnitOutcome& outcome, TickState& state);
    std::uint64_t change_sum(const DueTable& table) const;
    void mark_checked(const std::vector<std::int64_t>& ids);
    void wait_for_workers();
    void wait_for_next_tick();
    void prune_history();

    struct Backoff {
        int attempts = 0;
        TimestampTz until = 0;
    };
    std::map<std::int64_t, Backoff> backoff_;  // stream tables after a transient failure
    // Per stream table: the sum of its sources' change counters read before its last refresh,
    // when that refresh ran, and when it was last really looked at.
    struct Seen {
        std::uint64_t sum = 0;
        std::int64_t refreshed_us = 0;
        std::int64_t checked_us = 0;
    };
    std::map<std::int64_t, Seen> seen_;
    std::vector<PoolMember> pool_;
    bool pool_start_failed_ = false;  // logged once until a start succeeds
    MemoryContext loop_context_ = nullptr;
    TimestampTz last_tick_start_ = 0;
    bool woken_during_tick_ = false;           // the latch was reset while waiting for workers
    std::optional<std::int64_t> next_due_us_;  // earliest due time of one with changes waiting
    uint64 publishes_at_tick_start_ = 0;       // see publish_count()
    std::string prepared_xacts_;               // gids of this database's prepared xacts
    TimestampTz last_prune_ = 0;               // when the refresh history was last pruned
};

bool Scheduler::start() {
    report_activity(STATE_RUNNING, "starting");
    // Jobs a previous scheduler of this database handed out are forgotten; a worker of one that
    // still runs finds its generation gone and writes nothing.
    pg_call([] {
        SharedState* s = shared();
        LWLockAcquire(s->lock, LW_EXCLUSIVE);
        for (auto& job : s->jobs)
            if (job.dboid == MyDatabaseId && job.owner != MyProcPid && job.state != kJobFree) {
                job.state = kJobFree;
                ++job.generation;
            }
        LWLockRelease(s->lock);
    });
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
    next_due_us_.reset();
    publishes_at_tick_start_ = publish_count();
    std::vector<DueTable> due;
    bool installed = true;
    bool enabled = true;
    auto failure = scheduler_transaction([&](Spi& spi) {
        installed = extension_installed();
        enabled = guc::enabled;
        if (!installed || !enabled)
            return;
        report_activity(STATE_RUNNING, "checking schedules");
        // One statement with a kept plan: this runs at every tick.
        static const std::string tick_query = std::string(R"sql(
WITH deps AS (
    SELECT d.pgt_id,
           string_agg(d.source_relid::text, ',') AS sources,
           bool_and(b.oid IS NOT NULL) AS captured,
           string_agg(u.pgt_id::text, ',') AS upstreams
    FROM pgtrickle.pgt_dependencies d
    LEFT JOIN pg_catalog.pg_class b ON b.relnamespace = 'pgtrickle_changes'::regnamespace
         AND b.relname = 'changes_' || d.source_relid::text
    LEFT JOIN pgtrickle.pgt_stream_tables u ON u.pgt_relid = d.source_relid
    GROUP BY d.pgt_id)
SELECT st.pgt_id, st.status, st.refresh_mode, st.refresh_tier, st.schedule, st.is_populated,
       (extract(epoch FROM st.last_refresh_at) * 1000000)::bigint,
       n.nspname || '.' || c.relname, st.effective_refresh_mode,
       (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
       deps.sources, coalesce(deps.captured, false), deps.upstreams,
       st.status = 'ACTIVE' AND st.consecutive_errors = 0,
       st.needs_reinit OR st.frontier IS NULL OR st.schedule ~ '[[:space:]@]'
           OR coalesce(st.functions_used && )sql") +
                                              core::time_dependent_functions_array() +
                                              R"sql(, false),
       (SELECT string_agg(p.gid, ',' ORDER BY p.gid) FROM pg_catalog.pg_prepared_xacts p
        WHERE p.database = pg_catalog.current_database()),
       CASE WHEN st.consecutive_errors > 0
            THEN (extract(epoch FROM st.last_error_at) * 1000000)::bigint END
FROM pgtrickle.pgt_stream_tables st
JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN deps ON deps.pgt_id = st.pgt_id
ORDER BY st.pgt_id)sql";
        auto rows = spi.execute_cached(tick_query);
        if (rows.empty())
            return;
        // A prepared transaction of this database that went away may have been committed by a
        // session whose commit signalled nothing (a subscription's apply worker): look at
        // every stream table for real.
        {
            const std::string prepared = rows.rows[0][15] ? *rows.rows[0][15] : "";
            if (!prepared_xacts_.empty() && prepared_xacts_ != prepared) {
                std::size_t pos = 0;
                bool gone = false;
                while (pos <= prepared_xacts_.size() && !gone) {
                    std::size_t end = prepared_xacts_.find(',', pos);
                    if (end == std::string::npos)
                        end = prepared_xacts_.size();
                    const std::string gid = prepared_xacts_.substr(pos, end - pos);
                    gone = ("," + prepared + ",").find("," + gid + ",") == std::string::npos;
                    pos = end + 1;
                }
                if (gone)
                    seen_.clear();
            }
            prepared_xacts_ = prepared;
        }

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
            DueTable due_table{t.id, *r[7], t.last_refresh_us, action, parse_oids(r[10]), false};
            // Not skipped: a capture rebuild waiting for its FULL refresh (no DML announces it),
            // cron schedules (each firing is a refresh, changed or not), and queries that read
            // the clock or the session (their result changes without any write).
            due_table.skippable = t.is_populated && t.status == "ACTIVE" && r[11] &&
                                  *r[11] == "t" && !(r[14] && *r[14] == "t");
            // Skipped looks move last_refresh_at (so monitoring sees the table as fresh), but
            // the schedule counts from the last real refresh: a change that arrives after a
            // quiet spell is refreshed at once.
            if (auto s = seen_.find(t.id); s != seen_.end() && due_table.skippable &&
                                           t.last_refresh_us &&
                                           s->second.refreshed_us < *t.last_refresh_us)
                t.last_refresh_us = s->second.refreshed_us;
            // After a failure the schedule counts from the failed attempt: a stream table whose
            // refresh fails is tried again once per period, not at every tick (it went
            // SUSPENDED about a second after its first failure, whatever its schedule).
            if (const auto failed = opt_int64(r[16]);
                failed && t.is_populated && t.last_refresh_us && *failed > *t.last_refresh_us)
                t.last_refresh_us = failed;
            for (Oid u : parse_oids(r[12]))
                t.upstreams.push_back(static_cast<std::int64_t>(u));
            info[t.id] = std::move(due_table);
            tables.push_back(std::move(t));
        }
        std::set<std::int64_t> unhealthy;
        for (const auto& r : rows.rows)
            if (!(r[13] && *r[13] == "t"))
                unhealthy.insert(std::stoll(*r[0]));
        for (auto& t : tables) {
            info[t.id].upstreams = t.upstreams;
            for (auto u : t.upstreams)
                if (u != t.id && unhealthy.count(u))
                    info[t.id].upstream_unhealthy = true;
        }

        const core::RefreshPlan plan = core::plan_refreshes(tables, settings);
        // Diamonds refresh together ('fastest' policy): when one stream table a reader reads is
        // due, the reader's other upstream stream tables are refreshed in the same tick, so the
        // reader never pairs a new branch with one that is merely not due yet.
        std::set<std::int64_t> due_set(plan.due.begin(), plan.due.end());
        std::map<std::int64_t, bool> schedulable;
        for (std::size_t i = 0; i < plan.decisions.size(); ++i)
            schedulable[tables[i].id] = plan.decisions[i].skipped_because.empty();
        for (bool grew = true; grew;) {
            grew = false;
            for (const auto& t : tables) {
                if (t.upstreams.size() < 2)
                    continue;
                bool any = false;
                for (auto u : t.upstreams)
                    any = any || due_set.count(u) > 0;
                if (!any)
                    continue;
                for (auto u : t.upstreams)
                    if (!due_set.count(u) && schedulable[u] && info.count(u)) {
                        due_set.insert(u);
                        grew = true;
                    }
            }
        }
        for (auto id : core::refresh_order(tables))
            if (due_set.count(id))
                due.push_back(info[id]);
        // A stream table with changes waiting but not due yet: wake when it becomes due rather
        // than at the next tick, so that a change is refreshed as soon as the schedule allows.
        for (std::size_t i = 0; i < plan.decisions.size(); ++i) {
            const core::Decision& d = plan.decisions[i];
            const core::ScheduledTable& t = tables[i];
            if (d.reason != core::DueReason::NotDue || !d.skipped_because.empty() ||
                !d.period_seconds || !t.last_refresh_us)
                continue;
            const DueTable& info_t = info[t.id];
            auto seen = seen_.find(t.id);
            if (seen != seen_.end() && seen->second.sum == change_sum(info_t))
                continue;
            const std::int64_t period_us =
                *d.period_seconds > std::numeric_limits<std::int64_t>::max() / 2'000'000
                    ? std::numeric_limits<std::int64_t>::max() / 2
                    : *d.period_seconds * 1'000'000;
            const std::int64_t at = *t.last_refresh_us + period_us;
            if (!next_due_us_ || at < *next_due_us_)
                next_due_us_ = at;
        }
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

    execute(due);
    report_activity(STATE_IDLE, "waiting for the next tick");
    return TickOutcome::Done;
}

// Runs the tick's due stream tables, upstream before downstream. Each one whose upstreams due
// in this tick have all been refreshed is ready; of the ready ones, all but one go to refresh
// workers (within pg_trickle.max_concurrent_refreshes and max_dynamic_refresh_workers) and the
// scheduler runs the last itself. A stream table whose upstream failed (or was not refreshed)
// in this tick, or that reads a suspended or failing stream table, is skipped: it keeps its
// previous, consistent state instead of combining a new upstream with an old one (the 'atomic'
// diamond rule).
void Scheduler::execute(const std::vector<DueTable>& due) {
    TickState state;
    std::vector<const DueTable*> pending;
    for (const auto& t : due) {
        state.due.insert(t.id);
        pending.push_back(&t);
    }
    std::vector<Running> running;
    while ((!pending.empty() || !running.empty()) && !terminate_requested) {
        collect(running, state);
        std::vector<Work> ready;
        for (auto it = pending.begin(); it != pending.end();) {
            const DueTable* t = *it;
            bool blocked = false;
            bool upstream_failed = false;
            for (auto u : t->upstreams) {
                if (!state.due.count(u) || u == t->id)
                    continue;
                if (state.failed.count(u))
                    upstream_failed = true;
                else if (!state.done.count(u))
                    blocked = true;
            }
            if (upstream_failed || t->upstream_unhealthy) {
                state.failed.insert(t->id);
                it = pending.erase(it);
                continue;
            }
            if (blocked) {
                ++it;
                continue;
            }
            it = pending.erase(it);
            if (auto b = backoff_.find(t->id);
                b != backoff_.end() && GetCurrentTimestamp() < b->second.until) {
                state.failed.insert(t->id);
                continue;
            }
            // Read before the refresh's snapshot: a change committing in between is refreshed
            // now and costs one more look later, never a missed one.
            const std::uint64_t sum = change_sum(*t);
            const std::int64_t now_us = now_unix_us();
            if (auto seen = seen_.find(t->id); t->skippable && seen != seen_.end() &&
                                               seen->second.sum == sum &&
                                               now_us - seen->second.checked_us < kRecheckUs) {
                state.done.insert(t->id);
                state.unchanged.push_back(t->id);
                continue;
            }
            ready.push_back(Work{t, sum, now_us});
        }
        for (std::size_t i = 1; i < ready.size(); ++i) {
            if (auto r = dispatch(ready[i], running.size()))
                running.push_back(*r);
            else
                apply(ready[i], run_refresh_unit(request_of(*ready[i].table)), state);
        }
        if (!ready.empty()) {
            try {
                pg_call([] { CHECK_FOR_INTERRUPTS(); });
            } catch (const PgException&) {
                // A cancel request between two refreshes: nothing was running, carry on.
            }
            apply(ready[0], run_refresh_unit(request_of(*ready[0].table)), state);
            continue;
        }
        if (!running.empty())
            wait_for_workers();
        else if (!pending.empty())
            break;  // (cannot happen: whatever pending waits for is running or failed)
    }
    if (!state.unchanged.empty())
        mark_checked(state.unchanged);
}

void Scheduler::apply(const Work& work, const UnitOutcome& outcome, TickState& state) {
    const DueTable& t = *work.table;
    switch (outcome.result) {
        case UnitResult::Refreshed:
            seen_[t.id] = Seen{work.sum, work.now_us, work.now_us};
            backoff_.erase(t.id);
            state.done.insert(t.id);
            return;
        case UnitResult::NotRefreshed:
            // Someone else refreshes it, or it is gone: downstream waits for the next tick.
            seen_.erase(t.id);
            state.failed.insert(t.id);
            return;
        case UnitResult::Retryable: {
            // Transient (lock timeout, serialization failure, cancel): not the stream table's
            // fault, so neither counted nor written to its history; retried after a pause.
            seen_.erase(t.id);
            state.failed.insert(t.id);
            Backoff& b = backoff_[t.id];
            ++b.attempts;
            // A "transient" failure that keeps coming back (a refresh worker that dies every
            // time, a lock that is never free) is counted after all, so that it ends in the
            // history and, at the limit, in suspension.
            if (b.attempts % kRetriesBeforeCounting == 0)
                record_unit_failure(request_of(t), outcome.failure);
            const auto pause_ms = core::retry_backoff_ms(b.attempts);
            b.until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pause_ms);
            log_message(fmt::format(
                "pg_trickle: scheduled refresh of {} failed ({}: {}); retrying in {} ms", t.name,
                outcome.failure.sqlstate, outcome.failure.message, pause_ms));
            return;
        }
        case UnitResult::Failed:
            seen_.erase(t.id);
            state.failed.insert(t.id);
            return;
    }
}

// Hands `work` to a new refresh worker; nullopt when parallel refresh is off or no budget or
// no background worker slot is left (the scheduler then runs it itself).
std::optional<Scheduler::Running> Scheduler::dispatch(const Work& work, std::size_t running) {
    if (guc::parallel_refresh_mode == guc::ParallelRefreshMode::Off)
        return std::nullopt;
    if (guc::parallel_refresh_mode == guc::ParallelRefreshMode::DryRun) {
        log_message("pg_trickle (parallel_refresh_mode = dry_run): would hand the refresh of " +
                    work.table->name + " to a refresh worker");
        return std::nullopt;
    }
    // The scheduler's own refresh counts against the database's budget too.
    if (static_cast<int>(running) + 2 > guc::max_concurrent_refreshes)
        return std::nullopt;
    // With a pool, its workers take the refreshes handed out. Only while none of them runs (not
    // started yet, or no slot for them) is a refresh worker started instead.
    if (guc::worker_pool_size > 0) {
        bool pool_running = false;
        if (auto r = dispatch_to_pool(work, &pool_running))
            return r;
        if (pool_running)
            return std::nullopt;
    }
    const DueTable& t = *work.table;
    int index = -1;
    uint64 generation = 0;
    SharedState* s = shared();
    pg_call([&] {
        LWLockAcquire(s->lock, LW_EXCLUSIVE);
        index = assign_job(s, t, guc::max_dynamic_refresh_workers, &generation);
        LWLockRelease(s->lock);
    });
    if (index < 0)
        return std::nullopt;
    // The generation, so that a worker starting late for a slot reused since does nothing.
    BackgroundWorkerHandle* handle =
        start_worker("pgt_refresh_worker_main", "pg_trickle refresh worker",
                     "pg_trickle refresh worker for " + t.name, index, generation);
    if (handle == nullptr) {
        pg_call([&] {
            LWLockAcquire(s->lock, LW_EXCLUSIVE);
            if (s->jobs[index].generation == generation)
                s->jobs[index].state = kJobFree;
            LWLockRelease(s->lock);
        });
        return std::nullopt;
    }
    return Running{work, index, generation, handle, false};
}

// Hands `work` to an idle pool worker; nullopt when none is idle (*pool_running: whether any of
// them runs at all).
std::optional<Scheduler::Running> Scheduler::dispatch_to_pool(const Work& work,
                                                              bool* pool_running) {
    SharedState* s = shared();
    int index = -1;
    uint64 generation = 0;
    Latch* latch = nullptr;
    BackgroundWorkerHandle* handle = nullptr;
    bool running = false;
    pg_call([&] {
        LWLockAcquire(s->lock, LW_EXCLUSIVE);
        for (const auto& m : pool_) {
            PoolWorker& w = s->pool[m.slot];
            if (m.retiring || w.token != m.token || w.pid == 0 || w.retire)
                continue;
            running = true;
            if (w.has_job)
                continue;
            index = assign_job(s, *work.table, kMaxRefreshJobs, &generation);
            if (index >= 0) {
                s->jobs[index].worker_pid = w.pid;
                w.has_job = true;
                w.job = index;
                w.job_generation = generation;
                latch = w.latch;
                handle = m.handle;
            }
            break;
        }
        LWLockRelease(s->lock);
    });
    *pool_running = running;
    if (index < 0)
        return std::nullopt;
    pg_call([&] { SetLatch(latch); });
    return Running{work, index, generation, handle, true};
}

// Starts and stops pool workers until pg_trickle.worker_pool_size of them serve this database
// (none unless parallel_refresh_mode is 'on' and pg_trickle.enabled; never more than the
// refreshes max_concurrent_refreshes lets it hand out), and forgets those that stopped.
void Scheduler::maintain_pool() {
    const int wanted = guc::enabled && guc::parallel_refresh_mode == guc::ParallelRefreshMode::On
                           ? std::min(guc::worker_pool_size, guc::max_concurrent_refreshes - 1)
                           : 0;
    if (wanted == 0 && pool_.empty())
        return;
    SharedState* s = shared();
    for (auto it = pool_.begin(); it != pool_.end();) {
        pid_t pid = 0;
        const BgwHandleStatus status =
            pg_call([&] { return GetBackgroundWorkerPid(it->handle, &pid); });
        if (status != BGWH_STOPPED) {
            ++it;
            continue;
        }
        // Gone: it freed its slot on the way out, unless it never started or died abruptly.
        pg_call([&] {
            LWLockAcquire(s->lock, LW_EXCLUSIVE);
            if (s->pool[it->slot].token == it->token)
                std::memset(&s->pool[it->slot], 0, sizeof(PoolWorker));
            LWLockRelease(s->lock);
            pfree(it->handle);
        });
        it = pool_.erase(it);
    }
    int active = 0;
    for (const auto& m : pool_)
        active += m.retiring ? 0 : 1;
    // Too many: the newest leave once idle.
    for (auto it = pool_.rbegin(); it != pool_.rend() && active > wanted; ++it) {
        if (it->retiring)
            continue;
        it->retiring = true;
        --active;
        pg_call([&] {
            LWLockAcquire(s->lock, LW_EXCLUSIVE);
            PoolWorker& w = s->pool[it->slot];
            Latch* latch = nullptr;
            if (w.token == it->token) {
                w.retire = true;
                latch = w.latch;
            }
            LWLockRelease(s->lock);
            if (latch != nullptr)
                SetLatch(latch);
        });
    }
    // Too few: start more, while pool slots and background worker slots last.
    while (active < wanted) {
        int slot = -1;
        uint64 token = 0;
        pg_call([&] {
            LWLockAcquire(s->lock, LW_EXCLUSIVE);
            for (int i = 0; i < kMaxPoolWorkers && slot < 0; ++i)
                if (s->pool[i].token == 0) {
                    slot = i;
                    token = ++s->pool_tokens;
                    std::memset(&s->pool[i], 0, sizeof(PoolWorker));
                    s->pool[i].token = token;
                    s->pool[i].dboid = MyDatabaseId;
                    s->pool[i].scheduler = MyProcPid;
                }
            LWLockRelease(s->lock);
        });
        BackgroundWorkerHandle* handle = nullptr;
        bool started = false;
        if (slot >= 0) {
            handle = start_worker("pgt_pool_worker_main", "pg_trickle pool worker",
                                  "pg_trickle pool worker", slot, token);
            started = handle != nullptr;
            if (!started)
                pg_call([&] {
                    LWLockAcquire(s->lock, LW_EXCLUSIVE);
                    if (s->pool[slot].token == token)
                        std::memset(&s->pool[slot], 0, sizeof(PoolWorker));
                    LWLockRelease(s->lock);
                });
        }
        if (!started) {
            // (A WARNING: a configuration the DBA should see, as PostgreSQL reports running out
            // of background worker slots.)
            if (!pool_start_failed_)
                warning(fmt::format("pg_trickle: could not start a pool worker ({})",
                                    slot < 0 ? "all pool worker slots of the server are taken"
                                             : "out of background worker slots"),
                        "Refreshes go to refresh workers while no pool worker runs, else the "
                        "scheduler runs them itself.",
                        slot < 0 ? fmt::format("Lower pg_trickle.worker_pool_size: the server "
                                               "has {} pool worker slots for all its databases.",
                                               kMaxPoolWorkers)
                                 : std::string("Raise max_worker_processes."));
            pool_start_failed_ = true;
            return;
        }
        pool_start_failed_ = false;
        pool_.push_back(PoolMember{slot, token, handle, false});
        ++active;
    }
}

// Collects the outcomes of refresh workers that finished (or died without one).
void Scheduler::collect(std::vector<Running>& running, TickState& state) {
    SharedState* s = shared();
    for (auto it = running.begin(); it != running.end();) {
        std::optional<UnitOutcome> outcome;
        pid_t pid = 0;
        const BgwHandleStatus status =
            pg_call([&] { return GetBackgroundWorkerPid(it->handle, &pid); });
        // Copied out under the lock as plain data; the strings are made after.
        bool done = false;
        int result = 0;
        char sqlstate[6] = {0};
        char message[512] = {0};
        const int index = it->job;
        const uint64 generation = it->generation;
        pg_call([&] {
            LWLockAcquire(s->lock, LW_EXCLUSIVE);
            RefreshJob& job = s->jobs[index];
            if (job.generation == generation && job.state == kJobDone) {
                done = true;
                result = job.result;
                memcpy(sqlstate, job.sqlstate, sizeof(sqlstate));
                memcpy(message, job.message, sizeof(message));
                job.state = kJobFree;
            } else if (status == BGWH_STOPPED && job.generation == generation) {
                job.state = kJobFree;
            }
            LWLockRelease(s->lock);
        });
        if (done) {
            UnitOutcome o;
            o.result = static_cast<UnitResult>(result);
            o.failure.sqlstate = std::string(sqlstate, strnlen(sqlstate, sizeof(sqlstate)));
            o.failure.message = std::string(message, strnlen(message, sizeof(message)));
            outcome = o;
        }
        if (!outcome && status != BGWH_STOPPED) {
            ++it;
            continue;
        }
        if (!outcome) {
            UnitOutcome died;
            died.result = UnitResult::Retryable;
            died.failure.sqlstate = "57P01";
            died.failure.message = "the refresh worker exited without finishing";
            outcome = died;
        }
        apply(it->work, *outcome, state);
        if (!it->pooled)
            pg_call([&] { pfree(it->handle); });
        it = running.erase(it);
    }
}

void Scheduler::wait_for_workers() {
    pg_call([] {
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    });
    woken_during_tick_ = true;
}

std::uint64_t Scheduler::change_sum(const DueTable& table) const {
    std::uint64_t sum = 0;
    for (Oid relid : table.sources)
        sum += change_count(MyDatabaseId, relid) * 0x9E3779B97F4A7C15ULL + relid;
    return sum;
}

// Nothing changed for these since their last refresh: they are as fresh as a NO_DATA refresh
// would make them. Recorded in shared memory, not the catalog (see CheckedEntry).
void Scheduler::mark_checked(const std::vector<std::int64_t>& ids) {
    const TimestampTz now = GetCurrentTimestamp();
    for (auto id : ids)
        note_checked(MyDatabaseId, id, now);
}

// Until the next tick is due, or until a commit of captured changes (or SIGHUP, SIGTERM) sets
// the latch: then a tick runs at once, but not sooner than kMinWakeSpacingMs after the last.
void Scheduler::wait_for_next_tick() {
    const long interval = guc::scheduler_interval_ms;
    const TimestampTz started = last_tick_start_;
    // A commit may have set the latch while the tick waited for workers: look again soon.
    // A commit may have set the latch while the tick waited (for workers, or inside a refresh on
    // a lock, which resets the latch too): look again soon.
    const bool published = publish_count() != publishes_at_tick_start_;
    long wait_ms = woken_during_tick_ || published ? kMinWakeSpacingMs : interval;
    woken_during_tick_ = false;
    if (next_due_us_) {
        const std::int64_t until_due_ms = (*next_due_us_ - now_unix_us()) / 1000 + 1;
        const std::int64_t since_start_ms =
            static_cast<std::int64_t>((GetCurrentTimestamp() - started) / 1000);
        wait_ms = static_cast<long>(std::clamp<std::int64_t>(
            since_start_ms + until_due_ms, kMinWakeSpacingMs, static_cast<std::int64_t>(wait_ms)));
    }
    pg_call([&] {
        const long elapsed_ms = static_cast<long>((GetCurrentTimestamp() - started) / 1000);
        const long timeout = std::max(0L, wait_ms - elapsed_ms);
        const int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout,
                                 PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        if (rc & WL_LATCH_SET) {
            const long since_ms = static_cast<long>((GetCurrentTimestamp() - started) / 1000);
            if (since_ms < kMinWakeSpacingMs)
                (void)WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                                kMinWakeSpacingMs - since_ms, PG_WAIT_EXTENSION);
        }
    });
}

// Every history_prune_interval_seconds, while pg_trickle.enabled: one pruning step of the
// refresh history, in a transaction of its own that backs off from locks as the scheduler's do
// (a user's open DROP of a stream table holds rows it deletes); at the next tick again while
// steps find rows to delete.
void Scheduler::prune_history() {
    const int retention = guc::history_retention_days;
    if (retention <= 0 || !guc::enabled)
        return;
    const TimestampTz now = pg_call([] { return GetCurrentTimestamp(); });
    if (last_prune_ != 0 &&
        now - last_prune_ <
            static_cast<TimestampTz>(guc::history_prune_interval_seconds) * USECS_PER_SEC)
        return;
    report_activity(STATE_RUNNING, "pruning the refresh history");
    std::int64_t deleted = 0;
    if (auto failure = scheduler_transaction(
            [&](Spi& spi) { deleted = prune_refresh_history(spi, retention); })) {
        if (failure->sqlstate != "55P03")  // a lock timeout: next time
            log_message("pg_trickle: could not prune the refresh history: " + failure->message);
        deleted = 0;
    }
    last_prune_ = deleted > 0 ? 0 : now;
    report_activity(STATE_IDLE, "waiting for the next tick");
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
        last_tick_start_ = GetCurrentTimestamp();
        pg_call([&] {
            SharedState* s = shared();
            LWLockAcquire(s->lock, LW_EXCLUSIVE);
            if (SchedulerSlot* slot = find_slot(s, MyDatabaseId); slot && slot->pid == MyProcPid)
                slot->last_tick = last_tick_start_;
            LWLockRelease(s->lock);
        });
        maintain_pool();
        const TickOutcome outcome = tick();
        if (outcome == TickOutcome::ExtensionMissing) {
            working = false;
            return ExitReason::ExtensionMissing;
        }
        prune_history();
        working = false;
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
    // PostgreSQL starts a background worker with SIGHUP ignored: a pg_reload_conf() between the
    // fork and the line above was lost (a scheduler started just then kept worker_pool_size 0
    // until the next reload). The configuration is read again at the first chance.
    ConfigReloadPending = true;
    pqsignal(SIGTERM, handle_sigterm);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
    override_database_settings();

    if (!claim_slot(dboid))
        proc_exit(0);  // another scheduler already serves this database
    before_shmem_exit(scheduler_exit, 0);

    const ExitReason reason = pgtrickle::pg::pg_guard([] { return Scheduler().run(); });
    // No pg_trickle here: the launcher pauses before trying this database again.
    leaving_for_missing_extension = reason == ExitReason::ExtensionMissing;
    proc_exit(0);
}
