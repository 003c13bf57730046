// The workers' shared memory: who the launcher is, and one slot per database scheduler.
//
// Every field is read and written under `lock`, only by plain code that cannot throw or
// ereport, so the lock is never held across anything that might fail.
#pragma once

#include <sys/types.h>

#include "pg_trickle/pg/postgres.hpp"

extern "C" {
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
};

struct SharedState {
    LWLock* lock;
    pid_t launcher_pid;
    Latch* launcher_latch;  // nullptr while no launcher runs
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

}  // namespace pgtrickle::pg::worker
