// Shared memory of the background workers, the launcher's registration, and waking it.
//
// Everything in this file runs in the postmaster (hooks) or in short plain-C sections of
// backends; nothing here throws.
#include "shared_state.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>

#include "pg_trickle/pg/worker.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/shmem.h"
}

namespace pgtrickle::pg::worker {

void install_database_command_hook();  // database_hooks.cpp

// Enters a trim in shared memory (note_trim; defined below).
void apply_trim(Oid relid, uint64 bound);

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
        for (auto& bucket : state->change_buckets)
            pg_atomic_init_u64(&bucket, 0);
        for (auto& owner : state->floor_owners)
            pg_atomic_init_u64(&owner, 0);
        for (auto& floor : state->buffer_floors)
            pg_atomic_init_u64(&floor, 0);
        for (auto& ceiling : state->buffer_ceilings)
            pg_atomic_init_u64(&ceiling, 0);
        pg_atomic_init_u64(&state->trims_noted_from, 0);
        pg_atomic_init_u64(&state->publishes, 0);
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

// Sources whose changes this transaction captured (kNoted: more than fit, bump them all).
constexpr int kNotedMax = 32;
Oid noted[kNotedMax];
int noted_count = 0;
bool noted_overflow = false;

int bucket_of(Oid dboid, Oid relid) {
    const uint64 h = (static_cast<uint64>(dboid) * 0x9E3779B97F4A7C15ULL) ^
                     (static_cast<uint64>(relid) * 0xC2B2AE3D27D4EB4FULL);
    return static_cast<int>((h >> 17) % kChangeBuckets);
}

// At commit (after the changes became visible to new snapshots): bump and wake.
void publish_noted_changes() {
    if (noted_overflow) {
        for (auto& bucket : state->change_buckets)
            pg_atomic_fetch_add_u64(&bucket, 1);
    } else {
        for (int i = 0; i < noted_count; ++i)
            pg_atomic_fetch_add_u64(&state->change_buckets[bucket_of(MyDatabaseId, noted[i])], 1);
    }
    pg_atomic_fetch_add_u64(&state->publishes, 1);
    LWLockAcquire(state->lock, LW_SHARED);
    if (SchedulerSlot* slot = find_slot(state, MyDatabaseId); slot && slot->scheduler_latch)
        SetLatch(slot->scheduler_latch);
    LWLockRelease(state->lock);
}

// Trims of this transaction not yet noted in shared memory (note_trim): a trim counts once its
// transaction commits (noted just before, while its deletion is not yet visible), not when it
// rolls back, also to a savepoint. Entries of an aborted subtransaction go; those of a
// committed one pass to its parent. More than fit are noted at once (a rollback then only
// costs its FULL readers a recomputation).
constexpr int kPendingTrimsMax = 64;
struct PendingTrim {
    Oid relid;
    uint64 bound;
    int level;  // transaction nesting level that made it
};
PendingTrim pending_trims[kPendingTrimsMax];
int pending_trim_count = 0;
bool subxact_callback_registered = false;

void apply_pending_trims() {
    for (int i = 0; i < pending_trim_count; ++i)
        apply_trim(pending_trims[i].relid, pending_trims[i].bound);
    pending_trim_count = 0;
}

void on_subtransaction_end(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
    if (pending_trim_count == 0)
        return;
    const int level = GetCurrentTransactionNestLevel();
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        int kept = 0;
        for (int i = 0; i < pending_trim_count; ++i)
            if (pending_trims[i].level < level)
                pending_trims[kept++] = pending_trims[i];
        pending_trim_count = kept;
    } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
        for (int i = 0; i < pending_trim_count; ++i)
            if (pending_trims[i].level >= level)
                pending_trims[i].level = level - 1;
    }
}

void on_transaction_end(XactEvent event, void*) {
    if (pending_trim_count > 0) {
        // (At COMMIT / PREPARE only entries noted after PRE_COMMIT, by another extension's
        // callback: entered late rather than carried into the next transaction.)
        if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PARALLEL_PRE_COMMIT ||
            event == XACT_EVENT_PRE_PREPARE || event == XACT_EVENT_COMMIT ||
            event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PREPARE)
            apply_pending_trims();
        else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
            pending_trim_count = 0;
    }
    if (noted_count > 0 || noted_overflow) {
        if (event == XACT_EVENT_COMMIT)
            publish_noted_changes();
        if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
            event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE) {
            noted_count = 0;
            noted_overflow = false;
        }
    }
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

void note_source_change(Oid relid) {
    if (state == nullptr)
        return;
    if (!xact_callback_registered) {
        RegisterXactCallback(on_transaction_end, nullptr);
        xact_callback_registered = true;
    }
    for (int i = 0; i < noted_count; ++i)
        if (noted[i] == relid)
            return;
    if (noted_count < kNotedMax)
        noted[noted_count++] = relid;
    else
        noted_overflow = true;
}

void publish_all_changes() {
    if (state == nullptr)
        return;
    for (auto& bucket : state->change_buckets)
        pg_atomic_fetch_add_u64(&bucket, 1);
    pg_atomic_fetch_add_u64(&state->publishes, 1);
    LWLockAcquire(state->lock, LW_SHARED);
    for (int i = 0; i < state->nslots; ++i)
        if (state->slots[i].scheduler_latch != nullptr)
            SetLatch(state->slots[i].scheduler_latch);
    LWLockRelease(state->lock);
}

namespace {
int checked_home(Oid dboid, int64 pgt_id) {
    const uint64 h = (static_cast<uint64>(dboid) * 0x9E3779B97F4A7C15ULL) ^
                     (static_cast<uint64>(pgt_id) * 0xC2B2AE3D27D4EB4FULL);
    return static_cast<int>((h >> 21) % kCheckedEntries);
}
constexpr int kCheckedProbes = 16;
}  // namespace

void note_checked(Oid dboid, int64 pgt_id, TimestampTz at) {
    if (state == nullptr)
        return;
    LWLockAcquire(state->lock, LW_EXCLUSIVE);
    const int home = checked_home(dboid, pgt_id);
    int target = -1;
    int oldest = home;
    for (int i = 0; i < kCheckedProbes; ++i) {
        const int k = (home + i) % kCheckedEntries;
        CheckedEntry& e = state->checked[k];
        if (e.dboid == dboid && e.pgt_id == pgt_id) {
            target = k;
            break;
        }
        if (target < 0 && e.dboid == InvalidOid)
            target = k;
        if (e.at < state->checked[oldest].at)
            oldest = k;
    }
    // Full neighbourhood: the stalest entry goes (its stream table then reads as looked at
    // when its catalog says, which is only ever older).
    if (target < 0)
        target = oldest;
    state->checked[target] = CheckedEntry{dboid, pgt_id, at};
    LWLockRelease(state->lock);
}

TimestampTz checked_at(Oid dboid, int64 pgt_id) {
    if (state == nullptr)
        return 0;
    TimestampTz at = 0;
    LWLockAcquire(state->lock, LW_SHARED);
    const int home = checked_home(dboid, pgt_id);
    for (int i = 0; i < kCheckedProbes; ++i) {
        const CheckedEntry& e = state->checked[(home + i) % kCheckedEntries];
        if (e.dboid == dboid && e.pgt_id == pgt_id) {
            at = e.at;
            break;
        }
    }
    LWLockRelease(state->lock);
    return at;
}

uint64 publish_count() {
    return state == nullptr ? 0 : pg_atomic_read_u64(&state->publishes);
}

uint64 change_count(Oid dboid, Oid relid) {
    if (state == nullptr)
        return 0;
    return pg_atomic_read_u64(&state->change_buckets[bucket_of(dboid, relid)]);
}

namespace {
uint64 floor_key(Oid relid) {
    return (static_cast<uint64>(MyDatabaseId) << 32) | relid;
}
}  // namespace

void note_buffer_write(Oid relid, uint64 xid) {
    if (state == nullptr)
        return;
    const int b = bucket_of(MyDatabaseId, relid);
    // Another source's floor in this bucket says nothing about this buffer: this one's is unknown
    // until its next trim sets it, counting these rows. (A floor lowered for a source that has
    // just taken the bucket over is only lower than needed.)
    if (pg_atomic_read_u64(&state->floor_owners[b]) != floor_key(relid))
        return;
    pg_atomic_uint64* floor = &state->buffer_floors[b];
    uint64 seen = pg_atomic_read_u64(floor);
    // (A failed exchange reloads `seen`.)
    while (xid < seen && !pg_atomic_compare_exchange_u64(floor, &seen, xid)) {
    }
    pg_atomic_uint64* ceiling = &state->buffer_ceilings[b];
    seen = pg_atomic_read_u64(ceiling);
    while (xid > seen && !pg_atomic_compare_exchange_u64(ceiling, &seen, xid)) {
    }
}

namespace {
// What `values` (buffer_floors, buffer_ceilings) holds for relid's buffer; 0 when its bucket is
// another source's.
uint64 owned_value(pg_atomic_uint64* values, Oid relid) {
    const int b = bucket_of(MyDatabaseId, relid);
    LWLockAcquire(state->lock, LW_SHARED);
    const uint64 value = pg_atomic_read_u64(&state->floor_owners[b]) == floor_key(relid)
                             ? pg_atomic_read_u64(&values[b])
                             : 0;
    LWLockRelease(state->lock);
    return value;
}
}  // namespace

uint64 buffer_floor(Oid relid) {
    return state == nullptr ? 0 : owned_value(state->buffer_floors, relid);
}

void set_buffer_floor(Oid relid, uint64 xid) {
    if (state == nullptr)
        return;
    const int b = bucket_of(MyDatabaseId, relid);
    LWLockAcquire(state->lock, LW_EXCLUSIVE);
    pg_atomic_write_u64(&state->floor_owners[b], floor_key(relid));
    pg_atomic_write_u64(&state->buffer_floors[b], xid);
    // The ceiling, from the next xid read after the owner is written: a writer that found the
    // bucket another source's (and did not raise it) had its xid before that read.
    pg_memory_barrier();
    const uint64 next = U64FromFullTransactionId(ReadNextFullTransactionId());
    uint64 seen = pg_atomic_read_u64(&state->buffer_ceilings[b]);
    // (Never lowered: a writer that found the bucket this source's may have raised it past.)
    while (seen < next &&
           !pg_atomic_compare_exchange_u64(&state->buffer_ceilings[b], &seen, next)) {
    }
    LWLockRelease(state->lock);
}

uint64 buffer_ceiling(Oid relid) {
    return state == nullptr ? 0 : owned_value(state->buffer_ceilings, relid);
}

namespace {
uint64 next_xid() {
    return U64FromFullTransactionId(ReadNextFullTransactionId());
}

// trims_noted_from, set by the first caller (under `lock`).
uint64 trims_noted_from() {
    uint64 from = pg_atomic_read_u64(&state->trims_noted_from);
    if (from == 0) {
        uint64 expected = 0;
        const uint64 now = next_xid();
        from = pg_atomic_compare_exchange_u64(&state->trims_noted_from, &expected, now) ? now
                                                                                        : expected;
    }
    return from;
}

// The entry of relid in `trims` (under `lock`), or nullptr; with `make`, one is made, pushing
// out the neighbourhood's entry with the lowest bound when it is full.
TrimEntry* trim_entry(Oid relid, bool make) {
    const uint64 key = floor_key(relid);
    const int home = static_cast<int>((key * 0x9E3779B97F4A7C15ULL >> 20) % kTrimEntries);
    TrimEntry* free_entry = nullptr;
    TrimEntry* lowest = nullptr;
    for (int i = 0; i < kTrimProbes; ++i) {
        TrimEntry& e = state->trims[(home + i) % kTrimEntries];
        if (e.key == key)
            return &e;
        if (e.key == 0 && free_entry == nullptr)
            free_entry = &e;
        if (e.key != 0 && (lowest == nullptr || e.below < lowest->below))
            lowest = &e;
    }
    if (!make)
        return nullptr;
    if (free_entry == nullptr) {
        state->trims_evicted = std::max(state->trims_evicted, lowest->below);
        free_entry = lowest;
    }
    *free_entry = TrimEntry{key, 0};
    return free_entry;
}

}  // namespace

void start_noting_trims() {
    if (state == nullptr)
        return;
    LWLockAcquire(state->lock, LW_EXCLUSIVE);
    (void)trims_noted_from();
    LWLockRelease(state->lock);
}

void note_trim(Oid relid, uint64 bound) {
    if (state == nullptr || bound == 0)
        return;
    if (!xact_callback_registered) {
        RegisterXactCallback(on_transaction_end, nullptr);
        xact_callback_registered = true;
    }
    if (!subxact_callback_registered) {
        RegisterSubXactCallback(on_subtransaction_end, nullptr);
        subxact_callback_registered = true;
    }
    const int level = GetCurrentTransactionNestLevel();
    for (int i = 0; i < pending_trim_count; ++i) {
        if (pending_trims[i].relid == relid && pending_trims[i].level == level) {
            pending_trims[i].bound = std::max(pending_trims[i].bound, bound);
            return;
        }
    }
    if (pending_trim_count == kPendingTrimsMax) {
        apply_trim(relid, bound);
        return;
    }
    pending_trims[pending_trim_count++] = PendingTrim{relid, bound, level};
}

void apply_trim(Oid relid, uint64 bound) {
    LWLockAcquire(state->lock, LW_EXCLUSIVE);
    (void)trims_noted_from();  // (before the first trim it notes)
    TrimEntry* e = trim_entry(relid, true);
    e->below = std::max(e->below, bound);
    LWLockRelease(state->lock);
}

bool trimmed_past(Oid relid, uint64 xmin) {
    if (state == nullptr)
        return true;
    // This transaction's own trims, not yet entered, are visible to it already.
    for (int i = 0; i < pending_trim_count; ++i)
        if (pending_trims[i].relid == relid && pending_trims[i].bound > xmin)
            return true;
    LWLockAcquire(state->lock, LW_SHARED);  // (trims_noted_from is set by compare-and-swap)
    // Its trims since trims were first noted (and those folded into trims_evicted); before:
    // any xid older than that.
    const TrimEntry* e = trim_entry(relid, false);
    const uint64 below =
        std::max({e != nullptr ? e->below : 0, state->trims_evicted, trims_noted_from()});
    LWLockRelease(state->lock);
    return below > xmin;
}

}  // namespace pgtrickle::pg::worker

extern "C" {
PG_FUNCTION_INFO_V1(pgt_worker_counts);
// pgtrickle._pgt_worker_counts(): {jobs handed to refresh or pool workers and not collected
// (all databases), pool workers started and idle (all databases), when this database's
// scheduler last began a tick (microseconds since the Unix epoch, 0 if never)}: the figures of
// worker_pool_status() that live in shared memory. Plain C.
Datum pgt_worker_counts(PG_FUNCTION_ARGS) {
    using namespace pgtrickle::pg::worker;
    int64 active = 0, idle = 0, tick = 0;
    if (SharedState* s = shared()) {
        LWLockAcquire(s->lock, LW_SHARED);
        for (const auto& job : s->jobs)
            active += job.state != kJobFree ? 1 : 0;
        for (const auto& w : s->pool)
            idle += w.token != 0 && w.pid != 0 && !w.has_job && !w.retire ? 1 : 0;
        if (const SchedulerSlot* slot = find_slot(s, MyDatabaseId); slot && slot->last_tick != 0)
            tick = slot->last_tick +
                   static_cast<int64>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
        LWLockRelease(s->lock);
    }
    Datum values[3] = {Int64GetDatum(active), Int64GetDatum(idle), Int64GetDatum(tick)};
    PG_RETURN_ARRAYTYPE_P(construct_array(values, 3, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

PG_FUNCTION_INFO_V1(pgt_checked_at);
// pgtrickle._pgt_checked_at(pgt_id): when the scheduler last found the stream table with nothing
// to refresh, NULL if it does not know (plain C: nothing here can throw).
Datum pgt_checked_at(PG_FUNCTION_ARGS) {
    const TimestampTz at = pgtrickle::pg::worker::checked_at(MyDatabaseId, PG_GETARG_INT64(0));
    if (at == 0)
        PG_RETURN_NULL();
    PG_RETURN_TIMESTAMPTZ(at);
}
}
