// Registration of pg_trickle's configuration parameters.
#include "pg_trickle/pg/guc.hpp"

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg::guc {

bool enabled = true;
int min_schedule_seconds = 1;
int default_schedule_seconds = 1;
int max_consecutive_errors = 3;
int scheduler_interval_ms = 1000;
bool tiered_scheduling = true;
bool block_source_ddl = true;
double differential_max_change_ratio = 0.15;

void define_all() {
    DefineCustomBoolVariable("pg_trickle.enabled", "Master switch of the pg_trickle scheduler.",
                             "When off, stream tables are not refreshed on their schedules; "
                             "manual refreshes still work.",
                             &enabled, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.min_schedule_seconds",
                            "Shortest duration schedule a stream table may have, in seconds.",
                            nullptr, &min_schedule_seconds, 1, 1, 86400, PGC_SUSET, GUC_UNIT_S,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.default_schedule_seconds",
                            "Refresh period of 'calculated' stream tables that nothing reads, in "
                            "seconds.",
                            nullptr, &default_schedule_seconds, 1, 1, 86400, PGC_SUSET, GUC_UNIT_S,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.max_consecutive_errors",
                            "Consecutive failed refreshes after which a stream table is "
                            "suspended.",
                            nullptr, &max_consecutive_errors, 3, 1, 100, PGC_SUSET, 0, nullptr,
                            nullptr, nullptr);
    // Schedulers are long-lived: they see a changed pg_trickle.* setting from their next tick
    // after a configuration reload (ALTER SYSTEM ... then SELECT pg_reload_conf()).
    DefineCustomIntVariable(
        "pg_trickle.scheduler_interval_ms", "Time between two scheduler ticks, in milliseconds.",
        "Each tick checks which stream tables are due and refreshes them.", &scheduler_interval_ms,
        1000, 100, 600000, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomRealVariable("pg_trickle.differential_max_change_ratio",
                             "Share of a source's rows changed since the last refresh above which "
                             "a DIFFERENTIAL stream table is refreshed FULL instead.",
                             "0 means never: always apply the delta.",
                             &differential_max_change_ratio, 0.15, 0.0, 1.0, PGC_SUSET, 0, nullptr,
                             nullptr, nullptr);
    DefineCustomBoolVariable("pg_trickle.block_source_ddl",
                             "Refuse ALTER TABLE that drops, renames or retypes a column change "
                             "capture keeps for stream tables.",
                             "When off, such DDL is allowed: change capture of the table is "
                             "rebuilt and the stream tables reading it are refreshed in full "
                             "next time.",
                             &block_source_ddl, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("pg_trickle.tiered_scheduling",
                             "Stretch schedules by refresh tier (warm 2x, cold 10x, frozen never).",
                             nullptr, &tiered_scheduling, true, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    MarkGUCPrefixReserved("pg_trickle");
}

}  // namespace pgtrickle::pg::guc
