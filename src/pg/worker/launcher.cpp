// The launcher: one per cluster, keeps one scheduler running per database.
//
// Every kLauncherIntervalMs (or sooner when its latch is set: a scheduler started or stopped, or
// CREATE EXTENSION committed somewhere) it lists the databases that accept connections and
// starts a scheduler for each one that has none, unless that database is on hold (its last
// scheduler found no pg_trickle, died right after starting, or a DROP/RENAME DATABASE asked for
// it to stay away). Whether a database has the extension can only be seen from inside it, so the
// scheduler checks and leaves; the launcher then holds that database for a while.
#include <csignal>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/spi.hpp"
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

constexpr long kLauncherIntervalMs = 2000;

struct Database {
    Oid oid;
    std::string name;
};

// Handles of the schedulers this launcher started, by slot index (launcher-local memory).
BackgroundWorkerHandle** handles = nullptr;
// Slots for which a failed start was already reported, so the log does not repeat it each round.
bool* start_failure_reported = nullptr;
bool no_free_slot_reported = false;

void launcher_exit(int, Datum) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    if (s->launcher_pid == MyProcPid) {
        s->launcher_pid = 0;
        s->launcher_latch = nullptr;
    }
    LWLockRelease(s->lock);
}

std::vector<Database> list_databases() {
    std::vector<Database> out;
    auto failure = in_transaction([&](Spi& spi) {
        auto res = spi.execute(
            "SELECT oid, datname FROM pg_catalog.pg_database"
            " WHERE datallowconn AND NOT datistemplate ORDER BY oid");
        for (const auto& r : res.rows)
            out.push_back({static_cast<Oid>(std::stoul(*r[0])), *r[1]});
    });
    if (failure) {
        warning(fmt::format("pg_trickle launcher could not list databases: {}", failure->message));
        out.clear();
    }
    return out;
}

bool start_scheduler(const Database& db, BackgroundWorkerHandle** handle) {
    BackgroundWorker w;
    std::memset(&w, 0, sizeof(w));
    w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher decides about restarts
    strlcpy(w.bgw_library_name, "pg_trickle", BGW_MAXLEN);
    strlcpy(w.bgw_function_name, "pgt_scheduler_main", BGW_MAXLEN);
    const std::string name = "pg_trickle scheduler for database " + db.name;
    strlcpy(w.bgw_name, name.c_str(), BGW_MAXLEN);
    strlcpy(w.bgw_type, "pg_trickle scheduler", BGW_MAXLEN);
    w.bgw_main_arg = ObjectIdGetDatum(db.oid);
    w.bgw_notify_pid = MyProcPid;  // the postmaster signals us when it starts and stops
    return pg_call([&] {
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        const bool ok = RegisterDynamicBackgroundWorker(&w, handle);
        MemoryContextSwitchTo(old);
        return ok;
    });
}

// The shared-memory part of a round, plain C under the lock: forgets the slots of databases that
// are gone, handles the exits of schedulers, and sets start_slot[d] to the slot of each database
// dboids[d] that needs a scheduler now (else -1). Returns whether some database found no slot.
bool claim_slots_to_start(const Oid* dboids, int ndbs, const char* alive, int* start_slot) {
    SharedState* s = shared();
    bool out_of_slots = false;
    const TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    for (int i = 0; i < s->nslots; ++i) {
        SchedulerSlot& slot = s->slots[i];
        if (slot.dboid == InvalidOid || alive[i] || slot.pid != 0)
            continue;
        bool listed = false;
        for (int d = 0; d < ndbs; ++d)
            listed = listed || dboids[d] == slot.dboid;
        if (!listed)
            slot.dboid = InvalidOid;
    }
    for (int d = 0; d < ndbs; ++d) {
        start_slot[d] = -1;
        SchedulerSlot* slot = find_or_add_slot(s, dboids[d]);
        if (slot == nullptr) {
            out_of_slots = true;
            continue;
        }
        const int i = static_cast<int>(slot - s->slots);
        if (slot->pid != 0 || alive[i])
            continue;  // running (or starting)
        if (slot->launched_at != 0) {
            // The scheduler we started has exited: decide how long to wait before the next one.
            // (Never shortening a hold a DROP/RENAME DATABASE asked for.)
            TimestampTz hold = 0;
            if (slot->extension_missing)
                hold = slot->rescan_requests == slot->rescan_requests_when_missing
                           ? TimestampTzPlusMilliseconds(now, kExtensionMissingHoldMs)
                           : 0;  // CREATE EXTENSION since the scheduler looked: go again now
            else if (!TimestampDifferenceExceeds(slot->launched_at, now, kQuickDeathWindowMs))
                hold = TimestampTzPlusMilliseconds(now, kQuickDeathHoldMs);
            slot->hold_until = Max(slot->hold_until, hold);
            slot->extension_missing = false;
            slot->launched_at = 0;
        }
        if (now < slot->hold_until)
            continue;
        slot->launched_at = now;
        start_slot[d] = i;
    }
    LWLockRelease(s->lock);
    return out_of_slots;
}

void forget_launch(int i) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    s->slots[i].launched_at = 0;
    LWLockRelease(s->lock);
}

// Brings the slots in line with the database list and starts the schedulers that are missing.
void reconcile(const std::vector<Database>& databases) {
    SharedState* s = shared();
    // Which schedulers we started are still alive (GetBackgroundWorkerPid takes its own lock,
    // so this happens before ours is taken).
    std::vector<char> alive(s->nslots, false);
    for (int i = 0; i < s->nslots; ++i) {
        if (handles[i] == nullptr)
            continue;
        BackgroundWorkerHandle* handle = handles[i];
        const bool stopped = pg_call([&] {
            pid_t pid;
            return GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED;
        });
        if (stopped) {
            pg_call([&] { pfree(handle); });
            handles[i] = nullptr;
        } else {
            alive[i] = true;
        }
    }

    std::vector<Oid> dboids;
    for (const auto& db : databases)
        dboids.push_back(db.oid);
    std::vector<int> start_slot(databases.size(), -1);
    const bool out_of_slots = pg_call([&] {
        return claim_slots_to_start(dboids.data(), static_cast<int>(dboids.size()), alive.data(),
                                    start_slot.data());
    });
    if (out_of_slots && !no_free_slot_reported)
        warning("pg_trickle launcher has no free scheduler slot for some databases",
                "There are more databases than max_worker_processes.");
    no_free_slot_reported = out_of_slots;

    for (std::size_t d = 0; d < databases.size(); ++d) {
        const int i = start_slot[d];
        if (i < 0)
            continue;
        if (start_scheduler(databases[d], &handles[i])) {
            start_failure_reported[i] = false;
            continue;
        }
        handles[i] = nullptr;
        pg_call([&] { forget_launch(i); });  // not started: try again next round
        if (!start_failure_reported[i]) {
            warning(fmt::format("pg_trickle launcher could not start a scheduler for database {}",
                                databases[d].name),
                    "No background worker slot is free.",
                    "Raise max_worker_processes (one launcher, one scheduler per database).");
            start_failure_reported[i] = true;
        }
    }
}

void run_launcher() {
    SharedState* s = shared();
    MemoryContext loop_context = pg_call([] {
        return AllocSetContextCreate(TopMemoryContext, "pg_trickle launcher",
                                     ALLOCSET_DEFAULT_SIZES);
    });
    handles = pg_call([&] {
        return static_cast<BackgroundWorkerHandle**>(
            MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle*) * s->nslots));
    });
    start_failure_reported = pg_call([&] {
        return static_cast<bool*>(
            MemoryContextAllocZero(TopMemoryContext, sizeof(bool) * s->nslots));
    });
    for (;;) {
        pg_call([&] {
            MemoryContextSwitchTo(loop_context);
            MemoryContextReset(loop_context);
            CHECK_FOR_INTERRUPTS();
            if (ConfigReloadPending) {
                ConfigReloadPending = false;
                ProcessConfigFile(PGC_SIGHUP);
            }
        });
        report_activity(STATE_RUNNING, "checking databases");
        reconcile(list_databases());
        report_activity(STATE_IDLE, "");
        pg_call([] {
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                            kLauncherIntervalMs, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        });
    }
}

}  // namespace

}  // namespace pgtrickle::pg::worker

extern "C" void pgt_launcher_main(Datum) {
    using namespace pgtrickle::pg::worker;
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    // PostgreSQL starts a background worker with SIGHUP ignored: a pg_reload_conf() between the
    // fork and the line above was lost (a scheduler started just then kept worker_pool_size 0
    // until the next reload). The configuration is read again at the first chance.
    ConfigReloadPending = true;
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection("postgres", nullptr, 0);
    override_database_settings();

    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    s->launcher_pid = MyProcPid;
    s->launcher_latch = MyLatch;
    LWLockRelease(s->lock);
    // From here on trims are noted (note_trim): frontiers written since need not fear the
    // trims of an earlier server life. Done first thing after recovery, so that few are older.
    start_noting_trims();
    before_shmem_exit(launcher_exit, 0);

    pgtrickle::pg::pg_guard([] { run_launcher(); });
}
