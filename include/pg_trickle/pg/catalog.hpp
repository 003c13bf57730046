// Reading and writing pg_trickle's catalog tables (pgtrickle.pgt_*).
//
// Users may read the catalog but not write it. Every write here runs as the bootstrap superuser
// (AsCatalogOwner), the way PostgreSQL's own commands update pg_class on a user's behalf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

// Runs the enclosing scope as the bootstrap superuser (restored on scope exit; an error aborts
// the transaction, which restores it too).
class AsCatalogOwner {
  public:
    AsCatalogOwner();
    ~AsCatalogOwner();
    AsCatalogOwner(const AsCatalogOwner&) = delete;
    AsCatalogOwner& operator=(const AsCatalogOwner&) = delete;

  private:
    Oid saved_user_;
    int saved_context_;
    int guc_nest_;  // search_path pinned for the scope (see the constructor)
};

// One row of pgt_stream_tables, the columns the engine uses.
struct StreamTable {
    std::int64_t pgt_id = 0;
    Oid relid = InvalidOid;
    std::string schema;  // current schema of the storage table
    std::string name;    // current name of the storage table
    std::string defining_query;
    std::optional<std::string> original_query;
    // The search_path in effect when the query was given (create, alter): what its unqualified
    // names meant; reinitialising (DDL on a function or view it uses) analyses it under it.
    std::optional<std::string> original_search_path;
    std::optional<std::string> schedule;  // nullopt = calculated
    std::string refresh_mode;
    std::string status;
    bool is_populated = false;
    int consecutive_errors = 0;
    std::string diamond_consistency;
    std::string diamond_schedule_policy;
    std::optional<std::string> requested_cdc_mode;
    bool is_append_only = false;
    bool pooler_compatibility_mode = false;
    std::optional<std::int32_t> max_differential_joins;
    std::optional<double> max_delta_fraction;
    std::string refresh_tier;
    std::optional<std::string> effective_refresh_mode;
    std::optional<std::string> frontier;  // jsonb text, see core::Frontier
    // Functions the defining query calls (AnalyzedQuery::functions_used), written by create and
    // alter; the scheduler reads it to never skip a time-dependent stream table as idle.
    std::vector<std::string> functions_used;

    std::string qualified_name() const;  // quoted, for SQL
    std::string display_name() const;    // schema.name, for messages
    std::string sql_name() const;        // schema.name quoted where SQL needs it
};

// A relation's name, schema-qualified and quoted, for SQL pg_trickle builds: the same whatever
// search_path is in effect where it is built and where it runs (AsCatalogOwner pins one).
// Empty when the relation is gone.
std::string qualified_relation_name(Oid relid);

struct Dependency {
    Oid source_relid;
    std::string source_type;                // TABLE | STREAM_TABLE | VIEW | MATVIEW | FOREIGN_TABLE
    std::vector<std::string> columns_used;  // columns change capture must keep for this reader
};

namespace catalog {

// By the user-facing name (optionally schema-qualified, resolved along search_path).
std::optional<StreamTable> find(Spi& spi, std::string_view name);
// Like find, but 42P01 `stream table not found: <name>` when absent.
StreamTable get(Spi& spi, std::string_view name);
std::optional<StreamTable> find_by_relid(Spi& spi, Oid relid);
std::optional<StreamTable> find_by_id(Spi& spi, std::int64_t pgt_id);
std::vector<StreamTable> all(Spi& spi);

std::int64_t insert(Spi& spi, const StreamTable& st);
void update_definition(Spi& spi, const StreamTable& st);  // every column of StreamTable
void remove(Spi& spi, std::int64_t pgt_id);

std::vector<Dependency> dependencies(Spi& spi, std::int64_t pgt_id);
void replace_dependencies(Spi& spi, std::int64_t pgt_id, const std::vector<Dependency>& deps);
// Stream tables whose defining query reads `relid`.
std::vector<std::int64_t> dependents_of(Spi& spi, Oid relid);

// The names the catalog keeps of storage tables (pgt_schema, pgt_name) and sources
// (pgt_dependencies.source_stable_name) brought up to date after renames and moves of them or
// their schemas: a restore finds relations by these names. Writes only rows whose names changed.
void follow_renames(Spi& spi);

// Refresh bookkeeping after a successful refresh (action FULL or DIFFERENTIAL). `frontier` is
// the new frontier (jsonb text) or nullopt to clear it.
void record_refresh_success(Spi& spi, std::int64_t pgt_id, std::string_view action,
                            std::string_view initiated_by, double duration_ms,
                            std::int64_t rows_inserted, std::int64_t rows_deleted,
                            const std::optional<std::string>& frontier);
// A refresh that found nothing to do: only last_refresh_at and the frontier move. A history row
// is written only for manual refreshes (the scheduler would write one per tick).
void record_no_data(Spi& spi, std::int64_t pgt_id, std::string_view initiated_by,
                    const std::string& frontier);

// What recording a failed refresh did to the stream table.
struct FailureOutcome {
    int consecutive_errors = 0;
    bool suspended = false;  // this failure reached max_consecutive_errors
};
// Records a failed refresh, in a transaction after the failed one rolled back: a FAILED history
// row (its error_message ends with "(SQLSTATE xxxxx)"), consecutive_errors + 1,
// last_error_message/last_error_at, and on reaching `max_consecutive_errors` status SUSPENDED
// plus an `auto_suspended` alert on channel pg_trickle_alert. Does nothing if the stream table no
// longer exists.
FailureOutcome record_refresh_failure(Spi& spi, std::int64_t pgt_id, std::string_view action,
                                      std::string_view initiated_by,
                                      const std::string& error_message, const std::string& sqlstate,
                                      double duration_ms, int max_consecutive_errors);
// History rows left RUNNING by refreshes that never finished (crash, restart) become FAILED,
// except those of stream tables whose refresh is under way right now. Returns how many.
std::uint64_t fail_interrupted_refreshes(Spi& spi);

}  // namespace catalog
}  // namespace pgtrickle::pg
