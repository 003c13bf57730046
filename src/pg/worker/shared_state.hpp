// The workers' shared memory: who the launcher is, and one slot per database scheduler.
//
// Every field is read and written under `lock`, only by plain code that cannot throw or
// ereport, so the lock is never held across anything that might fail.
#pragma once

#include <sys/types.h>

#include "pg_trickle/pg/postgres.hpp"

extern "C" {
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
}

namespace pgtrickle::pg::worker {

// How long the launcher leaves a database alone...
constexpr long kExtensionMissingHoldMs = 10'000;  // after its scheduler found no pg_trickle
constexpr long kQuickDeathHoldMs = 5'000;         // after a scheduler died soon after starting
constexpr long kQuickDeathWindowMs = 10'000;      //   ("soon")
constexpr long kDatabaseCommandHoldMs = 10'000;   // after DROP/RENAME DATABASE & co. stopped it

struct SchedulerSlot {
    Oid dboid;                // InvalidOid: slot free
    pid_t pid;                // the running scheduler, 0 if none
    bool extension_missing;   // the last scheduler left because pg_trickle is not installed
    TimestampTz launched_at;  // when the launcher last started one; 0 once its exit is handled
    TimestampTz hold_until;   // no scheduler is started before this
    // CREATE EXTENSION commits seen here (wake_launcher_at_commit), and how many there had been
    // when the last scheduler looked for the extension and found none: if the two differ, the
    // extension arrived after that look, and the launcher must not pause the database.
    uint64 rescan_requests;
    uint64 rescan_requests_when_missing;
    Latch* scheduler_latch;  // the running scheduler's, woken when captured changes commit
    TimestampTz last_tick;   // when its latest tick began (0: none yet)
};

// Change counters: a transaction that captured changes of a source bumps the source's bucket
// (hash of database and table) when it commits, and wakes the database's scheduler. A
// scheduler that sees the buckets of a stream table's sources unchanged knows nothing new has
// committed for it since it last looked (collisions only cause an extra look).
constexpr int kChangeBuckets = 4096;

// When a scheduler last found a stream table with nothing new to refresh and skipped its
// NO_DATA refresh: monitoring counts that as a look (pgtrickle._pgt_checked_at), without a
// catalog write per idle stream table and tick.
constexpr int kTrimEntries = 16384;
constexpr int kTrimProbes = 16;
struct TrimEntry {
    uint64 key;  // (database << 32) | relid; 0: free
    uint64 below;
};

constexpr int kCheckedEntries = 4096;
struct CheckedEntry {
    Oid dboid;  // InvalidOid: free
    int64 pgt_id;
    TimestampTz at;
};

// A refresh handed by a scheduler to a refresh worker (a dynamic bgworker started for it).
constexpr int kMaxRefreshJobs = 64;
enum RefreshJobState : int { kJobFree = 0, kJobAssigned, kJobDone };
struct RefreshJob {
    int state;
    uint64 generation;  // bumped at each assignment: a late worker of an older one writes nothing
    Oid dboid;
    pid_t owner;       // the scheduler that assigned it
    pid_t worker_pid;  // the worker running it, once started
    int64 pgt_id;
    bool has_last_refresh;
    int64 last_refresh_us;
    char action[16];
    char name[2 * NAMEDATALEN + 2];
    int result;  // UnitResult, once kJobDone
    char sqlstate[6];
    char message[512];
};

// A persistent refresh worker of a database's pool (pg_trickle.worker_pool_size): started by
// the database's scheduler, it waits on its latch for the jobs that scheduler assigns it, and
// keeps its backend's caches warm from one refresh to the next. At most kMaxPoolWorkers in the
// server, all databases together.
constexpr int kMaxPoolWorkers = 64;
struct PoolWorker {
    // 0: slot free. Otherwise unique to one start of a pool worker (SharedState::pool_tokens):
    // the scheduler, the worker and their handles name the slot's occupant by it, never by a
    // slot index or pid alone, since a slot is reused as soon as its worker leaves.
    uint64 token;
    Oid dboid;
    pid_t scheduler;  // the scheduler that started it, the only one assigning it jobs
    pid_t pid;        // 0 until it has started
    Latch* latch;     // its latch, once started
    bool retire;      // leave once idle (the pool shrank, or its scheduler left)
    bool has_job;     // `job` (an index into SharedState::jobs) is assigned to it
    int job;
    uint64 job_generation;
};

struct SharedState {
    LWLock* lock;
    pid_t launcher_pid;
    Latch* launcher_latch;  // nullptr while no launcher runs
    pg_atomic_uint64 change_buckets[kChangeBuckets];
    // Per bucket of change_buckets: the source whose buffer floor it holds ((database << 32) |
    // relid; 0: none), and that floor: no row of its change buffer has an older xid. Set
    // together under `lock`; lowered without it. See note_buffer_write.
    pg_atomic_uint64 floor_owners[kChangeBuckets];
    pg_atomic_uint64 buffer_floors[kChangeBuckets];
    // And its ceiling: no row of that change buffer has a newer xid. Raised to the next xid
    // when the owner is set, and without `lock` by every writer that finds the bucket its own;
    // never lowered (an upper bound however the bucket changes hands).
    pg_atomic_uint64 buffer_ceilings[kChangeBuckets];
    // Per source (open addressing, kTrimProbes from its home entry): one past the highest xid
    // of a row a trim has deleted from its buffer. FULL stream tables do not hold the trimming
    // back; this tells one whether rows it had not seen may be gone. An entry pushed out folds
    // into trims_evicted (every source then counts it). Under `lock`.
    TrimEntry trims[kTrimEntries];
    uint64 trims_evicted;
    // The next xid when trims were first asked about or noted since the server started (0:
    // not yet): every trim since has been noted, so the ones before deleted only older xids.
    pg_atomic_uint64 trims_noted_from;
    pg_atomic_uint64 publishes;  // bumped by every publication of committed changes
    RefreshJob jobs[kMaxRefreshJobs];
    PoolWorker pool[kMaxPoolWorkers];
    uint64 pool_tokens;  // the last PoolWorker::token handed out
    CheckedEntry checked[kCheckedEntries];
    int nslots;
    SchedulerSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

// nullptr unless pg_trickle was preloaded.
SharedState* shared();

// With `lock` held: the slot of `dboid`, or nullptr.
SchedulerSlot* find_slot(SharedState* state, Oid dboid);
// With `lock` held exclusively: the slot of `dboid`, taking a free one if needed; nullptr if
// every slot is in use.
SchedulerSlot* find_or_add_slot(SharedState* state, Oid dboid);

// Wakes the launcher, if one runs. Takes the lock itself.
void wake_launcher();

// How many publications of committed changes there have been (0 without shared memory).
uint64 publish_count();

// Bumps every change counter and wakes every scheduler (after COMMIT PREPARED). Plain C.
void publish_all_changes();

// The change counter covering source `relid` of database `dboid` (0 without shared memory).
uint64 change_count(Oid dboid, Oid relid);

// Records / reads the time of the latest skipped look at a stream table (0: none known).
void note_checked(Oid dboid, int64 pgt_id, TimestampTz at);
TimestampTz checked_at(Oid dboid, int64 pgt_id);

}  // namespace pgtrickle::pg::worker
