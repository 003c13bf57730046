// Algebraic maintenance of grouped queries whose aggregates are COUNT(*), COUNT(x), SUM/AVG of
// integers, and MIN/MAX: each group keeps its running state in hidden storage columns
// (__pgt_count, and per aggregate argument a non-null count and a sum), the delta adds to it,
// and the visible values are recomputed from the state. Integer inputs keep it exact: sums of
// integers have no rounding and no display scale to drift. MIN/MAX keep their value in the
// output column; only a group that may have lost its extreme is rescanned.
#include <cctype>
#include <map>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "delta_internal.hpp"

namespace pgtrickle::core {

namespace {

using namespace detail;

// The aggregate columns of the plan, those inside expressions (AlgebraicColumn::parts)
// included.
std::vector<const AlgebraicColumn*> aggregates(const DeltaPlan& plan) {
    std::vector<const AlgebraicColumn*> out;
    for (const auto& c : plan.algebraic) {
        out.push_back(&c);
        for (const auto& p : c.parts)
            out.push_back(&p);
    }
    return out;
}

std::vector<bool> summed_args(const DeltaPlan& plan) {
    std::vector<bool> summed(plan.algebraic_args + 1, false);
    for (const auto* c : aggregates(plan))
        if (c->kind == AlgebraicColumn::Kind::Sum || c->kind == AlgebraicColumn::Kind::Avg)
            summed[c->index] = true;
    return summed;
}

// Per argument index: whether its NaN values are counted apart (AlgebraicColumn::nan_possible).
std::vector<bool> nan_args(const DeltaPlan& plan) {
    std::vector<bool> nan(plan.algebraic_args + 1, false);
    for (const auto* c : aggregates(plan))
        if ((c->kind == AlgebraicColumn::Kind::Sum || c->kind == AlgebraicColumn::Kind::Avg) &&
            c->nan_possible)
            nan[c->index] = true;
    return nan;
}

// Per argument index: the lower of its two display scales (AlgebraicColumn::low_scale), or -1.
std::vector<int> low_scales(const DeltaPlan& plan) {
    std::vector<int> low(plan.algebraic_args + 1, -1);
    for (const auto* c : aggregates(plan))
        if ((c->kind == AlgebraicColumn::Kind::Sum || c->kind == AlgebraicColumn::Kind::Avg) &&
            c->low_scale >= 0)
            low[c->index] = c->low_scale;
    return low;
}

// `sql` with each `<prefix><name>` outside string literals and quoted names, where name is the
// longest run of characters `in_name` accepts after the prefix, replaced by `replace(name)`
// (left as it is when that gives nothing).
template <typename InName, typename Replace>
std::string replace_names(std::string_view sql, std::string_view prefix, InName in_name,
                          Replace replace) {
    std::string out;
    char quote = 0;
    for (std::size_t i = 0; i < sql.size();) {
        const char ch = sql[i];
        if (quote != 0 || ch == '\'' || ch == '"') {
            quote = quote == 0 ? ch : (ch == quote ? 0 : quote);
            out += ch;
            ++i;
            continue;
        }
        if (sql.compare(i, prefix.size(), prefix) == 0) {
            std::size_t end = i + prefix.size();
            while (end < sql.size() && in_name(static_cast<unsigned char>(sql[end])))
                ++end;
            const std::string_view name = sql.substr(i + prefix.size(), end - i - prefix.size());
            if (std::optional<std::string> r = name.empty() ? std::nullopt : replace(name)) {
                out += *r;
                i = end;
                continue;
            }
        }
        out += ch;
        ++i;
    }
    return out;
}

// `sql` with each placeholder $k (k = 1..values.size(), outside string literals and quoted
// names) replaced by values[k - 1].
std::string fill_placeholders(const std::string& sql, const std::vector<std::string>& values) {
    return replace_names(
        sql, "$", [](unsigned char c) { return std::isdigit(c) != 0; },
        [&](std::string_view digits) -> std::optional<std::string> {
            std::size_t k = 0;
            for (char d : digits)
                k = k * 10 + static_cast<std::size_t>(d - '0');
            if (k < 1 || k > values.size())
                return std::nullopt;
            return values[k - 1];
        });
}

// Per argument index: the MIN / MAX column using it (nullptr for the others), and where.
struct Extreme {
    const AlgebraicColumn* column = nullptr;
    std::string output;  // quoted output column name
    bool is_min() const { return column->kind == AlgebraicColumn::Kind::Min; }
    std::string agg() const { return is_min() ? "pg_catalog.min" : "pg_catalog.max"; }
    std::string pick() const { return is_min() ? "LEAST" : "GREATEST"; }
    std::string at_or_beyond() const { return is_min() ? "<=" : ">="; }
};

std::vector<Extreme> extremes(const DeltaPlan& plan) {
    std::vector<Extreme> out(plan.algebraic_args + 1);
    for (std::size_t k = 0; k < plan.algebraic.size(); ++k) {
        const auto& c = plan.algebraic[k];
        if (c.kind == AlgebraicColumn::Kind::Min || c.kind == AlgebraicColumn::Kind::Max)
            out[c.index] = Extreme{&c, quote_ident(plan.output_columns[k])};
    }
    return out;
}

std::vector<std::string> state_names(const DeltaPlan& plan) {
    std::vector<std::string> out{"__pgt_count"};
    auto summed = summed_args(plan);
    auto nan = nan_args(plan);
    auto low = low_scales(plan);
    for (std::size_t i = 1; i <= plan.algebraic_args; ++i) {
        out.push_back(fmt::format("__pgt_aux_count_{}", i));
        if (summed[i])
            out.push_back(fmt::format("__pgt_aux_sum_{}", i));
        if (nan[i])
            out.push_back(fmt::format("__pgt_aux_nan_{}", i));
        if (low[i] >= 0)
            out.push_back(fmt::format("__pgt_aux_hi_{}", i));
    }
    return out;
}

// "WHEN <a NaN was summed> THEN 'NaN' " for a column counting its NaN values apart.
std::string nan_case(const AlgebraicColumn& c, std::string_view m) {
    if (!c.nan_possible)
        return "";
    return fmt::format("WHEN {}.__pgt_aux_nan_{} > 0 THEN 'NaN'::numeric ", m, c.index);
}

// The running sum of a Sum / Avg column, printed with the scale the recomputed sum would have.
std::string running_sum(const AlgebraicColumn& c, std::string_view m) {
    if (c.low_scale < 0)
        return fmt::format("{}.__pgt_aux_sum_{}", m, c.index);
    return fmt::format(
        "(CASE WHEN {m}.__pgt_aux_hi_{i} = 0 THEN pg_catalog.round({m}.__pgt_aux_sum_{i}, {lo}) "
        "ELSE {m}.__pgt_aux_sum_{i} END)",
        fmt::arg("m", m), fmt::arg("i", c.index), fmt::arg("lo", c.low_scale));
}

std::string output_expression(const AlgebraicColumn& c, std::string_view m) {
    std::string e;
    switch (c.kind) {
        case AlgebraicColumn::Kind::Key:
            e = fmt::format("{}.__pgt_g{}", m, c.index);
            break;
        case AlgebraicColumn::Kind::CountStar:
            e = fmt::format("{}.__pgt_count", m);
            break;
        case AlgebraicColumn::Kind::Count:
            e = fmt::format("{}.__pgt_aux_count_{}", m, c.index);
            break;
        case AlgebraicColumn::Kind::Sum:
            e = fmt::format(
                "CASE WHEN {m}.__pgt_aux_count_{i} = 0 THEN NULL {nan}ELSE "
                "{sum} END",
                fmt::arg("m", m), fmt::arg("i", c.index), fmt::arg("nan", nan_case(c, m)),
                fmt::arg("sum", running_sum(c, m)));
            break;
        case AlgebraicColumn::Kind::Min:
        case AlgebraicColumn::Kind::Max:
            e = fmt::format("{}.__pgt_ext_{}", m, c.index);
            break;
        case AlgebraicColumn::Kind::Avg:
            // The same numeric division avg(integer) performs.
            e = fmt::format(
                "CASE WHEN {m}.__pgt_aux_count_{i} = 0 THEN NULL {nan}ELSE "
                "{sum} / {m}.__pgt_aux_count_{i}::numeric END",
                fmt::arg("m", m), fmt::arg("i", c.index), fmt::arg("nan", nan_case(c, m)),
                fmt::arg("sum", running_sum(c, m)));
            break;
        case AlgebraicColumn::Kind::Expr: {
            std::vector<std::string> values;
            for (const auto& p : c.parts)
                values.push_back(output_expression(p, m));
            e = fill_placeholders(c.expr_sql, values);
            break;
        }
    }
    return fmt::format("({})::{}", e, c.type_sql);
}

std::string group_keys(const DeltaPlan& plan, std::string_view alias) {
    std::vector<std::string> keys;
    for (std::size_t k = 1; k <= plan.group_columns.size(); ++k)
        keys.push_back(fmt::format("{}.__pgt_g{}", alias, k));
    return join(keys, ", ");
}

// Argument i as it enters the running sum: a NaN as 0 when NaN values are counted apart
// (`is_nan`: the test for one; empty when they are not).
std::string summand(std::size_t i, const std::string& is_nan) {
    return is_nan.empty() ? fmt::format("x.__pgt_a{}", i)
                          : fmt::format("(CASE WHEN {} THEN 0 ELSE x.__pgt_a{} END)", is_nan, i);
}

// Argument i as it enters the running sum of a change: times its weight, NaN as 0 when NaN
// values are counted apart. Weights are almost always 1 or -1: taking or negating the value
// then costs a third of multiplying it (an integer weight made numeric, then a numeric product,
// for each row and sum of a change set).
std::string weighted_summand(std::size_t i, const std::string& is_nan) {
    return fmt::format(
        "CASE {nan}WHEN x.__pgt_w = 1 THEN x.__pgt_a{i}::numeric WHEN x.__pgt_w = -1 THEN "
        "-(x.__pgt_a{i}::numeric) ELSE x.__pgt_w * x.__pgt_a{i}::numeric END",
        fmt::arg("i", i),
        fmt::arg("nan", is_nan.empty() ? "" : fmt::format("WHEN {} THEN 0 ", is_nan)));
}

// Whether argument i is NaN. pgtrickle._pgt_is_nan reads a numeric's header where `= 'NaN'`
// copies both operands: it is evaluated for every summed numeric argument of every row.
std::string is_nan_test(std::size_t i) {
    return fmt::format("pgtrickle._pgt_is_nan(x.__pgt_a{})", i);
}

// The weighted number of rows of a change meeting `condition` (0 when none does).
std::string weighted_count(const std::string& condition) {
    return fmt::format("coalesce(pg_catalog.sum(x.__pgt_w) FILTER (WHERE {}), 0)", condition);
}

// Per group of the key query's rows in `from`: the state (weighted: the change of the state).
std::string state_select(const DeltaPlan& plan, const std::string& from, bool weighted) {
    auto summed = summed_args(plan);
    auto nan = nan_args(plan);
    auto low = low_scales(plan);
    const auto ext = extremes(plan);
    std::vector<std::string> cols;
    // Weighted: per column, the condition under which it says the group changed.
    std::vector<std::string> changed;
    auto add = [&](std::string agg, std::string name, std::string_view when) {
        changed.push_back(agg + std::string(when));
        cols.push_back(agg + " AS " + name);
    };
    // Each argument is evaluated once per row, in a subquery the planner keeps (OFFSET 0): pulled
    // up, an argument such as `price * (1 - discount)` would be computed again in every aggregate,
    // filter and CASE reading it (a NaN test computed in that subquery would be such a reader:
    // the NaN tests read the subquery's output instead). Not for the change of one statement
    // (per_statement), mostly a row or two, which pays per plan node.
    const bool fence = !plan.per_statement;
    auto is_nan = [&](std::size_t i) -> std::string { return nan[i] ? is_nan_test(i) : ""; };
    std::string keys = group_keys(plan, "x");
    if (!keys.empty())
        cols.push_back(keys);
    if (weighted)
        add("pg_catalog.sum(x.__pgt_w)", "__pgt_count", " <> 0");
    else
        cols.push_back("pg_catalog.count(*) AS __pgt_count");
    for (std::size_t i = 1; i <= plan.algebraic_args; ++i) {
        if (weighted) {
            // Weighted counts sum the weights of the rows that qualify (a FILTER, not a product
            // with the condition: no arithmetic for rows that do not, and NaN rows are rare).
            add(weighted_count(fmt::format("x.__pgt_a{} IS NOT NULL", i)),
                fmt::format("__pgt_aux_count_{}", i), " <> 0");
            if (summed[i])
                add(fmt::format("pg_catalog.sum({})", weighted_summand(i, is_nan(i))),
                    fmt::format("__pgt_aux_sum_{}", i), " <> 0");
            if (nan[i])
                add(weighted_count(is_nan(i)), fmt::format("__pgt_aux_nan_{}", i), " <> 0");
            if (low[i] >= 0)
                add(weighted_count(fmt::format("pg_catalog.scale(x.__pgt_a{}) > {}", i, low[i])),
                    fmt::format("__pgt_aux_hi_{}", i), " <> 0");
            if (ext[i].column) {
                add(fmt::format("{}(x.__pgt_a{}) FILTER (WHERE x.__pgt_w > 0)", ext[i].agg(), i),
                    fmt::format("__pgt_ins_ext_{}", i), " IS NOT NULL");
                add(fmt::format("{}(x.__pgt_a{}) FILTER (WHERE x.__pgt_w < 0)", ext[i].agg(), i),
                    fmt::format("__pgt_del_ext_{}", i), " IS NOT NULL");
            }
        } else {
            cols.push_back(fmt::format("pg_catalog.count(x.__pgt_a{0}) AS __pgt_aux_count_{0}", i));
            if (summed[i])
                cols.push_back(fmt::format("pg_catalog.sum({1}::numeric) AS __pgt_aux_sum_{0}", i,
                                           summand(i, is_nan(i))));
            if (nan[i])
                cols.push_back(fmt::format(
                    "pg_catalog.count(*) FILTER (WHERE {}) AS __pgt_aux_nan_{}", is_nan(i), i));
            if (low[i] >= 0)
                cols.push_back(
                    fmt::format("pg_catalog.count(*) FILTER (WHERE "
                                "pg_catalog.scale(x.__pgt_a{0}) > {1}) AS "
                                "__pgt_aux_hi_{0}",
                                i, low[i]));
            if (ext[i].column)
                cols.push_back(fmt::format("{1}(x.__pgt_a{0}) AS __pgt_ext_{0}", i, ext[i].agg()));
        }
    }
    const std::string input = fence ? fmt::format("(SELECT x.* FROM (\n{}\n) x OFFSET 0)", from)
                                    : fmt::format("(\n{}\n)", from);
    std::string sql = fmt::format("SELECT {} FROM {} x", join(cols, ", "), input);
    if (!keys.empty())
        sql += " GROUP BY " + keys;
    // Weighted: only the groups whose state changes (an update that leaves a group's aggregated
    // values as they were changes nothing), so every group written has a new state. A delta
    // with no rows for a scalar aggregate is no change at all, not a NULL one.
    if (weighted)
        sql += fmt::format(" HAVING {}({})", keys.empty() ? "pg_catalog.count(*) > 0 AND " : "",
                           join(changed, " OR "));
    return sql;
}

std::string key_equality(const DeltaPlan& plan, std::string_view s, std::string_view d) {
    std::vector<std::string> eq;
    for (std::size_t k = 0; k < plan.group_columns.size(); ++k) {
        std::string o = fmt::format("{}.{}", s, quote_ident(plan.group_columns[k]));
        std::string g = fmt::format("{}.__pgt_g{}", d, k + 1);
        eq.push_back(fmt::format("({o} = {g} OR ({o} IS NULL AND {g} IS NULL))", fmt::arg("o", o),
                                 fmt::arg("g", g)));
    }
    return eq.empty() ? "true" : join(eq, " AND ");
}

std::vector<std::string> all_columns(const DeltaPlan& plan) {
    std::vector<std::string> cols = plan.output_columns;
    for (const auto& n : state_names(plan))
        cols.push_back(n);
    return cols;
}

// The value of each storage column (all_columns' order: outputs, then state) computed from the
// state columns of the relation aliased `m`.
std::vector<std::string> value_exprs(const DeltaPlan& plan, std::string_view m) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < plan.algebraic.size(); ++i) {
        std::string e = output_expression(plan.algebraic[i], m);
        // A group left with no rows is deleted, never shown: an expression over its empty
        // state (`100.0 / count(*)`) is not evaluated, where it could raise an error the
        // query never would. (A scalar aggregate's one row stays, and so does the error.)
        if (plan.algebraic[i].kind == AlgebraicColumn::Kind::Expr && !plan.scalar)
            e = fmt::format("CASE WHEN {}.__pgt_count = 0 THEN NULL ELSE {} END", m, e);
        out.push_back(e);
    }
    for (const auto& n : state_names(plan))
        out.push_back(fmt::format("{}.{}", m, n));
    return out;
}

std::string value_list(const DeltaPlan& plan, std::string_view m) {
    auto out = value_exprs(plan, m);
    for (std::size_t i = 0; i < plan.algebraic.size(); ++i)
        out[i] += " AS " + quote_ident(plan.output_columns[i]);
    return join(out, ", ");
}

std::string key_hash(const DeltaPlan& plan, std::string_view alias) {
    std::vector<std::string> keys;
    for (std::size_t k = 1; k <= plan.group_columns.size(); ++k)
        keys.push_back(fmt::format("{}.__pgt_g{}", alias, k));
    return hash_of(keys);
}

}  // namespace

std::vector<Column> state_columns(const DeltaPlan& plan) {
    if (plan.algebraic.empty())
        return {};
    std::vector<Column> out;
    for (const auto& n : state_names(plan))
        out.push_back(
            {n, n.rfind("__pgt_aux_sum_", 0) == 0 ? "numeric" : "bigint NOT NULL DEFAULT 0"});
    return out;
}

namespace detail {

std::string algebraic_apply(const DeltaPlan& plan, const std::string& table_ctes,
                            const std::string& st) {
    const auto terms = signed_terms(plan.key_query, plan.key_refs, plan.key_products,
                                    plan.key_restrictions, plan.tables, plan.key_weighted);
    std::vector<std::string> merged{"(s.__pgt_row_id IS NOT NULL) AS __pgt_exists",
                                    "coalesce(s.__pgt_count, 0) + d.__pgt_count AS __pgt_count"};
    if (plan.probe_storage)
        merged.push_back("s.ctid AS __pgt_ctid");
    for (const auto& n : state_names(plan)) {
        if (n == "__pgt_count")
            continue;
        merged.push_back(fmt::format("coalesce(s.{0}, 0) + coalesce(d.{0}, 0) AS {0}", n));
    }
    // MIN / MAX: the stored value moved by the inserted values, unless a removed value is at or
    // beyond that candidate (it may have been the extreme, or cancel an inserted one): then the
    // group is rescanned.
    const auto ext = extremes(plan);
    std::vector<std::string> rescan_flags, rescan_aggs, finals;
    for (std::size_t i = 1; i <= plan.algebraic_args; ++i) {
        if (!ext[i].column)
            continue;
        const std::string cand =
            fmt::format("{}(s.{}, d.__pgt_ins_ext_{})", ext[i].pick(), ext[i].output, i);
        merged.push_back(fmt::format("{} AS __pgt_cand_{}", cand, i));
        merged.push_back(fmt::format(
            "(d.__pgt_del_ext_{i} IS NOT NULL AND ({c} IS NULL OR d.__pgt_del_ext_{i} {op} {c})) "
            "AS __pgt_rescan_{i}",
            fmt::arg("i", i), fmt::arg("c", cand), fmt::arg("op", ext[i].at_or_beyond())));
        rescan_flags.push_back(fmt::format("m.__pgt_rescan_{}", i));
        rescan_aggs.push_back(fmt::format("{}(q.__pgt_a{}) AS __pgt_re_{}", ext[i].agg(), i, i));
        finals.push_back(fmt::format(
            "CASE WHEN m.__pgt_rescan_{0} THEN r.__pgt_re_{0} ELSE m.__pgt_cand_{0} END AS "
            "__pgt_ext_{0}",
            i));
    }
    std::string rescan_cte;
    std::string value_source = "__pgt_m";
    if (!rescan_flags.empty()) {
        std::vector<std::string> match;
        for (std::size_t k = 1; k <= plan.group_columns.size(); ++k)
            match.push_back(fmt::format(
                "(q.__pgt_g{0} = m.__pgt_g{0} OR (q.__pgt_g{0} IS NULL AND m.__pgt_g{0} IS NULL))",
                k));
        if (plan.groups_in_one_pass && !plan.per_statement && !plan.group_columns.empty()) {
            // One evaluation for all the groups to rescan, matched by row id and keys: per
            // group, a key no index serves would read the tables whole for each
            // (DeltaPlan::groups_in_one_pass).
            std::vector<std::string> qkeys, m2_flags;
            for (std::size_t k = 1; k <= plan.group_columns.size(); ++k)
                qkeys.push_back(fmt::format("q.__pgt_g{}", k));
            for (const auto& f : rescan_flags)
                m2_flags.push_back("m2." + f.substr(2));  // (m.__pgt_rescan_i)
            std::vector<std::string> rmatch;
            for (std::size_t k = 1; k <= plan.group_columns.size(); ++k)
                rmatch.push_back(
                    fmt::format("(r.__pgt_g{0} = m.__pgt_g{0} OR (r.__pgt_g{0} IS NULL AND "
                                "m.__pgt_g{0} IS NULL))",
                                k));
            rescan_cte = fmt::format(
                "__pgt_mr AS MATERIALIZED (\n"
                "  SELECT m.*, {finals} FROM __pgt_m m LEFT JOIN (\n"
                "    SELECT {qrid} AS __pgt_qrid, {qkeys}, {aggs} FROM (\n{query}\n) q\n"
                "    WHERE {qrid} IN (SELECT m2.__pgt_rid FROM __pgt_m m2 WHERE {m2flags})\n"
                "    GROUP BY {qkeys}) r ON r.__pgt_qrid = m.__pgt_rid AND {rmatch} AND "
                "({flags})),\n",
                fmt::arg("finals", join(finals, ", ")), fmt::arg("aggs", join(rescan_aggs, ", ")),
                fmt::arg("query", plan.key_query), fmt::arg("qrid", key_hash(plan, "q")),
                fmt::arg("qkeys", join(qkeys, ", ")), fmt::arg("m2flags", join(m2_flags, " OR ")),
                fmt::arg("rmatch", join(rmatch, " AND ")),
                fmt::arg("flags", join(rescan_flags, " OR ")));
        } else {
            rescan_cte = fmt::format(
                "__pgt_mr AS MATERIALIZED (\n"
                "  SELECT m.*, {finals} FROM __pgt_m m LEFT JOIN LATERAL (\n"
                "    SELECT {aggs} FROM (\n{query}\n) q WHERE ({flags}){match}) r ON true),\n",
                fmt::arg("finals", join(finals, ", ")), fmt::arg("aggs", join(rescan_aggs, ", ")),
                fmt::arg("query", plan.key_query), fmt::arg("flags", join(rescan_flags, " OR ")),
                fmt::arg("match", match.empty() ? "" : " AND " + join(match, " AND ")));
        }
        value_source = "__pgt_mr";
    }
    // How __pgt_m finds the stored row of each group, and how the writes find it again.
    std::string storage_join = fmt::format("LEFT JOIN {st} s ON s.__pgt_row_id = {rid} AND {keq}",
                                           fmt::arg("st", st), fmt::arg("rid", key_hash(plan, "d")),
                                           fmt::arg("keq", key_equality(plan, "s", "d")));
    std::string row_match =
        fmt::format("s.__pgt_row_id = v.__pgt_rid AND {}", key_equality(plan, "s", "v"));
    std::string vctid;
    if (plan.probe_storage) {
        storage_join = fmt::format(
            "LEFT JOIN LATERAL (SELECT s.ctid, s.* FROM {st} s WHERE s.__pgt_row_id = {rid} AND "
            "{keq} OFFSET 0) s ON true",
            fmt::arg("st", st), fmt::arg("rid", key_hash(plan, "d")),
            fmt::arg("keq", key_equality(plan, "s", "d")));
        // ctid = ANY (...) makes a TID scan: only the rows found above are visited.
        row_match =
            "s.ctid = v.__pgt_ctid AND s.ctid = ANY (ARRAY(SELECT w.__pgt_ctid FROM __pgt_v w "
            "WHERE w.__pgt_exists))";
        vctid = ", m.__pgt_ctid";
    }
    std::string keys = group_keys(plan, "d");
    const std::string live = plan.scalar ? "true" : "v.__pgt_count <> 0";
    const auto cols = all_columns(plan);
    std::vector<std::string> sets;
    for (const auto& c : cols)
        sets.push_back(fmt::format("{0} = v.{0}", quote_ident(c)));
    return fmt::format(
        "WITH {ctes},\n"
        "__pgt_d AS MATERIALIZED ({delta}),\n"
        "__pgt_m AS MATERIALIZED (\n"
        "  SELECT {rid} AS __pgt_rid{keys}, {merged}\n"
        "  FROM __pgt_d d {storage_join}),\n"
        "{rescan}"
        "__pgt_v AS MATERIALIZED (SELECT m.__pgt_rid, m.__pgt_exists{vctid}{mkeys}, {values} "
        "FROM {vsrc} m),\n"
        "__pgt_apply_del AS (\n"
        "  DELETE FROM {st} s USING __pgt_v v WHERE {del} AND v.__pgt_exists AND v.__pgt_count = "
        "0\n"
        "    AND {row_match} RETURNING 1),\n"
        "__pgt_apply_upd AS (\n"
        "  UPDATE {st} s SET {sets} FROM __pgt_v v\n"
        "  WHERE v.__pgt_exists AND {live} AND {row_match}{differs} RETURNING 1),\n"
        "__pgt_apply_ins AS (\n"
        "  INSERT INTO {st} (__pgt_row_id, {icols}) SELECT v.__pgt_rid, {vcols} FROM __pgt_v v\n"
        "  WHERE NOT v.__pgt_exists AND {live} RETURNING 1)\n"
        "SELECT (SELECT pg_catalog.count(*) FROM __pgt_apply_ins),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_del),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_upd)",
        fmt::arg("ctes", table_ctes), fmt::arg("rescan", rescan_cte),
        fmt::arg("vsrc", value_source),
        fmt::arg("delta", state_select(plan, join(terms, "\nUNION ALL\n"), true)),
        fmt::arg("rid", key_hash(plan, "d")), fmt::arg("keys", keys.empty() ? "" : ", " + keys),
        fmt::arg("merged", join(merged, ", ")), fmt::arg("st", st),
        fmt::arg("storage_join", storage_join), fmt::arg("row_match", row_match),
        fmt::arg("vctid", vctid),
        fmt::arg("mkeys", plan.group_columns.empty() ? "" : ", " + group_keys(plan, "m")),
        fmt::arg("values", value_list(plan, "m")), fmt::arg("del", plan.scalar ? "false" : "true"),
        fmt::arg("sets", join(sets, ", ")), fmt::arg("live", live),
        // Every group in __pgt_d has a new state, so its row changes; only a MIN / MAX moved
        // by values that cancel out may leave it as it was.
        fmt::arg("differs", rescan_flags.empty()
                                ? std::string()
                                : fmt::format("\n    AND {} IS DISTINCT FROM {}",
                                              row_text(cols, "s"), row_text(cols, "v"))),
        fmt::arg("icols", join(map_columns(cols, [](auto c) { return c; }), ", ")),
        fmt::arg("vcols",
                 join(map_columns(cols, [](const std::string& c) { return "v." + c; }), ", ")));
}

std::string algebraic_relative(const DeltaPlan& plan, const std::string& table_ctes,
                               const std::string& st) {
    const auto terms = signed_terms(plan.key_query, plan.key_refs, plan.key_products,
                                    plan.key_restrictions, plan.tables, plan.key_weighted);
    const auto cols = all_columns(plan);
    const auto states = state_names(plan);
    // The state of a new group is the change itself; of a stored group, the stored state plus
    // the change (`excluded` holds the change: it is the row the insert proposed).
    std::vector<std::string> new_state;
    std::map<std::string, std::string> added;  // state name -> its value after the change
    for (std::size_t k = 1; k <= plan.group_columns.size(); ++k) {
        new_state.push_back(fmt::format("d.__pgt_g{0} AS __pgt_g{0}", k));
        added[fmt::format("__pgt_g{}", k)] =
            fmt::format("excluded.{}", quote_ident(plan.group_columns[k - 1]));
    }
    for (const auto& n : states) {
        new_state.push_back(fmt::format("coalesce(d.{0}, 0) AS {0}", n));
        // (A stored sum over no non-NULL value is NULL.)
        added[n] = fmt::format("(coalesce(s.{0}, 0) + coalesce(excluded.{0}, 0))", n);
    }
    // The update sets each column from the added state written out in place (a sub-SELECT
    // computing it once would be a subplan run per row, a quarter slower here).
    std::vector<std::string> sets;
    const auto exprs = value_exprs(plan, "__pgt_m");
    for (std::size_t i = 0; i < cols.size(); ++i) {
        // Each `__pgt_m.<state>` outside quotes (an expression's literals are the user's).
        const std::string e = replace_names(
            exprs[i], "__pgt_m.", [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; },
            [&](std::string_view name) -> std::optional<std::string> {
                auto found = added.find(std::string(name));
                if (found == added.end())
                    return std::nullopt;
                return found->second;
            });
        sets.push_back(fmt::format("{} = {}", quote_ident(cols[i]), e));
    }
    std::vector<std::string> keq;
    for (const auto& g : plan.group_columns)
        keq.push_back(fmt::format("s.{0} IS NOT DISTINCT FROM excluded.{0}", quote_ident(g)));
    // One INSERT and nothing around it: each CTE, subquery result or aggregate over RETURNING
    // would be one more plan node to set up at every execution, and IMMEDIATE runs this once per
    // writing statement, mostly for a row or two. A stored row met under a group's row id but
    // holding other group keys is a row-id collision: raised from inside the statement. The
    // statement returns the row id of each group left empty (NULL for the others), for
    // relative_cleanup, and whether the group is new, for the counts of a refresh: a version an
    // ON CONFLICT update wrote keeps the lock the statement took on the row it replaces in its
    // xmax (heap_update carries a remaining locker over), an inserted one has none.
    const std::string upsert = fmt::format(
        "INSERT INTO {st} AS s (__pgt_row_id, {icols})\n"
        "SELECT {rid}, v.* FROM ({delta}) d, LATERAL (SELECT {values} FROM (SELECT {new_state}) "
        "m) v\n"
        "ON CONFLICT (__pgt_row_id) DO UPDATE SET {sets}\n"
        "WHERE CASE WHEN {keq} THEN true ELSE pgtrickle._pgt_row_id_collision({name}) END\n"
        "RETURNING CASE WHEN s.__pgt_count = 0 THEN s.__pgt_row_id END AS __pgt_emptied,"
        " s.xmax = 0 AS __pgt_new",
        fmt::arg("delta", state_select(plan, join(terms, "\nUNION ALL\n"), true)),
        fmt::arg("st", st), fmt::arg("name", quote_literal(st)),
        fmt::arg("icols", join(map_columns(cols, [](auto c) { return c; }), ", ")),
        fmt::arg("rid", key_hash(plan, "d")), fmt::arg("values", value_list(plan, "m")),
        fmt::arg("new_state", join(new_state, ", ")), fmt::arg("sets", join(sets, ", ")),
        fmt::arg("keq", keq.empty() ? "true" : join(keq, " AND ")));
    // One statement's change returns its few rows as they are; a refresh's, one row of totals
    // (the emptied row ids, groups written, groups new), however many groups it wrote.
    if (plan.per_statement)
        return fmt::format("WITH {}\n{}", table_ctes, upsert);
    return fmt::format(
        "WITH {},\n__pgt_u AS (\n{})\n"
        "SELECT pg_catalog.array_agg(__pgt_emptied) FILTER (WHERE __pgt_emptied IS NOT NULL),"
        " pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE __pgt_new) FROM __pgt_u",
        table_ctes, upsert);
}

std::string algebraic_recompute(const DeltaPlan& plan, const std::string& table_ctes,
                                const std::string& st) {
    const auto cols = all_columns(plan);
    std::vector<std::string> sets, keq, state_differs;
    for (const auto& c : cols)
        sets.push_back(fmt::format("{0} = excluded.{0}", quote_ident(c)));
    for (const auto& g : plan.group_columns)
        keq.push_back(fmt::format("s.{0} IS NOT DISTINCT FROM excluded.{0}", quote_ident(g)));
    // The output columns are compared as text, as every recomputation compares rows (numeric
    // 1.0 and 1.00 are equal, and print differently); the running state by value, NULL as 0:
    // the increments keep a sum of no values as 0 and may keep a higher scale than the sum
    // recomputed here, the same state for every later change and every printed value.
    for (const auto& n : state_names(plan))
        state_differs.push_back(
            fmt::format("coalesce(s.{0}, 0) <> coalesce(excluded.{0}, 0)", quote_ident(n)));
    return fmt::format(
        "WITH {ctes},\n"
        "__pgt_n AS MATERIALIZED (SELECT {rid} AS __pgt_rid, {values} FROM ({state}) m),\n"
        "__pgt_apply_del AS (\n"
        "  DELETE FROM {st} s WHERE NOT EXISTS (SELECT 1 FROM __pgt_n n WHERE n.__pgt_rid = "
        "s.__pgt_row_id)\n"
        "  RETURNING 1),\n"
        "__pgt_apply_put AS (\n"
        "  INSERT INTO {st} AS s (__pgt_row_id, {icols}) SELECT * FROM __pgt_n\n"
        "  ON CONFLICT (__pgt_row_id) DO UPDATE SET {sets}\n"
        "  WHERE CASE WHEN {keq} THEN {srow} IS DISTINCT FROM {erow} OR {state_differs}\n"
        "    ELSE pgtrickle._pgt_row_id_collision({name}) END\n"
        "  RETURNING s.xmax = 0 AS __pgt_new)\n"
        "SELECT (SELECT pg_catalog.count(*) FROM __pgt_apply_put WHERE __pgt_new),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_del),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_put WHERE NOT __pgt_new)",
        fmt::arg("ctes", table_ctes), fmt::arg("st", st), fmt::arg("name", quote_literal(st)),
        fmt::arg("rid", key_hash(plan, "m")), fmt::arg("values", value_list(plan, "m")),
        fmt::arg("state", state_select(plan, plan.key_query, false)),
        fmt::arg("icols", join(map_columns(cols, [](auto c) { return c; }), ", ")),
        fmt::arg("sets", join(sets, ", ")),
        fmt::arg("keq", keq.empty() ? "true" : join(keq, " AND ")),
        fmt::arg("srow", row_text(plan.output_columns, "s")),
        fmt::arg("erow", row_text(plan.output_columns, "excluded")),
        fmt::arg("state_differs", join(state_differs, " OR ")));
}

std::string algebraic_full_insert(const DeltaPlan& plan, const std::string& st) {
    const auto cols = all_columns(plan);
    return fmt::format(
        "INSERT INTO {st} (__pgt_row_id, {icols}) SELECT {rid}, {values} FROM "
        "({state}) m",
        fmt::arg("st", st),
        fmt::arg("icols", join(map_columns(cols, [](auto c) { return c; }), ", ")),
        fmt::arg("rid", key_hash(plan, "m")), fmt::arg("values", value_list(plan, "m")),
        fmt::arg("state", state_select(plan, plan.key_query, false)));
}

}  // namespace detail

bool increments_possible(const DeltaPlan& plan) {
    if (plan.kind != DeltaPlan::Kind::Grouped || plan.algebraic.empty() || plan.scalar ||
        plan.recompute)
        return false;
    for (const auto& c : plan.algebraic)
        if (c.kind == AlgebraicColumn::Kind::Min || c.kind == AlgebraicColumn::Kind::Max)
            return false;
    return true;
}

bool relative_apply_possible(const DeltaPlan& plan) {
    return increments_possible(plan) && plan.tables.size() == 1 && plan.key_refs.size() == 1 &&
           !plan.key_refs[0].nonlinear;
}

}  // namespace pgtrickle::core
