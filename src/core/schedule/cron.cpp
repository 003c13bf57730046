// Cron expression parsing and next-fire-time search; see cron.hpp for the accepted syntax.
//
// The search walks forward from the start instant, jumping to the next month, day, hour, minute
// or second that can still match, so even a rare schedule costs a few hundred steps per year
// instead of one step per second. Calendar conversions use the days-from-civil algorithm
// (proleptic Gregorian, UTC), so no time zone database is involved.
#include "pg_trickle/core/cron.hpp"

#include <array>
#include <bit>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"

namespace pgtrickle::core {

namespace {

constexpr const char* kCronHint =
    "Use five fields (minute hour day-of-month month day-of-week), six with leading seconds, or "
    "an alias such as @hourly or @daily.";

constexpr std::int64_t kSecondsPerDay = 86400;
// 9999-12-31 23:59:59 UTC: keeps all arithmetic far from int64 overflow.
constexpr std::int64_t kMaxInstant = 253402300799;
// Longest gap between two firings of a satisfiable schedule: February 29 skips eight years when
// a non-leap century year (2100, 2200, 2300) falls between two leap years.
constexpr std::int64_t kSearchYears = 8;

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};

struct FieldSpec {
    const char* name;
    int min;
    int max;
    const std::string_view* names;  // names for values first_name, first_name + 1, ...
    std::size_t name_count;
    int first_name;
    bool allows_question_mark;
};

constexpr FieldSpec kSecondField = {"second", 0, 59, nullptr, 0, 0, false};
constexpr FieldSpec kMinuteField = {"minute", 0, 59, nullptr, 0, 0, false};
constexpr FieldSpec kHourField = {"hour", 0, 23, nullptr, 0, 0, false};
constexpr FieldSpec kDayOfMonthField = {"day-of-month", 1, 31, nullptr, 0, 0, true};
constexpr FieldSpec kMonthField = {"month", 1,    12, kMonthNames.data(), kMonthNames.size(),
                                   1,       false};
constexpr FieldSpec kDayOfWeekField = {"day-of-week",    0, 7,   kDayNames.data(),
                                       kDayNames.size(), 0, true};

struct Alias {
    std::string_view name;
    std::string_view expansion;
};

constexpr std::array<Alias, 7> kAliases = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

char to_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_lower(a[i]) != to_lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::vector<std::string_view> split_fields(std::string_view s) {
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) {
            ++i;
        }
        const std::size_t start = i;
        while (i < s.size() && !is_space(s[i])) {
            ++i;
        }
        if (i > start) {
            fields.push_back(s.substr(start, i - start));
        }
    }
    return fields;
}

class FieldParser {
  public:
    FieldParser(std::string_view expr, const FieldSpec& spec) : expr_(expr), spec_(spec) {}

    // Returns the set of matching values as a bit mask (bit i set when value i matches).
    std::uint64_t parse(std::string_view field) const {
        std::uint64_t bits = 0;
        std::size_t start = 0;
        while (true) {
            const std::size_t comma = field.find(',', start);
            const std::string_view element =
                field.substr(start, comma == std::string_view::npos ? field.npos : comma - start);
            bits |= parse_element(element);
            if (comma == std::string_view::npos) {
                return bits;
            }
            start = comma + 1;
        }
    }

  private:
    [[noreturn]] void fail(std::string_view problem) const {
        throw invalid_argument(
            fmt::format("invalid cron expression \"{}\": {} {}", expr_, spec_.name, problem), {},
            kCronHint);
    }

    std::uint64_t parse_element(std::string_view element) const {
        if (element.empty()) {
            fail("has an empty list element");
        }
        std::optional<int> step;
        std::string_view base = element;
        if (const std::size_t slash = element.find('/'); slash != std::string_view::npos) {
            base = element.substr(0, slash);
            step = parse_step(element.substr(slash + 1));
        }

        int low = 0;
        int high = 0;
        if (base == "*" || base == "?") {
            if (base == "?" && !spec_.allows_question_mark) {
                fail("does not allow \"?\" (only day-of-month and day-of-week do)");
            }
            low = spec_.min;
            high = spec_.max;
        } else if (const std::size_t dash = base.find('-'); dash != std::string_view::npos) {
            low = parse_value(base.substr(0, dash));
            high = parse_value(base.substr(dash + 1));
            if (low > high) {
                fail(fmt::format("range {}-{} has its start after its end", low, high));
            }
        } else {
            low = parse_value(base);
            // "a/n" means every n-th value from a to the end of the field's range.
            high = step ? spec_.max : low;
        }

        std::uint64_t bits = 0;
        for (int v = low; v <= high; v += step.value_or(1)) {
            bits |= std::uint64_t{1} << v;
        }
        return bits;
    }

    int parse_step(std::string_view text) const {
        const int span = spec_.max - spec_.min + 1;
        const std::optional<int> step = parse_number(text);
        if (!step) {
            fail(fmt::format("step \"{}\" is not a number", text));
        }
        if (*step < 1 || *step > span) {
            fail(fmt::format("step {} out of range 1-{}", text, span));
        }
        return *step;
    }

    int parse_value(std::string_view text) const {
        if (const std::optional<int> number = parse_number(text)) {
            if (*number < spec_.min || *number > spec_.max) {
                fail(fmt::format("value {} out of range {}-{}", text, spec_.min, spec_.max));
            }
            return *number;
        }
        for (std::size_t i = 0; i < spec_.name_count; ++i) {
            if (iequals(text, spec_.names[i])) {
                return spec_.first_name + static_cast<int>(i);
            }
        }
        if (text.empty()) {
            fail("has an empty value");
        }
        fail(fmt::format("value \"{}\" is not valid", text));
    }

    // A non-empty run of decimal digits; values too large for any field come back as 1000 so that
    // the range check reports them with the text the user wrote.
    static std::optional<int> parse_number(std::string_view text) {
        if (text.empty()) {
            return std::nullopt;
        }
        int value = 0;
        for (char c : text) {
            if (!is_digit(c)) {
                return std::nullopt;
            }
            value = value * 10 + (c - '0');
            if (value >= 1000) {
                value = 1000;
            }
        }
        return value;
    }

    std::string_view expr_;
    const FieldSpec& spec_;
};

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        --q;
    }
    return q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = floor_div(y, 400);
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

struct CivilDate {
    std::int64_t year;
    int month;
    int day;
};

// Inverse of days_from_civil (Howard Hinnant's civil_from_days).
CivilDate civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = floor_div(z, 146097);
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// 0 = Sunday; 1970-01-01 was a Thursday.
int weekday_from_days(std::int64_t days) {
    return static_cast<int>(days - floor_div(days + 4, 7) * 7 + 4);
}

// The smallest value >= from whose bit is set, or -1.
int next_set_bit(std::uint64_t bits, int from) {
    if (from >= 64) {
        return -1;
    }
    const std::uint64_t remaining = bits >> from;
    return remaining == 0 ? -1 : from + std::countr_zero(remaining);
}

}  // namespace

CronSchedule CronSchedule::parse(std::string_view expr) {
    const std::string_view text = trim(expr);
    std::string_view pattern = text;
    if (!text.empty() && text.front() == '@') {
        pattern = {};
        for (const Alias& alias : kAliases) {
            if (iequals(text, alias.name)) {
                pattern = alias.expansion;
            }
        }
        if (pattern.empty()) {
            throw invalid_argument(
                fmt::format("invalid cron expression \"{}\": unknown alias", text),
                "Known aliases are @yearly, @annually, @monthly, @weekly, @daily, @midnight and "
                "@hourly.",
                kCronHint);
        }
    }

    const std::vector<std::string_view> fields = split_fields(pattern);
    if (fields.size() != 5 && fields.size() != 6) {
        throw invalid_argument(fmt::format("invalid cron expression \"{}\": expected 5 or 6 "
                                           "fields, got {}",
                                           text, fields.size()),
                               {}, kCronHint);
    }
    const std::size_t offset = fields.size() - 5;

    CronSchedule schedule;
    schedule.text_ = std::string(text);
    schedule.seconds_ = offset == 1 ? FieldParser(text, kSecondField).parse(fields[0]) : 1;
    schedule.minutes_ = FieldParser(text, kMinuteField).parse(fields[offset]);
    schedule.hours_ =
        static_cast<std::uint32_t>(FieldParser(text, kHourField).parse(fields[offset + 1]));
    schedule.days_of_month_ =
        static_cast<std::uint32_t>(FieldParser(text, kDayOfMonthField).parse(fields[offset + 2]));
    schedule.months_ =
        static_cast<std::uint16_t>(FieldParser(text, kMonthField).parse(fields[offset + 3]));
    std::uint64_t dow = FieldParser(text, kDayOfWeekField).parse(fields[offset + 4]);
    if (dow & (std::uint64_t{1} << 7)) {
        dow = (dow & ~(std::uint64_t{1} << 7)) | 1;  // 7 is Sunday, like 0
    }
    schedule.days_of_week_ = static_cast<std::uint8_t>(dow);
    const std::string_view dom_text = fields[offset + 2];
    const std::string_view dow_text = fields[offset + 4];
    schedule.any_day_of_month_ = dom_text == "*" || dom_text == "?";
    schedule.any_day_of_week_ = dow_text == "*" || dow_text == "?";
    return schedule;
}

bool CronSchedule::day_matches(int day_of_month, int day_of_week) const {
    const bool dom = (days_of_month_ >> day_of_month) & 1;
    const bool dow = (days_of_week_ >> day_of_week) & 1;
    if (any_day_of_month_ || any_day_of_week_) {
        return dom && dow;
    }
    return dom || dow;
}

std::int64_t CronSchedule::next_after(std::int64_t unix_seconds) const {
    if (unix_seconds >= kMaxInstant) {
        return -1;
    }
    std::int64_t t = unix_seconds + 1;
    const std::int64_t last_year =
        civil_from_days(floor_div(t, kSecondsPerDay)).year + kSearchYears;

    while (t <= kMaxInstant) {
        const std::int64_t days = floor_div(t, kSecondsPerDay);
        const std::int64_t day_start = days * kSecondsPerDay;
        const CivilDate date = civil_from_days(days);
        if (date.year > last_year) {
            return -1;
        }
        if (!((months_ >> date.month) & 1)) {
            const bool december = date.month == 12;
            t = days_from_civil(december ? date.year + 1 : date.year, december ? 1 : date.month + 1,
                                1) *
                kSecondsPerDay;
            continue;
        }
        if (!day_matches(date.day, weekday_from_days(days))) {
            t = day_start + kSecondsPerDay;
            continue;
        }

        const std::int64_t second_of_day = t - day_start;
        const int hour = static_cast<int>(second_of_day / 3600);
        const int minute = static_cast<int>(second_of_day / 60 % 60);
        const int second = static_cast<int>(second_of_day % 60);

        const int next_hour = next_set_bit(hours_, hour);
        if (next_hour < 0) {
            t = day_start + kSecondsPerDay;
            continue;
        }
        if (next_hour != hour) {
            t = day_start + next_hour * 3600;
            continue;
        }
        const int next_minute = next_set_bit(minutes_, minute);
        if (next_minute < 0) {
            t = day_start + (hour + 1) * 3600;
            continue;
        }
        if (next_minute != minute) {
            t = day_start + hour * 3600 + next_minute * 60;
            continue;
        }
        const int next_second = next_set_bit(seconds_, second);
        if (next_second < 0) {
            t = day_start + hour * 3600 + (minute + 1) * 60;
            continue;
        }
        return day_start + hour * 3600 + minute * 60 + next_second;
    }
    return -1;
}

}  // namespace pgtrickle::core
