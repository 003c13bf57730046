// Top-K maintained from its inner query's change (see TopK in include/pg_trickle/core/delta.hpp).
//
// Why the candidates decide: let B be the k-th stored row in the query's order. Every row of
// the inner query that was not stored sorts no earlier than B (the LIMIT cut it), and a row the
// change leaves untouched keeps its place. So the new first k rows are among the stored rows
// the change left in place, the rows it brought, and the untouched rows never stored. When the
// k-th of the first two groups (the candidates) sorts no later than B, no row of the third can
// come before it: the first k candidates are an answer of the query (ties at the cut broken
// as PostgreSQL might break them). When fewer than k rows were stored, every row was, and the
// candidates are the whole new result.
//
// One statement decides and applies: the candidates and B are sorted together, B after the
// candidates it ties with; B among the first k means the candidates cannot decide, and the
// query is then evaluated whole (its evaluation sits under a one-time filter, not run
// otherwise). The rows kept are applied as a recomputation's are: by content, only the rows
// that differ from the stored ones written.
#include <fmt/format.h>

#include "delta_internal.hpp"
#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core {

std::string TopK::Item::direction() const {
    return std::string(descending ? "DESC" : "ASC") +
           (nulls_first ? " NULLS FIRST" : " NULLS LAST");
}

namespace detail {

namespace {

std::string order_by(const TopK& top_k, std::string_view alias) {
    std::vector<std::string> items;
    for (const auto& item : top_k.order)
        items.push_back(fmt::format("{}.{} {}", alias, quote_ident(item.column), item.direction()));
    return join(items, ", ");
}

// Whether the row `x` sorts strictly before the row `y` in the query's order (an expression
// that is never NULL).
std::string sorts_before(const TopK& top_k, std::string_view x, std::string_view y) {
    // Item by item from the last: x_i before y_i, or y_i not before x_i (equal) and the rest
    // before.
    std::string rest = "false";
    for (auto it = top_k.order.rbegin(); it != top_k.order.rend(); ++it) {
        const std::string c = quote_ident(it->column);
        // A NULL sorts before every value with NULLS FIRST, after them with NULLS LAST. (Not
        // `IS NULL`, which a composite value whose fields are all NULL passes, though it
        // sorts as a value.)
        auto null = [&](std::string_view a) {
            return fmt::format("pg_catalog.num_nulls({}.{}) = 1", a, c);
        };
        auto before = [&](std::string_view a, std::string_view b) {
            return fmt::format("CASE WHEN {} THEN false WHEN {} THEN true ELSE {}.{} {} {}.{} END",
                               null(it->nulls_first ? b : a), null(it->nulls_first ? a : b), a, c,
                               it->sort_operator, b, c);
        };
        rest = fmt::format("({} OR (NOT {} AND {}))", before(x, y), before(y, x), rest);
    }
    return rest;
}

// The candidates, as __pgt_cand (the output columns and __pgt_nw, the number of copies).
std::string candidates(const DeltaPlan& inner, const DeltaPlan& plan, const std::string& st) {
    if (inner.kind == DeltaPlan::Kind::Grouped) {
        // One row per group: the stored groups the change did not touch, and the touched
        // groups that are in the inner query's result now.
        return fmt::format(
            "{groups},\n"
            "__pgt_cand AS (\n"
            "  SELECT {scols}, 1::bigint AS __pgt_nw FROM {st} s\n"
            "  WHERE NOT EXISTS (SELECT 1 FROM __pgt_affected a WHERE {match})\n"
            "  UNION ALL\n"
            "  SELECT {ncols}, 1::bigint FROM __pgt_new n WHERE n.__pgt_present)",
            fmt::arg("groups", touched_groups(inner)), fmt::arg("scols", prefixed(plan, "s")),
            fmt::arg("st", st), fmt::arg("match", group_key_match(inner, "s", "a")),
            fmt::arg("ncols", prefixed(plan, "n")));
    }
    // Linear: the stored rows plus the inner query's signed change, summed per content; rows
    // left with copies are candidates (a deleted row that was not stored nets out below zero).
    // Changed rows sorting after the boundary are left out first (TopK): with a boundary, only
    // rows up to it can be kept.
    const auto terms =
        signed_terms(inner.query, inner.refs, inner.products, inner.restrictions, inner.tables);
    return fmt::format(
        "__pgt_cd AS (\n"
        "  SELECT {scols}, 1 AS __pgt_w FROM {st} s\n"
        "  UNION ALL\n"
        "  SELECT d.* FROM (\n{terms}) d\n"
        "  WHERE NOT EXISTS (SELECT 1 FROM __pgt_bound b WHERE {after})),\n"
        "__pgt_cand AS (\n"
        "  SELECT x.* FROM (\n"
        "    SELECT c.*, pg_catalog.sum(c.__pgt_w) OVER w AS __pgt_nw,\n"
        "           pg_catalog.row_number() OVER w AS __pgt_rn\n"
        "    FROM (SELECT {rid} AS __pgt_rid, {krow} AS __pgt_k, d.* FROM __pgt_cd d) c\n"
        "    WINDOW w AS (PARTITION BY c.__pgt_rid, c.__pgt_k)) x\n"
        "  WHERE x.__pgt_rn = 1 AND x.__pgt_nw > 0)",
        fmt::arg("scols", prefixed(plan, "s")), fmt::arg("st", st),
        fmt::arg("terms", join(terms, "\nUNION ALL\n")),
        fmt::arg("after", sorts_before(*plan.top_k, "b", "d")),
        fmt::arg("rid", row_id_expression(plan, "d")),
        fmt::arg("krow", row_text(plan.output_columns, "d")));
}

}  // namespace

std::string top_k_apply(const DeltaPlan& plan, const std::string& table_ctes,
                        const std::string& st) {
    const TopK& top_k = *plan.top_k;
    DeltaPlan inner = *top_k.inner;
    inner.tables = plan.tables;  // (which changed, and where from, is set on the plan's)
    inner.per_statement = plan.per_statement;
    const std::size_t k = top_k.limit;
    const std::string with = fmt::format(
        "WITH {ctes},\n"
        "__pgt_bound AS MATERIALIZED (\n"
        "  SELECT {scols} FROM {st} s ORDER BY {sorder} OFFSET {k1} LIMIT 1),\n"
        "{candidates},\n"
        "__pgt_top AS MATERIALIZED (\n"
        "  SELECT t.* FROM (\n"
        "    SELECT {ccols}, false AS __pgt_boundary FROM __pgt_cand c,\n"
        "      pg_catalog.generate_series(1::bigint, LEAST(c.__pgt_nw, {k}::bigint))\n"
        "    UNION ALL\n"
        "    SELECT {bcols}, true FROM __pgt_bound b) t\n"
        "  ORDER BY {torder}, t.__pgt_boundary LIMIT {k}),\n"
        "__pgt_decided AS MATERIALIZED (\n"
        "  SELECT NOT EXISTS (SELECT 1 FROM __pgt_top WHERE __pgt_boundary) AS __pgt_yes)",
        fmt::arg("ctes", table_ctes), fmt::arg("candidates", candidates(inner, plan, st)),
        fmt::arg("ccols", prefixed(plan, "c")), fmt::arg("k", k),
        fmt::arg("bcols", prefixed(plan, "b")), fmt::arg("scols", prefixed(plan, "s")),
        fmt::arg("st", st), fmt::arg("sorder", order_by(top_k, "s")), fmt::arg("k1", k - 1),
        fmt::arg("torder", order_by(top_k, "t")));
    const std::vector<std::string> terms{
        fmt::format("SELECT {}, 1 AS __pgt_w FROM __pgt_top t\n"
                    "WHERE (SELECT __pgt_yes FROM __pgt_decided)",
                    prefixed(plan, "t")),
        fmt::format("SELECT q.*, 1 AS __pgt_w FROM (\n{}\n) q\n"
                    "WHERE NOT (SELECT __pgt_yes FROM __pgt_decided)",
                    plan.query),
        fmt::format("SELECT {}, -1 AS __pgt_w FROM {} s", prefixed(plan, "s"), st)};
    return content_apply(plan, with, terms, st);
}

}  // namespace detail

}  // namespace pgtrickle::core
