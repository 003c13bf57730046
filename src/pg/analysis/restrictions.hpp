// Restricted forms of the two evaluations (new and old) of a relation the query is not linear
// in: one more condition at some query level keeps only the rows a change of that relation can
// reach; every other row is the same in both evaluations and would cancel anyway
// (core::RestrictedText). Each kind of restriction, and why it is exact, is described at its
// function.
#pragma once

#include <string>
#include <vector>

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// The alias of the changed rows inside a restriction's condition (read as __pgt_any_<table>).
inline constexpr const char* kAnyAlias = "__pgt_any_ref";

// For the relation `rel` (a range table entry of the analysed tree), `qual` ANDed to the WHERE of
// the query level `level`; `scope` says which rows it keeps, for people (explain_st).
struct Restriction {
    RangeTblEntry* rel;
    Query* level;
    Node* qual;
    const char* scope;
    std::string filter_column = {};  // core::RestrictedText::filter_column
};

// `EXISTS / IN / scalar (SELECT .. FROM rel WHERE w)` (the sublink `link`) or a LATERAL
// subquery of that shape (`link` nullptr) at level q: the rows of q whose subquery reads a
// changed row of rel; for `x IN (SELECT e ...)`, only those whose x can meet e of one.
void subquery_restriction(Query* q, Query* sub, SubLink* link, const char* scope,
                          std::vector<Restriction>& out);

// A window / grouped / DISTINCT ON / DISTINCT level q in a linear place: the parts holding a
// changed row, for each relation of q no outer join can null.
void partition_restrictions(Query* q, std::vector<Restriction>& out);

// The LATERAL subqueries of a linear level q (see subquery_restriction).
void lateral_restrictions(Query* q, std::vector<Restriction>& out);

// `x LEFT JOIN rel ON p` at level q (`nullable` is rel's join tree node).
void outer_join_restriction(Query* q, JoinExpr* j, Node* nullable, std::vector<Restriction>& out);

}  // namespace pgtrickle::pg
