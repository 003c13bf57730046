// pg_trickle.* configuration parameters (names and defaults per SPEC §4).
#pragma once

namespace pgtrickle::pg::guc {

extern bool enabled;                  // pg_trickle.enabled
extern int min_schedule_seconds;      // pg_trickle.min_schedule_seconds
extern int default_schedule_seconds;  // pg_trickle.default_schedule_seconds
extern int max_consecutive_errors;    // pg_trickle.max_consecutive_errors
extern int scheduler_interval_ms;     // pg_trickle.scheduler_interval_ms
extern bool tiered_scheduling;
extern bool block_source_ddl;                 // pg_trickle.block_source_ddl
extern bool planner_aggressive;               // pg_trickle.planner_aggressive
extern bool verify_deltas;                    // pg_trickle.verify_deltas
extern bool cleanup_use_truncate;             // pg_trickle.cleanup_use_truncate
extern bool unlogged_buffers;                 // pg_trickle.unlogged_buffers
extern double differential_max_change_ratio;  // pg_trickle.differential_max_change_ratio
// pg_trickle.tiered_scheduling is read by the scheduler alone (tiered_scheduling above).

// The differential engine's knobs (SPEC §4.1), described in docs/CONFIGURATION.md.
extern bool use_prepared_statements;   // keep the plan of a refresh's delta statement
extern bool analyze_before_delta;      // ANALYZE change buffers whose size moved far
extern int merge_work_mem_mb;          // work_mem of large deltas (planner_aggressive)
extern int max_buffer_rows;            // a bigger change buffer means FULL (0: no limit)
extern bool aggregate_fast_path;       // grouped algebraic deltas applied as increments
extern int max_grouping_set_branches;  // GROUPING SETS / ROLLUP / CUBE maintained up to this
extern int max_parse_depth;            // query nesting the differential analysis accepts

// pg_trickle.parallel_refresh_mode: refresh workers (on), the scheduler alone but logging what
// it would hand out (dry_run), or the scheduler alone (off).
// pg_trickle.refresh_strategy: for DIFFERENTIAL stream tables, whether a refresh may fall back to
// FULL (auto: by the change ratio and the cost model), never does (differential), or always is
// FULL (full).
enum class RefreshStrategy : int { Auto = 0, Differential = 1, Full = 2 };
extern RefreshStrategy refresh_strategy;
// pg_trickle.cost_model_safety_margin: FULL is chosen when the last DIFFERENTIAL refresh took at
// least this times the last FULL one (and noticeably longer, see refresh.cpp).
extern double cost_model_safety_margin;

enum class ParallelRefreshMode : int { Off = 0, DryRun = 1, On = 2 };
extern ParallelRefreshMode parallel_refresh_mode;
extern int max_dynamic_refresh_workers;     // pg_trickle.max_dynamic_refresh_workers (cluster)
extern int max_concurrent_refreshes;        // pg_trickle.max_concurrent_refreshes (per database)
extern int worker_pool_size;                // pg_trickle.worker_pool_size
extern int history_retention_days;          // pg_trickle.history_retention_days (0: keep all)
extern int history_prune_interval_seconds;  // pg_trickle.history_prune_interval_seconds

void define_all();

}  // namespace pgtrickle::pg::guc
