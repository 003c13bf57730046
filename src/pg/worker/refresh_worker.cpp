// Refresh workers: dynamic bgworkers ("pg_trickle refresh worker"), one per refresh a scheduler
// hands out, so that independent stream tables refresh in parallel.
//
// The scheduler fills a RefreshJob slot in shared memory and starts a worker with the slot's
// index; the worker connects to the slot's database, runs the same refresh unit the scheduler
// would have run itself, writes the outcome into the slot and exits. The postmaster then sets
// the scheduler's latch (bgw_notify_pid), and the scheduler collects the outcome. Pool workers
// (pool_worker.cpp) run jobs with the same take_job and run_job, without exiting.
#include <cstring>

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/worker.hpp"
#include "refresh_unit.hpp"
#include "shared_state.hpp"

extern "C" {
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
}

namespace pgtrickle::pg::worker {
namespace {

void write_result(int index, uint64 generation, const UnitOutcome& outcome, int pool_slot,
                  uint64 pool_token) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    RefreshJob& job = s->jobs[index];
    if (job.state == kJobAssigned && job.generation == generation) {
        job.result = static_cast<int>(outcome.result);
        strlcpy(job.sqlstate, outcome.failure.sqlstate.c_str(), sizeof(job.sqlstate));
        strlcpy(job.message, outcome.failure.message.c_str(), sizeof(job.message));
        job.state = kJobDone;
    }
    if (pool_slot >= 0 && s->pool[pool_slot].token == pool_token)
        s->pool[pool_slot].has_job = false;
    LWLockRelease(s->lock);
}

}  // namespace

bool take_job(int index, uint64 generation, RefreshJob* out) {
    SharedState* s = shared();
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    RefreshJob& job = s->jobs[index];
    const bool ok = job.state == kJobAssigned && job.generation == generation;
    if (ok) {
        job.worker_pid = MyProcPid;
        *out = job;
    }
    LWLockRelease(s->lock);
    return ok;
}

void run_job(int index, const RefreshJob& job, int pool_slot, uint64 pool_token) {
    pgtrickle::pg::pg_guard([&] {
        RefreshRequest request;
        request.id = job.pgt_id;
        request.name = job.name;
        if (job.has_last_refresh)
            request.last_refresh_us = job.last_refresh_us;
        request.action = job.action;
        const UnitOutcome outcome = run_refresh_unit(request);
        write_result(index, job.generation, outcome, pool_slot, pool_token);
    });
}

}  // namespace pgtrickle::pg::worker

extern "C" void pgt_refresh_worker_main(Datum main_arg) {
    using namespace pgtrickle::pg::worker;
    const int index = DatumGetInt32(main_arg);
    uint64 generation = 0;
    std::memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(generation));
    // SIGTERM (shutdown, DROP DATABASE): PostgreSQL's die(), which interrupts the refresh at its
    // next interrupt check and rolls it back, rather than exiting from the signal handler.
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    if (shared() == nullptr || index < 0 || index >= kMaxRefreshJobs)
        proc_exit(0);
    RefreshJob job;
    if (!take_job(index, generation, &job))
        proc_exit(0);
    BackgroundWorkerInitializeConnectionByOid(job.dboid, InvalidOid, 0);
    override_database_settings();
    run_job(index, job);
    proc_exit(0);
}
