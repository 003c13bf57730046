// Durations written as text, the way a user gives a refresh schedule: "30s", "5m", "1h30m".
//
// The syntax follows Prometheus/GNU style: a sequence of <digits><unit> with units w, d, h, m, s
// (weeks, days, hours, minutes, seconds) in that order, each at most once; a bare non-negative
// integer means seconds. There are no months or years because their length varies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pgtrickle::core {

// Parses a duration and returns it in seconds. Surrounding whitespace is ignored. Throws
// invalid_argument for empty text, unknown units, digits without a unit after a unit ("1h30"),
// signs, repeated or out-of-order units, and values that do not fit an int64.
std::int64_t parse_duration_seconds(std::string_view text);

// The canonical compact form of a duration: the non-zero units from weeks down to seconds, e.g.
// 5400 -> "1h30m", 45 -> "45s", 0 -> "0s". parse_duration_seconds(format_duration(n)) == n.
// Throws invalid_argument for a negative value.
std::string format_duration(std::int64_t seconds);

}  // namespace pgtrickle::core
