// Unit tests of duration parsing/formatting and schedule classification.
#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "pg_trickle/core/duration.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/schedule.hpp"

namespace pgtrickle::core {
namespace {

template <typename F>
Error error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "expected an Error";
    return Error("", "");
}

Error duration_error(std::string_view text) {
    return error_of([&] { parse_duration_seconds(text); });
}

TEST(DurationTest, SingleUnits) {
    EXPECT_EQ(parse_duration_seconds("30s"), 30);
    EXPECT_EQ(parse_duration_seconds("5m"), 300);
    EXPECT_EQ(parse_duration_seconds("1h"), 3600);
    EXPECT_EQ(parse_duration_seconds("1d"), 86400);
    EXPECT_EQ(parse_duration_seconds("1w"), 604800);
    EXPECT_EQ(parse_duration_seconds("0s"), 0);
    EXPECT_EQ(parse_duration_seconds("007s"), 7);
}

TEST(DurationTest, CompoundDurations) {
    EXPECT_EQ(parse_duration_seconds("1h30m"), 5400);
    EXPECT_EQ(parse_duration_seconds("2m30s"), 150);
    EXPECT_EQ(parse_duration_seconds("1w2d"), 777600);
    EXPECT_EQ(parse_duration_seconds("1w1d1h1m1s"), 694861);
    EXPECT_EQ(parse_duration_seconds("1d12h"), 129600);
    EXPECT_EQ(parse_duration_seconds("90m"), 5400);  // no carry limits within a unit
}

TEST(DurationTest, BareIntegerIsSeconds) {
    EXPECT_EQ(parse_duration_seconds("90"), 90);
    EXPECT_EQ(parse_duration_seconds("0"), 0);
    EXPECT_EQ(parse_duration_seconds("9223372036854775807"),
              std::numeric_limits<std::int64_t>::max());
}

TEST(DurationTest, SurroundingWhitespace) {
    EXPECT_EQ(parse_duration_seconds("  5m  "), 300);
    EXPECT_EQ(parse_duration_seconds("\t10s\n"), 10);
}

TEST(DurationTest, LargestValues) {
    EXPECT_EQ(parse_duration_seconds("9223372036854775807s"),
              std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(parse_duration_seconds("15250284452471w"), INT64_C(9223372036854460800));
    EXPECT_EQ(parse_duration_seconds("15250284452471w3d"), INT64_C(9223372036854720000));
}

TEST(DurationTest, Overflow) {
    EXPECT_STREQ(duration_error("9223372036854775808").what(),
                 "invalid duration \"9223372036854775808\": value is out of range");
    EXPECT_STREQ(duration_error("99999999999999999999s").what(),
                 "invalid duration \"99999999999999999999s\": value is out of range");
    // Overflow in the multiplication by the unit.
    EXPECT_STREQ(duration_error("15250284452472w").what(),
                 "invalid duration \"15250284452472w\": value is out of range");
    // Overflow in the sum of the parts.
    EXPECT_STREQ(duration_error("15250284452471w4d").what(),
                 "invalid duration \"15250284452471w4d\": value is out of range");
}

TEST(DurationTest, ErrorsCarrySqlstateAndHint) {
    const Error e = duration_error("1h30");
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_STREQ(e.what(), "invalid duration \"1h30\": trailing digits without a unit");
    EXPECT_EQ(e.hint(), "Use a duration such as '30s', '5m', '1h30m', or a cron expression.");
}

TEST(DurationTest, RejectsBadInput) {
    struct Case {
        const char* input;
        const char* message;
    };
    const Case cases[] = {
        {"", "invalid duration \"\": empty"},
        {"   ", "invalid duration \"\": empty"},
        {"5x", "invalid duration \"5x\": unknown unit \"x\" (expected w, d, h, m or s)"},
        {"5ms", "invalid duration \"5ms\": unknown unit \"ms\" (expected w, d, h, m or s)"},
        {"5S", "invalid duration \"5S\": unknown unit \"S\" (expected w, d, h, m or s)"},
        {"5sec", "invalid duration \"5sec\": unknown unit \"sec\" (expected w, d, h, m or s)"},
        {"1h30", "invalid duration \"1h30\": trailing digits without a unit"},
        {"1w2d3", "invalid duration \"1w2d3\": trailing digits without a unit"},
        {"-5s", "invalid duration \"-5s\": negative durations are not allowed"},
        {"-5", "invalid duration \"-5\": negative durations are not allowed"},
        {"+5s", "invalid duration \"+5s\": sign characters are not allowed"},
        {"5-s", "invalid duration \"5-s\": unexpected character \"-\""},
        {"h", "invalid duration \"h\": unexpected character \"h\""},
        {"1.5h", "invalid duration \"1.5h\": unexpected character \".\""},
        // (A multi-byte character is quoted whole: one byte of it is not valid UTF-8.)
        {"5\xc3\xa9", "invalid duration \"5\xc3\xa9\": unexpected character \"\xc3\xa9\""},
        {"\xd9\xa1s", "invalid duration \"\xd9\xa1s\": unexpected character \"\xd9\xa1\""},
        {"1h 30m", "invalid duration \"1h 30m\": unexpected character \" \""},
        {"1h1h", "invalid duration \"1h1h\": unit \"h\" is repeated"},
        {"1m2s3s", "invalid duration \"1m2s3s\": unit \"s\" is repeated"},
        {"30m1h",
         "invalid duration \"30m1h\": unit \"h\" is out of order (use w, d, h, m, s order)"},
        {"1s1w", "invalid duration \"1s1w\": unit \"w\" is out of order (use w, d, h, m, s order)"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.input);
        const Error e = duration_error(c.input);
        EXPECT_STREQ(e.what(), c.message);
        EXPECT_EQ(e.sqlstate(), sqlstate::kInvalidParameterValue);
        EXPECT_FALSE(e.hint().empty());
    }
}

TEST(DurationTest, FormatCanonical) {
    EXPECT_EQ(format_duration(0), "0s");
    EXPECT_EQ(format_duration(45), "45s");
    EXPECT_EQ(format_duration(60), "1m");
    EXPECT_EQ(format_duration(90), "1m30s");
    EXPECT_EQ(format_duration(5400), "1h30m");
    EXPECT_EQ(format_duration(3600), "1h");
    EXPECT_EQ(format_duration(86400), "1d");
    EXPECT_EQ(format_duration(90000), "1d1h");
    EXPECT_EQ(format_duration(90061), "1d1h1m1s");
    EXPECT_EQ(format_duration(604800), "1w");
    EXPECT_EQ(format_duration(694861), "1w1d1h1m1s");
    EXPECT_EQ(format_duration(3601), "1h1s");
}

TEST(DurationTest, FormatRejectsNegative) {
    const Error e = error_of([] { format_duration(-1); });
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_STREQ(e.what(), "invalid duration -1s: must not be negative");
}

TEST(DurationTest, FormatRoundTrips) {
    const std::int64_t values[] = {0,
                                   1,
                                   59,
                                   60,
                                   61,
                                   3599,
                                   3600,
                                   3661,
                                   86399,
                                   86400,
                                   604799,
                                   604800,
                                   777600,
                                   1234567,
                                   INT64_C(31536000),
                                   std::numeric_limits<std::int64_t>::max()};
    for (std::int64_t v : values) {
        SCOPED_TRACE(v);
        EXPECT_EQ(parse_duration_seconds(format_duration(v)), v);
    }
    for (std::int64_t v = 0; v < 200000; v += 37) {
        ASSERT_EQ(parse_duration_seconds(format_duration(v)), v);
    }
}

TEST(ScheduleTest, Calculated) {
    for (const char* text : {"calculated", "CALCULATED", "  Calculated \t"}) {
        SCOPED_TRACE(text);
        const Schedule s = parse_schedule(text);
        EXPECT_EQ(s.kind, ScheduleKind::Calculated);
        EXPECT_EQ(s.stored, "");
        EXPECT_EQ(s.seconds, 0);
        EXPECT_FALSE(s.cron.has_value());
    }
}

TEST(ScheduleTest, Duration) {
    const Schedule s = parse_schedule("  1h30m ");
    EXPECT_EQ(s.kind, ScheduleKind::Duration);
    EXPECT_EQ(s.stored, "1h30m");
    EXPECT_EQ(s.seconds, 5400);
    EXPECT_FALSE(s.cron.has_value());

    const Schedule bare = parse_schedule("90");
    EXPECT_EQ(bare.kind, ScheduleKind::Duration);
    EXPECT_EQ(bare.stored, "90");
    EXPECT_EQ(bare.seconds, 90);
}

TEST(ScheduleTest, Cron) {
    const Schedule s = parse_schedule(" */5 * * * * ");
    EXPECT_EQ(s.kind, ScheduleKind::Cron);
    EXPECT_EQ(s.stored, "*/5 * * * *");
    EXPECT_EQ(s.seconds, 0);
    ASSERT_TRUE(s.cron.has_value());
    EXPECT_EQ(s.cron->text(), "*/5 * * * *");
    EXPECT_EQ(s.cron->next_after(0), 300);
}

TEST(ScheduleTest, CronAlias) {
    const Schedule s = parse_schedule("@hourly");
    EXPECT_EQ(s.kind, ScheduleKind::Cron);
    EXPECT_EQ(s.stored, "@hourly");
    ASSERT_TRUE(s.cron.has_value());
    EXPECT_EQ(s.cron->next_after(0), 3600);

    EXPECT_EQ(parse_schedule("@Daily").kind, ScheduleKind::Cron);
}

TEST(ScheduleTest, CronWithTabs) {
    const Schedule s = parse_schedule("0\t12\t*\t*\t*");
    EXPECT_EQ(s.kind, ScheduleKind::Cron);
    EXPECT_EQ(s.cron->next_after(0), 12 * 3600);
}

TEST(ScheduleTest, Errors) {
    const Error empty = error_of([] { parse_schedule("   "); });
    EXPECT_STREQ(empty.what(), "schedule must not be empty");
    EXPECT_EQ(empty.sqlstate(), "22023");
    EXPECT_FALSE(empty.hint().empty());

    EXPECT_STREQ(error_of([] { parse_schedule("*/5"); }).what(),
                 "invalid duration \"*/5\": unexpected character \"*\"");
    EXPECT_STREQ(error_of([] { parse_schedule("calc"); }).what(),
                 "invalid duration \"calc\": unexpected character \"c\"");
    EXPECT_STREQ(error_of([] { parse_schedule("61 * * * *"); }).what(),
                 "invalid cron expression \"61 * * * *\": minute value 61 out of range 0-59");
    EXPECT_STREQ(error_of([] { parse_schedule("@often"); }).what(),
                 "invalid cron expression \"@often\": unknown alias");
    EXPECT_STREQ(error_of([] { parse_schedule("-5s"); }).what(),
                 "invalid duration \"-5s\": negative durations are not allowed");
}

TEST(ScheduleTest, MinSchedule) {
    EXPECT_NO_THROW(check_min_schedule(parse_schedule("1m"), 60));
    EXPECT_NO_THROW(check_min_schedule(parse_schedule("1h"), 60));
    EXPECT_NO_THROW(check_min_schedule(parse_schedule("calculated"), 60));
    EXPECT_NO_THROW(check_min_schedule(parse_schedule("* * * * * *"), 60));

    const Error e = error_of([] { check_min_schedule(parse_schedule("30s"), 60); });
    EXPECT_STREQ(e.what(), "schedule must be at least 60s, got 30s");
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_EQ(e.hint(), "Use an interval of at least 60s, or a cron expression.");

    EXPECT_STREQ(error_of([] { check_min_schedule(parse_schedule("0"), 1); }).what(),
                 "schedule must be at least 1s, got 0s");
}

}  // namespace
}  // namespace pgtrickle::core
