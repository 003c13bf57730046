// Unit tests of the scheduler's due-time decisions, calculated schedules, refresh order and
// retry policy (core/due.hpp).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pg_trickle/core/due.hpp"

namespace pgtrickle::core {
namespace {

constexpr std::int64_t kSec = 1'000'000;
// 2024-01-01 00:00:00 UTC.
constexpr std::int64_t kMidnight = 1704067200LL * kSec;

ScheduledTable table(std::int64_t id, std::optional<std::string> schedule,
                     std::optional<std::int64_t> last_refresh_us = kMidnight) {
    ScheduledTable t;
    t.id = id;
    t.status = "ACTIVE";
    t.refresh_mode = "FULL";
    t.schedule = std::move(schedule);
    t.is_populated = true;
    t.last_refresh_us = last_refresh_us;
    return t;
}

SchedulerSettings at(std::int64_t now_us, std::int64_t default_seconds = 1) {
    SchedulerSettings s;
    s.now_us = now_us;
    s.default_schedule_seconds = default_seconds;
    return s;
}

const Decision& decision(const RefreshPlan& plan, std::int64_t id) {
    auto it = std::find_if(plan.decisions.begin(), plan.decisions.end(),
                           [&](const Decision& d) { return d.id == id; });
    EXPECT_NE(it, plan.decisions.end());
    return *it;
}

bool is_due(const std::vector<ScheduledTable>& tables, std::int64_t id,
            const SchedulerSettings& settings) {
    auto plan = plan_refreshes(tables, settings);
    return std::find(plan.due.begin(), plan.due.end(), id) != plan.due.end();
}

TEST(DueTest, TierMultipliers) {
    EXPECT_EQ(tier_multiplier("hot", true), 1);
    EXPECT_EQ(tier_multiplier("warm", true), 2);
    EXPECT_EQ(tier_multiplier("cold", true), 10);
    EXPECT_EQ(tier_multiplier("frozen", true), std::nullopt);
    EXPECT_EQ(tier_multiplier("COLD", true), 10);
    EXPECT_EQ(tier_multiplier("cold", false), 1);
    EXPECT_EQ(tier_multiplier("frozen", false), 1);
}

TEST(DueTest, DurationIsDueOnceItsPeriodHasPassed) {
    std::vector<ScheduledTable> t{table(1, "30s")};
    EXPECT_FALSE(is_due(t, 1, at(kMidnight + 29 * kSec + 999'999)));
    EXPECT_TRUE(is_due(t, 1, at(kMidnight + 30 * kSec)));  // the boundary counts
    EXPECT_TRUE(is_due(t, 1, at(kMidnight + 3600 * kSec)));
    auto plan = plan_refreshes(t, at(kMidnight + 30 * kSec));
    EXPECT_EQ(decision(plan, 1).reason, DueReason::PeriodElapsed);
    EXPECT_EQ(decision(plan, 1).period_seconds, 30);
}

TEST(DueTest, TiersStretchDurations) {
    auto warm = table(1, "10s");
    warm.refresh_tier = "warm";
    auto cold = table(2, "10s");
    cold.refresh_tier = "cold";
    std::vector<ScheduledTable> t{warm, cold};
    EXPECT_FALSE(is_due(t, 1, at(kMidnight + 19 * kSec)));
    EXPECT_TRUE(is_due(t, 1, at(kMidnight + 20 * kSec)));
    EXPECT_FALSE(is_due(t, 2, at(kMidnight + 99 * kSec)));
    EXPECT_TRUE(is_due(t, 2, at(kMidnight + 100 * kSec)));

    auto off = at(kMidnight + 10 * kSec);
    off.tiered_scheduling = false;
    EXPECT_TRUE(is_due(t, 1, off));
    EXPECT_TRUE(is_due(t, 2, off));
}

TEST(DueTest, FrozenIsNeverScheduledUnlessTiersAreOff) {
    auto frozen = table(1, "1s", std::nullopt);
    frozen.is_populated = false;
    frozen.refresh_tier = "frozen";
    std::vector<ScheduledTable> t{frozen};
    auto plan = plan_refreshes(t, at(kMidnight));
    EXPECT_TRUE(plan.due.empty());
    EXPECT_EQ(decision(plan, 1).skipped_because, "tier is frozen");
    auto off = at(kMidnight);
    off.tiered_scheduling = false;
    EXPECT_TRUE(is_due(t, 1, off));
}

TEST(DueTest, OnlyActiveAndInitializingAreScheduled) {
    std::vector<ScheduledTable> t;
    for (auto [id, status] : std::vector<std::pair<int, std::string>>{
             {1, "ACTIVE"}, {2, "INITIALIZING"}, {3, "SUSPENDED"}, {4, "ERROR"}}) {
        auto st = table(id, "1s");
        st.status = status;
        t.push_back(st);
    }
    auto plan = plan_refreshes(t, at(kMidnight + 5 * kSec));
    EXPECT_EQ(plan.due, (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(decision(plan, 3).skipped_because, "status is SUSPENDED");
    EXPECT_EQ(decision(plan, 4).skipped_because, "status is ERROR");
}

TEST(DueTest, ImmediateIsNeverScheduled) {
    auto imm = table(1, std::nullopt, std::nullopt);
    imm.refresh_mode = "IMMEDIATE";
    imm.is_populated = false;
    auto plan = plan_refreshes({imm}, at(kMidnight));
    EXPECT_TRUE(plan.due.empty());
    EXPECT_FALSE(decision(plan, 1).skipped_because.empty());
}

TEST(DueTest, NotPopulatedIsDueAtOnce) {
    auto lazy = table(1, "1h", std::nullopt);
    lazy.is_populated = false;
    lazy.status = "INITIALIZING";
    auto plan = plan_refreshes({lazy}, at(kMidnight));
    EXPECT_EQ(plan.due, (std::vector<std::int64_t>{1}));
    EXPECT_EQ(decision(plan, 1).reason, DueReason::NotPopulated);

    // Populated but with a recent refresh: not due.
    auto fresh = table(2, "1h");
    EXPECT_FALSE(is_due({fresh}, 2, at(kMidnight + kSec)));
}

TEST(DueTest, CronIsDueOnceItFiredSinceTheLastRefresh) {
    // Every five minutes; last refreshed 00:02:30 UTC, next firing 00:05:00.
    std::vector<ScheduledTable> t{table(1, "*/5 * * * *", kMidnight + 150 * kSec)};
    EXPECT_FALSE(is_due(t, 1, at(kMidnight + 299 * kSec)));
    EXPECT_TRUE(is_due(t, 1, at(kMidnight + 300 * kSec)));
    auto plan = plan_refreshes(t, at(kMidnight + 301 * kSec));
    EXPECT_EQ(decision(plan, 1).reason, DueReason::CronFired);
    EXPECT_EQ(decision(plan, 1).period_seconds, std::nullopt);

    // Refreshed just after a firing: the same firing does not count again.
    std::vector<ScheduledTable> after{table(2, "@hourly", kMidnight + 3600 * kSec + 500'000)};
    EXPECT_FALSE(is_due(after, 2, at(kMidnight + 7199 * kSec)));
    EXPECT_TRUE(is_due(after, 2, at(kMidnight + 7200 * kSec)));

    // Cron is evaluated in UTC: '0 3 * * *' fires at 03:00 UTC whatever the server's zone.
    std::vector<ScheduledTable> daily{table(3, "0 3 * * *", kMidnight)};
    EXPECT_FALSE(is_due(daily, 3, at(kMidnight + (3 * 3600 - 1) * kSec)));
    EXPECT_TRUE(is_due(daily, 3, at(kMidnight + 3 * 3600 * kSec)));

    // Tiers do not stretch cron schedules.
    auto cold = table(4, "* * * * * *", kMidnight);
    cold.refresh_tier = "cold";
    EXPECT_TRUE(is_due({cold}, 4, at(kMidnight + kSec)));
}

TEST(DueTest, ImpossibleCronIsNeverDue) {
    std::vector<ScheduledTable> t{table(1, "0 0 30 2 *")};
    EXPECT_FALSE(is_due(t, 1, at(kMidnight + 3650LL * 86400 * kSec)));
}

TEST(DueTest, CalculatedWithoutConsumersUsesTheDefault) {
    std::vector<ScheduledTable> t{table(1, std::nullopt)};
    auto periods = base_periods(t, at(kMidnight, 7));
    EXPECT_EQ(periods.at(1), 7);
    EXPECT_FALSE(is_due(t, 1, at(kMidnight + 6 * kSec, 7)));
    EXPECT_TRUE(is_due(t, 1, at(kMidnight + 7 * kSec, 7)));
    EXPECT_EQ(base_periods({table(2, "calculated")}, at(kMidnight, 3)).at(2), 3);
}

TEST(DueTest, CalculatedTakesTheFastestConsumer) {
    auto up = table(1, std::nullopt);
    auto slow = table(2, "1h");
    slow.upstreams = {1};
    auto fast = table(3, "5m");
    fast.upstreams = {1};
    auto periods = base_periods({up, slow, fast}, at(kMidnight));
    EXPECT_EQ(periods.at(1), 300);
}

TEST(DueTest, CalculatedChainsResolveThroughCalculatedConsumers) {
    // 1 <- 2 <- 3 (3 reads 2 reads 1); only 3 has a schedule.
    auto a = table(1, std::nullopt);
    auto b = table(2, std::nullopt);
    b.upstreams = {1};
    auto c = table(3, "2m");
    c.upstreams = {2};
    auto periods = base_periods({a, b, c}, at(kMidnight));
    EXPECT_EQ(periods.at(1), 120);
    EXPECT_EQ(periods.at(2), 120);

    // A calculated consumer without consumers of its own counts with the default period.
    auto d = table(4, std::nullopt);
    d.upstreams = {1};
    periods = base_periods({a, b, c, d}, at(kMidnight, 1));
    EXPECT_EQ(periods.at(1), 1);
}

TEST(DueTest, CalculatedIgnoresCronImmediateAndFrozenConsumers) {
    auto up = table(1, std::nullopt);
    auto cron = table(2, "*/5 * * * *");
    cron.upstreams = {1};
    auto imm = table(3, std::nullopt);
    imm.refresh_mode = "IMMEDIATE";
    imm.upstreams = {1};
    auto frozen = table(4, "1s");
    frozen.refresh_tier = "frozen";
    frozen.upstreams = {1};
    auto hourly = table(5, "1h");
    hourly.upstreams = {1};
    auto periods = base_periods({up, cron, imm, frozen, hourly}, at(kMidnight, 1));
    EXPECT_EQ(periods.at(1), 3600);
    EXPECT_EQ(periods.count(2), 0u);  // cron has no period
    EXPECT_EQ(periods.count(3), 0u);  // IMMEDIATE has none either
    // Without the hourly consumer nothing asks for a period: the default.
    periods = base_periods({up, cron, imm, frozen}, at(kMidnight, 9));
    EXPECT_EQ(periods.at(1), 9);
}

TEST(DueTest, ConsumersContributeTheirPeriodBeforeTheirTier) {
    auto up = table(1, std::nullopt);
    auto warm = table(2, "10s");
    warm.refresh_tier = "warm";
    warm.upstreams = {1};
    auto plan = plan_refreshes({up, warm}, at(kMidnight + 10 * kSec));
    EXPECT_EQ(decision(plan, 1).period_seconds, 10);
    EXPECT_EQ(decision(plan, 2).period_seconds, 20);
    EXPECT_EQ(plan.due, (std::vector<std::int64_t>{1}));

    // The calculated stream table's own tier applies to its resolved period.
    up.refresh_tier = "cold";
    plan = plan_refreshes({up, warm}, at(kMidnight + 10 * kSec));
    EXPECT_EQ(decision(plan, 1).period_seconds, 100);
}

TEST(DueTest, DueTablesAreOrderedUpstreamFirst) {
    // Ids deliberately against the dependency order: 3 is read by 2, which is read by 1.
    auto top = table(1, "1s");
    top.upstreams = {2};
    auto mid = table(2, "1s");
    mid.upstreams = {3};
    auto base = table(3, "1s");
    auto other = table(4, "1s");
    auto plan = plan_refreshes({top, mid, base, other}, at(kMidnight + 2 * kSec));
    ASSERT_EQ(plan.due.size(), 4u);
    auto pos = [&](std::int64_t id) {
        return std::find(plan.due.begin(), plan.due.end(), id) - plan.due.begin();
    };
    EXPECT_LT(pos(3), pos(2));
    EXPECT_LT(pos(2), pos(1));

    // Only the due ones, still in order.
    mid.last_refresh_us = kMidnight + 2 * kSec;
    plan = plan_refreshes({top, mid, base, other}, at(kMidnight + 2 * kSec));
    ASSERT_EQ(plan.due.size(), 3u);
    EXPECT_EQ(std::count(plan.due.begin(), plan.due.end(), 2), 0);
    EXPECT_LT(pos(3), pos(1));
}

TEST(DueTest, RefreshOrderSurvivesACycle) {
    auto a = table(1, "1s");
    a.upstreams = {2};
    auto b = table(2, "1s");
    b.upstreams = {1};
    auto c = table(3, "1s");
    auto order = refresh_order({a, b, c});
    EXPECT_EQ(order, (std::vector<std::int64_t>{3, 1, 2}));
}

TEST(DueTest, UpstreamsOutsideTheSetAreIgnored) {
    auto a = table(1, "1s");
    a.upstreams = {42, 1};  // an unknown stream table and itself
    EXPECT_EQ(refresh_order({a}), (std::vector<std::int64_t>{1}));
}

TEST(DueTest, RetryableSqlstates) {
    EXPECT_TRUE(is_retryable_sqlstate("40001"));  // serialization failure
    EXPECT_TRUE(is_retryable_sqlstate("40P01"));  // deadlock
    EXPECT_TRUE(is_retryable_sqlstate("55P03"));  // lock not available
    EXPECT_TRUE(is_retryable_sqlstate("57014"));  // query canceled
    EXPECT_TRUE(is_retryable_sqlstate("08006"));
    EXPECT_FALSE(is_retryable_sqlstate("22012"));  // division by zero
    EXPECT_FALSE(is_retryable_sqlstate("42P01"));
    EXPECT_FALSE(is_retryable_sqlstate("XX000"));
    EXPECT_FALSE(is_retryable_sqlstate(""));
}

TEST(DueTest, RetryBackoffDoublesUpToAMinute) {
    EXPECT_EQ(retry_backoff_ms(1), 1000);
    EXPECT_EQ(retry_backoff_ms(2), 2000);
    EXPECT_EQ(retry_backoff_ms(3), 4000);
    EXPECT_EQ(retry_backoff_ms(6), 32000);
    EXPECT_EQ(retry_backoff_ms(7), 60000);
    EXPECT_EQ(retry_backoff_ms(100), 60000);
    EXPECT_EQ(retry_backoff_ms(0), 1000);
}

}  // namespace
}  // namespace pgtrickle::core
