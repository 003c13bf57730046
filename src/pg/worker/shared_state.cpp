// Shared memory of the background workers, the launcher's registration, and waking it.
//
// Everything in this file runs in the postmaster (hooks) or in short plain-C sections of
// backends; nothing here throws.
#include "shared_state.hpp"

#include <csignal>
#include <cstring>

#include "pg_trickle/pg/worker.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/shmem.h"
}

namespace pgtrickle::pg::worker {

void install_database_command_hook();  // database_hooks.cpp

namespace {

constexpr const char* kShmemName = "pg_trickle workers";
constexpr const char* kTrancheName = "pg_trickle workers";

SharedState* state = nullptr;
shmem_request_hook_type previous_shmem_request_hook = nullptr;
shmem_startup_hook_type previous_shmem_startup_hook = nullptr;

// One slot per possible background worker: there can never be more schedulers than that.
Size shared_size() {
    return add_size(offsetof(SharedState, slots),
                    mul_size(static_cast<Size>(max_worker_processes), sizeof(SchedulerSlot)));
}

void request_shared_memory() {
    if (previous_shmem_request_hook != nullptr)
        previous_shmem_request_hook();
    RequestAddinShmemSpace(shared_size());
    RequestNamedLWLockTranche(kTrancheName, 1);
}

void attach_shared_memory() {
    if (previous_shmem_startup_hook != nullptr)
        previous_shmem_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    state = static_cast<SharedState*>(ShmemInitStruct(kShmemName, shared_size(), &found));
    if (!found) {
        std::memset(static_cast<void*>(state), 0, shared_size());
        state->lock = &(GetNamedLWLockTranche(kTrancheName))->lock;
        state->nslots = max_worker_processes;
    }
    LWLockRelease(AddinShmemInitLock);
}

void register_launcher() {
    BackgroundWorker w;
    std::memset(&w, 0, sizeof(w));
    w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_restart_time = 5;
    strlcpy(w.bgw_library_name, "pg_trickle", BGW_MAXLEN);
    strlcpy(w.bgw_function_name, "pgt_launcher_main", BGW_MAXLEN);
    strlcpy(w.bgw_name, "pg_trickle launcher", BGW_MAXLEN);
    strlcpy(w.bgw_type, "pg_trickle launcher", BGW_MAXLEN);
    RegisterBackgroundWorker(&w);
}

bool wake_at_commit = false;
bool xact_callback_registered = false;

void on_transaction_end(XactEvent event, void*) {
    if (!wake_at_commit)
        return;
    if (event == XACT_EVENT_COMMIT) {
        wake_at_commit = false;
        LWLockAcquire(state->lock, LW_EXCLUSIVE);
        if (SchedulerSlot* slot = find_slot(state, MyDatabaseId)) {
            slot->hold_until = 0;
            ++slot->rescan_requests;
        }
        LWLockRelease(state->lock);
        wake_launcher();
    } else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
        wake_at_commit = false;
    }
}

}  // namespace

SharedState* shared() {
    return state;
}

SchedulerSlot* find_slot(SharedState* s, Oid dboid) {
    for (int i = 0; i < s->nslots; ++i)
        if (s->slots[i].dboid == dboid)
            return &s->slots[i];
    return nullptr;
}

SchedulerSlot* find_or_add_slot(SharedState* s, Oid dboid) {
    if (SchedulerSlot* slot = find_slot(s, dboid))
        return slot;
    for (int i = 0; i < s->nslots; ++i) {
        if (s->slots[i].dboid == InvalidOid) {
            std::memset(&s->slots[i], 0, sizeof(SchedulerSlot));
            s->slots[i].dboid = dboid;
            return &s->slots[i];
        }
    }
    return nullptr;
}

void wake_launcher() {
    if (state == nullptr)
        return;
    LWLockAcquire(state->lock, LW_SHARED);
    if (state->launcher_latch != nullptr)
        SetLatch(state->launcher_latch);
    LWLockRelease(state->lock);
}

void initialize() {
    previous_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_shared_memory;
    previous_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = attach_shared_memory;
    register_launcher();
    install_database_command_hook();
}

bool available() {
    return state != nullptr;
}

void wake_launcher_at_commit() {
    if (state == nullptr)
        return;
    if (!xact_callback_registered) {
        RegisterXactCallback(on_transaction_end, nullptr);
        xact_callback_registered = true;
    }
    wake_at_commit = true;
}

}  // namespace pgtrickle::pg::worker
