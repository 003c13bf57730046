// The output key of a linear query: output columns that identify each output row, so that a
// changed row is updated in place (core::DeltaPlan::key_columns).
#pragma once

#include <string>
#include <vector>

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// The output columns holding, for every relation q reads, either its primary key or nothing
// because the relation is determined: each of its primary-key columns is equated, by a condition
// every output row meets, to a column of a relation already identified (so it matches at most one
// row per row of those). Empty when some relation is neither (or q reads anything but tables).
std::vector<std::string> output_key(Query* q);

}  // namespace pgtrickle::pg
