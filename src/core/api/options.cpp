// Validation of stream-table options. Messages follow upstream's wording where users and tools
// may match on them (refresh mode), PostgreSQL's style elsewhere.
#include "pg_trickle/core/options.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"

namespace pgtrickle::core {

namespace {
std::string lower_trimmed(std::string_view text) {
    auto begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos)
        return {};
    auto end = text.find_last_not_of(" \t\r\n");
    std::string out(text.substr(begin, end - begin + 1));
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

Error not_yet(std::string_view option, std::string_view why) {
    return unsupported(fmt::format("{} is not supported by this version of pg_trickle", option),
                       std::string(why),
                       fmt::format("Omit {} or leave it at its default.", option));
}
}  // namespace

RequestedMode parse_refresh_mode(std::string_view text) {
    std::string v = lower_trimmed(text);
    if (v == "auto")
        return RequestedMode::Auto;
    if (v == "full")
        return RequestedMode::Full;
    if (v == "differential" || v == "incremental")
        return RequestedMode::Differential;
    if (v == "immediate")
        return RequestedMode::Immediate;
    throw invalid_argument(
        fmt::format("unknown refresh mode: {}. Must be 'AUTO', 'FULL', 'DIFFERENTIAL', or "
                    "'IMMEDIATE'",
                    text));
}

std::string_view to_string(RefreshMode mode) {
    switch (mode) {
        case RefreshMode::Full:
            return "FULL";
        case RefreshMode::Differential:
            return "DIFFERENTIAL";
        case RefreshMode::Immediate:
            return "IMMEDIATE";
    }
    return "FULL";
}

std::optional<RefreshMode> refresh_mode_from_catalog(std::string_view text) {
    if (text == "FULL")
        return RefreshMode::Full;
    if (text == "DIFFERENTIAL")
        return RefreshMode::Differential;
    if (text == "IMMEDIATE")
        return RefreshMode::Immediate;
    return std::nullopt;
}

RequestedMode requested_from_catalog(std::string_view text) {
    return text == "FULL"        ? RequestedMode::Full
           : text == "IMMEDIATE" ? RequestedMode::Immediate
                                 : RequestedMode::Differential;
}

ModeResolution resolve_refresh_mode(RequestedMode requested, const std::string& why_not) {
    switch (requested) {
        case RequestedMode::Full:
            return {RefreshMode::Full, {}};
        case RequestedMode::Auto:
            if (why_not.empty())
                return {RefreshMode::Differential, {}};
            return {RefreshMode::Full,
                    fmt::format("the defining query uses {}, which differential maintenance "
                                "does not support yet",
                                why_not)};
        case RequestedMode::Differential:
            if (why_not.empty())
                return {RefreshMode::Differential, {}};
            throw unsupported(
                fmt::format("unsupported operator for DIFFERENTIAL mode: {}", why_not),
                "Differential maintenance in this version covers joins of every kind, WHERE, "
                "expressions, subqueries in FROM and in expressions, LATERAL, set-returning "
                "functions, UNION, INTERSECT and EXCEPT, WITH [RECURSIVE], views, "
                "GROUP BY with any aggregates, GROUPING SETS, HAVING, DISTINCT [ON], window "
                "functions and ORDER BY ... LIMIT.",
                "Use refresh_mode => 'FULL', or 'AUTO' to fall back to FULL automatically.");
        case RequestedMode::Immediate:
            if (why_not.empty())
                return {RefreshMode::Immediate, {}};
            throw unsupported(
                fmt::format("unsupported operator for IMMEDIATE mode: {}", why_not),
                "IMMEDIATE maintenance uses the differential engine inside the writing "
                "statement, so it covers the same queries as DIFFERENTIAL, except those that "
                "read the clock or the session.",
                "Use refresh_mode => 'FULL', or 'AUTO' to fall back to FULL automatically.");
    }
    return {RefreshMode::Full, {}};
}

std::string parse_choice(std::string_view option, std::string_view value,
                         std::initializer_list<std::string_view> allowed) {
    std::string v = lower_trimmed(value);
    for (auto a : allowed) {
        if (v == a)
            return v;
    }
    std::string list;
    for (auto a : allowed) {
        if (!list.empty())
            list += ", ";
        list += fmt::format("'{}'", a);
    }
    throw invalid_argument(fmt::format("invalid {}: '{}'", option, value),
                           fmt::format("{} must be one of {}.", option, list));
}

std::string parse_status(std::string_view text) {
    std::string v = parse_choice("status", text, {"active", "suspended", "initializing", "error"});
    std::transform(v.begin(), v.end(), v.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return v;
}

void validate_options(StreamTableOptions& o, RefreshMode mode) {
    // Values first (22023), then what this build lacks (0A000): a typo is reported as a typo.
    if (o.diamond_consistency)
        o.diamond_consistency =
            parse_choice("diamond_consistency", *o.diamond_consistency, {"atomic", "none"});
    if (o.diamond_schedule_policy)
        o.diamond_schedule_policy = parse_choice(
            "diamond_schedule_policy", *o.diamond_schedule_policy, {"fastest", "slowest"});
    if (o.diamond_schedule_policy == "slowest" && o.diamond_consistency == "none")
        throw invalid_argument(
            "diamond_schedule_policy 'slowest' requires diamond_consistency "
            "'atomic'");
    if (o.cdc_mode)
        o.cdc_mode = parse_choice("cdc_mode", *o.cdc_mode, {"auto", "trigger", "wal"});
    if (o.storage_backend)
        o.storage_backend = parse_choice("storage_backend", *o.storage_backend,
                                         {"heap", "citus", "pg_mooncake", "none"});
    if (o.max_differential_joins && *o.max_differential_joins < 0)
        throw invalid_argument("max_differential_joins must not be negative");
    if (o.max_delta_fraction && !(*o.max_delta_fraction > 0.0 && *o.max_delta_fraction <= 1.0))
        throw invalid_argument("max_delta_fraction must be in (0, 1]");
    if (o.append_only && mode != RefreshMode::Differential)
        throw invalid_argument(
            "append_only requires refresh mode DIFFERENTIAL",
            fmt::format("The stream table's refresh mode is {}.", to_string(mode)));
    if (o.output_distribution_column)
        throw invalid_argument("output_distribution_column requires the Citus extension");

    if (o.cdc_mode == "wal")
        throw not_yet("cdc_mode 'wal'", "Changes are captured with triggers only.");
    if (o.partition_by)
        throw not_yet("partition_by", "Stream tables are not partitioned.");
    if (o.temporal)
        throw not_yet("temporal", "Temporal stream tables are not implemented.");
    if (o.storage_backend && *o.storage_backend != "heap")
        throw not_yet(fmt::format("storage_backend '{}'", *o.storage_backend),
                      "Stream tables are stored as heap tables.");
    if (o.sink || o.ducklake_sink_path || o.ducklake_sink_table_id)
        throw not_yet("sink", "Sinks are not implemented.");
}

}  // namespace pgtrickle::core
