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

// At most this many branches (PostgreSQL expands CUBE of n columns into 2^n sets).
inline constexpr int kMaxGroupingSetBranches = 64;

// The query (parse-analyzed, with grouping sets at its top level, no LIMIT, no subquery
// expressions) as the deparsed text of a UNION ALL of one grouped query per grouping set; ""
// when it has more than kMaxGroupingSetBranches sets.
std::string grouping_sets_as_union(Query* q);

}  // namespace pgtrickle::pg
