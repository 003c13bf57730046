// Unit tests of cron expression parsing and next-fire-time computation.
#include <cstdint>
#include <ctime>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pg_trickle/core/cron.hpp"
#include "pg_trickle/core/error.hpp"

namespace pgtrickle::core {
namespace {

// Unix seconds of a UTC time, computed by the C library so the expectations do not share the
// calendar code under test.
std::int64_t utc(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::int64_t next(std::string_view expr, std::int64_t after) {
    return CronSchedule::parse(expr).next_after(after);
}

Error cron_error(std::string_view expr) {
    try {
        CronSchedule::parse(expr);
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "expected an Error for " << expr;
    return Error("", "");
}

TEST(CronTest, NextIsStrictlyAfter) {
    EXPECT_EQ(next("*/5 * * * *", utc(2024, 1, 1)), utc(2024, 1, 1, 0, 5));
    EXPECT_EQ(next("*/5 * * * *", utc(2024, 1, 1, 0, 3, 17)), utc(2024, 1, 1, 0, 5));
    EXPECT_EQ(next("*/5 * * * *", utc(2024, 1, 1, 0, 4, 59)), utc(2024, 1, 1, 0, 5));
    EXPECT_EQ(next("* * * * *", utc(2024, 1, 1, 0, 0, 30)), utc(2024, 1, 1, 0, 1));
    EXPECT_EQ(next("0 * * * *", utc(2024, 1, 1, 12)), utc(2024, 1, 1, 13));
}

TEST(CronTest, FiveFieldFormFiresOnSecondZero) {
    const CronSchedule s = CronSchedule::parse("30 12 * * *");
    EXPECT_EQ(s.next_after(utc(2024, 5, 5, 12, 29, 59)), utc(2024, 5, 5, 12, 30, 0));
    EXPECT_EQ(s.next_after(utc(2024, 5, 5, 12, 30, 0)), utc(2024, 5, 6, 12, 30, 0));
}

TEST(CronTest, SixFieldSeconds) {
    EXPECT_EQ(next("*/15 * * * * *", utc(2024, 1, 1)), utc(2024, 1, 1, 0, 0, 15));
    EXPECT_EQ(next("*/15 * * * * *", utc(2024, 1, 1, 0, 0, 59)), utc(2024, 1, 1, 0, 1, 0));
    EXPECT_EQ(next("30 0 12 * * *", utc(2024, 1, 1)), utc(2024, 1, 1, 12, 0, 30));
    EXPECT_EQ(next("30 0 12 * * *", utc(2024, 1, 1, 12, 0, 30)), utc(2024, 1, 2, 12, 0, 30));
    EXPECT_EQ(next("* * * * * *", utc(2024, 1, 1, 23, 59, 59)), utc(2024, 1, 2));
    EXPECT_EQ(next("0,59 * * * * *", utc(2024, 1, 1, 0, 0, 0)), utc(2024, 1, 1, 0, 0, 59));
}

TEST(CronTest, Aliases) {
    EXPECT_EQ(next("@hourly", utc(2024, 3, 10, 7, 15)), utc(2024, 3, 10, 8));
    EXPECT_EQ(next("@HOURLY", utc(2024, 3, 10, 7, 15)), utc(2024, 3, 10, 8));
    EXPECT_EQ(next("@daily", utc(2024, 12, 31, 10)), utc(2025, 1, 1));
    EXPECT_EQ(next("@midnight", utc(2024, 12, 31, 10)), utc(2025, 1, 1));
    EXPECT_EQ(next("@monthly", utc(2024, 1, 31, 12)), utc(2024, 2, 1));
    EXPECT_EQ(next("@yearly", utc(2024, 6, 1)), utc(2025, 1, 1));
    EXPECT_EQ(next("@annually", utc(2024, 6, 1)), utc(2025, 1, 1));
    // 2024-01-01 is a Monday.
    EXPECT_EQ(next("@weekly", utc(2024, 1, 1)), utc(2024, 1, 7));
    EXPECT_EQ(CronSchedule::parse("@hourly"), CronSchedule::parse("@hourly"));
}

TEST(CronTest, TextIsTrimmedInput) {
    EXPECT_EQ(CronSchedule::parse("  */5 * * * *  ").text(), "*/5 * * * *");
    EXPECT_EQ(CronSchedule::parse("@Hourly").text(), "@Hourly");
}

TEST(CronTest, MonthAndYearBoundaries) {
    EXPECT_EQ(next("0 0 1 1 *", utc(2024, 12, 31, 23, 59, 59)), utc(2025, 1, 1));
    EXPECT_EQ(next("59 23 31 12 *", utc(2024, 12, 31, 23, 59)), utc(2025, 12, 31, 23, 59));
    EXPECT_EQ(next("30 23 * * *", utc(2024, 1, 31, 23, 45)), utc(2024, 2, 1, 23, 30));
    // April has no 31st.
    EXPECT_EQ(next("0 0 31 * *", utc(2024, 4, 1)), utc(2024, 5, 31));
    EXPECT_EQ(next("0 0 31 * *", utc(2024, 12, 31)), utc(2025, 1, 31));
    EXPECT_EQ(next("0 0 30 * *", utc(2023, 1, 31)), utc(2023, 3, 30));
    EXPECT_EQ(next("0 12 1 */3 *", utc(2024, 11, 15)), utc(2025, 1, 1, 12));
}

TEST(CronTest, LeapYears) {
    EXPECT_EQ(next("0 0 29 2 *", utc(2023, 1, 1)), utc(2024, 2, 29));
    EXPECT_EQ(next("0 0 29 2 *", utc(2024, 3, 1)), utc(2028, 2, 29));
    EXPECT_EQ(next("0 0 29 2 *", utc(2024, 2, 29)), utc(2028, 2, 29));
    // 2000 was a leap year (divisible by 400).
    EXPECT_EQ(next("0 0 29 2 *", utc(1997, 1, 1)), utc(2000, 2, 29));
    // 2100 is not: the gap from 2096 to 2104 is eight years and must still be found.
    EXPECT_EQ(next("0 0 29 2 *", utc(2096, 3, 1)), utc(2104, 2, 29));
    EXPECT_EQ(next("0 0 * 2 *", utc(2100, 2, 28)), utc(2101, 2, 1));
    EXPECT_EQ(next("0 0 * 3 *", utc(2024, 2, 28, 12)), utc(2024, 3, 1));
}

TEST(CronTest, ImpossibleDatesReturnMinusOne) {
    EXPECT_EQ(next("0 0 30 2 *", utc(2024, 1, 1)), -1);
    EXPECT_EQ(next("0 0 31 4 *", utc(2024, 1, 1)), -1);
    EXPECT_EQ(next("0 0 31 2,4,6,9,11 *", 0), -1);
    EXPECT_EQ(next("* * * 30 2 *", 0), -1);
}

TEST(CronTest, SupportedRange) {
    EXPECT_EQ(next("* * * * *", std::numeric_limits<std::int64_t>::max()), -1);
    EXPECT_EQ(next("* * * * * *", utc(9999, 12, 31, 23, 59, 58)), utc(9999, 12, 31, 23, 59, 59));
    EXPECT_EQ(next("* * * * * *", utc(9999, 12, 31, 23, 59, 59)), -1);
    EXPECT_EQ(next("0 0 1 1 *", utc(9999, 6, 1)), -1);
    // Before 1970.
    EXPECT_EQ(next("0 0 1 1 *", utc(1969, 6, 1)), 0);
    EXPECT_EQ(next("0 0 29 2 *", utc(1899, 1, 1)), utc(1904, 2, 29));
    EXPECT_EQ(next("*/10 * * * *", -1), 0);
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
    // The 13th of the month or any Friday.
    const CronSchedule s = CronSchedule::parse("0 0 13 * 5");
    std::vector<std::int64_t> fired;
    std::int64_t t = utc(2024, 9, 1);
    for (int i = 0; i < 9; ++i) {
        t = s.next_after(t);
        fired.push_back(t);
    }
    const std::vector<std::int64_t> expected = {
        utc(2024, 9, 6),
        utc(2024, 9, 13),
        utc(2024, 9, 20),
        utc(2024, 9, 27),
        utc(2024, 10, 4),
        utc(2024, 10, 11),
        utc(2024, 10, 13),  // a Sunday, matched by
                            // day-of-month
        utc(2024, 10, 18),
        utc(2024, 10, 25),
    };
    EXPECT_EQ(fired, expected);
}

TEST(CronTest, DayFieldsAndWhenOneIsUnrestricted) {
    EXPECT_EQ(next("0 0 13 * *", utc(2024, 9, 1)), utc(2024, 9, 13));
    EXPECT_EQ(next("0 0 13 * ?", utc(2024, 9, 1)), utc(2024, 9, 13));
    // 2024-09-02 is a Monday.
    EXPECT_EQ(next("0 0 * * 1", utc(2024, 9, 1)), utc(2024, 9, 2));
    EXPECT_EQ(next("0 0 ? * 1", utc(2024, 9, 1)), utc(2024, 9, 2));
    // Weekdays: from Friday noon to Monday midnight.
    EXPECT_EQ(next("0 0 * * MON-FRI", utc(2024, 1, 5, 12)), utc(2024, 1, 8));
    // A month restriction still applies with OR day semantics.
    EXPECT_EQ(next("0 0 1 6 MON", utc(2024, 1, 1)), utc(2024, 6, 1));
    EXPECT_EQ(next("0 0 1 6 MON", utc(2024, 6, 1)), utc(2024, 6, 3));
}

TEST(CronTest, DayOfWeekSevenIsSunday) {
    const std::int64_t start = utc(2024, 1, 1);  // Monday
    const std::int64_t sunday = utc(2024, 1, 7);
    EXPECT_EQ(next("0 0 * * 0", start), sunday);
    EXPECT_EQ(next("0 0 * * 7", start), sunday);
    EXPECT_EQ(next("0 0 * * SUN", start), sunday);
    EXPECT_EQ(next("0 0 * * sun", start), sunday);
    EXPECT_EQ(CronSchedule::parse("0 0 * * 7").next_after(sunday), utc(2024, 1, 14));
    // 5-7 is Friday, Saturday, Sunday.
    const CronSchedule weekend = CronSchedule::parse("0 0 * * 5-7");
    EXPECT_EQ(weekend.next_after(start), utc(2024, 1, 5));
    EXPECT_EQ(weekend.next_after(utc(2024, 1, 5)), utc(2024, 1, 6));
    EXPECT_EQ(weekend.next_after(utc(2024, 1, 6)), utc(2024, 1, 7));
    EXPECT_EQ(weekend.next_after(utc(2024, 1, 7)), utc(2024, 1, 12));
}

TEST(CronTest, MonthNames) {
    EXPECT_EQ(next("0 0 1 JAN,jul *", utc(2024, 2, 1)), utc(2024, 7, 1));
    EXPECT_EQ(next("0 0 1 Jan,Jul *", utc(2024, 7, 1)), utc(2025, 1, 1));
    EXPECT_EQ(next("0 0 1 mar-may *", utc(2024, 3, 1)), utc(2024, 4, 1));
    EXPECT_EQ(next("0 0 1 DEC *", utc(2024, 1, 1)), utc(2024, 12, 1));
}

TEST(CronTest, StepsRangesAndLists) {
    // Hours 0, 5, 10.
    EXPECT_EQ(next("0 0-10/5 * * *", utc(2024, 1, 1, 6)), utc(2024, 1, 1, 10));
    EXPECT_EQ(next("0 0-10/5 * * *", utc(2024, 1, 1, 10)), utc(2024, 1, 2, 0));
    // "a/n" runs from a to the end of the range: minutes 5, 25, 45.
    EXPECT_EQ(next("5/20 * * * *", utc(2024, 1, 1, 0, 5)), utc(2024, 1, 1, 0, 25));
    EXPECT_EQ(next("5/20 * * * *", utc(2024, 1, 1, 0, 45)), utc(2024, 1, 1, 1, 5));
    EXPECT_EQ(next("0 */6 * * *", utc(2024, 1, 1, 13)), utc(2024, 1, 1, 18));
    EXPECT_EQ(next("0,30 9,17 * * *", utc(2024, 1, 1, 9, 30)), utc(2024, 1, 1, 17));
    EXPECT_EQ(next("0,30 9,17 * * *", utc(2024, 1, 1, 17, 30)), utc(2024, 1, 2, 9));
    EXPECT_EQ(next("10-12,50 * * * *", utc(2024, 1, 1, 0, 11)), utc(2024, 1, 1, 0, 12));
    EXPECT_EQ(next("10-12,50 * * * *", utc(2024, 1, 1, 0, 12)), utc(2024, 1, 1, 0, 50));
    EXPECT_EQ(next("*/2 * * * *", utc(2024, 1, 1, 0, 59)), utc(2024, 1, 1, 1, 0));
    EXPECT_EQ(next("0 0 */10 * *", utc(2024, 1, 1)), utc(2024, 1, 11));
    EXPECT_EQ(next("0 0 */10 * *", utc(2024, 1, 31)), utc(2024, 2, 1));
}

// Compares next_after with a naive scan, `granularity` seconds at a time, judged by an independent
// predicate.
void check_against_scan(std::string_view expr, const std::function<bool(const std::tm&)>& matches,
                        std::int64_t from, int days, std::int64_t granularity = 60) {
    SCOPED_TRACE(std::string(expr));
    const CronSchedule s = CronSchedule::parse(expr);
    std::int64_t expected = -1;
    std::int64_t t = from;
    int step = 0;
    const std::int64_t end = from + std::int64_t{days} * 86400;
    while (t < end) {
        std::int64_t candidate = (t / granularity + 1) * granularity;
        while (candidate < end) {
            const std::time_t ct = static_cast<std::time_t>(candidate);
            std::tm tm{};
            gmtime_r(&ct, &tm);
            if (matches(tm)) {
                break;
            }
            candidate += granularity;
        }
        if (candidate >= end) {
            break;
        }
        expected = candidate;
        ASSERT_EQ(s.next_after(t), expected) << "after " << t;
        // Also start from odd seconds within the minute.
        t = expected + (granularity == 1 ? 0 : (++step * 17) % 60);
    }
    EXPECT_NE(expected, -1);
}

TEST(CronTest, AgreesWithNaiveScan) {
    check_against_scan(
        "*/7 3-5,20 * * 1-5",
        [](const std::tm& tm) {
            return tm.tm_min % 7 == 0 &&
                   ((tm.tm_hour >= 3 && tm.tm_hour <= 5) || tm.tm_hour == 20) && tm.tm_wday >= 1 &&
                   tm.tm_wday <= 5;
        },
        utc(2024, 2, 20), 20);
    check_against_scan(
        "15 10 1,15 * SAT",
        [](const std::tm& tm) {
            return tm.tm_min == 15 && tm.tm_hour == 10 &&
                   (tm.tm_mday == 1 || tm.tm_mday == 15 || tm.tm_wday == 6);
        },
        utc(2023, 12, 20), 120);
    check_against_scan(
        "30 */20 8-9 1-3 * 0",
        [](const std::tm& tm) {
            return tm.tm_sec == 30 && tm.tm_min % 20 == 0 && tm.tm_hour >= 8 && tm.tm_hour <= 9 &&
                   (tm.tm_mday <= 3 || tm.tm_wday == 0);
        },
        utc(2024, 2, 25), 12, 1);
}

TEST(CronTest, ManyFiringsAreFast) {
    // Every second for a day, and a rare schedule over decades, stay cheap.
    const CronSchedule every_second = CronSchedule::parse("* * * * * *");
    std::int64_t t = utc(2024, 1, 1);
    for (int i = 0; i < 86400; ++i) {
        t = every_second.next_after(t);
    }
    EXPECT_EQ(t, utc(2024, 1, 2));

    const CronSchedule leap_day = CronSchedule::parse("0 0 29 2 *");
    t = utc(2000, 1, 1);
    int count = 0;
    while (t < utc(2400, 1, 1)) {
        t = leap_day.next_after(t);
        ++count;
    }
    // 97 leap days from 2000 to 2396 (no 2100, 2200, 2300), then 2400-02-29 ends the loop.
    EXPECT_EQ(count, 98);
}

TEST(CronTest, FieldCountErrors) {
    EXPECT_STREQ(cron_error("* * *").what(),
                 "invalid cron expression \"* * *\": expected 5 or 6 fields, got 3");
    EXPECT_STREQ(cron_error("").what(),
                 "invalid cron expression \"\": expected 5 or 6 fields, got 0");
    EXPECT_STREQ(cron_error("* * * * * * *").what(),
                 "invalid cron expression \"* * * * * * *\": expected 5 or 6 fields, got 7");
}

TEST(CronTest, UnknownAlias) {
    const Error e = cron_error("@reboot");
    EXPECT_STREQ(e.what(), "invalid cron expression \"@reboot\": unknown alias");
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_FALSE(e.detail().empty());
    EXPECT_FALSE(e.hint().empty());
    EXPECT_STREQ(cron_error("@every 5m").what(),
                 "invalid cron expression \"@every 5m\": unknown alias");
}

TEST(CronTest, FieldErrors) {
    struct Case {
        const char* expr;
        const char* problem;
    };
    const Case cases[] = {
        {"61 * * * *", "minute value 61 out of range 0-59"},
        {"0 24 * * *", "hour value 24 out of range 0-23"},
        {"0 0 0 * *", "day-of-month value 0 out of range 1-31"},
        {"0 0 32 * *", "day-of-month value 32 out of range 1-31"},
        {"0 0 * 0 *", "month value 0 out of range 1-12"},
        {"0 0 * 13 *", "month value 13 out of range 1-12"},
        {"0 0 * * 8", "day-of-week value 8 out of range 0-7"},
        {"60 * * * * *", "second value 60 out of range 0-59"},
        {"0 0-24 * * *", "hour value 24 out of range 0-23"},
        {"99999999999 * * * *", "minute value 99999999999 out of range 0-59"},
        {"*/0 * * * *", "minute step 0 out of range 1-60"},
        {"*/61 * * * *", "minute step 61 out of range 1-60"},
        {"*/x * * * *", "minute step \"x\" is not a number"},
        {"*/ * * * *", "minute step \"\" is not a number"},
        {"1/2/3 * * * *", "minute step \"2/3\" is not a number"},
        {"5-1 * * * *", "minute range 5-1 has its start after its end"},
        {"0 0 * * FRI-MON", "day-of-week range 5-1 has its start after its end"},
        {"a * * * *", "minute value \"a\" is not valid"},
        {"0 0 * JANUARY *", "month value \"JANUARY\" is not valid"},
        {"0 0 * MON *", "month value \"MON\" is not valid"},
        {"0 0 * * JAN", "day-of-week value \"JAN\" is not valid"},
        {"0 0 L * *", "day-of-month value \"L\" is not valid"},
        {"0 0 * * 5#3", "day-of-week value \"5#3\" is not valid"},
        {"0 0 * * MON-", "day-of-week has an empty value"},
        {"-1 * * * *", "minute has an empty value"},
        {"/5 * * * *", "minute has an empty value"},
        {"1,,2 * * * *", "minute has an empty list element"},
        {"1, * * * *", "minute has an empty list element"},
        {"? * * * *", "minute does not allow \"?\" (only day-of-month and day-of-week do)"},
        {"0 0 * ? *", "month does not allow \"?\" (only day-of-month and day-of-week do)"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.expr);
        const Error e = cron_error(c.expr);
        EXPECT_EQ(std::string(e.what()),
                  std::string("invalid cron expression \"") + c.expr + "\": " + c.problem);
        EXPECT_EQ(e.sqlstate(), sqlstate::kInvalidParameterValue);
        EXPECT_EQ(e.hint(),
                  "Use five fields (minute hour day-of-month month day-of-week), six with leading "
                  "seconds, or an alias such as @hourly or @daily.");
    }
}

TEST(CronTest, ParsesAllValidBounds) {
    EXPECT_NO_THROW(CronSchedule::parse("0-59 0-59 0-23 1-31 1-12 0-7"));
    EXPECT_NO_THROW(CronSchedule::parse("59 23 31 12 7"));
    EXPECT_NO_THROW(CronSchedule::parse("0 0 ? * ?"));
    EXPECT_NO_THROW(CronSchedule::parse("0 0 * * sun,Mon,TUE,wed,thu,fri,sat"));
    EXPECT_NO_THROW(CronSchedule::parse("0 0 1 jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec *"));
}

}  // namespace
}  // namespace pgtrickle::core
