// Pool workers: persistent refresh workers ("pg_trickle pool worker"), up to
// pg_trickle.worker_pool_size of them per database, started and stopped by its scheduler.
//
// A refresh worker is a new backend for every refresh: it starts with empty catalog and relation
// caches and fills them again (a few milliseconds per refresh, often more than a small refresh
// itself). A pool worker stays connected: it waits on its latch, runs the job its scheduler
// assigns it (PoolWorker::job, the same RefreshJob slots and refresh unit as a refresh worker),
// writes the outcome, wakes the scheduler and waits again, with its caches warm.
//
// It leaves when its scheduler retires it (the pool shrank, parallel refresh was turned off),
// when that scheduler is gone (checked at every wake-up and at least once a second), on SIGTERM
// (PostgreSQL's die(): a refresh under way is interrupted and rolled back) and with the
// postmaster. A pool worker that dies in a refresh leaves its job unfinished: the scheduler sees
// it stopped and counts the refresh as a transient failure, as for a refresh worker.
//
// Plain C calls around the loop: no C++ object lives in these frames, so the FATAL of die() and
// an ERROR (which ends a background worker) may pass through them.
#include <cstring>

#include "pg_trickle/pg/postgres.hpp"
#include "refresh_unit.hpp"
#include "shared_state.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
}

namespace pgtrickle::pg::worker {
namespace {

constexpr long kIdleCheckMs = 1000;  // how often an idle worker checks that its scheduler runs

int my_index = -1;
uint64 my_token = 0;

// Under the lock: whether the pool slot is still this worker's.
bool mine(const PoolWorker& w) {
    return w.token == my_token && w.pid == MyProcPid;
}

// Takes pool slot my_index for this process, if it is still the one a scheduler started it for.
bool attach(Oid* dboid) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    PoolWorker& w = s->pool[my_index];
    const bool ok = my_token != 0 && w.token == my_token && w.pid == 0;
    if (ok) {
        w.pid = MyProcPid;
        w.latch = MyLatch;
        *dboid = w.dboid;
    }
    LWLockRelease(s->lock);
    return ok;
}

void detach(int, Datum) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    PoolWorker& w = s->pool[my_index];
    if (mine(w))
        std::memset(&w, 0, sizeof(w));
    LWLockRelease(s->lock);
}

enum class Next { Leave, Run, Wait };

// What to do now: the job assigned (into *job / *generation), or leave, or wait.
Next next_step(int* job, uint64* generation) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_SHARED);
    const PoolWorker& w = s->pool[my_index];
    const SchedulerSlot* slot = find_slot(s, w.dboid);
    Next next = Next::Wait;
    if (!mine(w) || slot == nullptr || slot->pid != w.scheduler) {
        next = Next::Leave;
    } else if (w.has_job) {
        next = Next::Run;
        *job = w.job;
        *generation = w.job_generation;
    } else if (w.retire) {
        next = Next::Leave;
    }
    LWLockRelease(s->lock);
    return next;
}

// The job is over: this worker is idle again, and its scheduler hears of it.
void finished() {
    SharedState* s = shared();
    Latch* scheduler_latch = nullptr;
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    PoolWorker& w = s->pool[my_index];
    if (mine(w)) {
        w.has_job = false;
        if (const SchedulerSlot* slot = find_slot(s, w.dboid); slot && slot->pid == w.scheduler)
            scheduler_latch = slot->scheduler_latch;
    }
    LWLockRelease(s->lock);
    if (scheduler_latch != nullptr)
        SetLatch(scheduler_latch);
}

}  // namespace
}  // namespace pgtrickle::pg::worker

extern "C" void pgt_pool_worker_main(Datum main_arg) {
    using namespace pgtrickle::pg::worker;
    my_index = DatumGetInt32(main_arg);
    std::memcpy(&my_token, MyBgworkerEntry->bgw_extra, sizeof(my_token));
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    // PostgreSQL starts a background worker with SIGHUP ignored: a pg_reload_conf() between the
    // fork and the line above was lost (a scheduler started just then kept worker_pool_size 0
    // until the next reload). The configuration is read again at the first chance.
    ConfigReloadPending = true;
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    Oid dboid = InvalidOid;
    if (shared() == nullptr || my_index < 0 || my_index >= kMaxPoolWorkers || !attach(&dboid))
        proc_exit(0);
    before_shmem_exit(detach, 0);
    BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
    override_database_settings();
    pgstat_report_activity(STATE_IDLE, "waiting for a refresh");

    // Whatever a job leaves in the current memory context goes with this one, reset after it.
    MemoryContext job_context =
        AllocSetContextCreate(TopMemoryContext, "pg_trickle pool job", ALLOCSET_DEFAULT_SIZES);
    for (;;) {
        // A cancel (pg_cancel_backend) that arrives between refreshes has nothing to cancel;
        // raised here, it would end the worker.
        QueryCancelPending = false;
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        int index = 0;
        uint64 generation = 0;
        switch (next_step(&index, &generation)) {
            case Next::Leave:
                proc_exit(0);
            case Next::Run: {
                RefreshJob job;
                MemoryContext old = MemoryContextSwitchTo(job_context);
                if (take_job(index, generation, &job))
                    run_job(index, job, my_index, my_token);
                MemoryContextSwitchTo(old);
                MemoryContextReset(job_context);
                finished();
                pgstat_report_activity(STATE_IDLE, "waiting for a refresh");
                continue;
            }
            case Next::Wait:
                break;
        }
        // Statistics the last refresh left pending (rate-limited: see in_transaction).
        (void)pgstat_report_stat(false);
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, kIdleCheckMs,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
}
