// Change filters: the conditions of a defining query that restrict the rows of one relation
// reference alone (`l_shipmode IN ('MAIL', 'SHIP')` in TPC-H Q12), applied to that relation's
// changed rows before they are consolidated (core::DeltaTable::change_filter).
//
// A changed row that fails every reference's filter is invisible to the query: whichever way it
// changes, no reference ever reads it. Dropping it from the change set (before consolidation,
// where a refresh spends most of its time on a large buffer) leaves every term's result the
// same: each term reads the relation's changed rows, old state and new state through one of
// those references, whose own condition drops the row again.
#pragma once

#include <string>
#include <vector>

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// The conjuncts of query level `q` that restrict the rows of range table entry `rti` (a plain
// table, `relid`) alone, over the alias `b` with the table's column names (those of its change
// buffer), joined by AND; empty when there are none. A conjunct qualifies when it is part of
// the WHERE clause or of an inner join's ON clause whose rows reach `rti` through inner joins
// only, or of a LEFT (RIGHT) join's ON clause with `rti` on the nullable side (a row failing it
// matches nothing); when its only Vars are `rti`'s own columns; and when it holds no subquery,
// aggregate, window function or parameter, and calls built-in functions and operators only.
// Of an OR, the OR of what its arms restrict, when each arm restricts something. Cheaper
// conjuncts come first. Must run where PostgreSQL errors can be thrown (pg_call inside).
std::string change_filter(Query* q, Index rti, Oid relid);

// Conditions the rows of `rti` meet through another relation of the same level (see
// core::DeltaTable::ReferenceFilter): for each conjunct binding rti's rows that is a strict,
// hashable built-in equality between a column of rti and a column of a plain table, and for
// which conjuncts binding rti's rows restrict that table's rows alone, `b.col = ANY (SELECT
// p.col FROM <table> p WHERE <those conditions over p>)`. Valid as a filter of rti's changes
// only while that table has no change of its own.
//
// With `parent`, the level of which `q` is a subquery expression (a SubLink), the other column
// may also be an outer reference to a plain table of `parent`: `l.l_partkey = p.p_partkey` in
// the aggregate subquery of TPC-H Q17. The subquery's value then matters only for rows of that
// table that `parent` lets through anywhere (those meeting the conditions binding its rows
// there, or NULL-extended ones, which a strict equality matches with nothing), so that table's
// own conditions among those filter rti's changes the same way.
struct PartnerFilter {
    Oid relid;  // the other table
    std::string condition;
};
std::vector<PartnerFilter> partner_filters(Query* q, Index rti, Oid relid, Query* parent = nullptr);

}  // namespace pgtrickle::pg
