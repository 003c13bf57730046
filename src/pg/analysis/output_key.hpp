// The output key of a linear query: output columns that identify each output row, so that a
// changed row is updated in place (core::DeltaPlan::key_columns).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// The output columns holding, for every relation q reads, either its primary key or nothing
// because the relation is determined: each of its primary-key columns is equated, by a condition
// every output row meets, to a column of a relation already identified (so it matches at most one
// row per row of those). Empty when some relation is neither (or q reads anything but tables).
// `table_index` maps a relation's OID to its entry in plan.tables.
std::vector<std::string> output_key(Query* q, const core::DeltaPlan& plan,
                                    const std::map<Oid, std::size_t>& table_index);

}  // namespace pgtrickle::pg
