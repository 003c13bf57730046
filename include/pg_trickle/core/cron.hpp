// Cron schedules: parsing a cron expression and finding the next instant it fires.
//
// The syntax is croner-compatible: five fields (minute hour day-of-month month day-of-week) or six
// with a leading seconds field, or one of the aliases @yearly, @annually, @monthly, @weekly,
// @daily, @midnight, @hourly. A field is a comma-separated list of `*`, `?` (day fields only),
// `n`, `a-b`, `*/n`, `a-b/n` or `a/n`; months and weekdays also take names (JAN-DEC, SUN-SAT), and
// day-of-week 7 means Sunday like 0. When both day-of-month and day-of-week are restricted, a day
// matches if either matches (Vixie cron semantics). All times are UTC.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pgtrickle::core {

class CronSchedule {
  public:
    // Throws invalid_argument naming the offending field for any malformed expression.
    static CronSchedule parse(std::string_view expr);

    // The smallest instant (unix seconds, UTC) strictly greater than `unix_seconds` that matches
    // the schedule, or -1 if none exists within the search horizon (about eight years, enough for
    // every satisfiable schedule, including February 29 across a non-leap century year) or before
    // the end of year 9999. Impossible schedules such as "0 0 30 2 *" therefore return -1.
    std::int64_t next_after(std::int64_t unix_seconds) const;

    // The expression as given, without surrounding whitespace.
    const std::string& text() const { return text_; }

    bool operator==(const CronSchedule&) const = default;

  private:
    CronSchedule() = default;

    bool day_matches(int day_of_month, int day_of_week) const;

    std::string text_;
    // Bit i is set when value i matches. Day-of-week is folded to 0-6 (7 becomes 0).
    std::uint64_t seconds_ = 0;
    std::uint64_t minutes_ = 0;
    std::uint32_t hours_ = 0;
    std::uint32_t days_of_month_ = 0;
    std::uint16_t months_ = 0;
    std::uint8_t days_of_week_ = 0;
    // True when the field was written as `*` or `?`; decides between AND and OR day matching.
    bool any_day_of_month_ = true;
    bool any_day_of_week_ = true;
};

}  // namespace pgtrickle::core
