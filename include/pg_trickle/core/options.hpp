// Options of create_stream_table / alter_stream_table: parsing, normalising and deciding which
// ones this build supports. Pure logic so that every rule is unit-tested without PostgreSQL.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace pgtrickle::core {

// What is stored in pgt_stream_tables.refresh_mode (AUTO is never stored).
enum class RefreshMode { Full, Differential, Immediate };
// What the user may ask for.
enum class RequestedMode { Auto, Full, Differential, Immediate };

RequestedMode parse_refresh_mode(std::string_view text);
std::string_view to_string(RefreshMode mode);
// DIFFERENTIAL and IMMEDIATE stream tables are maintained by the delta engine: their storage
// has its hidden state columns and row ids.
constexpr bool maintained_by_delta(RefreshMode mode) {
    return mode == RefreshMode::Differential || mode == RefreshMode::Immediate;
}
std::optional<RefreshMode> refresh_mode_from_catalog(std::string_view text);
// The stored mode asked for again (its definition derived anew: alter, resume, reinitialise).
RequestedMode requested_from_catalog(std::string_view text);

// The refresh mode a stream table gets for a requested mode, given whether the differential
// engine can maintain its query (`why_not`: empty when it can); IMMEDIATE needs it too. AUTO
// settles for FULL and says why; DIFFERENTIAL on an unsupported query and IMMEDIATE throw 0A000.
struct ModeResolution {
    RefreshMode mode;
    std::string downgrade_reason;  // empty unless AUTO settled for less than DIFFERENTIAL
};
ModeResolution resolve_refresh_mode(RequestedMode requested, const std::string& why_not);

// Lower-cases `value` and checks it is one of `allowed` (22023 otherwise, naming the option).
std::string parse_choice(std::string_view option, std::string_view value,
                         std::initializer_list<std::string_view> allowed);

// Status values a user may set through alter_stream_table(status => ...).
std::string parse_status(std::string_view text);

// Every option of create_stream_table besides name, query, schedule and initialize. std::nullopt
// means the SQL default.
struct StreamTableOptions {
    std::optional<std::string> diamond_consistency;      // 'atomic' | 'none'
    std::optional<std::string> diamond_schedule_policy;  // 'fastest' | 'slowest'
    std::optional<std::string> cdc_mode;                 // 'auto' | 'trigger' | 'wal'
    bool append_only = false;
    bool pooler_compatibility_mode = false;
    std::optional<std::string> partition_by;
    std::optional<std::int32_t> max_differential_joins;
    std::optional<double> max_delta_fraction;
    std::optional<std::string> output_distribution_column;
    bool temporal = false;
    std::optional<std::string> storage_backend;
    std::optional<std::string> sink;
    std::optional<std::string> ducklake_sink_path;
    std::optional<std::int64_t> ducklake_sink_table_id;
};

// Normalises option values in place and rejects bad ones (22023) and ones this build does not
// implement yet (0A000), before anything is created.
void validate_options(StreamTableOptions& options, RefreshMode mode);

}  // namespace pgtrickle::core
