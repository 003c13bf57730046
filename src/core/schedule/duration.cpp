// Parsing and formatting of refresh durations such as "1h30m"; see duration.hpp for the syntax.
#include "pg_trickle/core/duration.hpp"

#include <array>
#include <limits>

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core {

namespace {

constexpr const char* kDurationHint =
    "Use a duration such as '30s', '5m', '1h30m', or a cron expression.";

struct Unit {
    char letter;
    std::int64_t seconds;
};

// Largest first: this is both the required order in the input and the order of the output.
constexpr std::array<Unit, 5> kUnits = {{
    {'w', 7 * 24 * 3600},
    {'d', 24 * 3600},
    {'h', 3600},
    {'m', 60},
    {'s', 1},
}};

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
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

[[noreturn]] void fail(std::string_view text, std::string_view problem) {
    throw invalid_argument(fmt::format("invalid duration \"{}\": {}", text, problem), {},
                           kDurationHint);
}

// Reads the digits at the front of `rest` into a value, removing them from `rest`.
std::int64_t take_number(std::string_view text, std::string_view& rest) {
    std::int64_t value = 0;
    while (!rest.empty() && is_digit(rest.front())) {
        const int digit = rest.front() - '0';
        if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
            fail(text, "value is out of range");
        }
        value = value * 10 + digit;
        rest.remove_prefix(1);
    }
    return value;
}

}  // namespace

std::int64_t parse_duration_seconds(std::string_view input) {
    const std::string_view text = trim(input);
    if (text.empty()) {
        fail(text, "empty");
    }
    if (text.front() == '-') {
        fail(text, "negative durations are not allowed");
    }
    if (text.front() == '+') {
        fail(text, "sign characters are not allowed");
    }

    std::string_view rest = text;
    std::int64_t total = 0;
    bool saw_unit = false;
    std::size_t last_index = 0;  // index into kUnits of the previous unit, valid once saw_unit
    while (!rest.empty()) {
        if (!is_digit(rest.front())) {
            fail(text, fmt::format("unexpected character \"{}\"", first_character(rest)));
        }
        const std::int64_t amount = take_number(text, rest);
        if (rest.empty()) {
            if (saw_unit) {
                fail(text, "trailing digits without a unit");
            }
            return amount;  // a bare integer means seconds
        }

        std::size_t unit_len = 0;
        while (unit_len < rest.size() && is_alpha(rest[unit_len])) {
            ++unit_len;
        }
        if (unit_len == 0) {
            fail(text, fmt::format("unexpected character \"{}\"", first_character(rest)));
        }
        const std::string_view unit_text = rest.substr(0, unit_len);
        rest.remove_prefix(unit_len);

        std::size_t index = kUnits.size();
        if (unit_len == 1) {
            for (std::size_t i = 0; i < kUnits.size(); ++i) {
                if (kUnits[i].letter == unit_text.front()) {
                    index = i;
                }
            }
        }
        if (index == kUnits.size()) {
            fail(text, fmt::format("unknown unit \"{}\" (expected w, d, h, m or s)", unit_text));
        }
        // "1m1m" or "30m1h" are almost certainly typos, so they are rejected rather than summed.
        if (saw_unit && index == last_index) {
            fail(text, fmt::format("unit \"{}\" is repeated", unit_text));
        }
        if (saw_unit && index < last_index) {
            fail(text,
                 fmt::format("unit \"{}\" is out of order (use w, d, h, m, s order)", unit_text));
        }
        last_index = index;
        saw_unit = true;

        if (amount > std::numeric_limits<std::int64_t>::max() / kUnits[index].seconds) {
            fail(text, "value is out of range");
        }
        const std::int64_t part = amount * kUnits[index].seconds;
        if (total > std::numeric_limits<std::int64_t>::max() - part) {
            fail(text, "value is out of range");
        }
        total += part;
    }
    return total;
}

std::string format_duration(std::int64_t seconds) {
    if (seconds < 0) {
        throw invalid_argument(fmt::format("invalid duration {}s: must not be negative", seconds));
    }
    if (seconds == 0) {
        return "0s";
    }
    std::string out;
    for (const Unit& unit : kUnits) {
        const std::int64_t amount = seconds / unit.seconds;
        if (amount > 0) {
            out += fmt::format("{}{}", amount, unit.letter);
            seconds -= amount * unit.seconds;
        }
    }
    return out;
}

}  // namespace pgtrickle::core
