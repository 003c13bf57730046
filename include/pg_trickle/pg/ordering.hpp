// Whether what a query level computes from the order of its rows is decided by the data alone.
//
// Window functions, DISTINCT ON and LIMIT read their rows in an order. Where that order ties
// (two rows equal in every ORDER BY / PARTITION BY expression), PostgreSQL may take them either
// way, and the answer (row_number(), lag(), the row DISTINCT ON keeps, the rows LIMIT keeps)
// depends on the plan. A delta evaluates the query over the old state as well as the new one and
// removes the old answer's rows: they must be exactly the stored ones, which a different tie
// order would not give. Such a level is maintained by recomputing the query instead
// (DeltaPlan::recompute), which stores one valid answer whatever the ties.
#pragma once

#include <string>

#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

// Why the level's window functions, DISTINCT ON or LIMIT / OFFSET depend on the order of tied
// rows; "" when they do not. An order is total when its expressions include the primary key
// of every table the level reads; over an order that ties, only functions that give tied rows
// the same value (rank(), dense_rank(), percent_rank(), cume_dist(), and count / sum / avg of
// exact types or min / max of types whose equal values print alike, over a RANGE or GROUPS
// frame) are allowed.
std::string order_dependence(Spi& spi, Query* q);

// The window functions of the level's select list, by window clause (windowFuncs[winref]; a
// clause no function uses has NIL). The level must have window functions.
WindowFuncLists* window_functions(Query* q);

}  // namespace pgtrickle::pg
