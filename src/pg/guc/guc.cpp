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
bool planner_aggressive = true;
bool verify_deltas = false;
bool cleanup_use_truncate = true;
bool unlogged_buffers = false;
double differential_max_change_ratio = 0.15;
ParallelRefreshMode parallel_refresh_mode = ParallelRefreshMode::On;
RefreshStrategy refresh_strategy = RefreshStrategy::Auto;
double cost_model_safety_margin = 0.8;
int max_dynamic_refresh_workers = 4;
int max_concurrent_refreshes = 4;
int worker_pool_size = 0;
int history_retention_days = 90;
int history_prune_interval_seconds = 60;
bool use_prepared_statements = true;
bool analyze_before_delta = true;
int merge_work_mem_mb = 64;
int max_buffer_rows = 1000000;
bool aggregate_fast_path = true;
int max_grouping_set_branches = 64;
int max_parse_depth = 64;

namespace {

int parallel_refresh_mode_value = static_cast<int>(ParallelRefreshMode::On);
int refresh_strategy_value = static_cast<int>(RefreshStrategy::Auto);

const struct config_enum_entry kRefreshStrategies[] = {
    {"auto", static_cast<int>(RefreshStrategy::Auto), false},
    {"differential", static_cast<int>(RefreshStrategy::Differential), false},
    {"full", static_cast<int>(RefreshStrategy::Full), false},
    {nullptr, 0, false}};

void assign_refresh_strategy(int value, void*) {
    refresh_strategy = static_cast<RefreshStrategy>(value);
}

const struct config_enum_entry kParallelRefreshModes[] = {
    {"off", static_cast<int>(ParallelRefreshMode::Off), false},
    {"dry_run", static_cast<int>(ParallelRefreshMode::DryRun), false},
    {"on", static_cast<int>(ParallelRefreshMode::On), false},
    {nullptr, 0, false},
};

void assign_parallel_refresh_mode(int value, void*) {
    parallel_refresh_mode = static_cast<ParallelRefreshMode>(value);
}

}  // namespace

void define_all() {
    DefineCustomEnumVariable(
        "pg_trickle.parallel_refresh_mode",
        "Whether the scheduler hands refreshes to refresh workers to run in parallel.",
        "on: independent stream tables refresh in parallel in dynamic background workers; "
        "dry_run: the scheduler refreshes everything itself and logs what it would have handed "
        "out; off: the scheduler refreshes everything itself.",
        &parallel_refresh_mode_value, static_cast<int>(ParallelRefreshMode::On),
        kParallelRefreshModes, PGC_SIGHUP, 0, nullptr, assign_parallel_refresh_mode, nullptr);
    DefineCustomIntVariable("pg_trickle.max_dynamic_refresh_workers",
                            "Most refresh workers running at once in the whole cluster.", nullptr,
                            &max_dynamic_refresh_workers, 4, 1, 64, PGC_SIGHUP, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("pg_trickle.max_concurrent_refreshes",
                            "Most refreshes running at once in one database (the scheduler's own "
                            "included).",
                            nullptr, &max_concurrent_refreshes, 4, 1, 32, PGC_SIGHUP, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.worker_pool_size",
                            "Persistent refresh workers per database (0: a worker is started "
                            "for each refresh handed out).",
                            "With parallel_refresh_mode 'on', each database's scheduler keeps "
                            "this many pool workers connected and hands its refreshes to them; "
                            "their caches stay warm from one refresh to the next.",
                            &worker_pool_size, 0, 0, 64, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.history_retention_days",
                            "Days a row of pgtrickle.pgt_refresh_history is kept (0: forever).",
                            "Each database's scheduler deletes older rows, 10,000 at a time, "
                            "keeping every stream table's latest row.",
                            &history_retention_days, 90, 0, 36500, PGC_SIGHUP, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("pg_trickle.history_prune_interval_seconds",
                            "Seconds between two prunings of the refresh history by a scheduler.",
                            "A pruning that deleted a full batch is followed by another at the "
                            "next tick.",
                            &history_prune_interval_seconds, 60, 1, 86400, PGC_SIGHUP, GUC_UNIT_S,
                            nullptr, nullptr, nullptr);
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
    DefineCustomEnumVariable(
        "pg_trickle.refresh_strategy",
        "Whether a refresh of a DIFFERENTIAL stream table may be done FULL instead.",
        "auto: when too large a share of a source changed (differential_max_change_ratio) or "
        "when its last differential refresh was slower than a full one "
        "(cost_model_safety_margin); differential: never; full: always.",
        &refresh_strategy_value, static_cast<int>(RefreshStrategy::Auto), kRefreshStrategies,
        PGC_SUSET, 0, nullptr, assign_refresh_strategy, nullptr);
    DefineCustomRealVariable(
        "pg_trickle.cost_model_safety_margin",
        "A DIFFERENTIAL stream table is refreshed FULL when its last differential refresh took "
        "at least this times its last full refresh.",
        "Only when the difference is at least 50 ms; every 16th such refresh tries "
        "DIFFERENTIAL again.",
        &cost_model_safety_margin, 0.8, 0.1, 2.0, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("pg_trickle.block_source_ddl",
                             "Refuse ALTER TABLE that drops, renames or retypes a column change "
                             "capture keeps for stream tables.",
                             "When off, such DDL is allowed: change capture of the table is "
                             "rebuilt and the stream tables reading it are refreshed in full "
                             "next time.",
                             &block_source_ddl, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("pg_trickle.cleanup_use_truncate",
                             "TRUNCATE a change buffer whose rows have all been consumed.",
                             "Instead of deleting them one by one: by scheduled refreshes, for "
                             "buffers of 64 pages or more that can be locked at once. off: always "
                             "DELETE.",
                             &cleanup_use_truncate, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("pg_trickle.planner_aggressive",
                             "Plan delta statements for index probes per changed row.",
                             "When on, a differential refresh plans its "
                             "delta statement with random_page_cost at most 1.1 times "
                             "seq_page_cost.",
                             &planner_aggressive, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "pg_trickle.unlogged_buffers", "Create new change buffers UNLOGGED.",
        "An UNLOGGED buffer writes no WAL, which makes change capture cheaper, but a crash (or a "
        "standby's promotion) empties it: the stream tables reading it are then refreshed FULL "
        "once. Existing buffers keep their kind; pgtrickle.convert_buffers_to_unlogged() "
        "converts them.",
        &unlogged_buffers, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("pg_trickle.verify_deltas",
                             "Check that a differential refresh deletes only stored rows.",
                             "A delta that takes away a row the stream table does not hold "
                             "raises an internal error (XX000) instead of being a no-op: for "
                             "testing the engine.",
                             &verify_deltas, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("pg_trickle.tiered_scheduling",
                             "Stretch schedules by refresh tier (warm 2x, cold 10x, frozen never).",
                             nullptr, &tiered_scheduling, true, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomBoolVariable("pg_trickle.use_prepared_statements",
                             "Keep the plan of each stream table's delta statement.",
                             "A backend that refreshes a stream table again (a pool worker, a "
                             "session) reuses the plan it made; off: every differential refresh "
                             "plans its delta statement anew.",
                             &use_prepared_statements, true, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomBoolVariable("pg_trickle.analyze_before_delta",
                             "ANALYZE a change buffer before a delta reads it when its size has "
                             "moved far since its statistics.",
                             "Twice or half the pages its statistics were taken at, or none, and "
                             "at least 16 pages; sampled with default_statistics_target 10.",
                             &analyze_before_delta, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.merge_work_mem_mb",
                            "work_mem of a differential refresh with more than 10,000 changes.",
                            "Only with pg_trickle.planner_aggressive on, and only to raise "
                            "work_mem: a larger session setting is kept.",
                            &merge_work_mem_mb, 64, 8, 4096, PGC_SUSET, GUC_UNIT_MB, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.max_buffer_rows",
                            "Rows in a source's change buffer above which a refresh is FULL.",
                            "A refresh of a DIFFERENTIAL stream table reading a bigger buffer "
                            "recomputes it instead of applying the changes; 0: no limit.",
                            &max_buffer_rows, 1000000, 0, 100000000, PGC_SUSET, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomBoolVariable("pg_trickle.aggregate_fast_path",
                             "Apply grouped algebraic deltas as increments of the stored groups.",
                             "COUNT / SUM / AVG over one table: the delta adds to the running "
                             "counts and sums of the groups it touches; off: those groups are "
                             "recomputed from the source.",
                             &aggregate_fast_path, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.max_grouping_set_branches",
                            "Most grouping sets of a GROUPING SETS / ROLLUP / CUBE query "
                            "maintained differentially.",
                            "A query with more is refused for DIFFERENTIAL and IMMEDIATE, and "
                            "refreshed FULL in AUTO.",
                            &max_grouping_set_branches, 64, 1, 65536, PGC_SUSET, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("pg_trickle.max_parse_depth",
                            "Deepest nesting of subqueries, CTEs and set operations the "
                            "differential analysis accepts.",
                            "A query nested deeper is refused for DIFFERENTIAL and IMMEDIATE, and "
                            "refreshed FULL in AUTO.",
                            &max_parse_depth, 64, 1, 10000, PGC_SUSET, 0, nullptr, nullptr,
                            nullptr);
    MarkGUCPrefixReserved("pg_trickle");
}

}  // namespace pgtrickle::pg::guc
