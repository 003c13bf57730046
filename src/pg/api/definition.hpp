// Shared by create and alter: turning a query text into a checked stream-table definition, and
// putting a definition in place (dependencies, change capture, storage index).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/core/options.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/query_analysis.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

struct Definition {
    AnalyzedQuery query;
    std::optional<core::DeltaPlan> plan;  // set when differential maintenance is possible
    std::string why_not_differential;     // otherwise, why not
    std::string why_not_immediate;        // why IMMEDIATE cannot maintain it ("" = it can)
    // User-defined STABLE functions the query calls (regprocedure text, comma-separated): they
    // may read tables that are not its sources, whose changes maintenance cannot follow.
    std::string stable_functions;
    // The search_path the query was analysed under (StreamTable::original_search_path).
    std::string search_path;
};

// Analyses the query, proves the current user may read every source, marks sources that are
// stream tables, refuses a definition that would close a cycle through `self` (0 = new), and
// finds out whether the differential engine can maintain it.
Definition prepare_definition(Spi& spi, const std::string& query, std::int64_t self);

// The refresh mode a definition gets for a requested mode (warnings and NOTICEs included).
core::RefreshMode choose_mode(const Definition& def, core::RequestedMode requested,
                              const std::string& display_name);

// Dependencies with the columns change capture must keep for this stream table.
std::vector<Dependency> dependencies_of(const Definition& def, core::RefreshMode mode);

// Whether the storage table's row-id index is unique for this definition and mode (content-
// identified rows of a differential select-project-join query may repeat).
bool unique_row_ids(const Definition& def, core::RefreshMode mode);

// The storage table's columns after __pgt_row_id: the query's, then any hidden state columns
// the differential plan keeps (algebraic aggregates).
std::vector<OutputColumn> storage_columns(const Definition& def, core::RefreshMode mode);

// Records `deps` for `pgt_id` and brings change capture of every affected source (old and new)
// in line.
void install_dependencies(Spi& spi, std::int64_t pgt_id, const std::vector<Dependency>& deps);

// 42501 unless role `owner` may put triggers on each table an IMMEDIATE stream table with these
// sources would maintain it from (it owns it, or has TRIGGER on it): its maintenance runs in
// every write to them, and its failures fail those writes, as pg_ivm's triggers do for
// whoever could create them.
void check_immediate_triggers_allowed(const std::vector<Dependency>& deps, Oid owner);

// 42501 unless the current user owns (or is a member of the owner of) the storage table.
void ensure_owner(const StreamTable& st);

// Brings stream table `st`, in ERROR, back: ACTIVE, its query's names resolved again (a dropped
// source created again has a new OID), its sources recorded and captured, its contents
// recomputed (resume_stream_table; alter_stream_table leaving ERROR). 42P17 when its query
// now returns other columns.
void revive_from_error(Spi& spi, StreamTable& st);

// Recomputes IMMEDIATE stream table `st` now (FULL), keeping it SUSPENDED if it was (the
// refresh records ACTIVE).
void recompute_immediate(Spi& spi, const StreamTable& st);

}  // namespace pgtrickle::pg
