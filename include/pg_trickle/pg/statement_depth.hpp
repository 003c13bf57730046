// How deep in nested statements this backend is: what tells pg_trickle's own statements from
// statements that triggers fired by them run (the storage guard, running_own_statement).
#pragma once

namespace pgtrickle::pg {

// ExecutorRun, ExecutorFinish and utility calls in progress in this backend, nested: a
// statement that a trigger runs while another one executes is deeper, a COPY included.
int executor_depth();

// Whether the statement whose end this backend is running (ExecutorFinish: its AFTER STATEMENT
// triggers fire there) is a MERGE. Plain C, never raises.
bool finishing_merge();

// Installs the hooks counting it (from _PG_init), after install_ddl_hooks: the utility hook
// counting depth must wrap the DDL hook, whose checks read the depth of the statement they
// check (one level below the statement running it).
void install_executor_hooks();

}  // namespace pgtrickle::pg
