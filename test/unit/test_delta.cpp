// Delta SQL generation: the text-level rules, without PostgreSQL.
#include <gtest/gtest.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/delta.hpp"

using namespace pgtrickle::core;

namespace {

std::size_t count(const std::string& s, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + 1))
        ++n;
    return n;
}

// SELECT a.x, b.y FROM public.a a JOIN public.b ON ... with refs at their byte offsets.
DeltaPlan join_plan() {
    DeltaPlan p;
    p.query = "SELECT a.x, b.y FROM public.a a JOIN public.b ON a.k = b.k";
    p.output_columns = {"x", "y"};
    p.tables = {{1001, "\"public\".\"a\"", {{"k", "integer"}, {"x", "integer"}}, {"k"}, true},
                {1002, "\"public\".\"b\"", {{"k", "integer"}, {"y", "text"}}, {}, true}};
    RelationRef a;
    a.location = p.query.find("public.a");
    a.length = 8;
    a.has_alias = true;
    a.refname = "a";
    a.table = 0;
    RelationRef b;
    b.location = p.query.find("public.b");
    b.length = 8;
    b.has_alias = false;
    b.refname = "b";
    b.table = 1;
    p.refs = {a, b};
    return p;
}

// SELECT g, count(*) AS n ... GROUP BY g, kept algebraically (query texts left to the test).
DeltaPlan count_per_group() {
    DeltaPlan p;
    p.kind = DeltaPlan::Kind::Grouped;
    p.output_columns = {"g", "n"};
    p.group_columns = {"g"};
    p.algebraic = {{AlgebraicColumn::Kind::Key, 1, "integer"},
                   {AlgebraicColumn::Kind::CountStar, 0, "bigint"}};
    return p;
}

Frontier frontier() {
    Frontier f;
    f.snapshot = "100:105:101,103";
    return f;
}

}  // namespace

TEST(Delta, SubstituteReplacesNamesKeepingOrAddingAliases) {
    DeltaPlan p = join_plan();
    std::string out = substitute(p.query, p.refs, {"__pgt_ins_0", "__pgt_old_1"});
    EXPECT_EQ(out, "SELECT a.x, b.y FROM __pgt_ins_0 a JOIN __pgt_old_1 \"b\" ON a.k = b.k");
    // An empty replacement leaves the reference alone.
    EXPECT_EQ(substitute(p.query, p.refs, {"", ""}), p.query);
    // Inside a join with an alias (whose column list names the table's columns by position),
    // the replacement is read through the table's own columns, in order.
    p.refs[0].projection = "\"k\", \"x\"";
    p.refs[1].projection = "\"k\", \"z\", \"y\"";
    out = substitute(p.query, p.refs, {"__pgt_ins_0", "__pgt_old_1"});
    EXPECT_EQ(out,
              "SELECT a.x, b.y FROM (SELECT \"k\", \"x\" FROM __pgt_ins_0) a JOIN (SELECT \"k\", "
              "\"z\", \"y\" FROM __pgt_old_1) \"b\" ON a.k = b.k");
    EXPECT_EQ(substitute_split(p.query, p.refs, {"__pgt_ins_0", ""}, {}),
              "SELECT a.x, b.y FROM (SELECT \"k\", \"x\" FROM __pgt_ins_0) a JOIN public.b ON a.k "
              "= b.k");
}

TEST(Delta, JoinDeltaHasTwoSignedTermsPerChangedRelation) {
    DeltaPlan p = join_plan();
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_EQ(count(sql, " AS __pgt_w FROM ("), 4u);
    // Telescoping: the first relation's delta meets the second's old state; the second's delta
    // meets the first as it is now.
    EXPECT_NE(sql.find("FROM __pgt_ins_0 a JOIN __pgt_old_1 \"b\""), std::string::npos);
    EXPECT_NE(sql.find("FROM public.a a JOIN __pgt_del_1 \"b\""), std::string::npos);
}

TEST(Delta, RecomputedTopKIsTheWholeQueryMinusTheStoredRows) {
    DeltaPlan p = join_plan();
    p.query += " ORDER BY a.x LIMIT 3";
    p.recompute = true;
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    // Two terms: the query as it is now (+1), the stored rows (-1); no per-relation terms.
    EXPECT_EQ(count(sql, " AS __pgt_w FROM "), 2u);
    EXPECT_NE(sql.find("SELECT q.*, 1 AS __pgt_w FROM (\n" + p.query + "\n) q"), std::string::npos);
    EXPECT_NE(sql.find("SELECT s.\"x\", s.\"y\", -1 AS __pgt_w FROM \"public\".\"st\" s"),
              std::string::npos)
        << sql;
    EXPECT_EQ(sql.find("__pgt_ins_0 a"), std::string::npos);
    // Nor any CTE over the changes: nothing reads them.
    EXPECT_EQ(sql.find("__pgt_ins_0"), std::string::npos);
    EXPECT_NE(sql.find("WITH __pgt_nothing AS (SELECT),\n__pgt_delta"), std::string::npos);
}

// A top-K plan over join_plan() as its inner query: ORDER BY y DESC, x LIMIT 3.
DeltaPlan top_k_plan(DeltaPlan inner) {
    DeltaPlan p;
    p.tables = inner.tables;
    p.output_columns = inner.output_columns;
    p.query = inner.query + " ORDER BY b.y DESC, a.x LIMIT 3";
    TopK t;
    t.limit = 3;
    t.order = {{"y", true, true, "OPERATOR(pg_catalog.>)"},
               {"x", false, false, "OPERATOR(pg_catalog.<)"}};
    t.inner = std::make_shared<const DeltaPlan>(std::move(inner));
    p.top_k = std::move(t);
    return p;
}

TEST(Delta, TopKKeepsTheFirstCandidatesWhenTheyDecideAndElseEvaluatesTheQuery) {
    const DeltaPlan p = top_k_plan(join_plan());
    const std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    // Candidates: the stored rows and the inner query's signed terms (two per changed table),
    // summed per content.
    EXPECT_NE(
        sql.find("SELECT s.\"x\", s.\"y\", 1 AS __pgt_w FROM \"public\".\"st\" s\n  UNION ALL"),
        std::string::npos)
        << sql;
    EXPECT_NE(sql.find("__pgt_ins_0 a"), std::string::npos);
    EXPECT_NE(sql.find("__pgt_del_1 \"b\""), std::string::npos);
    // The k-th stored row is the boundary, sorted after the candidates it ties with; changed
    // rows sorting after it are left out before they are consolidated.
    EXPECT_NE(
        sql.find("ORDER BY s.\"y\" DESC NULLS FIRST, s.\"x\" ASC NULLS LAST OFFSET 2 LIMIT 1"),
        std::string::npos)
        << sql;
    EXPECT_NE(sql.find("WHERE NOT EXISTS (SELECT 1 FROM __pgt_bound b WHERE (CASE WHEN "
                       "pg_catalog.num_nulls(d.\"y\") = 1 THEN false WHEN "
                       "pg_catalog.num_nulls(b.\"y\") = 1 THEN true ELSE b.\"y\" "
                       "OPERATOR(pg_catalog.>) d.\"y\" END OR (NOT CASE WHEN "
                       "pg_catalog.num_nulls(b.\"y\") = 1 THEN false WHEN "
                       "pg_catalog.num_nulls(d.\"y\") = 1 THEN true ELSE d.\"y\" "
                       "OPERATOR(pg_catalog.>) b.\"y\" END AND (CASE WHEN "
                       "pg_catalog.num_nulls(b.\"x\") = 1 THEN false"),
              std::string::npos)
        << sql;
    EXPECT_NE(
        sql.find("ORDER BY t.\"y\" DESC NULLS FIRST, t.\"x\" ASC NULLS LAST, t.__pgt_boundary "
                 "LIMIT 3"),
        std::string::npos);
    // The whole query only when the candidates cannot decide; the stored rows taken away.
    EXPECT_NE(sql.find("SELECT q.*, 1 AS __pgt_w FROM (\n" + p.query +
                       "\n) q\nWHERE NOT (SELECT __pgt_yes FROM __pgt_decided)"),
              std::string::npos);
    EXPECT_NE(sql.find("FROM __pgt_top t\nWHERE (SELECT __pgt_yes FROM __pgt_decided)"),
              std::string::npos);
    EXPECT_NE(sql.find("SELECT s.\"x\", s.\"y\", -1 AS __pgt_w FROM \"public\".\"st\" s"),
              std::string::npos);
    // Rows identified by content, as a recomputed query's.
    EXPECT_NE(sql.find("ARRAY[d.\"x\"::text, d.\"y\"::text]"), std::string::npos);
    EXPECT_EQ(row_id_expression(p, "d"), row_id_expression(join_plan(), "d"));
    EXPECT_FALSE(unique_row_ids(p));
}

TEST(Delta, TopKOverGroupsKeepsTheStoredGroupsTheChangeLeftAndTheTouchedOnesEvaluatedAgain) {
    DeltaPlan inner = count_per_group();
    inner.algebraic.clear();  // (only the top rows are stored: no running state)
    inner.query = "SELECT g, count(*) AS n FROM public.a GROUP BY g";
    inner.key_query = "SELECT g AS __pgt_g1 FROM public.a";
    inner.tables = {{1001, "\"public\".\"a\"", {{"g", "integer"}}, {}, true}};
    RelationRef a;
    a.location = inner.key_query.find("public.a");
    a.length = 8;
    a.refname = "a";
    inner.key_refs = {a};
    const DeltaPlan p = top_k_plan(inner);
    const std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_NE(sql.find("__pgt_affected AS MATERIALIZED"), std::string::npos) << sql;
    EXPECT_NE(sql.find("WHERE NOT EXISTS (SELECT 1 FROM __pgt_affected a WHERE (s.\"g\" = "
                       "a.__pgt_g1 OR (s.\"g\" IS NULL AND a.__pgt_g1 IS NULL)))"),
              std::string::npos)
        << sql;
    EXPECT_NE(sql.find("FROM __pgt_new n WHERE n.__pgt_present"), std::string::npos);
    // Described with its inner query's form.
    EXPECT_NE(describe_plan(p).find("inner query: Grouped, rescan"), std::string::npos)
        << describe_plan(p);
}

TEST(Delta, TopKIsRecomputedWhenItsInnerQueryWouldBe) {
    DeltaPlan inner = join_plan();
    inner.refs[1].nonlinear = true;
    DeltaPlan p = top_k_plan(inner);
    EXPECT_TRUE(recompute_cheaper(p));
    p.tables[1].changed = false;
    EXPECT_FALSE(recompute_cheaper(p));
    p.tables[1].changed = true;
    p.recompute = true;  // (as the refresh sets it)
    const std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_EQ(sql.find("__pgt_decided"), std::string::npos);
    EXPECT_EQ(count(sql, " AS __pgt_w FROM "), 2u);
}

TEST(Delta, RecomputeIsCheaperOnlyForAChangedUnrestrictedNonlinearReference) {
    DeltaPlan p = join_plan();
    EXPECT_FALSE(recompute_cheaper(p));  // linear in both
    p.refs[1].nonlinear = true;          // b read, say, inside EXISTS
    EXPECT_TRUE(recompute_cheaper(p));
    p.tables[1].changed = false;  // only a changed: its terms are cheap
    EXPECT_FALSE(recompute_cheaper(p));
    p.tables[1].changed = true;
    p.refs[1].restriction = 0;  // restricted: its evaluations keep only the rows it reaches
    p.restrictions.resize(1);
    EXPECT_FALSE(recompute_cheaper(p));
    p.restrictions[0].correlated = false;  // (keeps all rows or none)
    EXPECT_TRUE(recompute_cheaper(p));
    p.refs[1].restriction = -1;
    p.kind = DeltaPlan::Kind::Grouped;  // without running state: rescans the groups touched
    EXPECT_FALSE(recompute_cheaper(p));
}

TEST(Delta, GroupedAlgebraicPlanIsRecomputedWithItsStateWritingOnlyGroupsThatDiffer) {
    DeltaPlan p = count_per_group();
    p.query =
        "SELECT g, count(*) AS n FROM public.t WHERE v > (SELECT avg(v) FROM public.t) GROUP BY g";
    p.key_query = "SELECT g AS __pgt_g1 FROM public.t WHERE v > (SELECT avg(v) FROM public.t t2)";
    p.tables = {{7, "\"public\".\"t\"", {{"g", "integer"}, {"v", "integer"}}, {}, true}};
    RelationRef outer{p.key_query.find("public.t"), 8, false, "t", 0};
    RelationRef inner{p.key_query.rfind("public.t"), 8, true, "t2", 0};
    inner.nonlinear = true;  // any change can move the average, and so every group
    p.key_refs = {outer, inner};
    EXPECT_TRUE(recompute_cheaper(p));
    p.tables[0].changed = false;
    EXPECT_FALSE(recompute_cheaper(p));
    p.tables[0].changed = true;
    p.recompute = true;
    std::string sql = apply_statement(p, frontier(), "st");
    // Every group's state from the sources, none of the changes; only differing rows written.
    EXPECT_NE(sql.find("__pgt_n AS MATERIALIZED (SELECT"), std::string::npos);
    EXPECT_NE(sql.find("pg_catalog.count(*) AS __pgt_count"), std::string::npos);
    EXPECT_EQ(sql.find("changes_7"), std::string::npos);
    EXPECT_NE(sql.find("IS DISTINCT FROM ROW(excluded."), std::string::npos);
    EXPECT_NE(sql.find("DELETE FROM st s WHERE NOT EXISTS"), std::string::npos);
}

TEST(Delta, KeyedRecomputeUpdatesTheRowsWhoseKeyStays) {
    DeltaPlan p = join_plan();
    p.key_columns = {"x"};
    p.recompute = true;
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_EQ(count(sql, " AS __pgt_w FROM "), 2u);
    EXPECT_NE(sql.find("SELECT s.\"x\", s.\"y\", -1 AS __pgt_w FROM \"public\".\"st\" s"),
              std::string::npos);
    EXPECT_NE(sql.find("ON CONFLICT (__pgt_row_id) DO UPDATE"), std::string::npos) << sql;
}

// WITH RECURSIVE r(a, b) AS (SELECT src, dst FROM e UNION [ALL] SELECT r.a, f.dst FROM r JOIN e
// f ON f.src = r.b JOIN e g ON g.src = f.dst) SELECT a, b FROM r: the step reads e twice.
DeltaPlan recursive_plan(bool all) {
    DeltaPlan p;
    p.query = "(the whole query)";
    p.output_columns = {"a", "b"};
    p.recompute = false;
    p.tables = {{5, "\"public\".\"e\"", {{"src", "integer"}, {"dst", "integer"}}, {}, true}};
    Recursion rec;
    rec.all = all;
    rec.columns = {"a", "b"};
    rec.base = "SELECT src, dst FROM public.e";
    rec.base_refs = {{rec.base.find("public.e"), 8, false, "e", 0}};
    rec.step =
        "SELECT r.a, f.dst FROM r JOIN public.e f ON f.src = r.b JOIN public.e g ON "
        "g.src = f.dst";
    rec.self = {rec.step.find("r JOIN"), 1, false, "r", 0};
    const auto f = rec.step.find("public.e f");
    rec.step_refs = {{f, 8, true, "f", 0}, {rec.step.find("public.e g"), 8, true, "g", 0}};
    p.recursion = rec;
    return p;
}

TEST(Delta, RecursiveUnionOverDeletesAndRederives) {
    const std::string sql = apply_statement(recursive_plan(false), frontier(), "st");
    // Over-deletion through each changed reference, the others read old; iterated over the old
    // state; the rows that stay computed once; rederivation kept to the over-deleted rows.
    EXPECT_NE(sql.find("__pgt_del_0 f ON f.src = r.b JOIN __pgt_old_0 g"), std::string::npos)
        << sql;
    EXPECT_NE(sql.find("__pgt_old_0 f ON f.src = r.b JOIN __pgt_del_0 g"), std::string::npos);
    EXPECT_NE(sql.find("FROM __pgt_od \"r\" JOIN __pgt_old_0 f"), std::string::npos);
    EXPECT_NE(sql.find("__pgt_stay(\"a\", \"b\") AS MATERIALIZED"), std::string::npos);
    EXPECT_NE(sql.find("EXISTS (SELECT 1 FROM __pgt_odm __pgt_m WHERE"), std::string::npos);
    EXPECT_NE(sql.find("FROM __pgt_stay \"r\" JOIN __pgt_ins_0 f"), std::string::npos);
    EXPECT_EQ(sql.find("__pgt_kept_0 f"), std::string::npos);
}

TEST(Delta, RecursiveUnionAllCountsEachPathOnceAtItsFirstChangedRow) {
    const std::string sql = apply_statement(recursive_plan(true), frontier(), "st");
    // A path through two deleted rows leaves once: the references before the deleted one read
    // the kept rows, those after it the old state.
    EXPECT_NE(sql.find("__pgt_del_0 f ON f.src = r.b JOIN __pgt_old_0 g"), std::string::npos)
        << sql;
    EXPECT_NE(sql.find("__pgt_kept_0 f ON f.src = r.b JOIN __pgt_del_0 g"), std::string::npos);
    EXPECT_NE(sql.find("__pgt_kept_0 f ON f.src = r.b JOIN __pgt_ins_0 g"), std::string::npos);
    // Gone paths continue through kept rows only, born ones through the rows now.
    EXPECT_NE(sql.find("FROM __pgt_gone \"r\" JOIN __pgt_kept_0 f"), std::string::npos);
    EXPECT_NE(sql.find("FROM __pgt_born \"r\" JOIN public.e f"), std::string::npos);
    EXPECT_EQ(count(sql, " AS __pgt_w FROM __pgt_"), 2u);
}

TEST(Delta, UnchangedRelationContributesNoTermAndIsReadAsItIs) {
    DeltaPlan p = join_plan();
    p.tables[1].changed = false;
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_EQ(count(sql, " AS __pgt_w FROM ("), 2u);
    EXPECT_NE(sql.find("FROM __pgt_ins_0 a JOIN public.b ON"), std::string::npos);
    EXPECT_EQ(sql.find("__pgt_old_1 \"b\""), std::string::npos);
}

TEST(Delta, UnionAllProductsAreDifferentiatedSeparately) {
    DeltaPlan p;
    p.query = "SELECT x FROM public.a UNION ALL SELECT x FROM public.b";
    p.output_columns = {"x"};
    p.tables = {{1001, "\"public\".\"a\"", {{"x", "integer"}}, {}, true},
                {1002, "\"public\".\"b\"", {{"x", "integer"}}, {}, true}};
    RelationRef a{p.query.find("public.a"), 8, false, "a", 0};
    RelationRef b{p.query.find("public.b"), 8, false, "b", 1};
    p.refs = {a, b};
    p.products = {{0}, {1}};
    std::string sql = apply_statement(p, frontier(), "st");
    EXPECT_EQ(count(sql, " AS __pgt_w FROM ("), 4u);
    // While one branch's delta is taken, the other branch reads an empty relation.
    EXPECT_NE(sql.find("FROM __pgt_ins_0 \"a\" UNION ALL SELECT x FROM __pgt_none_1 \"b\""),
              std::string::npos);
}

TEST(Delta, NonlinearReferenceIsTheQueryNewMinusTheQueryOld) {
    // a LEFT JOIN b: linear in a, not in b.
    DeltaPlan p = join_plan();
    p.query = "SELECT a.x, b.y FROM public.a a LEFT JOIN public.b ON a.k = b.k";
    p.refs[0].location = p.query.find("public.a");
    p.refs[1].location = p.query.find("public.b");
    p.refs[1].nonlinear = true;
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_EQ(count(sql, " AS __pgt_w FROM ("), 4u);
    // a's terms use its changed rows; b's terms are the query with b as it is now (+1) and as
    // it was (-1), a read as it is now in both.
    EXPECT_NE(sql.find("FROM __pgt_ins_0 a LEFT JOIN __pgt_oldh_1 \"b\""), std::string::npos);
    EXPECT_NE(
        sql.find("1 AS __pgt_w FROM (\nSELECT a.x, b.y FROM public.a a LEFT JOIN public.b ON"),
        std::string::npos);
    EXPECT_NE(sql.find("-1 AS __pgt_w FROM (\nSELECT a.x, b.y FROM public.a a LEFT JOIN "
                       "__pgt_oldh_1 \"b\" ON"),
              std::string::npos);
    EXPECT_EQ(sql.find("JOIN __pgt_ins_1"), std::string::npos);
}

TEST(Delta, RestrictedNonlinearTermsReadTheChangedRowsInTheirCondition) {
    DeltaPlan p = join_plan();
    p.query = "SELECT a.x, b.y FROM public.a a LEFT JOIN public.b ON a.k = b.k";
    p.refs[0].location = p.query.find("public.a");
    p.refs[1].location = p.query.find("public.b");
    p.refs[1].nonlinear = true;
    p.refs[1].restriction = 0;
    RestrictedText r;
    r.text = p.query +
             " WHERE EXISTS (SELECT 1 FROM public.b __pgt_any_ref WHERE a.k = "
             "__pgt_any_ref.k)";
    r.refs = {p.refs[0], p.refs[1]};
    RelationRef any{r.text.rfind("public.b"), 8, true, "__pgt_any_ref", 1};
    r.refs.push_back(any);
    r.original = {0, 1, -1};
    p.restrictions = {r};
    p.tables[0].changed = false;
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_EQ(count(sql, " AS __pgt_w FROM ("), 2u);
    EXPECT_EQ(count(sql, "FROM __pgt_any_1 __pgt_any_ref WHERE a.k = __pgt_any_ref.k"), 2u);
    EXPECT_NE(sql.find("LEFT JOIN __pgt_oldh_1 \"b\" ON a.k = b.k WHERE EXISTS"),
              std::string::npos);
    // Joined to the kept rows by an equality of its column k (filter_column): b is read, now
    // and before, only where k is a changed row's; before, as its kept rows (keyed: probed by
    // index) plus its deleted ones.
    p.restrictions[0].filter_column = "k";
    p.tables[1].key = {"k"};
    sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    const std::string changed_k = "f.\"k\" IN (SELECT x.\"k\" FROM __pgt_any_1 x)";
    EXPECT_NE(sql.find("LEFT JOIN (SELECT \"k\", \"y\" FROM \"public\".\"b\" f WHERE " + changed_k +
                       ") \"b\" ON a.k = b.k WHERE EXISTS"),
              std::string::npos);
    EXPECT_NE(sql.find("LEFT JOIN (SELECT \"k\", \"y\" FROM __pgt_cur_1 f WHERE " + changed_k +
                       " UNION ALL SELECT \"k\", \"y\" FROM __pgt_del_1 f WHERE " + changed_k +
                       ") \"b\" ON a.k = b.k WHERE EXISTS"),
              std::string::npos);
    EXPECT_NE(sql.find("__pgt_cur_1 AS NOT MATERIALIZED"), std::string::npos);
}

TEST(Delta, OldStateSubqueryExpressionIsWrittenOverKeptAndDeletedRows) {
    // a WHERE EXISTS (b correlated): linear in a, not in b, both changed, b keyed.
    DeltaPlan p = join_plan();
    p.query = "SELECT a.x FROM public.a a WHERE (EXISTS ( SELECT 1 FROM public.b WHERE b.k = a.k))";
    p.output_columns = {"x"};
    p.tables[1].key = {"k"};
    p.refs[0].location = p.query.find("public.a");
    p.refs[1].location = p.query.find("public.b");
    p.refs[1].nonlinear = true;
    p.refs[1].split_begin = p.query.find("EXISTS");
    p.refs[1].split_end = p.query.size() - 1;
    p.refs[1].split_op = '|';
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    // a's terms read b old: the expression once over the rows of b kept (probed by index), once
    // over b's deleted rows, ORed.
    EXPECT_EQ(count(sql,
                    "FROM __pgt_ins_0 a WHERE ((EXISTS ( SELECT 1 FROM __pgt_cur_1 \"b\" "
                    "WHERE b.k = a.k) OR EXISTS ( SELECT 1 FROM __pgt_del_1 \"b\" WHERE "
                    "b.k = a.k)))"),
              1u);
    EXPECT_NE(sql.find("__pgt_cur_1 AS NOT MATERIALIZED (SELECT r.\"k\", r.\"y\", 1 AS "
                       "__pgt_one FROM \"public\".\"b\" r WHERE (r.\"k\") NOT IN"),
              std::string::npos);
    // b's own terms evaluate the whole query (no restriction): its old state stays one union,
    // which the planner hashes once.
    EXPECT_NE(sql.find("SELECT 1 FROM __pgt_oldh_1 \"b\" WHERE b.k = a.k"), std::string::npos);

    // ALL splits into AND; a keyless table keeps the union.
    std::vector<std::string> repl{"", "__pgt_oldh_1"};
    p.refs[1].split_op = '&';
    EXPECT_NE(substitute_split(p.query, p.refs, repl, {false, true}).find(") AND EXISTS ("),
              std::string::npos);
    EXPECT_EQ(substitute_split(p.query, p.refs, repl, {false, false}),
              substitute(p.query, p.refs, repl));
    // A correlated EXISTS's deleted part, when given, is that text over the deleted rows.
    p.refs[1].split_op = '|';
    p.refs[1].split_del = "(a.k IS NOT NULL AND a.k IN (SELECT b.k FROM \x01 \"b\" WHERE true))";
    EXPECT_NE(substitute_split(p.query, p.refs, repl, {false, true})
                  .find("b.k = a.k) OR (a.k IS NOT NULL AND a.k IN (SELECT b.k FROM __pgt_del_1 "
                        "\"b\" WHERE true))))"),
              std::string::npos);
    p.refs[1].split_del = "no mark";
    EXPECT_EQ(substitute_split(p.query, p.refs, repl, {false, true}),
              substitute(p.query, p.refs, repl));
    p.refs[1].split_del.clear();
    // A span holding another reference is not split.
    p.refs[1].split_begin = p.query.find("public.a") - 1;
    EXPECT_EQ(substitute_split(p.query, p.refs, repl, {false, true}),
              substitute(p.query, p.refs, repl));
}

TEST(Delta, AlgebraicPlanKeepsStateColumns) {
    DeltaPlan p;
    p.kind = DeltaPlan::Kind::Grouped;
    p.output_columns = {"g", "n", "s"};
    p.group_columns = {"g"};
    p.algebraic = {{AlgebraicColumn::Kind::Key, 1, "integer"},
                   {AlgebraicColumn::Kind::CountStar, 0, "bigint"},
                   {AlgebraicColumn::Kind::Sum, 1, "bigint"}};
    p.algebraic_args = 1;
    auto state = state_columns(p);
    ASSERT_EQ(state.size(), 3u);
    EXPECT_EQ(state[0].name, "__pgt_count");
    EXPECT_EQ(state[1].name, "__pgt_aux_count_1");
    EXPECT_EQ(state[2].name, "__pgt_aux_sum_1");
    p.query = "SELECT g, count(*) AS n, sum(v) AS s FROM public.t GROUP BY g";
    p.key_query = "SELECT g AS __pgt_g1, v AS __pgt_a1 FROM public.t";
    p.tables = {{7, "\"public\".\"t\"", {{"g", "integer"}, {"v", "integer"}}, {}, true}};
    p.key_refs = {{p.key_query.find("public.t"), 8, false, "t", 0}};
    std::string sql = apply_statement(p, frontier(), "st");
    // A group whose running count reaches zero is deleted; SUM is NULL once no non-null value
    // is left.
    EXPECT_NE(sql.find("v.__pgt_count = 0"), std::string::npos);
    EXPECT_NE(sql.find("CASE WHEN m.__pgt_aux_count_1 = 0 THEN NULL"), std::string::npos);
    EXPECT_NE(full_insert(p, "st").find("pg_catalog.count(*) AS __pgt_count"), std::string::npos);
}

TEST(Delta, AlgebraicChangeEvaluatesArgumentsOnceAndKeepsOnlyTheCtesItReads) {
    DeltaPlan p;
    p.kind = DeltaPlan::Kind::Grouped;
    p.output_columns = {"g", "s"};
    p.group_columns = {"g"};
    AlgebraicColumn sum{AlgebraicColumn::Kind::Sum, 1, "numeric"};
    sum.nan_possible = true;
    p.algebraic = {{AlgebraicColumn::Kind::Key, 1, "integer"}, sum};
    p.algebraic_args = 1;
    p.query = "SELECT g, sum(v * 2) AS s FROM public.t GROUP BY g";
    p.key_query =
        std::string("SELECT g AS __pgt_g1, v * 2 AS __pgt_a1, ") + kKeyWeight + " FROM public.t";
    p.key_weighted = true;
    p.tables = {{7, "\"public\".\"t\"", {{"g", "integer"}, {"v", "numeric"}}, {}, true}};
    p.key_refs = {{p.key_query.find("public.t"), 8, false, "t", 0}};
    std::string sql = apply_statement(p, frontier(), "st", Consolidation::Lean);
    // The arguments are computed in a subquery kept apart (OFFSET 0), their NaN tests above it
    // (the running sum and the NaN count), and the sums take or negate values of weight 1 or -1
    // instead of multiplying them.
    EXPECT_NE(sql.find("(SELECT x.* FROM (\n"), std::string::npos) << sql;
    EXPECT_NE(sql.find(") x OFFSET 0) x GROUP BY x.__pgt_g1"), std::string::npos) << sql;
    // (each aggregate also appears in the HAVING that keeps changed groups)
    EXPECT_EQ(count(sql, "pgtrickle._pgt_is_nan(x.__pgt_a1)"), 4u) << sql;
    EXPECT_EQ(count(sql, "__pgt_n1"), 0u) << sql;
    EXPECT_NE(sql.find("WHEN x.__pgt_w = -1 THEN -(x.__pgt_a1::numeric)"), std::string::npos);
    // Only the signed changes are read: no CTE for inserted, deleted or old rows is defined.
    EXPECT_NE(sql.find("__pgt_sgn_0 AS"), std::string::npos);
    for (const char* unused : {"__pgt_ins_0 AS", "__pgt_del_0 AS", "__pgt_old_0 AS",
                               "__pgt_oldh_0 AS", "__pgt_none_0 AS", "__pgt_kept_0 AS"})
        EXPECT_EQ(sql.find(unused), std::string::npos) << unused;

    // A quoted column name that looks like a CTE boundary does not split a CTE.
    DeltaPlan odd = p;
    odd.tables[0].columns[1].name = "v,\n__pgt_x AS (";
    const std::string odd_sql = apply_statement(odd, frontier(), "st", Consolidation::Lean);
    EXPECT_NE(odd_sql.find("b.\"v,\n__pgt_x AS (\" AS \"v,\n__pgt_x AS (\""), std::string::npos)
        << odd_sql;
    EXPECT_EQ(odd_sql.find("__pgt_ins_0 AS"), std::string::npos);

    // Increments: one INSERT ... ON CONFLICT, collisions raised; for one statement's change
    // (IMMEDIATE) no subquery kept apart.
    p.relative_apply = true;
    sql = apply_statement(p, frontier(), "st");
    EXPECT_NE(sql.find("OFFSET 0"), std::string::npos);
    p.per_statement = true;
    sql = apply_statement(p, frontier(), "st");
    EXPECT_EQ(sql.find("OFFSET 0"), std::string::npos);
    EXPECT_NE(sql.find("ON CONFLICT (__pgt_row_id) DO UPDATE"), std::string::npos);
    EXPECT_NE(sql.find("ELSE pgtrickle._pgt_row_id_collision('st') END"), std::string::npos);
    EXPECT_EQ(sql.find("__pgt_u AS"), std::string::npos);
    // Each column set from the stored state plus the change, written out in place (no
    // sub-SELECT run per row).
    EXPECT_NE(sql.find("DO UPDATE SET \"g\" = (excluded.\"g\")::integer, \"s\" = (CASE WHEN "
                       "(coalesce(s.__pgt_aux_count_1, 0) + coalesce(excluded.__pgt_aux_count_1, "
                       "0)) = 0 THEN NULL"),
              std::string::npos)
        << sql;
    EXPECT_EQ(sql.find("__pgt_m"), std::string::npos);
}

TEST(Delta, WeightedKeyQueryReadsEachChangedTableOnceWithItsSign) {
    DeltaPlan p = count_per_group();
    p.query = "SELECT g, count(*) AS n FROM public.t GROUP BY g";
    p.key_query = std::string("SELECT g AS __pgt_g1, ") + kKeyWeight + " FROM public.t";
    p.tables = {{7, "\"public\".\"t\"", {{"g", "integer"}}, {}, true}};
    p.key_refs = {{p.key_query.find("public.t"), 8, false, "t", 0}};
    // Unweighted: the inserted rows (+1) and the deleted rows (-1), two terms.
    const std::string two = apply_statement(p, frontier(), "st", Consolidation::Lean);
    EXPECT_EQ(count(two, "AS __pgt_w FROM ("), 2u);
    // Weighted: one term over the signed changes, its weight read from them, in both modes.
    p.key_weighted = true;
    for (auto mode : {Consolidation::Lean, Consolidation::Exact}) {
        const std::string one = apply_statement(p, frontier(), "st", mode);
        EXPECT_EQ(count(one, "AS __pgt_w FROM ("), 1u);
        EXPECT_NE(one.find("FROM __pgt_sgn_0 \"t\""), std::string::npos);
        EXPECT_NE(one.find("\"t\".__pgt_one AS __pgt_wt"), std::string::npos);
        EXPECT_NE(one.find("__pgt_sgn_0 AS NOT MATERIALIZED"), std::string::npos);
    }
}

// A weighted term reads the tables after its changed one in their old state, old = new - sgn:
// each such table the query is linear in is read as the table itself and as its signed changes
// with the weight negated (2^k copies), never as the union __pgt_old_<t> the planner cannot
// probe by index. A nullable side of an outer join is not linear: it stays old.
TEST(Delta, WeightedTermsReadLaterTablesAsTableMinusChanges) {
    DeltaPlan p = count_per_group();
    p.query = "SELECT a.g, count(*) AS n FROM public.a a JOIN public.b b ON a.k = b.k GROUP BY 1";
    p.key_query = std::string("SELECT a.g AS __pgt_g1, ") + kKeyWeight +
                  " FROM public.a a JOIN public.b b ON a.k = b.k";
    p.tables = {{1, "\"public\".\"a\"", {{"k", "integer"}, {"g", "integer"}}, {"k"}, true},
                {2, "\"public\".\"b\"", {{"k", "integer"}}, {"k"}, true}};
    p.key_refs = {{p.key_query.find("public.a"), 8, true, "a", 0},
                  {p.key_query.find("public.b"), 8, true, "b", 1}};
    p.key_weighted = true;
    std::string sql = apply_statement(p, frontier(), "st", Consolidation::Lean);
    // a varied: b as the table and as its changes; b varied: a new (the table). Three terms.
    EXPECT_EQ(count(sql, "AS __pgt_w FROM ("), 3u);
    EXPECT_EQ(count(sql, "FROM __pgt_sgn_0 a JOIN public.b b"), 1u);
    EXPECT_EQ(count(sql, "FROM __pgt_sgn_0 a JOIN __pgt_sgn_1 b"), 1u);
    EXPECT_NE(sql.find("\"a\".__pgt_one * (-\"b\".__pgt_one) AS __pgt_wt"), std::string::npos);
    EXPECT_EQ(count(sql, "FROM public.a a JOIN __pgt_sgn_1 b"), 1u);
    EXPECT_EQ(count(sql, "JOIN __pgt_old_1"), 0u);
    // Joined changed tables are consolidated even in Lean mode (updates of unread columns
    // cancel before the join), grouped by the columns when their equality is identity.
    EXPECT_NE(sql.find("__pgt_net_0 AS MATERIALIZED"), std::string::npos);
    EXPECT_EQ(count(sql, "OVER (PARTITION BY __pgt_k)"), 4u);
    p.tables[0].groupable = true;
    sql = apply_statement(p, frontier(), "st", Consolidation::Lean);
    EXPECT_EQ(count(sql, "OVER (PARTITION BY __pgt_k)"), 2u);
    EXPECT_NE(sql.find("GROUP BY b.\"k\", b.\"g\"\n  HAVING"), std::string::npos);
    // With one changed table, its buffered rows are read as they are.
    p.tables[1].changed = false;
    sql = apply_statement(p, frontier(), "st", Consolidation::Lean);
    EXPECT_EQ(count(sql, "__pgt_net_0 AS MATERIALIZED"), 0u);
    p.tables[1].changed = true;
    // So too with both changed when the reads of both leave out updates of columns the query
    // does not read (changed_bits): a table's signed changes read by two terms are read from
    // its buffer once.
    p.tables[0].changed_bits = 3;
    sql = apply_statement(p, frontier(), "st", Consolidation::Lean);
    EXPECT_EQ(count(sql, "__pgt_net_0 AS MATERIALIZED"), 1u);  // (b's bits are not known)
    p.tables[1].changed_bits = kEveryColumn;
    sql = apply_statement(p, frontier(), "st", Consolidation::Lean);
    EXPECT_EQ(count(sql, "__pgt_net_"), 0u);
    EXPECT_NE(sql.find("__pgt_sgn_0 AS MATERIALIZED (SELECT b.\"k\" AS \"k\""), std::string::npos);
    EXPECT_NE(sql.find("__pgt_sgn_1 AS MATERIALIZED (SELECT b.\"k\" AS \"k\""), std::string::npos);
    EXPECT_EQ(count(sql, "GROUP BY b."), 0u);
    // The exact form, after a data error, still consolidates.
    sql = apply_statement(p, frontier(), "st", Consolidation::Exact);
    EXPECT_NE(sql.find("__pgt_net_0 AS MATERIALIZED"), std::string::npos);
    p.tables[0].changed_bits.reset();
    p.tables[1].changed_bits.reset();
    // b on the nullable side of an outer join: the term varying a keeps b's old state.
    p.key_refs[1].nonlinear = true;
    sql = apply_statement(p, frontier(), "st", Consolidation::Lean);
    EXPECT_EQ(count(sql, "FROM __pgt_sgn_0 a JOIN __pgt_oldh_1 b"), 1u);
    // That old state leaves out the inserted keys with one hash for the statement (NOT IN),
    // not an anti join planned per call of a correlated subquery.
    EXPECT_NE(sql.find("WHERE (r.\"k\") NOT IN (SELECT i.\"k\" FROM __pgt_ins_1 i)"),
              std::string::npos);
    EXPECT_EQ(count(sql, "__pgt_sgn_1 b"), 0u);
}

// An expression over running aggregates: its $k are the k-th aggregate's value recomputed from
// the state (not inside a string literal), and each aggregate keeps its state columns.
TEST(Delta, ExpressionOverAggregatesIsRecomputedFromTheirStates) {
    DeltaPlan p;
    p.kind = DeltaPlan::Kind::Grouped;
    p.output_columns = {"g", "share"};
    p.group_columns = {"g"};
    AlgebraicColumn share{AlgebraicColumn::Kind::Expr, 0, "numeric"};
    share.expr_sql = "(100.00 * $1) / $2 || '$1'";
    share.parts = {{AlgebraicColumn::Kind::Sum, 1, "bigint"},
                   {AlgebraicColumn::Kind::CountStar, 0, "bigint"}};
    p.algebraic = {{AlgebraicColumn::Kind::Key, 1, "integer"}, share};
    p.algebraic_args = 1;
    p.query = "SELECT g, 100.00 * sum(v) / count(*) AS share FROM public.t GROUP BY g";
    p.key_query = "SELECT g AS __pgt_g1, v AS __pgt_a1 FROM public.t";
    p.tables = {{7, "\"public\".\"t\"", {{"g", "integer"}, {"v", "integer"}}, {}, true}};
    p.key_refs = {{p.key_query.find("public.t"), 8, false, "t", 0}};
    const auto state = state_columns(p);
    ASSERT_EQ(state.size(), 3u);  // __pgt_count, __pgt_aux_count_1, __pgt_aux_sum_1
    EXPECT_EQ(state[2].name, "__pgt_aux_sum_1");
    const std::string sql = apply_statement(p, frontier(), "st");
    // (Not evaluated for a group left empty: it is deleted, and 100.00 * ... / 0 would raise.)
    EXPECT_NE(sql.find("CASE WHEN m.__pgt_count = 0 THEN NULL ELSE "
                       "((100.00 * (CASE WHEN m.__pgt_aux_count_1 = 0 THEN NULL ELSE "
                       "m.__pgt_aux_sum_1 END)::bigint) / (m.__pgt_count)::bigint || '$1')::numeric"
                       " END AS \"share\""),
              std::string::npos)
        << sql;
}

TEST(Delta, MinMaxAreKeptInPlaceAndRescannedOnlyWhenTheExtremeMayLeave) {
    DeltaPlan p;
    p.kind = DeltaPlan::Kind::Grouped;
    p.output_columns = {"g", "lo"};
    p.group_columns = {"g"};
    p.algebraic = {{AlgebraicColumn::Kind::Key, 1, "integer"},
                   {AlgebraicColumn::Kind::Min, 1, "integer"}};
    p.algebraic_args = 1;
    p.query = "SELECT g, min(v) AS lo FROM public.t GROUP BY g";
    p.key_query = "SELECT g AS __pgt_g1, v AS __pgt_a1 FROM public.t";
    p.tables = {{7, "\"public\".\"t\"", {{"g", "integer"}, {"v", "integer"}}, {}, true}};
    p.key_refs = {{p.key_query.find("public.t"), 8, false, "t", 0}};
    // No hidden state beyond the counts: the minimum lives in its output column.
    EXPECT_EQ(state_columns(p).size(), 2u);
    std::string sql = apply_statement(p, frontier(), "st");
    // Inserted values move the stored minimum...
    EXPECT_NE(sql.find("LEAST(s.\"lo\", d.__pgt_ins_ext_1) AS __pgt_cand_1"), std::string::npos);
    // ...and a removed value at or below the candidate makes the group rescanned.
    EXPECT_NE(sql.find("d.__pgt_del_ext_1 <= LEAST(s.\"lo\", d.__pgt_ins_ext_1)"),
              std::string::npos);
    EXPECT_NE(sql.find("__pgt_mr AS MATERIALIZED"), std::string::npos);
    EXPECT_NE(sql.find("CASE WHEN m.__pgt_rescan_1 THEN r.__pgt_re_1 ELSE m.__pgt_cand_1 END"),
              std::string::npos);
    EXPECT_NE(full_insert(p, "st").find("pg_catalog.min(x.__pgt_a1) AS __pgt_ext_1"),
              std::string::npos);
}

TEST(Delta, ChangedGroupsAreEvaluatedPerGroupOrAllInOnePass) {
    DeltaPlan p;
    p.kind = DeltaPlan::Kind::Grouped;
    p.output_columns = {"g", "names"};
    p.group_columns = {"g"};
    p.query = "SELECT g, string_agg(s, ',') AS names FROM public.t GROUP BY g";
    p.key_query = "SELECT g AS __pgt_g1 FROM public.t";
    p.tables = {{7, "\"public\".\"t\"", {{"g", "integer"}, {"s", "text"}}, {}, true}};
    p.key_refs = {{p.key_query.find("public.t"), 8, false, "t", 0}};
    // Per group: the keys pushed into the query, evaluated once per changed group.
    std::string per_group = apply_statement(p, frontier(), "st");
    EXPECT_NE(per_group.find("LEFT JOIN LATERAL"), std::string::npos);
    EXPECT_NE(per_group.find("WHERE (q.\"g\" = a.__pgt_g1 OR"), std::string::npos);
    EXPECT_EQ(per_group.find("__pgt_qrid"), std::string::npos);
    // In one pass: the query once, whole, joined to the changed groups on the row id.
    p.groups_in_one_pass = true;
    std::string one_pass = apply_statement(p, frontier(), "st");
    EXPECT_EQ(one_pass.find("LATERAL"), std::string::npos);
    EXPECT_EQ(count(one_pass, "string_agg(s, ',')"), 1u);
    EXPECT_NE(one_pass.find("ON r.__pgt_qrid = a.__pgt_rid"), std::string::npos);
    EXPECT_NE(one_pass.find(row_id_expression(p, "q") + " AS __pgt_qrid"), std::string::npos);
    // The change of one statement (IMMEDIATE) touches a group or two: per group all the same.
    p.per_statement = true;
    EXPECT_NE(apply_statement(p, frontier(), "st").find("LEFT JOIN LATERAL"), std::string::npos);
}

TEST(Cdc, FrontierRoundTripsThroughJson) {
    Frontier f;
    f.snapshot = "10:20:12,15";
    f.own_xid = "18";
    f.own_seq = 4;
    auto back = Frontier::from_json(f.to_json());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->snapshot, "10:20:12,15");
    EXPECT_EQ(back->own_xid, std::optional<std::string>("18"));
    EXPECT_EQ(back->own_seq, 4);
    EXPECT_FALSE(back->buffer_epoch);
    EXPECT_FALSE(Frontier::from_json("{}"));

    f.buffer_epoch = "7301";
    back = Frontier::from_json(f.to_json());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->buffer_epoch, std::optional<std::string>("7301"));
    EXPECT_EQ(back->own_seq, 4);
    // As jsonb prints it back (keys by length, then by name).
    back = Frontier::from_json(
        R"({"own_seq": 4, "own_xid": null, "snapshot": "10:20:", "buffer_epoch": "7301"})");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->own_seq, 4);
    EXPECT_FALSE(back->own_xid);
    EXPECT_EQ(back->snapshot, "10:20:");
    EXPECT_EQ(back->buffer_epoch, std::optional<std::string>("7301"));
    EXPECT_FALSE(back->full_reader);

    // Written in a mode trims do not wait for; also as the catalog's `frontier || {...}` prints.
    f.full_reader = true;
    back = Frontier::from_json(f.to_json());
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->full_reader);
    back = Frontier::from_json(
        R"({"own_seq": 4, "own_xid": "18", "snapshot": "10:20:", "full_reader": true})");
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->full_reader);
    EXPECT_EQ(back->own_xid, std::optional<std::string>("18"));
    EXPECT_FALSE(back->system);

    // The cluster that wrote it.
    f.system = "7312345678901234567";
    back = Frontier::from_json(f.to_json());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->system, std::optional<std::string>("7312345678901234567"));
    back = Frontier::from_json(
        R"({"system": "7312345678901234567", "own_seq": 4, "own_xid": "18", "snapshot": "10:20:"})");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->system, std::optional<std::string>("7312345678901234567"));
    EXPECT_EQ(back->snapshot, "10:20:");
}

TEST(Cdc, BufferDdlCreatesUnloggedBuffersOnlyWhenAsked) {
    CaptureSource s;
    s.relid = 42;
    s.columns = {{"id", "integer"}};
    EXPECT_EQ(buffer_ddl(s)[0].rfind("CREATE TABLE ", 0), 0u);
    s.unlogged = true;
    EXPECT_EQ(buffer_ddl(s)[0].rfind("CREATE UNLOGGED TABLE pgtrickle_changes.\"changes_42\" (", 0),
              0u);
}

TEST(Cdc, UnconsumedPredicateSeparatesTheRefreshingTransactionBySequence) {
    Frontier f = frontier();
    std::string plain = unconsumed_predicate(f, "b");
    EXPECT_NE(plain.find("pg_visible_in_snapshot(b.xid"), std::string::npos);
    EXPECT_EQ(plain.find(".seq"), std::string::npos);
    f.own_xid = "104";
    f.own_seq = 7;
    std::string own = unconsumed_predicate(f, "b");
    EXPECT_NE(own.find("b.xid <> '104'::pg_catalog.xid8"), std::string::npos);
    EXPECT_NE(own.find("b.seq > 7"), std::string::npos);

    // As parameters: one text for every frontier, the values read once per statement.
    f.as_parameters = true;
    std::string param = unconsumed_predicate(f, "b");
    EXPECT_EQ(param.find("100:105"), std::string::npos);
    EXPECT_EQ(param.find("104"), std::string::npos);
    EXPECT_NE(param.find("pg_visible_in_snapshot(b.xid, (SELECT $1::pg_catalog.pg_snapshot))"),
              std::string::npos);
    EXPECT_NE(param.find("b.seq > (SELECT $3::pg_catalog.int8)"), std::string::npos);
    Frontier other = frontier();
    other.snapshot = "200:201:";
    other.as_parameters = true;
    EXPECT_EQ(unconsumed_predicate(other, "b"), param);
    const auto values = frontier_parameters(f);
    ASSERT_EQ(values.size(), 3u);
    EXPECT_EQ(values[0], "100:105:101,103");
    EXPECT_EQ(values[1], "104");
    EXPECT_EQ(values[2], "7");
    EXPECT_EQ(frontier_parameters(other)[1], std::nullopt);
    // A delta statement built from such a frontier holds no literal of it.
    DeltaPlan p = join_plan();
    const std::string sql = apply_statement(p, f, "\"public\".\"st\"");
    EXPECT_EQ(sql.find("100:105"), std::string::npos);
    EXPECT_NE(sql.find("$1"), std::string::npos);
}

TEST(Cdc, CaptureTriggersAreStatementLevelWithTransitionTablesAndAlwaysEnabled) {
    CaptureSource s;
    s.relid = 42;
    s.qualified_name = "\"public\".\"t\"";
    s.columns = {{"id", "integer"}, {"action", "text"}};
    auto ddl = capture_ddl(s);
    std::string all;
    for (const auto& d : ddl)
        all += d + "\n";
    EXPECT_EQ(count(all, "FOR EACH STATEMENT"), 4u);
    EXPECT_NE(all.find("REFERENCING OLD TABLE AS __pgt_old NEW TABLE AS __pgt_new"),
              std::string::npos);
    EXPECT_EQ(count(all, "ENABLE ALWAYS TRIGGER"), 4u);
    EXPECT_EQ(count(all, "EXECUTE FUNCTION pgtrickle.pg_trickle_capture()"), 4u);
    // A source column named like a buffer column is stored under another name.
    EXPECT_NE(buffer_ddl(s)[0].find("\"__usr_action\""), std::string::npos);
    // The only index: a partial one on TRUNCATE markers, which no change row enters.
    ASSERT_EQ(buffer_ddl(s).size(), 2u);
    EXPECT_EQ(buffer_ddl(s)[1],
              "CREATE INDEX \"changes_42_truncates\" ON pgtrickle_changes.\"changes_42\" (xid) "
              "WHERE action = 'T'");
    EXPECT_EQ(buffer_table(42), "pgtrickle_changes.\"changes_42\"");
}

TEST(Delta, VerifiedLinearAppliesAlsoReturnTheDeletionsTheyMean) {
    DeltaPlan p = join_plan();
    EXPECT_EQ(apply_statement(p, frontier(), "\"public\".\"st\"").find("sum(-__pgt_nw)"),
              std::string::npos);
    p.verify = true;
    EXPECT_NE(apply_statement(p, frontier(), "\"public\".\"st\"")
                  .find(", (SELECT coalesce(pg_catalog.sum(-__pgt_nw), 0)::bigint FROM "
                        "__pgt_change WHERE __pgt_nw < 0)"),
              std::string::npos);
    p.key_columns = {"x"};
    EXPECT_NE(apply_statement(p, frontier(), "\"public\".\"st\"")
                  .find(", (SELECT pg_catalog.count(*) FROM __pgt_gone)"),
              std::string::npos);
}

TEST(Delta, PartnerConditionsFilterChangesWhileThePartnerIsUnchanged) {
    DeltaPlan p = join_plan();
    // a's one reference: no condition of its own, one through b; b's: its own only.
    p.tables[0].reference_filters = {{"", {{1, "EXISTS (b_partner)"}}}};
    p.tables[1].reference_filters = {{"(b.y <> 'x')", {}}};
    compose_change_filters(p.tables);  // both changed: no partner applies
    EXPECT_EQ(p.tables[0].change_filter, "");
    EXPECT_EQ(p.tables[1].change_filter, "(b.y <> 'x')");
    p.tables[1].changed = false;
    compose_change_filters(p.tables);
    EXPECT_EQ(p.tables[0].change_filter, "EXISTS (b_partner)");
    // Several references: ORed; one left with no condition leaves the table unfiltered.
    p.tables[0].reference_filters = {{"(b.k > 1)", {{1, "EXISTS (b_partner)"}}}, {"(b.k < 0)", {}}};
    compose_change_filters(p.tables);
    EXPECT_EQ(p.tables[0].change_filter, "((b.k < 0)) OR ((b.k > 1) AND EXISTS (b_partner))");
    p.tables[0].reference_filters.push_back({"", {{1, "EXISTS (b_partner)"}}});
    p.tables[1].changed = true;
    compose_change_filters(p.tables);
    EXPECT_EQ(p.tables[0].change_filter, "");
}

TEST(Delta, KeyedLinearPlanUpdatesRowsInPlace) {
    DeltaPlan p = join_plan();
    p.key_columns = {"x"};
    std::string sql = apply_statement(p, frontier(), "st");
    // One upsert per key's new version; another key under the row id is a collision.
    EXPECT_NE(sql.find("ON CONFLICT (__pgt_row_id) DO UPDATE SET \"x\" = excluded.\"x\""),
              std::string::npos)
        << sql;
    EXPECT_NE(sql.find("WHERE CASE WHEN s.\"x\" IS NOT DISTINCT FROM excluded.\"x\" THEN true "
                       "ELSE pgtrickle._pgt_row_id_collision('st') END"),
              std::string::npos);
    EXPECT_EQ(sql.find("ctid"), std::string::npos);
    // Identity is the key, not the whole row.
    EXPECT_NE(row_id_expression(p, "q").find("ARRAY[q.\"x\"::text]"), std::string::npos);
    // Versions of a key are told apart by their text, sorted (a window says whether the key
    // has a new version), or, when every column's equality is identity, by the columns
    // themselves in a hash (a set difference says which keys are gone).
    EXPECT_NE(sql.find("PARTITION BY " + row_id_expression(p, "d") + ", ROW(d.\"x\""),
              std::string::npos)
        << sql;
    EXPECT_NE(sql.find("NOT __pgt_has_new"), std::string::npos);
    p.output_groupable = true;
    sql = apply_statement(p, frontier(), "st");
    EXPECT_EQ(sql.find("ROW(d."), std::string::npos) << sql;
    EXPECT_EQ(sql.find("__pgt_has_new"), std::string::npos) << sql;
    EXPECT_NE(sql.find("GROUP BY d.\"x\""), std::string::npos) << sql;
    EXPECT_NE(sql.find("EXCEPT SELECT __pgt_rid, \"x\" FROM __pgt_net WHERE __pgt_nw > 0"),
              std::string::npos)
        << sql;
    // Written in the row-id index's order.
    EXPECT_NE(sql.find("WHERE c.__pgt_nw > 0 ORDER BY c.__pgt_rid"), std::string::npos);
}

TEST(Delta, ChangeFiltersApplyToEveryBufferReadAndDecideWhatChanged) {
    DeltaPlan p = join_plan();
    p.tables[0].change_filter = "(b.x > 5)";
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    // Every read of a's buffer (inserted, deleted, net) filters; none of b's does.
    const auto reads_a = count(sql, "\"changes_1001\" b WHERE");
    EXPECT_GT(reads_a, 0u);
    EXPECT_EQ(count(sql, "AND ((b.x > 5)) THEN true ELSE false END"), reads_a);
    EXPECT_GT(count(sql, "\"changes_1002\" b WHERE"), 0u);
    // One EXISTS per changed table with a filter; none when there is none.
    std::string q = filtered_changes_query(p, frontier());
    EXPECT_EQ(count(q, "EXISTS ("), 1u);
    EXPECT_NE(q.find("\"changes_1001\" b WHERE CASE WHEN b.action IN ('I', 'D') AND"),
              std::string::npos);
    EXPECT_NE(q.find("AND ((b.x > 5)) THEN true ELSE false END)"), std::string::npos);
    p.tables[0].changed = false;
    EXPECT_EQ(filtered_changes_query(p, frontier()), "");
    // A statement's transition tables (IMMEDIATE) are read unfiltered.
    p.tables[0].changed = true;
    p.tables[0].change_source = "SELECT 'I'::\"char\" AS action, 1 AS k, 9 AS x";
    p.tables[0].net = true;
    sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_EQ(sql.find("(b.x > 5)"), std::string::npos);
    EXPECT_EQ(filtered_changes_query(p, frontier()), "");
}

TEST(Delta, UpdatesChangingNoUsedColumnAreLeftOutOfEveryBufferRead) {
    // Bits of the buffer's attribute numbers; from the 64th on, one bit.
    EXPECT_EQ(changed_column_bit(1), 1u);
    EXPECT_EQ(changed_column_bit(5), 16u);
    EXPECT_EQ(changed_column_bit(64), std::uint64_t{1} << 63);
    EXPECT_EQ(changed_column_bit(300), std::uint64_t{1} << 63);
    DeltaPlan p = join_plan();
    p.tables[0].changed_bits = (std::uint64_t{1} << 4) | (std::uint64_t{1} << 63);
    std::string sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    const auto reads_a = count(sql, "\"changes_1001\" b WHERE");
    EXPECT_GT(reads_a, 0u);
    // (Bit 63 set: a negative bigint, written as a string.)
    EXPECT_EQ(count(sql,
                    " AND (b.changed_cols IS NULL OR (b.changed_cols & "
                    "'-9223372036854775792'::pg_catalog.int8) <> 0) THEN true"),
              reads_a);
    EXPECT_EQ(count(sql, "changed_cols"), 2 * reads_a);
    // With a change filter: both, the bits first.
    p.tables[0].change_filter = "(b.x > 5)";
    sql = apply_statement(p, frontier(), "\"public\".\"st\"");
    EXPECT_EQ(count(sql, "<> 0) AND ((b.x > 5)) THEN true"), reads_a);
    // They decide what changed too.
    p.tables[0].change_filter.clear();
    EXPECT_NE(filtered_changes_query(p, frontier()).find("b.changed_cols & "), std::string::npos);
    // No used column: only inserts and deletes count.
    p.tables[0].changed_bits = 0;
    EXPECT_NE(filtered_changes_query(p, frontier())
                  .find("IN ('I', 'D') AND " + unconsumed_predicate(frontier(), "b") +
                        " AND b.changed_cols IS NULL THEN"),
              std::string::npos);
    // Every captured column used: no row is tested, but the table is still asked whether it
    // has an insert, delete or update (a statement changing no captured column leaves a 'U').
    p.tables[0].changed_bits = kEveryColumn;
    EXPECT_EQ(apply_statement(p, frontier(), "\"public\".\"st\"").find("changed_cols"),
              std::string::npos);
    EXPECT_NE(filtered_changes_query(p, frontier()).find("IN ('I', 'D')"), std::string::npos);
    // Not known (an old buffer), or a statement's transition tables: unfiltered.
    p.tables[0].changed_bits.reset();
    EXPECT_EQ(filtered_changes_query(p, frontier()), "");
    p.tables[0].changed_bits = 16;
    p.tables[0].change_source = "SELECT 'I'::\"char\" AS action, 1 AS k, 9 AS x";
    p.tables[0].net = true;
    EXPECT_EQ(apply_statement(p, frontier(), "\"public\".\"st\"").find("changed_cols"),
              std::string::npos);
}

TEST(Delta, OldStateOfAKeylessTableTakesAwayInsertedRowsByTheirText) {
    DeltaPlan p = join_plan();  // b is keyless
    p.tables[1].groupable = true;
    std::string sql = apply_statement(p, frontier(), "st");
    EXPECT_NE(sql.find("FROM \"public\".\"b\" r EXCEPT ALL SELECT \"k\", \"y\", 1 AS __pgt_one "
                       "FROM __pgt_ins_1"),
              std::string::npos)
        << sql;
    // Equal values may differ ('abc' = 'ABC' under a nondeterministic collation, 1.0 = 1.00):
    // the inserted rows are matched by their text too.
    p.tables[1].groupable = false;
    sql = apply_statement(p, frontier(), "st");
    EXPECT_NE(
        sql.find("ROW(r.\"k\", r.\"y\")::text COLLATE \"C\" AS __pgt_k FROM \"public\".\"b\" "
                 "r EXCEPT ALL SELECT \"k\", \"y\", 1 AS __pgt_one, ROW(i.\"k\", i.\"y\")::text "
                 "COLLATE \"C\" FROM __pgt_ins_1 i"),
        std::string::npos)
        << sql;
}
