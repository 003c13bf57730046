// Stream-table lifecycle: the operations behind create/alter/drop/refresh/resume_stream_table.
// Each runs inside the caller's transaction, so an error anywhere leaves nothing half-made.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pg_trickle/core/options.hpp"

namespace pgtrickle::pg {

struct CreateRequest {
    std::optional<std::string> name;
    std::optional<std::string> query;
    std::optional<std::string> schedule;  // nullopt = SQL NULL, which is refused
    std::optional<std::string> refresh_mode;
    bool initialize = true;
    core::StreamTableOptions options;
};

enum class OnExisting { Error, Skip, Replace };
void create_stream_table(CreateRequest request, OnExisting on_existing);

// Every field nullopt = leave unchanged.
struct AlterRequest {
    std::string name;
    std::optional<std::string> query;
    std::optional<std::string> schedule;
    std::optional<std::string> refresh_mode;
    std::optional<std::string> status;
    std::optional<std::string> diamond_consistency;
    std::optional<std::string> diamond_schedule_policy;
    std::optional<std::string> cdc_mode;
    std::optional<bool> append_only;
    std::optional<bool> pooler_compatibility_mode;
    std::optional<std::string> tier;
    std::optional<std::string> fuse;
    std::optional<std::int64_t> fuse_ceiling;
    std::optional<std::int32_t> fuse_sensitivity;
    std::optional<std::string> partition_by;
    std::optional<std::int32_t> max_differential_joins;
    std::optional<double> max_delta_fraction;
    std::optional<std::string> post_refresh_action;
    std::optional<double> reindex_drift_threshold;
    std::optional<std::string> sink;
    std::optional<std::string> ducklake_sink_path;
    std::optional<std::int64_t> ducklake_sink_table_id;
};
void alter_stream_table(const AlterRequest& request);

void drop_stream_table(const std::string& name, bool cascade);
void refresh_stream_table(const std::string& name);
void resume_stream_table(const std::string& name);
// Puts back what the stream table needs and finds missing or switched off (repair.cpp); says
// what it did.
std::string repair_stream_table(const std::string& name);
// Rebuilds the change capture of every source of DIFFERENTIAL and FULL stream tables.
std::string rebuild_cdc_triggers();

// The statement the next differential refresh would run (55000 when there is none: the stream
// table is not DIFFERENTIAL or has not been refreshed yet).
std::string explain_diff_sql(const std::string& name);

// (property, value) pairs describing a stream table and how it is maintained.
std::vector<std::pair<std::string, std::string>> explain_stream_table(const std::string& name);

// validate_query(query): what create_stream_table would make of a query, before creating
// anything: the refresh mode AUTO would choose, whether DIFFERENTIAL and IMMEDIATE can maintain
// it and how, and its sources.
struct ValidationRow {
    std::string check_name;
    std::string result;
    const char* severity;  // INFO | WARNING | ERROR
};
std::vector<ValidationRow> validate_query(const std::string& query);

// Drops a stream table (and the ones reading it) without ownership checks: storage, catalog
// rows and change capture no other stream table needs.
struct StreamTable;
class Spi;
void drop_stream_table_now(Spi& spi, const StreamTable& st, bool cascade);

}  // namespace pgtrickle::pg
