// A stream table's refresh schedule as the user writes it: 'calculated', a duration such as
// '5m', or a cron expression such as '*/10 * * * *' or '@hourly'.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pg_trickle/core/cron.hpp"

namespace pgtrickle::core {

enum class ScheduleKind {
    Calculated,  // refresh as often as the tables that read this one need
    Duration,    // refresh every `seconds`
    Cron,        // refresh when `cron` fires
};

struct Schedule {
    ScheduleKind kind = ScheduleKind::Calculated;
    std::string stored;                // catalog text: empty for Calculated, else the trimmed input
    std::int64_t seconds = 0;          // Duration only
    std::optional<CronSchedule> cron;  // Cron only
};

// Classifies and validates a schedule. Surrounding whitespace is ignored; 'calculated' (any case)
// is Calculated; text starting with '@' or containing whitespace is a cron expression; anything
// else is a duration. Throws invalid_argument for empty or malformed text.
Schedule parse_schedule(std::string_view text);

// Throws invalid_argument when a Duration schedule is shorter than `min_seconds`. Cron and
// Calculated schedules always pass: how often a cron expression fires is not one number.
void check_min_schedule(const Schedule& schedule, std::int64_t min_seconds);

}  // namespace pgtrickle::core
