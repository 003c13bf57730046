// Shared by create and alter: turning a query text into a checked stream-table definition.
#pragma once

#include <string>

#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/query_analysis.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

// Analyses the query, proves the current user may read every source, marks sources that are
// stream tables, and refuses a definition that would close a cycle through `self` (0 = new).
AnalyzedQuery prepare_definition(Spi& spi, const std::string& query, std::int64_t self);

// 42501 unless the current user owns (or is a member of the owner of) the storage table.
void ensure_owner(const StreamTable& st);

}  // namespace pgtrickle::pg
