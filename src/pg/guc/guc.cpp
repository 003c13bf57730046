// Registration of pg_trickle's configuration parameters.
#include "pg_trickle/pg/guc.hpp"

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg::guc {

bool enabled = true;
int min_schedule_seconds = 1;
int default_schedule_seconds = 1;
int max_consecutive_errors = 3;

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
    MarkGUCPrefixReserved("pg_trickle");
}

}  // namespace pgtrickle::pg::guc
