// The scheduler's per-tick decisions; see due.hpp for the rules.
#include "pg_trickle/core/due.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>

#include "pg_trickle/core/dag.hpp"
#include "pg_trickle/core/schedule.hpp"

namespace pgtrickle::core {

namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kMaxBackoffMs = 60'000;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool is_immediate(const ScheduledTable& t) {
    return t.refresh_mode == "IMMEDIATE";
}

// The parsed schedule, or nullopt when the stored text does not parse (it was validated when
// stored, so this only guards against hand-edited catalogs).
std::optional<Schedule> schedule_of(const ScheduledTable& t) {
    if (!t.schedule)
        return Schedule{};  // calculated
    try {
        return parse_schedule(*t.schedule);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// Saturating multiplication: periods are small, but a hand-edited catalog should not overflow.
std::int64_t times(std::int64_t a, std::int64_t b) {
    if (a != 0 && b > std::numeric_limits<std::int64_t>::max() / a)
        return std::numeric_limits<std::int64_t>::max();
    return a * b;
}

}  // namespace

std::optional<std::int64_t> tier_multiplier(std::string_view tier, bool tiered_scheduling) {
    if (!tiered_scheduling)
        return 1;
    const std::string t = lower(tier);
    if (t == "warm")
        return 2;
    if (t == "cold")
        return 10;
    if (t == "frozen")
        return std::nullopt;
    return 1;
}

std::map<std::int64_t, std::int64_t> base_periods(const std::vector<ScheduledTable>& tables,
                                                  const SchedulerSettings& settings) {
    // consumers[u] = stream tables that read u and can ask u for freshness.
    std::map<std::int64_t, std::vector<std::int64_t>> consumers;
    std::map<std::int64_t, std::optional<Schedule>> schedules;
    std::set<std::int64_t> immediate;
    for (const auto& t : tables) {
        schedules[t.id] = schedule_of(t);
        if (is_immediate(t))
            immediate.insert(t.id);
    }
    for (const auto& t : tables) {
        if (is_immediate(t) || !tier_multiplier(t.refresh_tier, settings.tiered_scheduling))
            continue;
        for (auto up : t.upstreams)
            consumers[up].push_back(t.id);
    }

    // Consumers before the stream tables they read, so each calculated period can take the
    // minimum over periods already known; a calculated stream table without a consumer that has
    // a period gets the default.
    std::map<std::int64_t, std::int64_t> period;
    const auto order = refresh_order(tables);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        const std::int64_t id = *it;
        const auto& s = schedules[id];
        if (immediate.count(id) || !s)
            continue;
        if (s->kind == ScheduleKind::Duration) {
            period[id] = s->seconds;
        } else if (s->kind == ScheduleKind::Calculated) {
            std::optional<std::int64_t> best;
            for (auto c : consumers[id]) {
                if (auto p = period.find(c); p != period.end())
                    best = best ? std::min(*best, p->second) : p->second;
            }
            period[id] = best.value_or(settings.default_schedule_seconds);
        }
    }
    return period;
}

std::vector<std::int64_t> refresh_order(const std::vector<ScheduledTable>& tables) {
    std::set<std::int64_t> ids;
    for (const auto& t : tables)
        ids.insert(t.id);
    Dag dag;
    for (const auto& t : tables) {
        dag.add_node(t.id);
        for (auto up : t.upstreams) {
            if (up != t.id && ids.count(up))
                dag.add_edge(up, t.id);
        }
    }
    try {
        return dag.topological_order();
    } catch (const std::logic_error&) {
    }
    // A cycle (only possible once circular dependencies are allowed): Kahn's algorithm by hand,
    // then whatever is left in id order.
    std::map<std::int64_t, int> indegree;
    std::map<std::int64_t, std::vector<std::int64_t>> downstream;
    for (auto id : ids)
        indegree[id] = 0;
    for (const auto& t : tables) {
        for (auto up : std::set<std::int64_t>(t.upstreams.begin(), t.upstreams.end())) {
            if (up != t.id && ids.count(up)) {
                downstream[up].push_back(t.id);
                ++indegree[t.id];
            }
        }
    }
    std::vector<std::int64_t> order;
    std::set<std::int64_t> ready;
    for (const auto& [id, deg] : indegree)
        if (deg == 0)
            ready.insert(id);
    while (!ready.empty()) {
        auto id = *ready.begin();
        ready.erase(ready.begin());
        order.push_back(id);
        for (auto d : downstream[id])
            if (--indegree[d] == 0)
                ready.insert(d);
    }
    std::set<std::int64_t> placed(order.begin(), order.end());
    for (auto id : ids)
        if (!placed.count(id))
            order.push_back(id);
    return order;
}

RefreshPlan plan_refreshes(const std::vector<ScheduledTable>& tables,
                           const SchedulerSettings& settings) {
    const auto periods = base_periods(tables, settings);
    RefreshPlan plan;
    std::set<std::int64_t> due;
    for (const auto& t : tables) {
        Decision d;
        d.id = t.id;
        const auto multiplier = tier_multiplier(t.refresh_tier, settings.tiered_scheduling);
        const auto schedule = schedule_of(t);
        if (is_immediate(t)) {
            d.skipped_because = "IMMEDIATE mode is maintained by triggers";
        } else if (t.status != "ACTIVE" && t.status != "INITIALIZING") {
            d.skipped_because = "status is " + t.status;
        } else if (!multiplier) {
            d.skipped_because = "tier is frozen";
        } else if (!schedule) {
            d.skipped_because = "schedule does not parse";
        }
        if (!d.skipped_because.empty()) {
            plan.decisions.push_back(std::move(d));
            continue;
        }
        if (auto it = periods.find(t.id); it != periods.end())
            d.period_seconds = times(it->second, *multiplier);

        if (!t.is_populated || !t.last_refresh_us) {
            d.reason = DueReason::NotPopulated;
        } else if (schedule->kind == ScheduleKind::Cron) {
            // Whole seconds: the cron search works in seconds and fires strictly after.
            std::int64_t last_s = *t.last_refresh_us / kMicrosPerSecond;
            if (*t.last_refresh_us < 0 && *t.last_refresh_us % kMicrosPerSecond != 0)
                --last_s;
            const std::int64_t next = schedule->cron->next_after(last_s);
            if (next >= 0 && settings.now_us >= times(next, kMicrosPerSecond))
                d.reason = DueReason::CronFired;
        } else if (d.period_seconds && settings.now_us - *t.last_refresh_us >=
                                           times(*d.period_seconds, kMicrosPerSecond)) {
            d.reason = DueReason::PeriodElapsed;
        }
        if (d.reason != DueReason::NotDue)
            due.insert(t.id);
        plan.decisions.push_back(std::move(d));
    }
    for (auto id : refresh_order(tables))
        if (due.count(id))
            plan.due.push_back(id);
    return plan;
}

bool is_retryable_sqlstate(std::string_view sqlstate) {
    if (sqlstate.size() != 5)
        return false;
    const std::string_view cls = sqlstate.substr(0, 2);
    return cls == "40" || cls == "08" || cls == "55" || cls == "57";
}

std::int64_t retry_backoff_ms(int attempt) {
    if (attempt < 1)
        attempt = 1;
    std::int64_t ms = 1000;
    for (int i = 1; i < attempt && ms < kMaxBackoffMs; ++i)
        ms *= 2;
    return std::min(ms, kMaxBackoffMs);
}

}  // namespace pgtrickle::core
