// Statement depth: ExecutorRun, ExecutorFinish and ProcessUtility hooks count the statements in
// progress, as pg_stat_statements counts its nesting level. No C++ object lives in the hooks'
// frames (an error longjmps through them; PG_FINALLY restores the count).
#include "pg_trickle/pg/statement_depth.hpp"

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {
namespace {
int depth = 0;
CmdType finishing = CMD_UNKNOWN;  // the operation of the innermost ExecutorFinish in progress
ExecutorRun_hook_type previous_run_hook = nullptr;
ExecutorFinish_hook_type previous_finish_hook = nullptr;
ProcessUtility_hook_type previous_utility_hook = nullptr;
}  // namespace
}  // namespace pgtrickle::pg

using pgtrickle::pg::depth;
using pgtrickle::pg::finishing;
using pgtrickle::pg::previous_finish_hook;
using pgtrickle::pg::previous_run_hook;
using pgtrickle::pg::previous_utility_hook;

extern "C" {
static void pgt_executor_run(QueryDesc* query, ScanDirection direction, uint64 count,
                             bool execute_once) {
    ++depth;
    PG_TRY();
    {
        if (previous_run_hook != nullptr)
            previous_run_hook(query, direction, count, execute_once);
        else
            standard_ExecutorRun(query, direction, count, execute_once);
    }
    PG_FINALLY();
    { --depth; }
    PG_END_TRY();
}

static void pgt_executor_finish(QueryDesc* query) {
    const CmdType outer = finishing;
    ++depth;
    finishing = query->operation;
    PG_TRY();
    {
        if (previous_finish_hook != nullptr)
            previous_finish_hook(query);
        else
            standard_ExecutorFinish(query);
    }
    PG_FINALLY();
    {
        --depth;
        finishing = outer;
    }
    PG_END_TRY();
}

static void pgt_utility_depth(PlannedStmt* pstmt, const char* query_string, bool read_only_tree,
                              ProcessUtilityContext context, ParamListInfo params,
                              QueryEnvironment* query_env, DestReceiver* dest,
                              QueryCompletion* qc) {
    ++depth;
    PG_TRY();
    {
        if (previous_utility_hook != nullptr)
            previous_utility_hook(pstmt, query_string, read_only_tree, context, params, query_env,
                                  dest, qc);
        else
            standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env,
                                    dest, qc);
    }
    PG_FINALLY();
    { --depth; }
    PG_END_TRY();
}
}

namespace pgtrickle::pg {

int executor_depth() {
    return depth;
}

bool finishing_merge() {
    return finishing == CMD_MERGE;
}

void install_executor_hooks() {
    previous_run_hook = ExecutorRun_hook;
    ExecutorRun_hook = pgt_executor_run;
    previous_finish_hook = ExecutorFinish_hook;
    ExecutorFinish_hook = pgt_executor_finish;
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = pgt_utility_depth;
}

}  // namespace pgtrickle::pg
