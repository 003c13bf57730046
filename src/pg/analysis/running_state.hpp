// What a grouped query's running state can be kept for: aggregate arguments whose display
// scales are known (value_scales), expressions over aggregates (collect_aggregates,
// aggregates_to_params), columns whose net change can be grouped on (equality_is_identity),
// and a grouped query over one plain subquery, whose key query reads the subquery's tables
// (liftable_subquery, lifted). Plain C inside: these run in pg_call() or as PostgreSQL walkers.
#pragma once

#include <cstdint>

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// Plain C state for the walkers over an expression of aggregates (they run inside PostgreSQL
// frames).
struct AggExprState {
    List* aggs;  // the Aggrefs, outermost only, in order
    bool ok;     // no Var outside them, no subquery, window function or parameter
};

// Walker: collects the expression's aggregates into an AggExprState.
bool collect_aggregates(Node* node, void* context);

// Mutator: the expression with its k-th aggregate (of collect_aggregates' list, compared by
// equality) replaced by the parameter $k of the aggregate's type.
Node* aggregates_to_params(Node* node, void* context);

// The subquery of a query that reads nothing but one plain subquery in FROM, or nullptr.
Query* liftable_subquery(Query* q);

// `e` (of a query liftable_subquery accepted) over the subquery's tables.
Expr* lifted(Expr* e, Query* outer);

// Whether strings equal under the collation can differ in their bytes ('abc' = 'ABC' under a
// case-insensitive ICU collation); false for none.
bool nondeterministic_collation(Oid collation);

// Whether two values of the type that its equality operator calls equal are the same value.
bool equality_is_identity(Oid type, int32 typmod, Oid collation);

// Whether values of the expression that are equal are the same value (so print alike): its
// (base) type's equality is identity, or it is a numeric whose values have one known scale
// (value_scales: extract(year FROM d), a numeric(p,s) column, integer arithmetic ...).
bool key_is_identity(Node* key);

// Whether the type's values (or those of its arrays, domains, ranges or composite attributes)
// print as the names of the objects they stand for (regclass, regtype, ...): their text changes
// when an object is renamed, and with the search_path. Plain C: called inside pg_call.
bool prints_names(Oid type);
// Whether the type is a domain over an enum type. Plain C.
bool domain_over_enum(Oid type);
bool prints_names_within(Oid type, int depth);  // (prints_names, `depth` levels down)

// Whether any expression of the query, at any level, has such a type (a column, a cast,
// `oid::regclass::text`): the text the query computes from it follows names too. Plain C.
bool reads_names_as_values(Query* q);

// key_is_identity of an expression of the query level `level`, judged by what its Vars stand
// for through subqueries in FROM and joins (a GROUP BY over `profit.o_year`, where the subquery
// computes `extract(year FROM o_orderdate)`, has the subquery expression's scales).
bool key_is_identity(Node* key, Query* level);

// `e`, an expression of the query level `level`, with its Vars of subqueries in FROM and of
// joins replaced by the expressions they stand for (recursively; set operations and
// subquery expressions are not looked into). Its Vars then belong to several levels: good
// for types and scales (value_scales), not for evaluation.
Node* through_subqueries(Node* e, Query* level);

// The display scales the values of the numeric expression `n` can have, as a bit set, or false
// when they are not known.
bool value_scales(Node* n, uint64_t* scales);

}  // namespace pgtrickle::pg
