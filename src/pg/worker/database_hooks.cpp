// Stepping aside for commands that need a database to themselves.
//
// DROP DATABASE, ALTER DATABASE ... RENAME / SET TABLESPACE and CREATE DATABASE ... TEMPLATE
// refuse to run while any other session is connected to the database, and a scheduler is such a
// session. Before those commands run, this ProcessUtility hook stops the database's scheduler
// and tells the launcher to stay away for a while; PostgreSQL itself waits up to five seconds for
// the scheduler to be gone. If the command fails, the scheduler comes back after the hold.
//
// Plain C calls only: no C++ object lives in these frames, so an ERROR may pass through them.
#include <csignal>

#include "pg_trickle/pg/postgres.hpp"
#include "shared_state.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
}

namespace pgtrickle::pg::worker {

namespace {

ProcessUtility_hook_type previous_utility_hook = nullptr;

bool has_option(List* options, const char* name) {
    ListCell* lc;
    foreach (lc, options) {
        if (strcmp(lfirst_node(DefElem, lc)->defname, name) == 0)
            return true;
    }
    return false;
}

const char* template_option(List* options) {
    ListCell* lc;
    foreach (lc, options) {
        DefElem* d = lfirst_node(DefElem, lc);
        if (strcmp(d->defname, "template") == 0 && d->arg != nullptr)
            return defGetString(d);
    }
    return nullptr;
}

// The database whose scheduler must leave for this statement, or nullptr.
const char* database_needed_alone(Node* stmt) {
    switch (nodeTag(stmt)) {
        case T_DropdbStmt:
            return castNode(DropdbStmt, stmt)->dbname;
        case T_RenameStmt: {
            RenameStmt* r = castNode(RenameStmt, stmt);
            return r->renameType == OBJECT_DATABASE ? r->subname : nullptr;
        }
        case T_AlterDatabaseStmt: {
            AlterDatabaseStmt* a = castNode(AlterDatabaseStmt, stmt);
            return has_option(a->options, "tablespace") ? a->dbname : nullptr;
        }
        case T_CreatedbStmt:
            return template_option(castNode(CreatedbStmt, stmt)->options);
        default:
            return nullptr;
    }
}

void stop_scheduler_of(const char* dbname) {
    SharedState* s = shared();
    const Oid dboid = get_database_oid(dbname, true);
    // Only for those who may run the command anyway; PostgreSQL checks again and errors.
    if (!OidIsValid(dboid) || !pg_database_ownercheck(dboid, GetUserId()))
        return;
    pid_t pid = 0;
    pid_t workers[kMaxRefreshJobs];
    int nworkers = 0;
    LWLockAcquire(s->lock, LW_EXCLUSIVE);
    if (SchedulerSlot* slot = find_or_add_slot(s, dboid)) {
        slot->hold_until =
            TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kDatabaseCommandHoldMs);
        pid = slot->pid;
    }
    for (const auto& job : s->jobs)
        if (job.dboid == dboid && job.state == kJobAssigned && job.worker_pid != 0)
            workers[nworkers++] = job.worker_pid;
    pid_t pool[kMaxPoolWorkers];
    int npool = 0;
    for (const auto& w : s->pool)
        if (w.dboid == dboid && w.pid != 0)
            pool[npool++] = w.pid;
    LWLockRelease(s->lock);
    if (pid != 0)
        kill(pid, SIGTERM);
    // Its refresh and pool workers too: they are sessions of that database as well.
    for (int i = 0; i < nworkers; ++i)
        kill(workers[i], SIGTERM);
    for (int i = 0; i < npool; ++i)
        kill(pool[i], SIGTERM);
}

void utility_hook(PlannedStmt* pstmt, const char* query_string, bool read_only_tree,
                  ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* query_env,
                  DestReceiver* dest, QueryCompletion* qc) {
    if (shared() != nullptr) {
        if (const char* dbname = database_needed_alone(pstmt->utilityStmt))
            stop_scheduler_of(dbname);
    }
    if (previous_utility_hook != nullptr)
        previous_utility_hook(pstmt, query_string, read_only_tree, context, params, query_env, dest,
                              qc);
    else
        standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env,
                                dest, qc);
    // COMMIT PREPARED makes another session's captured changes visible, and that session's
    // commit-time signal never came (it only prepared): signal every source now.
    if (shared() != nullptr && IsA(pstmt->utilityStmt, TransactionStmt) &&
        castNode(TransactionStmt, pstmt->utilityStmt)->kind == TRANS_STMT_COMMIT_PREPARED)
        publish_all_changes();
}

}  // namespace

void install_database_command_hook() {
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = utility_hook;
}

}  // namespace pgtrickle::pg::worker
