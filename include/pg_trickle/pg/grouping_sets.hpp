// GROUPING SETS, ROLLUP and CUBE as a sum of plain grouped queries.
//
// A query grouped by several grouping sets returns, for each set, the rows of the same query
// grouped by that set alone, with the grouped columns outside the set read as NULL and
// GROUPING(...) a constant. Written as a UNION ALL of those branches, each branch is a plain
// grouped query that the delta rules restrict to the groups a change reaches.
#pragma once

#include <string>

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// The query (parse-analyzed, with grouping sets at its top level, no LIMIT, no subquery
// expressions) as the deparsed text of a UNION ALL of one grouped query per grouping set; ""
// when it has more than `max_branches` sets (PostgreSQL expands a CUBE of n columns into 2^n;
// pg_trickle.max_grouping_set_branches).
std::string grouping_sets_as_union(Query* q, int max_branches);

}  // namespace pgtrickle::pg
