// Classification of schedule text into Calculated, Duration or Cron; see schedule.hpp.
#include "pg_trickle/core/schedule.hpp"

#include <fmt/format.h>

#include "pg_trickle/core/duration.hpp"
#include "pg_trickle/core/error.hpp"

namespace pgtrickle::core {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
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

bool is_calculated(std::string_view s) {
    constexpr std::string_view kWord = "calculated";
    if (s.size() != kWord.size()) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = (s[i] >= 'A' && s[i] <= 'Z') ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
        if (c != kWord[i]) {
            return false;
        }
    }
    return true;
}

bool looks_like_cron(std::string_view s) {
    if (!s.empty() && s.front() == '@') {
        return true;
    }
    for (char c : s) {
        if (is_space(c)) {
            return true;
        }
    }
    return false;
}

}  // namespace

Schedule parse_schedule(std::string_view input) {
    const std::string_view text = trim(input);
    Schedule schedule;
    if (text.empty()) {
        throw invalid_argument(
            "schedule must not be empty", {},
            "Use 'calculated', a duration such as '5m', or a cron expression such as '@hourly'.");
    }
    if (is_calculated(text)) {
        schedule.kind = ScheduleKind::Calculated;
        return schedule;
    }
    schedule.stored = std::string(text);
    if (looks_like_cron(text)) {
        schedule.kind = ScheduleKind::Cron;
        schedule.cron = CronSchedule::parse(text);
    } else {
        schedule.kind = ScheduleKind::Duration;
        schedule.seconds = parse_duration_seconds(text);
    }
    return schedule;
}

void check_min_schedule(const Schedule& schedule, std::int64_t min_seconds) {
    if (schedule.kind == ScheduleKind::Duration && schedule.seconds < min_seconds) {
        throw invalid_argument(
            fmt::format("schedule must be at least {}s, got {}s", min_seconds, schedule.seconds),
            {}, fmt::format("Use an interval of at least {}s, or a cron expression.", min_seconds));
    }
}

}  // namespace pgtrickle::core
