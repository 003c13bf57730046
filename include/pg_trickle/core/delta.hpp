// Delta rules: from a defining query and its change buffers to the SQL that applies exactly the
// change of the query's result to its storage table.
//
// The rules work on the query's text as PostgreSQL prints it back (every relation schema-
// qualified), plus the byte position of each relation reference in that text. Two shapes are
// maintained incrementally:
//
//  Linear (select-project-join: inner joins of any depth, WHERE, any immutable expressions).
//    With R' the new and R0 the old state of each relation occurrence and dR its change, the
//    telescoping identity
//        d(R1 x ... x Rn) = sum_i  R1' x ... x R(i-1)' x dRi x R(i+1)0 x ... x Rn0
//    is exact for any number of joins, self-joins included. dRi splits into its inserted (+1)
//    and deleted (-1) parts, so each term is the user's own query with relation references
//    replaced by small relations, and the delta is the weighted sum of 2n such queries. R0 is
//    rebuilt exactly from R' and dR, so there are no "phantom rows" for deep join chains.
//    Storage rows are identified by a hash of their content; duplicates are separate rows with
//    the same row id, and a delta of weight w inserts or deletes exactly |w| copies.
//    A reference the query is not linear in (subquery expressions, nullable sides of outer
//    joins, aggregates below the top, INTERSECT / EXCEPT / UNION) takes the general form of
//    the same identity: Q(.., Ri', ..) - Q(.., Ri0, ..), two evaluations that are restricted
//    to the rows the change can reach where the shape allows it (RestrictedText).
//
//  Grouped (GROUP BY with any aggregates, HAVING, scalar aggregates, DISTINCT). The linear delta
//    of the query's input yields the group keys it touches; those groups alone are recomputed
//    (the user's query restricted to each key through LATERAL, which PostgreSQL pushes below
//    the grouping) and written with DELETE / UPDATE (only when a value changed) / INSERT. Row id
//    = hash of the group key.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pg_trickle/core/cdc.hpp"

namespace pgtrickle::core {

// Where a relation is referenced in a query text.
struct RelationRef {
    std::size_t location = 0;  // byte offset of the (qualified) relation name
    std::size_t length = 0;    // bytes of the name as printed
    bool has_alias = false;    // an alias follows the name
    std::string refname;       // the name the query uses for it (alias or relation name)
    std::size_t table = 0;     // index into DeltaPlan::tables
    // The query is not linear in this reference (it sits in a subquery expression, on the
    // nullable side of an outer join, under an aggregate or a set operation other than UNION
    // ALL): its delta is the difference of two evaluations, with it new and with it old.
    bool nonlinear = false;
    // Index into the plan's restrictions for a cheaper form of those evaluations, or -1.
    int restriction = -1;
    // When the reference is the only relation of an `EXISTS`, `IN`/`ANY` or `ALL` subquery (no
    // grouping, aggregate, limit or nested subquery there): the bytes of that whole expression,
    // [split_begin, split_end), and how it combines over a union of row sets ('|': OR, '&':
    // AND). Such an expression over the table's old state (the rows kept plus the deleted ones)
    // is the same expression over each part, combined: each part is then probed on its own (the
    // table by its indexes), where the union is not. split_end == 0: not splittable.
    std::size_t split_begin = 0;
    std::size_t split_end = 0;
    char split_op = 0;
    // For a correlated EXISTS: the part over the deleted rows as an uncorrelated IN, with "\x01"
    // where the relation goes (`(o.k IS NOT NULL AND o.k IN (SELECT i.k FROM \x01 i WHERE ...))`):
    // PostgreSQL hashes that once, where it would scan the deleted rows once per outer row.
    // Empty: the span itself serves.
    std::string split_del;
    // Inside `(... JOIN ...) AS alias`, whose text lists the columns of its relations by
    // position: every column of the table in order ("a", "b"), which a relation replacing it
    // (carrying only the columns the query uses, and __pgt_one) is read through. Else empty.
    std::string projection;
};

// The query text with one more condition that keeps only the rows a change of one nonlinear
// reference can affect: rows whose correlated subquery or outer-join partner matches a changed
// row. Those two evaluations then read only the affected rows; all other rows are the same in
// both and would cancel anyway.
struct RestrictedText {
    std::string text;
    std::vector<RelationRef> refs;  // references of `text`, in text order
    // Per reference of `text`: the reference of the unrestricted query it is, or -1 for the
    // reference in the added condition, which reads the changed rows (__pgt_any_<table>).
    std::vector<int> original;
    std::string scope;  // which rows the condition keeps, for people (explain_st)
    // Whether the condition depends on the row it is tested for. One that does not (a changed
    // row satisfies `w` of an uncorrelated `(SELECT max(x) FROM t WHERE w)`) keeps every row or
    // none.
    bool correlated = true;
    // A column of the relation whose rows the kept rows can meet only when it equals that
    // column of a changed row (the parts joined to their key by an equality): both evaluations
    // may read the relation's rows with such a value only. Empty: none.
    std::string filter_column;
};

// A query that is a sum (UNION ALL) of products (joins) of relation references: each inner
// vector lists the references (indices into refs) of one product. Empty = one product of all.
using Products = std::vector<std::vector<std::size_t>>;

// A source table as the delta needs it: the columns this query uses (plus the key).
struct DeltaTable {
    std::uint32_t relid = 0;
    std::string qualified_name;
    std::vector<Column> columns;   // used columns, key columns included
    std::vector<std::string> key;  // primary key (unquoted names); empty = no key
    bool changed = true;           // has unconsumed changes (set by the refresh)
    // Where the changes are read from: empty = the change buffer, rows after the frontier;
    // otherwise SQL usable in FROM for a relation laid out like a buffer (an `action` "char"
    // 'I' / 'D' and the used columns under their buffer names): IMMEDIATE maintenance reads
    // the statement's transition tables this way.
    std::string change_source;
    // change_source holds each row version at most once (one statement's transition tables):
    // no consolidation is needed to keep intermediate versions out.
    bool net = false;
    // Every used column's type has an equality under which equal values are identical (integers,
    // dates, numeric with a fixed scale, text under a deterministic collation ...): the net
    // change can then be summed with GROUP BY over the columns themselves instead of over
    // their text, which costs an output function call per value and a sort.
    bool groupable = false;
    // A condition over the buffer's columns (alias b) that every reference to the table in the
    // query imposes on the rows it reads (pg/analysis/change_filters.hpp); empty = none. Changed
    // rows failing it cannot move the result, and are left out before they are consolidated.
    // Evaluated on every buffered row version, also on one no refresh ever saw: a data error
    // there makes the refresh run the statement again without it.
    std::string change_filter;
    // What change_filter is made of, per reference to the table (empty: change_filter is all
    // there is). A reference's rows may also reach the result only joined, by an equality, with
    // a row of another table that meets that table's own conditions (TPC-H Q9's lineitem with a
    // part whose name holds 'green'): while that table has no change of its own, a changed row
    // without such a partner moves nothing either. compose_change_filters() builds
    // change_filter from these for the tables a refresh finds changed.
    struct ReferenceFilter {
        std::string own;  // the reference's own conditions (alias b); empty = none
        // (index into DeltaPlan::tables, `b.col = ANY (SELECT p.col FROM <that table> p ...)`)
        std::vector<std::pair<std::size_t, std::string>> partners;
    };
    std::vector<ReferenceFilter> reference_filters;
    // The changed_cols bits (changed_column_bit) of the buffer columns holding the used
    // columns; none: not known (a buffer made before changed_cols was). The two rows of an update
    // changing none of them are equal in every used column: a net change of nothing, left out
    // of every read of the buffer as rows failing change_filter are. (kEveryColumn: every
    // captured column is used, no row tested; each costs about 30 ns.)
    std::optional<std::uint64_t> changed_bits;
};

// How one output column of an algebraically maintained grouped query is computed from the
// group's running state (__pgt_count, and per argument a non-null count and a sum).
//
// MIN / MAX keep their current value in the output column itself: inserted values move it
// directly, and a group is rescanned (its argument re-aggregated over the group's rows) only
// when a removed value could have been the extreme.
struct AlgebraicColumn {
    // Expr: an expression over COUNT / SUM / AVG aggregates and constants, such as
    // `100.00 * sum(a) / sum(b)` (TPC-H Q8, Q14).
    enum class Kind { Key, CountStar, Count, Sum, Avg, Min, Max, Expr };
    Kind kind = Kind::Key;
    std::size_t index = 0;  // 1-based: group key (Key) or aggregate argument (__pgt_a<index>)
    std::string type_sql;   // the output column's type
    // Sum / Avg of a numeric argument: its NaN values are counted apart from the running sum
    // (__pgt_aux_nan_<index>), since subtracting a NaN can never give a number back.
    bool nan_possible = false;
    // Sum / Avg whose argument's values have one of two display scales (CASE WHEN ... THEN
    // price * (1 - discount) ELSE 0 END): the lower one, and __pgt_aux_hi_<index> counts the
    // values of the higher one; while it is 0 the sum is printed with the lower scale, as the
    // sum recomputed from the rows would be. -1: one scale.
    int low_scale = -1;
    // Expr: the expression's SQL with $1, $2, ... where its aggregates are, and those
    // aggregates (parts[k] is $k+1; each a CountStar, Count, Sum or Avg column).
    std::string expr_sql;
    std::vector<AlgebraicColumn> parts;
};

// WITH RECURSIVE r(c1, ..., cn) AS (base UNION step) SELECT c1, ..., cn FROM r, where base and
// step are inner joins (monotone) and step reads r once: the stored rows are the set r, kept by
// delete and rederive (DRed) in one statement:
//  1. over-delete: every stored row with a derivation through a deleted source row, and
//     everything derived from those (the step over the old sources), to a fixpoint;
//  2. the rest of the stored rows stay (each still has a derivation from surviving rows);
//  3. seeds: rows derived through an inserted source row (from the rows that stay), and
//     over-deleted rows derived again by the base or the step from the rows that stay;
//  4. the step over the new sources iterated from the seeds to a fixpoint, never past a row
//     that stays; over-deleted rows not derived again are deleted, new rows inserted.
// With inserts only, 1 is empty and this is semi-naive evaluation.
// With UNION ALL (`all`) r is a multiset, one row per derivation (a path through the source
// rows), and is maintained by counting: the paths through a deleted row leave, the paths
// through an inserted row arrive, each found from where the path first meets a changed row.
struct Recursion {
    std::vector<std::string> columns;  // r's column names (c1, ..., cn), in order
    std::string base;                  // the non-recursive term
    std::vector<RelationRef> base_refs;
    std::string step;  // the recursive term
    std::vector<RelationRef> step_refs;
    RelationRef self;  // the step's reference to r (`table` unused)
    bool all = false;  // UNION ALL
};

struct DeltaPlan;

// Top-K: `ORDER BY ... LIMIT k` at the top of a query the rules maintain without it (the inner
// query), ordered by its output columns. Only the first k rows are stored, so the inner query's
// change alone cannot say which rows enter when stored ones leave. A refresh takes as
// candidates the stored rows the change leaves in place and the rows the change brings into
// the inner query's result (a linear inner query's inserted rows, a grouped one's touched
// groups evaluated again), and keeps their first k when that is provably the answer: every row
// never stored sorts no earlier than the k-th stored row (the boundary), so the first k
// candidates are the answer when the k-th of them sorts no later than the boundary, or when
// fewer than k rows were stored (then every row was). Otherwise the query is evaluated whole,
// as a recomputed one would be.
struct TopK {
    std::size_t limit = 0;
    // An ORDER BY item: an output column by its type's default ordering.
    struct Item {
        std::string column;
        bool descending = false;
        bool nulls_first = false;
        // The sort operator, qualified ("OPERATOR(pg_catalog.>)"): `a op b` is true when a
        // sorts before b (both not NULL).
        std::string sort_operator;
        // "DESC NULLS FIRST" and the like.
        std::string direction() const;
    };
    std::vector<Item> order;
    // The changed rows of a linear inner query that sort after the k-th stored row are left out
    // before they are consolidated: they can only be among the first k when the candidates do
    // not decide, and then the query is evaluated whole.
    // The inner query's plan (Linear or Grouped, neither recomputed nor recursive, without
    // running state); its tables are the top-K plan's, in the same order.
    std::shared_ptr<const DeltaPlan> inner;
};

// The last column of a weighted key query (DeltaPlan::key_weighted), as deparsed.
inline constexpr const char* kKeyWeight = "1 AS __pgt_wt";

struct DeltaPlan {
    enum class Kind { Linear, Grouped };
    Kind kind = Kind::Linear;
    std::vector<DeltaTable> tables;
    std::vector<std::string> output_columns;  // the query's output column names

    std::string query;              // the defining query text
    std::vector<RelationRef> refs;  // relation references in `query`
    // Linear only: output columns holding the primary key of every relation the query reads
    // (then output rows are unique and are identified by them); empty = content identity.
    std::vector<std::string> key_columns;
    // Every output column's type has an equality under which equal values are identical (as
    // DeltaTable::groupable): a keyed linear change is netted per row by the columns themselves
    // instead of their text (an output function call per value, and a sort on text).
    bool output_groupable = false;
    Products products;                         // how refs combine (UNION ALL of joins)
    std::vector<RestrictedText> restrictions;  // see RelationRef::restriction

    // Grouped only: the query's input, one row per input row with the group key values as
    // __pgt_g1..__pgt_gk (a constant __pgt_one when there is no GROUP BY).
    std::string key_query;
    std::vector<RelationRef> key_refs;
    Products key_products;
    std::vector<RestrictedText> key_restrictions;
    // key_query ends with the column kKeyWeight and names every relation it reads in its
    // top-level FROM clause: a term varying a linear reference then reads that table's signed
    // changes once (__pgt_sgn_t, the sign in __pgt_one) and takes its weight from them, one
    // term where there would be two (inserted rows, deleted rows).
    bool key_weighted = false;
    std::vector<std::string> group_columns;  // output columns holding the group key, in order

    // Grouped only, when every aggregate is COUNT(*), COUNT(x), or SUM/AVG of an integer: one
    // entry per output column, and key_query also returns each aggregate argument as
    // __pgt_a1..n. Groups are then updated from running counts and sums (no rescan). Empty =
    // affected groups are recomputed.
    std::vector<AlgebraicColumn> algebraic;
    std::size_t algebraic_args = 0;
    bool scalar = false;  // aggregates without GROUP BY: exactly one row, always
    // Grouped algebraic only: look up each changed group's storage row through the row-id index
    // (one probe per group) and write it again by the ctid found there, instead of joining the
    // storage table twice. Set for every algebraic plan: IMMEDIATE's cached plans cannot rely on
    // the estimates of the moment, and a refresh saves the second probe of each group.
    bool probe_storage = false;
    // Grouped without running state: how the changed groups are computed again. false: the
    // query once per changed group (LEFT JOIN LATERAL), its group keys an equality the planner
    // pushes into the query, cheap when a key reaches an index. true: the query once, whole,
    // matched to the changed groups by row id; set by the analysis when no group key is a column
    // leading an index (each per-group evaluation would read its tables whole) and the keys'
    // text is the same for equal values (row ids hash it). Not for the change of one statement
    // (per_statement), which touches a group or two.
    bool groups_in_one_pass = false;
    // Grouped algebraic over one table only (relative_apply_possible): apply the change of
    // each group's running state as an increment (INSERT ... ON CONFLICT DO UPDATE SET
    // state = state + change), so concurrent writers of different groups never wait for each
    // other and writers of one group wait only for its row, and each group's row is visited
    // once. A group whose count reaches 0 keeps a row with count 0 until relative_cleanup
    // removes it, in a second statement: triggers on the storage table in between would see
    // it (see increments_allowed in src/pg). A row-id collision raises inside it. Set by the
    // analysis when increments_possible; IMMEDIATE narrows it to relative_apply_possible.
    bool relative_apply = false;
    // The linear applies also return how many stored rows their deletions should find
    // (pg_trickle.verify_deltas): a delta that deletes a row the storage does not hold has
    // computed a wrong old state, which a plain DELETE would pass over in silence.
    bool verify = false;
    // The change of one statement (IMMEDIATE), mostly a row or two: the statement is shaped for
    // few plan nodes rather than for per-row cost.
    bool per_statement = false;
    // A query whose change cannot be derived from its inputs' changes alone (top-K: ORDER BY
    // ... LIMIT; a grouped query with a subquery in its select list or HAVING). Its delta is the
    // query evaluated whole minus the stored rows (a Linear, content-identified plan), so only
    // the rows that differ are written; it costs what evaluating the query costs. Also set by
    // a refresh when recompute_cheaper: then a Grouped algebraic plan recomputes every group's
    // state (algebraic_recompute).
    bool recompute = false;
    std::string recompute_reason;  // why (for people): "a top-K query (ORDER BY ... LIMIT)", ...
    // The query reads the clock or the session (core/time_dependence.hpp): recomputed at every
    // refresh, changes or not; IMMEDIATE refuses it.
    bool time_dependent = false;
    // A recompute plan maintained by delete and rederive instead (see Recursion).
    std::optional<Recursion> recursion;
    // A top-K query whose inner query is maintained by the rules (see TopK). The plan is then a
    // Linear one identified by content, its `query` the whole top-K query (evaluated when the
    // candidates cannot decide, and by a refresh that sets `recompute`), without refs of its
    // own: the inner plan's refs, key query and restrictions are those of the inner query.
    std::optional<TopK> top_k;
};

// Hidden storage columns holding the running state of an algebraic plan (empty otherwise).
std::vector<Column> state_columns(const DeltaPlan& plan);

// The row-id expression for output columns of `alias` (content hash for Linear, group-key hash
// for Grouped).
std::string row_id_expression(const DeltaPlan& plan, std::string_view alias);

// Whether a refresh can apply the plan's change as increments (relative_apply): COUNT / SUM /
// AVG (no MIN / MAX) per group of a GROUP BY (a scalar aggregate keeps its row at count 0).
bool increments_possible(const DeltaPlan& plan);

// Whether IMMEDIATE maintenance can: increments over a single reference of a single table,
// whose change alone determines each group's change, so concurrent writers of other tables
// need no lock on the stream table.
bool relative_apply_possible(const DeltaPlan& plan);

// Whether this refresh (DeltaTable::changed set) of a linear or grouped algebraic plan costs
// less recomputed (see DeltaPlan::recompute): a changed table read where the query is not
// linear in it, without a restriction (or only an uncorrelated one), gets a delta term that
// evaluates the whole query twice (the table new, then old, a union the planner can neither
// estimate nor probe by index); recomputing evaluates it once. A grouped algebraic plan is then
// recomputed with its running state (algebraic_recompute); a grouped plan without running state
// rescans the groups it finds touched instead, and is not recomputed.
bool recompute_cheaper(const DeltaPlan& plan);

// After a relative apply: removes the groups (row ids in $1, a bigint[]) whose count is 0.
std::string relative_cleanup(const std::string& storage);

// INSERT filling an empty `storage` with the query's full result (row ids, state columns).
std::string full_insert(const DeltaPlan& plan, const std::string& storage);

// Whether the plan's row ids are unique (its storage's row-id index is): all but those of a
// linear plan without key_columns, which identifies rows by content and keeps duplicates.
bool unique_row_ids(const DeltaPlan& plan);

// For a linear plan maintained by its delta (not recomputed, not recursive): a SELECT of one
// boolean, whether a row of `storage` (any one) holds the row id the plan gives it, NULL when
// the table is empty. Rows written under another identity (a key of other columns) fail it.
// Empty for the other plans.
std::string row_id_check(const DeltaPlan& plan, const std::string& storage);

// How a statement reads the buffered changes of a source.
//  Exact: consolidated per row content first (a row inserted and changed again before the
//    refresh nets out), so the query only ever sees rows that were present before or after.
//  Lean: a grouped or linear plan reads the buffered rows of a source as they are when the
//    statement never reads that source's old state (its terms' sum per group or per output row
//    nets them out); the result is the same, but an intermediate row version is evaluated too
//    and can raise an error the Exact statement would not. The refresh runs Lean first and
//    Exact after such an error.
enum class Consolidation { Exact, Lean };

// One statement applying the change since `prev` to `storage` (quoted name). It returns one row
// (rows_inserted bigint, rows_deleted bigint, rows_updated bigint); with relative_apply, one row
// (row ids of the groups emptied bigint[] or NULL, groups written bigint, groups new bigint),
// or with per_statement too, a row per group written (its row id if emptied, else NULL; new).
std::string apply_statement(const DeltaPlan& plan, const Frontier& prev, const std::string& storage,
                            Consolidation mode = Consolidation::Exact);

// Replaces each relation reference of `text` by `replacement(i)` (index into refs), adding the
// reference's name as alias where the text had none.
std::string substitute(const std::string& text, const std::vector<RelationRef>& refs,
                       const std::vector<std::string>& replacement);
// The same, except that a reference read in its old state (`__pgt_oldh_<t>`) whose subquery
// expression is splittable (RelationRef::split_end) and whose table is keyed (keyed[t]) has the
// expression written twice, over the rows kept (`__pgt_cur_<t>`) and over the deleted rows
// (`__pgt_del_<t>`), combined by RelationRef::split_op.
std::string substitute_split(const std::string& text, const std::vector<RelationRef>& refs,
                             const std::vector<std::string>& replacement,
                             const std::vector<bool>& keyed);

// How the plan maintains its query, for people (explain_st's operator_tree).
std::string describe_plan(const DeltaPlan& plan);

// SELECT returning two booleans: whether relid's buffer has changes since prev, and whether the
// table was truncated since. With prev.as_parameters the text is the same at every refresh (one
// per source table, a plan a backend keeps), the frontier its parameters.
std::string pending_changes_query(std::uint32_t relid, const Frontier& prev);

// Whether the table's buffered changes are read through a filter (its change filter or its
// changed_bits, and a change buffer rather than a statement's transition tables).
bool filters_buffer(const DeltaTable& t);

// Sets each table's change_filter from its reference_filters: per reference, its own
// conditions and those of its partners that have no change (DeltaTable::changed), ANDed; the
// references ORed; none when a reference has no condition left.
void compose_change_filters(std::vector<DeltaTable>& tables);

// SELECT returning one boolean per changed table that filters_buffer, in the plan's order:
// whether an unconsumed change of it meets the filters (DeltaTable::change_filter and
// changed_bits). Empty when
// there is no such table. A table none of whose changes meets it is, for this query, unchanged.
std::string filtered_changes_query(const DeltaPlan& plan, const Frontier& prev);

}  // namespace pgtrickle::core
