// When is a stream table due for a scheduled refresh? The scheduler's decisions as pure logic.
//
// Each scheduler tick reads every stream table of its database and asks plan_refreshes which ones
// to refresh, in which order. The rules (SPEC §1.3, §5.3):
//  - only ACTIVE and INITIALIZING stream tables are refreshed; IMMEDIATE ones never (their
//    sources' triggers maintain them); with tiered scheduling, 'frozen' ones never;
//  - a stream table that is not populated is due at once;
//  - a duration schedule is due when `duration × tier multiplier` has passed since the last
//    refresh (hot 1×, warm 2×, cold 10×);
//  - a cron schedule is due when it has fired (UTC) since the last refresh;
//  - a 'calculated' schedule (stored as NULL) refreshes as often as the stream tables that read
//    it need: the minimum period of its immediate consumers, resolved consumers first so that
//    chains of calculated stream tables resolve (the fixpoint of upstream's iteration); with no
//    consumer that has a period, pg_trickle.default_schedule_seconds. Cron and IMMEDIATE
//    consumers add nothing, nor do frozen ones (they never refresh, so need no fresh input).
//    Consumers contribute their period before their own tier multiplier, as upstream does.
//  - due stream tables are refreshed in topological order, upstream before downstream.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgtrickle::core {

// One stream table as the scheduler reads it from pgt_stream_tables and pgt_dependencies.
struct ScheduledTable {
    std::int64_t id = 0;
    std::string status;                   // INITIALIZING | ACTIVE | SUSPENDED | ERROR
    std::string refresh_mode;             // FULL | DIFFERENTIAL | IMMEDIATE
    std::string refresh_tier = "hot";     // hot | warm | cold | frozen
    std::optional<std::string> schedule;  // nullopt = calculated
    bool is_populated = false;
    std::optional<std::int64_t> last_refresh_us;  // unix microseconds; nullopt = never
    std::vector<std::int64_t> upstreams;          // stream tables its defining query reads
};

struct SchedulerSettings {
    std::int64_t now_us = 0;                    // unix microseconds
    std::int64_t default_schedule_seconds = 1;  // pg_trickle.default_schedule_seconds
    bool tiered_scheduling = true;              // pg_trickle.tiered_scheduling
};

enum class DueReason {
    NotDue,
    NotPopulated,   // never refreshed successfully: populate it
    PeriodElapsed,  // duration or calculated period has passed
    CronFired,      // the cron expression fired since the last refresh
};

struct Decision {
    std::int64_t id = 0;
    DueReason reason = DueReason::NotDue;
    // Why the scheduler does not consider it at all (status, IMMEDIATE, frozen, bad schedule);
    // empty when it is considered.
    std::string skipped_because;
    // The period the decision used (duration or calculated, tier applied), in seconds.
    std::optional<std::int64_t> period_seconds;
};

struct RefreshPlan {
    std::vector<std::int64_t> due;    // to refresh this tick, upstream before downstream
    std::vector<Decision> decisions;  // one per input stream table, in input order
};

// The tier's multiplier for duration and calculated periods; nullopt for 'frozen' (never
// refreshed by the scheduler). Unknown tiers count as hot. With tiered scheduling off, 1 for
// every tier.
std::optional<std::int64_t> tier_multiplier(std::string_view tier, bool tiered_scheduling);

// Each stream table's period before its own tier multiplier: its duration, or for a calculated
// schedule the resolution described above. Absent for cron schedules, IMMEDIATE stream tables and
// schedules that do not parse.
std::map<std::int64_t, std::int64_t> base_periods(const std::vector<ScheduledTable>& tables,
                                                  const SchedulerSettings& settings);

RefreshPlan plan_refreshes(const std::vector<ScheduledTable>& tables,
                           const SchedulerSettings& settings);

// Refresh order for the given stream tables: upstream before downstream (edges to stream
// tables outside `tables` are ignored). Should the graph ever hold a cycle, its members follow
// the acyclic part in id order.
std::vector<std::int64_t> refresh_order(const std::vector<ScheduledTable>& tables);

// Failures the scheduler retries later without counting them against the stream table
// (SQLSTATE classes 40 transaction rollback, 08 connection, 55 object not in prerequisite state
// (lock not available, refresh skipped), 57 operator intervention (query canceled)).
bool is_retryable_sqlstate(std::string_view sqlstate);

// Delay before retrying after the `attempt`-th consecutive retryable failure (1, 2, ...):
// 1 s, doubling, at most 60 s.
std::int64_t retry_backoff_ms(int attempt);

}  // namespace pgtrickle::core
