// Delta SQL generation (see include/pg_trickle/core/delta.hpp for the rules).
#include "pg_trickle/core/delta.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

#include <fmt/format.h>

#include "delta_internal.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core {

namespace detail {

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i)
            out += sep;
        out += parts[i];
    }
    return out;
}

// Text of ROW(a.c1, ...): a type-independent identity for a row's content (output settings are
// pinned during refreshes, so the text is stable).
std::string row_text(const std::vector<std::string>& columns, std::string_view alias) {
    return fmt::format(
        "ROW({})::text",
        join(map_columns(columns,
                         [&](const std::string& c) { return fmt::format("{}.{}", alias, c); }),
             ", "));
}

std::string hash_of(const std::vector<std::string>& exprs) {
    if (exprs.empty())
        return "pgtrickle.pg_trickle_hash_multi(ARRAY[]::text[])";
    std::vector<std::string> texts;
    for (const auto& e : exprs)
        texts.push_back(e + "::text");
    return fmt::format("pgtrickle.pg_trickle_hash_multi(ARRAY[{}])", join(texts, ", "));
}

// Which rows of t's changes a read keeps (`action`: the test of b.action), in one CASE (see
// table_ctes). The change filter goes inside too: with the buffer's statistics stale, an
// estimate of its selectivity would be no better. Not on a statement's transition tables
// (IMMEDIATE): they are small, and an error there would be the writer's.
std::string buffer_condition(const DeltaTable& t, std::string_view action,
                             std::string_view unconsumed) {
    std::string filters;
    // (No used column, as in count(*) over a keyless table: no update changes anything.)
    if (t.change_source.empty() && t.changed_bits && *t.changed_bits != kEveryColumn)
        filters += *t.changed_bits == 0 ? std::string(" AND b.changed_cols IS NULL")
                                        : fmt::format(
                                              " AND (b.changed_cols IS NULL OR (b.changed_cols & "
                                              "'{}'::pg_catalog.int8) <> 0)",
                                              static_cast<std::int64_t>(*t.changed_bits));
    if (t.change_source.empty() && !t.change_filter.empty())
        filters += fmt::format(" AND ({})", t.change_filter);
    return fmt::format("CASE WHEN b.action {} AND {}{} THEN true ELSE false END", action,
                       unconsumed, filters);
}

// Per source table t: net change (__pgt_net_t), its inserted and deleted rows as plain
// multisets (__pgt_ins_t, __pgt_del_t), its rows weighted by their net count (__pgt_sgn_t), and
// the table's state before the change (__pgt_old_t; __pgt_oldh_t for references read inside
// correlated subqueries; __pgt_kept_t, the rows there before and after).
std::string table_ctes(const DeltaTable& t, std::size_t index, const Frontier& prev,
                       bool consolidate, bool shared_sgn) {
    // A relation with no used column still needs a column for set operations.
    std::string select_cols;
    std::string buffer_cols;
    std::string plain_cols;
    for (const auto& c : t.columns) {
        select_cols += fmt::format("{}, ", quote_ident(c.name));
        buffer_cols +=
            fmt::format("b.{} AS {}, ", quote_ident(buffer_column(c.name)), quote_ident(c.name));
        plain_cols += fmt::format("r.{}, ", quote_ident(c.name));
    }
    const std::string one = "1 AS __pgt_one";
    const std::string changes =
        t.change_source.empty() ? buffer_table(t.relid) : "(" + t.change_source + ")";
    const std::string unconsumed =
        t.change_source.empty() ? unconsumed_predicate(prev, "b") : std::string("true");
    // Every read of the buffer filters inside one CASE: the planner takes it for an opaque
    // condition keeping half the rows (see unconsumed_predicate). The buffer's statistics, if
    // any, describe rows long consumed: an action or xid test would be estimated from them to
    // keep next to none, and a buffer of thousands of changes joined by nested loops.
    auto buffer_rows = [&](std::string_view action) {
        return buffer_condition(t, action, unconsumed);
    };
    std::string buffer_row = "ROW(";
    for (std::size_t i = 0; i < t.columns.size(); ++i)
        buffer_row += (i ? ", b." : "b.") + quote_ident(buffer_column(t.columns[i].name));
    buffer_row += ")::text";

    if (!t.changed) {
        // No change to read: the table is its own old state, and no buffer is read (an
        // IMMEDIATE source has none).
        return fmt::format(
            "__pgt_ins_{i} AS (SELECT {plain}{one} FROM {table} r WHERE false),\n"
            "__pgt_none_{i} AS (SELECT {sel}{one} FROM __pgt_ins_{i} WHERE false),\n"
            "__pgt_del_{i} AS (SELECT {sel}{one} FROM __pgt_ins_{i}),\n"
            "__pgt_any_{i} AS (SELECT {sel}{one} FROM __pgt_ins_{i}),\n"
            "__pgt_old_{i} AS NOT MATERIALIZED (SELECT {plain}{one} FROM {table} r)",
            fmt::arg("i", index), fmt::arg("sel", select_cols), fmt::arg("plain", plain_cols),
            fmt::arg("table", t.qualified_name), fmt::arg("one", one));
    }
    // The changed rows as they are. Enough when the source already holds each row version once
    // (DeltaTable::net), or when the statement never reads the table's old state and changed-row
    // set (apply_statement's Lean mode: the sum over the terms is the same, each term being
    // linear in the table's change; an intermediate version may raise an error, and the refresh
    // then runs the consolidated statement).
    const std::string raw = fmt::format(
        "__pgt_ins_{i} AS MATERIALIZED (SELECT {bcols}{one} FROM {buf} b WHERE {ins}),\n"
        "__pgt_none_{i} AS (SELECT {sel}{one} FROM __pgt_ins_{i} WHERE false),\n"
        "__pgt_del_{i} AS MATERIALIZED (SELECT {bcols}{one} FROM {buf} b WHERE {del}),\n"
        "__pgt_sgn_{i} AS {mat}MATERIALIZED (SELECT {bcols}CASE b.action WHEN 'I' THEN 1 ELSE "
        "-1 END AS __pgt_one FROM {buf} b WHERE {both})",
        fmt::arg("i", index), fmt::arg("sel", select_cols), fmt::arg("bcols", buffer_cols),
        fmt::arg("mat", shared_sgn ? "" : "NOT "), fmt::arg("buf", changes), fmt::arg("one", one),
        fmt::arg("ins", buffer_rows("= 'I'")), fmt::arg("del", buffer_rows("= 'D'")),
        fmt::arg("both", buffer_rows("IN ('I', 'D')")));
    if (!consolidate)
        return raw;  // no __pgt_old / __pgt_any: nothing may read them

    std::string out;
    if (t.net) {
        out = raw + fmt::format(
                        ",\n__pgt_any_{i} AS (SELECT {sel}{one} FROM __pgt_ins_{i} UNION ALL "
                        "SELECT {sel}{one} FROM __pgt_del_{i}),\n",
                        fmt::arg("i", index), fmt::arg("sel", select_cols), fmt::arg("one", one));
    } else {
        // The net change per row content: an intermediate version of a row (inserted and changed
        // again before this refresh) cancels out here and is never evaluated by the query, so it
        // cannot raise an error the query over the current rows would not.
        if (t.groupable && !t.columns.empty()) {
            // Grouped by the columns themselves (DeltaTable::groupable).
            std::string group_by;
            for (std::size_t c = 0; c < t.columns.size(); ++c)
                group_by += (c ? ", b." : "b.") + quote_ident(buffer_column(t.columns[c].name));
            out = fmt::format(
                "__pgt_net_{i} AS MATERIALIZED (\n"
                "  SELECT {bcols}pg_catalog.sum(CASE b.action WHEN 'I' THEN 1 ELSE -1 END) AS "
                "__pgt_nw\n"
                "  FROM {buf} b WHERE {rows}\n"
                "  GROUP BY {group_by}\n"
                "  HAVING pg_catalog.sum(CASE b.action WHEN 'I' THEN 1 ELSE -1 END) <> 0),\n",
                fmt::arg("i", index), fmt::arg("bcols", buffer_cols), fmt::arg("buf", changes),
                fmt::arg("rows", buffer_rows("IN ('I', 'D')")), fmt::arg("group_by", group_by));
        } else {
            // Partitioned by the row's text. `__pgt_rn < 2`, not `= 1`: the planner, with no
            // statistics for a window function's result, takes an equality to keep 0.5% of the
            // rows and would then rescan this CTE in nested loops; an inequality keeps a third,
            // nearer the truth (most changed rows survive).
            out = fmt::format(
                "__pgt_net_{i} AS MATERIALIZED (\n"
                "  SELECT {sel}__pgt_nw FROM (\n"
                "    SELECT {sel}pg_catalog.sum(__pgt_w) OVER (PARTITION BY __pgt_k) AS __pgt_nw,\n"
                "           pg_catalog.row_number() OVER (PARTITION BY __pgt_k) AS __pgt_rn\n"
                "    FROM (SELECT {bcols}CASE b.action WHEN 'I' THEN 1 ELSE -1 END AS __pgt_w,\n"
                "                 {brow} COLLATE \"C\" AS __pgt_k\n"
                "          FROM {buf} b WHERE {rows}) r) x\n"
                "  WHERE __pgt_rn < 2 AND __pgt_nw <> 0),\n",
                fmt::arg("i", index), fmt::arg("sel", select_cols), fmt::arg("bcols", buffer_cols),
                fmt::arg("brow", buffer_row), fmt::arg("buf", changes),
                fmt::arg("rows", buffer_rows("IN ('I', 'D')")));
        }
        // A keyed table holds one row of a given content at a time, so its net count per
        // content is 1 or -1: no copies to make. (The planner takes a set-returning function
        // to return 1,000 rows, which would inflate every estimate over these CTEs.)
        const std::string copies =
            t.key.empty() ? ", pg_catalog.generate_series(1, pg_catalog.abs(n.__pgt_nw))" : "";
        out += fmt::format(
            "__pgt_ins_{i} AS MATERIALIZED (SELECT {sel}{one} FROM __pgt_net_{i} n{copies}"
            " WHERE n.__pgt_nw > 0),\n"
            "__pgt_none_{i} AS (SELECT {sel}{one} FROM __pgt_ins_{i} WHERE false),\n"
            "__pgt_del_{i} AS MATERIALIZED (SELECT {sel}{one} FROM __pgt_net_{i} n{copies}"
            " WHERE n.__pgt_nw < 0),\n"
            "__pgt_any_{i} AS (SELECT {sel}{one} FROM __pgt_net_{i} n),\n"
            "__pgt_sgn_{i} AS NOT MATERIALIZED (SELECT {sel}n.__pgt_nw AS __pgt_one FROM "
            "__pgt_net_{i} n),\n",
            fmt::arg("i", index), fmt::arg("sel", select_cols), fmt::arg("one", one),
            fmt::arg("copies", copies));
    }

    std::string current;
    if (!t.key.empty()) {
        // Keyed: the rows now present under a net-inserted key are exactly the net inserts.
        // NOT EXISTS (an anti join the planner can hash), not `key <> ALL (ARRAY(...))`, which
        // compares every row with every inserted key.
        std::vector<std::string> eq;
        for (const auto& k : t.key)
            eq.push_back(fmt::format("i.{0} = r.{0}", quote_ident(k)));
        current = fmt::format(
            "SELECT {plain}{one} FROM {table} r WHERE NOT EXISTS (SELECT 1 FROM __pgt_ins_{i} i "
            "WHERE {eq})",
            fmt::arg("plain", plain_cols), fmt::arg("one", one),
            fmt::arg("table", t.qualified_name), fmt::arg("eq", join(eq, " AND ")),
            fmt::arg("i", index));
    } else if (t.groupable || t.columns.empty()) {
        current = fmt::format(
            "(SELECT {plain}{one} FROM {table} r EXCEPT ALL SELECT {sel}{one} "
            "FROM __pgt_ins_{i})",
            fmt::arg("plain", plain_cols), fmt::arg("one", one),
            fmt::arg("table", t.qualified_name), fmt::arg("sel", select_cols),
            fmt::arg("i", index));
    } else {
        // Columns whose equal values can differ (DeltaTable::groupable): EXCEPT ALL would take
        // away a stored 'abc' (or 1.0) for an inserted 'ABC' (1.00) and leave the other in the
        // old state. The rows also carry their text, which decides.
        std::vector<std::string> names;
        for (const auto& c : t.columns)
            names.push_back(c.name);
        current = fmt::format(
            "(SELECT {sel}{one} FROM (SELECT {plain}{one}, {rrow} COLLATE \"C\" AS __pgt_k FROM "
            "{table} r EXCEPT ALL SELECT {sel}{one}, {irow} COLLATE \"C\" FROM __pgt_ins_{i} i) x)",
            fmt::arg("plain", plain_cols), fmt::arg("one", one),
            fmt::arg("table", t.qualified_name), fmt::arg("sel", select_cols),
            fmt::arg("rrow", row_text(names, "r")), fmt::arg("irow", row_text(names, "i")),
            fmt::arg("i", index));
    }
    // __pgt_kept: the rows there before and after (a recursive query's counting, see
    // counting_apply).
    out += fmt::format(
        "__pgt_kept_{i} AS NOT MATERIALIZED ({cur}),\n"
        "__pgt_old_{i} AS NOT MATERIALIZED ({cur} UNION ALL SELECT {sel}{one} FROM __pgt_del_{i})",
        fmt::arg("i", index), fmt::arg("cur", current), fmt::arg("sel", select_cols),
        fmt::arg("one", one));
    // __pgt_oldh: the same rows for a reference the query is not linear in, which may sit in a
    // correlated subquery run once per outer row. There an anti join with the inserted rows is
    // planned for one outer row at a time (a nested loop over all of them, or a hash built
    // again per call); `NOT IN` makes one hash of the inserted keys for the whole statement.
    // (Keys are NOT NULL, so NOT IN means what NOT EXISTS does.) Its first part, __pgt_cur (the
    // rows there before and still there), is one relation with a filter, which the planner
    // probes through the table's indexes where a subquery expression reads it on its own
    // (substitute_split).
    std::string hashed = fmt::format("SELECT * FROM __pgt_old_{}", index);
    if (!t.key.empty()) {
        std::vector<std::string> rk, ik;
        for (const auto& k : t.key) {
            rk.push_back("r." + quote_ident(k));
            ik.push_back("i." + quote_ident(k));
        }
        out += fmt::format(
            ",\n__pgt_cur_{i} AS NOT MATERIALIZED (SELECT {plain}{one} FROM {table} r WHERE ({rk}) "
            "NOT IN (SELECT {ik} FROM __pgt_ins_{i} i))",
            fmt::arg("plain", plain_cols), fmt::arg("one", one),
            fmt::arg("table", t.qualified_name), fmt::arg("rk", join(rk, ", ")),
            fmt::arg("ik", join(ik, ", ")), fmt::arg("i", index));
        hashed = fmt::format(
            "SELECT * FROM __pgt_cur_{i} UNION ALL SELECT {sel}{one} FROM __pgt_del_{i}",
            fmt::arg("i", index), fmt::arg("sel", select_cols), fmt::arg("one", one));
    }
    out += fmt::format(",\n__pgt_oldh_{} AS NOT MATERIALIZED ({})", index, hashed);
    return out;
}

}  // namespace detail

namespace {
using namespace detail;
}  // namespace

namespace detail {

std::string all_table_ctes(const DeltaPlan& plan, const Frontier& prev,
                           const std::vector<bool>& consolidate,
                           const std::vector<bool>& shared_sgn) {
    std::vector<std::string> ctes;
    for (std::size_t i = 0; i < plan.tables.size(); ++i)
        ctes.push_back(table_ctes(plan.tables[i], i, prev, consolidate.empty() || consolidate[i],
                                  !shared_sgn.empty() && shared_sgn[i]));
    return join(ctes, ",\n");
}

// How many old-state references of one weighted delta term are expanded into the table and its
// signed changes (see signed_terms): 2^k copies of the term for k of them.
constexpr std::size_t kMaxExpanded = 4;

Products all_products(const std::vector<RelationRef>& refs, const Products& products) {
    if (!products.empty())
        return products;
    Products all(1);
    for (std::size_t i = 0; i < refs.size(); ++i)
        all.back().push_back(i);
    return all;
}

// The delta terms of `text`, each as "SELECT q.*, <sign> AS __pgt_w FROM (...) q": per changed
// reference i (in text order within its product) the relations before it are read new, those
// after it old, and i itself as its inserted (+1) and deleted (-1) rows when the query is linear
// in it, or new (+1) and old (-1) when it is not.
// Table t (index i), now (sign > 0) or before its change, read only where `column` equals that
// column of one of its changed rows (RestrictedText::filter_column). Before: the rows kept, for
// a keyed table probed through its indexes (__pgt_cur), plus the deleted ones.
std::string filtered_state(const DeltaTable& t, std::size_t i, const std::string& column,
                           int sign) {
    std::vector<std::string> cols;
    for (const auto& c : t.columns)
        cols.push_back(quote_ident(c.name));
    const std::string list = join(cols, ", ");
    const std::string changed =
        fmt::format("(SELECT x.{0} FROM __pgt_any_{1} x)", quote_ident(column), i);
    auto from = [&](const std::string& rel) {
        return fmt::format("SELECT {} FROM {} f WHERE f.{} IN {}", list, rel, quote_ident(column),
                           changed);
    };
    if (sign > 0)
        return "(" + from(t.qualified_name) + ")";
    if (t.key.empty())
        return "(" + from(fmt::format("__pgt_old_{}", i)) + ")";
    return fmt::format("({} UNION ALL {})", from(fmt::format("__pgt_cur_{}", i)),
                       from(fmt::format("__pgt_del_{}", i)));
}

std::vector<std::string> signed_terms(const std::string& text, const std::vector<RelationRef>& refs,
                                      const Products& products,
                                      const std::vector<RestrictedText>& restrictions,
                                      const std::vector<DeltaTable>& tables, bool weighted) {
    const Products all = detail::all_products(refs, products);
    std::vector<bool> keyed;
    for (const auto& t : tables)
        keyed.push_back(!t.key.empty());
    std::vector<std::string> terms;
    for (const auto& product : all) {
        // A sum (UNION ALL) of products: each product is differentiated on its own, the other
        // products' relations replaced by empty ones so they contribute nothing (or, where a
        // product still yields rows over empty relations, the same rows with both signs).
        std::vector<int> position(refs.size(), -1);
        for (std::size_t p = 0; p < product.size(); ++p)
            position[product[p]] = static_cast<int>(p);
        for (std::size_t p = 0; p < product.size(); ++p) {
            const RelationRef& varied = refs[product[p]];
            // An unchanged table contributes no delta term, and its old state is the table.
            if (!tables[varied.table].changed)
                continue;
            auto old_state = [&](std::size_t j) {
                return fmt::format("__pgt_{}_{}", refs[j].nonlinear ? "oldh" : "old",
                                   refs[j].table);
            };
            // The reference j's text in the term with the given sign ("" = the table now).
            auto replacement = [&](std::size_t j, int sign) -> std::string {
                const int pj = position[j];
                if (pj < 0)
                    return fmt::format("__pgt_none_{}", refs[j].table);
                if (pj < static_cast<int>(p) ||
                    (pj > static_cast<int>(p) && !tables[refs[j].table].changed))
                    return "";
                if (pj > static_cast<int>(p))
                    return old_state(j);
                if (varied.nonlinear)
                    return sign > 0 ? "" : old_state(j);
                return fmt::format("__pgt_{}_{}", sign > 0 ? "ins" : "del", refs[j].table);
            };
            // An old-state subquery expression is written once over the rows kept, probed by
            // index per outer row, and once over the deleted rows (substitute_split), where the
            // outer rows are few: those of a changed row of a linear reference, or those a
            // correlated restriction keeps. A whole evaluation keeps the union, which the
            // planner can hash once for all rows.
            const bool split =
                !varied.nonlinear ||
                (varied.restriction >= 0 &&
                 restrictions[static_cast<std::size_t>(varied.restriction)].correlated);
            auto substituted = [&](const std::string& t, const std::vector<RelationRef>& r,
                                   const std::vector<std::string>& repl) {
                return split ? substitute_split(t, r, repl, keyed) : substitute(t, r, repl);
            };
            if (weighted && !varied.nonlinear && text.find(kKeyWeight) != std::string::npos) {
                // The changed references after i are read old. As Z-sets a table's old state
                // is the table now minus its signed net change (old = new - sgn), so each one
                // the query is linear in (the sum distributes over it; not so a nullable side
                // of an outer join) is read either as the table itself or as its signed changes
                // with the weight negated: every copy then joins base tables (their indexes serve
                // the join) and small change sets, where the old state (the table minus its
                // inserted rows plus its deleted ones) is a union the planner cannot probe by
                // index. 2^k copies for k such references; past kMaxExpanded they read the old
                // state.
                std::vector<std::size_t> later;
                for (std::size_t j = 0; j < refs.size(); ++j)
                    if (position[j] > static_cast<int>(p) && tables[refs[j].table].changed &&
                        !refs[j].nonlinear)
                        later.push_back(j);
                const bool expand = later.size() <= kMaxExpanded;
                const std::size_t copies = expand ? (std::size_t{1} << later.size()) : 1;
                for (std::size_t mask = 0; mask < copies; ++mask) {
                    std::vector<std::string> repl(refs.size());
                    std::string weight = quote_ident(varied.refname) + ".__pgt_one";
                    for (std::size_t j = 0; j < refs.size(); ++j)
                        repl[j] = j == product[p] ? fmt::format("__pgt_sgn_{}", varied.table)
                                                  : replacement(j, 1);
                    for (std::size_t b = 0; expand && b < later.size(); ++b) {
                        const std::size_t j = later[b];
                        if (mask & (std::size_t{1} << b)) {
                            repl[j] = fmt::format("__pgt_sgn_{}", refs[j].table);
                            weight +=
                                fmt::format(" * (-{}.__pgt_one)", quote_ident(refs[j].refname));
                        } else {
                            repl[j] = "";
                        }
                    }
                    std::string body = substituted(text, refs, repl);
                    body.replace(body.find(kKeyWeight), std::string_view(kKeyWeight).size(),
                                 fmt::format("{} AS __pgt_wt", weight));
                    terms.push_back(
                        fmt::format("SELECT q.*, q.__pgt_wt AS __pgt_w FROM (\n{}\n) q", body));
                }
                continue;
            }
            for (int sign : {1, -1}) {
                std::string body;
                if (varied.nonlinear && varied.restriction >= 0) {
                    const auto& r = restrictions[static_cast<std::size_t>(varied.restriction)];
                    std::vector<std::string> repl(r.refs.size());
                    for (std::size_t k = 0; k < r.refs.size(); ++k)
                        repl[k] = r.original[k] < 0 ? fmt::format("__pgt_any_{}", varied.table)
                                  : static_cast<std::size_t>(r.original[k]) == product[p] &&
                                          !r.filter_column.empty()
                                      ? filtered_state(tables[varied.table], varied.table,
                                                       r.filter_column, sign)
                                      : replacement(static_cast<std::size_t>(r.original[k]), sign);
                    body = substituted(r.text, r.refs, repl);
                } else {
                    std::vector<std::string> repl(refs.size());
                    for (std::size_t j = 0; j < refs.size(); ++j)
                        repl[j] = replacement(j, sign);
                    body = substituted(text, refs, repl);
                }
                terms.push_back(
                    fmt::format("SELECT q.*, {} AS __pgt_w FROM (\n{}\n) q", sign, body));
            }
        }
    }
    return terms;
}

std::string insert_columns(const DeltaPlan& plan) {
    return "__pgt_row_id, " +
           join(map_columns(plan.output_columns, [](auto c) { return c; }), ", ");
}

std::string prefixed(const DeltaPlan& plan, std::string_view alias) {
    return join(map_columns(plan.output_columns,
                            [&](const std::string& c) { return fmt::format("{}.{}", alias, c); }),
                ", ");
}

std::string group_key_match(const DeltaPlan& plan, std::string_view alias,
                            std::string_view keys_alias) {
    std::vector<std::string> keq;
    for (std::size_t k = 0; k < plan.group_columns.size(); ++k)
        keq.push_back(fmt::format(
            "({a}.{o} = {n}.__pgt_g{k} OR ({a}.{o} IS NULL AND {n}.__pgt_g{k} IS NULL))",
            fmt::arg("a", alias), fmt::arg("o", quote_ident(plan.group_columns[k])),
            fmt::arg("n", keys_alias), fmt::arg("k", k + 1)));
    return keq.empty() ? "true" : join(keq, " AND ");
}

std::string touched_groups(const DeltaPlan& plan) {
    const auto terms = signed_terms(plan.key_query, plan.key_refs, plan.key_products,
                                    plan.key_restrictions, plan.tables, plan.key_weighted);
    std::vector<std::string> keys, akeys;
    for (std::size_t k = 0; k < plan.group_columns.size(); ++k) {
        keys.push_back(fmt::format("x.__pgt_g{}", k + 1));
        akeys.push_back(fmt::format("a.__pgt_g{}", k + 1));
    }
    const std::string key_list = keys.empty() ? "" : ", " + join(keys, ", ");
    const std::string akey_list = akeys.empty() ? "" : ", " + join(akeys, ", ");
    // The changed groups evaluated: per group (the keys pushed into the query), or all groups
    // at once, matched by row id (DeltaPlan::groups_in_one_pass; the keys too, so that another
    // group whose row id collides is not taken for a changed one).
    // One statement's change (IMMEDIATE) touches a group or two: one evaluation of the query
    // per group reads the tables no more often than one pass and aggregates only those groups.
    std::string evaluated;
    if (plan.groups_in_one_pass && !plan.per_statement)
        evaluated = fmt::format(
            "  SELECT a.__pgt_rid{akeys}, r.* FROM __pgt_affected a LEFT JOIN (\n"
            "    SELECT true AS __pgt_present, q.*, {qrid} AS __pgt_qrid FROM (\n{query}\n) q) r\n"
            "    ON r.__pgt_qrid = a.__pgt_rid AND {match}",
            fmt::arg("akeys", akey_list), fmt::arg("query", plan.query),
            fmt::arg("qrid", row_id_expression(plan, "q")),
            fmt::arg("match", group_key_match(plan, "r", "a")));
    else
        evaluated = fmt::format(
            "  SELECT a.__pgt_rid{akeys}, r.* FROM __pgt_affected a LEFT JOIN LATERAL (\n"
            "    SELECT true AS __pgt_present, q.* FROM (\n{query}\n) q{where} OFFSET 0) r ON "
            "true",
            fmt::arg("akeys", akey_list), fmt::arg("query", plan.query),
            fmt::arg("where", plan.group_columns.empty()
                                  ? std::string()
                                  : " WHERE " + group_key_match(plan, "q", "a")));
    // The row id is a hash: the group key itself decides which stored row is the group's.
    return fmt::format(
        "__pgt_affected AS MATERIALIZED (\n"
        "  SELECT DISTINCT {rid} AS __pgt_rid{keys} FROM (\n{terms}\n) x),\n"
        "__pgt_new AS MATERIALIZED (\n{evaluated})",
        fmt::arg("rid", hash_of(keys)), fmt::arg("keys", key_list),
        fmt::arg("terms", join(terms, "\nUNION ALL\n")), fmt::arg("evaluated", evaluated));
}

}  // namespace detail

std::string detail::content_apply(const DeltaPlan& plan, const std::string& with,
                                  const std::vector<std::string>& terms, const std::string& st) {
    // The net count per row content: where every output column's equality is identity, a hash
    // over the columns themselves, the text of a row made only for the rows whose count moved
    // (a recomputation's terms hold the whole result twice); else a sort of every row's text.
    const std::string all_terms = join(terms, "\nUNION ALL\n");
    const std::string rid = row_id_expression(plan, "d");
    const std::string change =
        plan.output_groupable
            ? fmt::format(
                  "__pgt_delta AS (\n{0}\n),\n"
                  "__pgt_change AS MATERIALIZED (\n"
                  "  SELECT x.*, {1} AS __pgt_k FROM (\n"
                  "    SELECT {2} AS __pgt_rid, {3}, pg_catalog.sum(d.__pgt_w) AS __pgt_nw\n"
                  "    FROM __pgt_delta d GROUP BY {3} HAVING pg_catalog.sum(d.__pgt_w) <> 0) x)",
                  all_terms, row_text(plan.output_columns, "x"), rid, prefixed(plan, "d"))
            : fmt::format(
                  "__pgt_delta AS MATERIALIZED (\n{}\n),\n"
                  "__pgt_keyed AS (SELECT {} AS __pgt_rid, {} AS __pgt_k, d.* FROM __pgt_delta "
                  "d),\n"
                  "__pgt_change AS MATERIALIZED (\n"
                  "  SELECT * FROM (SELECT k.*, pg_catalog.sum(k.__pgt_w) OVER w AS __pgt_nw,\n"
                  "                        pg_catalog.row_number() OVER w AS __pgt_rn\n"
                  "                 FROM __pgt_keyed k WINDOW w AS (PARTITION BY k.__pgt_rid, "
                  "k.__pgt_k)) x\n"
                  "  WHERE x.__pgt_rn = 1 AND x.__pgt_nw <> 0)",
                  all_terms, rid, row_text(plan.output_columns, "d"));
    return fmt::format(
        "{ctes},\n"
        "{change},\n"
        "__pgt_apply_del AS (\n"
        "  DELETE FROM {st} WHERE ctid IN (\n"
        "    SELECT s.ctid FROM (\n"
        "      SELECT s2.ctid, s2.__pgt_row_id, {srow} AS __pgt_k,\n"
        "             pg_catalog.row_number() OVER (PARTITION BY s2.__pgt_row_id, {srow}) AS "
        "__pgt_rn\n"
        "      FROM {st} s2 WHERE s2.__pgt_row_id = ANY (ARRAY(SELECT __pgt_rid FROM "
        "__pgt_change WHERE __pgt_nw < 0))) s\n"
        "    JOIN __pgt_change c ON c.__pgt_rid = s.__pgt_row_id AND c.__pgt_k = s.__pgt_k\n"
        "     AND c.__pgt_nw < 0 AND s.__pgt_rn <= -c.__pgt_nw)\n"
        "  RETURNING 1),\n"
        "__pgt_apply_ins AS (\n"
        "  INSERT INTO {st} ({icols}) SELECT c.__pgt_rid, {ccols} FROM __pgt_change c,\n"
        "    pg_catalog.generate_series(1, c.__pgt_nw) WHERE c.__pgt_nw > 0\n"
        "  RETURNING 1)\n"
        "SELECT (SELECT pg_catalog.count(*) FROM __pgt_apply_ins),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_del), 0::bigint{verify}",
        fmt::arg("ctes", with), fmt::arg("change", change), fmt::arg("st", st),
        fmt::arg("srow", row_text(plan.output_columns, "s2")),
        fmt::arg("icols", insert_columns(plan)), fmt::arg("ccols", prefixed(plan, "c")),
        fmt::arg("verify", plan.verify ? ", (SELECT coalesce(pg_catalog.sum(-__pgt_nw), 0)::bigint "
                                         "FROM __pgt_change WHERE __pgt_nw < 0)"
                                       : ""));
}

namespace {

// The weighted rows of a linear plan's change: its delta terms, or, recomputed, the query
// (+1) and the stored rows (-1), which cancel where they agree.
std::vector<std::string> linear_terms(const DeltaPlan& plan, const std::string& st) {
    if (plan.recompute)
        return {fmt::format("SELECT q.*, 1 AS __pgt_w FROM (\n{}\n) q", plan.query),
                fmt::format("SELECT {}, -1 AS __pgt_w FROM {} s", prefixed(plan, "s"), st)};
    return signed_terms(plan.query, plan.refs, plan.products, plan.restrictions, plan.tables);
}

std::string linear_apply(const DeltaPlan& plan, const std::string& table_ctes,
                         const std::string& st) {
    return content_apply(plan, "WITH " + table_ctes, linear_terms(plan, st), st);
}

// Linear query whose output carries the primary key of every relation it reads: each output
// row is unique and keeps its identity across changes, so a changed row is updated in place.
std::string keyed_linear_apply(const DeltaPlan& plan, const std::string& table_ctes,
                               const std::string& st) {
    const auto terms = linear_terms(plan, st);
    std::vector<std::string> keq, same_key, sets, keys;
    for (const auto& k : plan.key_columns) {
        std::string q = quote_ident(k);
        keq.push_back(fmt::format("s.{0} IS NOT DISTINCT FROM c.{0}", q));
        same_key.push_back(fmt::format("s.{0} IS NOT DISTINCT FROM excluded.{0}", q));
        keys.push_back(q);
    }
    for (const auto& c : plan.output_columns)
        sets.push_back(fmt::format("{0} = excluded.{0}", quote_ident(c)));
    // The net change: one row per content with its count (-1: the key's stored version goes,
    // +1: its new version). Columns whose equality is identity are grouped in a hash (the
    // terms are read once, as they come); others by their text, sorted, with the row id first
    // so that one sort serves a second window telling whether the key also has a new version.
    // (Whether a key is gone is a set difference, not an anti join: the planner's estimates for
    // these rows are guesses, and a nested-loop anti join over a large change costs its square.)
    std::string net;
    if (plan.output_groupable) {
        net = fmt::format(
            "__pgt_delta AS (\n{terms}\n),\n"
            "__pgt_net AS MATERIALIZED (\n"
            "  SELECT {rid} AS __pgt_rid, {dcols}, pg_catalog.sum(d.__pgt_w) AS __pgt_nw\n"
            "  FROM __pgt_delta d GROUP BY {dcols} HAVING pg_catalog.sum(d.__pgt_w) <> 0),\n"
            "__pgt_gone AS (\n"
            "  SELECT __pgt_rid, {keys} FROM __pgt_net WHERE __pgt_nw < 0\n"
            "  EXCEPT SELECT __pgt_rid, {keys} FROM __pgt_net WHERE __pgt_nw > 0)",
            fmt::arg("terms", join(terms, "\nUNION ALL\n")),
            fmt::arg("rid", row_id_expression(plan, "d")), fmt::arg("dcols", prefixed(plan, "d")),
            fmt::arg("keys", join(keys, ", ")));
    } else {
        net = fmt::format(
            "__pgt_delta AS MATERIALIZED (\n{terms}\n),\n"
            "__pgt_net AS MATERIALIZED (\n"
            "  SELECT x.*, pg_catalog.bool_or(x.__pgt_nw > 0) OVER (PARTITION BY x.__pgt_rid) AS "
            "__pgt_has_new\n"
            "  FROM (SELECT {rid} AS __pgt_rid, d.*, pg_catalog.sum(d.__pgt_w) OVER w AS "
            "__pgt_nw,\n"
            "         pg_catalog.row_number() OVER w AS __pgt_rn\n"
            "    FROM __pgt_delta d WINDOW w AS (PARTITION BY {rid}, {krow} COLLATE \"C\")) x\n"
            "  WHERE x.__pgt_rn = 1 AND x.__pgt_nw <> 0),\n"
            "__pgt_gone AS (\n"
            "  SELECT __pgt_rid, {keys} FROM __pgt_net WHERE __pgt_nw < 0 AND NOT __pgt_has_new)",
            fmt::arg("terms", join(terms, "\nUNION ALL\n")),
            fmt::arg("rid", row_id_expression(plan, "d")),
            fmt::arg("krow", row_text(plan.output_columns, "d")),
            fmt::arg("keys", join(keys, ", ")));
    }
    // Each key's new version is written by one upsert: one probe of the row-id index per row,
    // where an UPDATE and an INSERT guarded by NOT EXISTS probed it twice; in row-id order, the
    // index's. A stored row met under the row id but holding another key is a row-id
    // collision: raised from inside the statement (a plain UPDATE matching on the key would
    // have dropped the new row). Inserted rows are told from updated ones as in the increments
    // (see algebraic.cpp): an updated version keeps the statement's lock in its xmax.
    return fmt::format(
        "WITH {ctes},\n"
        "{net},\n"
        "__pgt_apply_del AS (\n"
        "  DELETE FROM {st} s USING __pgt_gone c\n"
        "  WHERE s.__pgt_row_id = c.__pgt_rid AND {keq}\n"
        "  RETURNING 1),\n"
        "__pgt_apply_put AS (\n"
        "  INSERT INTO {st} AS s ({icols}) SELECT c.__pgt_rid, {ccols} FROM __pgt_net c\n"
        "  WHERE c.__pgt_nw > 0 ORDER BY c.__pgt_rid\n"
        "  ON CONFLICT (__pgt_row_id) DO UPDATE SET {sets}\n"
        "  WHERE CASE WHEN {same_key} THEN true ELSE pgtrickle._pgt_row_id_collision({name}) END\n"
        "  RETURNING s.xmax = 0 AS __pgt_new)\n"
        "SELECT (SELECT pg_catalog.count(*) FROM __pgt_apply_put WHERE __pgt_new),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_del),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_put WHERE NOT __pgt_new){verify}",
        fmt::arg("ctes", table_ctes), fmt::arg("net", net), fmt::arg("st", st),
        fmt::arg("keq", join(keq, " AND ")), fmt::arg("same_key", join(same_key, " AND ")),
        fmt::arg("sets", join(sets, ", ")), fmt::arg("name", quote_literal(st)),
        fmt::arg("icols", insert_columns(plan)), fmt::arg("ccols", prefixed(plan, "c")),
        fmt::arg("verify", plan.verify ? ", (SELECT pg_catalog.count(*) FROM __pgt_gone)" : ""));
}

std::string grouped_apply(const DeltaPlan& plan, const std::string& table_ctes,
                          const std::string& st) {
    std::vector<std::string> sets;
    for (const auto& c : plan.output_columns)
        sets.push_back(fmt::format("{0} = n.{0}", quote_ident(c)));
    return fmt::format(
        "WITH {ctes},\n"
        "{groups},\n"
        "__pgt_apply_del AS (\n"
        "  DELETE FROM {st} s USING __pgt_new n\n"
        "  WHERE s.__pgt_row_id = n.__pgt_rid AND {keq} AND n.__pgt_present IS NULL RETURNING 1),\n"
        "__pgt_apply_upd AS (\n"
        "  UPDATE {st} s SET {sets} FROM __pgt_new n\n"
        "  WHERE s.__pgt_row_id = n.__pgt_rid AND {keq} AND n.__pgt_present\n"
        "    AND {srow} IS DISTINCT FROM {nrow} RETURNING 1),\n"
        "__pgt_apply_ins AS (\n"
        "  INSERT INTO {st} ({icols}) SELECT n.__pgt_rid, {ncols} FROM __pgt_new n\n"
        "  WHERE n.__pgt_present AND NOT EXISTS (SELECT 1 FROM {st} e WHERE e.__pgt_row_id = "
        "n.__pgt_rid)\n"
        "  RETURNING 1)\n"
        "SELECT (SELECT pg_catalog.count(*) FROM __pgt_apply_ins),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_del),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_upd)",
        fmt::arg("ctes", table_ctes), fmt::arg("groups", touched_groups(plan)), fmt::arg("st", st),
        fmt::arg("keq", group_key_match(plan, "s", "n")), fmt::arg("sets", join(sets, ", ")),
        fmt::arg("srow", row_text(plan.output_columns, "s")),
        fmt::arg("nrow", row_text(plan.output_columns, "n")),
        fmt::arg("icols", insert_columns(plan)), fmt::arg("ncols", prefixed(plan, "n")));
}

}  // namespace

using namespace detail;

std::string row_id_expression(const DeltaPlan& plan, std::string_view alias) {
    const auto& cols = plan.kind == DeltaPlan::Kind::Grouped ? plan.group_columns
                       : plan.key_columns.empty()            ? plan.output_columns
                                                             : plan.key_columns;
    return hash_of(
        map_columns(cols, [&](const std::string& c) { return fmt::format("{}.{}", alias, c); }));
}

std::string full_insert(const DeltaPlan& plan, const std::string& storage) {
    if (!plan.algebraic.empty())
        return algebraic_full_insert(plan, storage);
    return fmt::format("INSERT INTO {} ({}) SELECT {}, {} FROM (\n{}\n) q", storage,
                       insert_columns(plan), row_id_expression(plan, "q"), prefixed(plan, "q"),
                       plan.query);
}

namespace {

std::string statement_with(const DeltaPlan& plan, const std::string& table_ctes,
                           const std::string& storage) {
    if (plan.recursion)
        return plan.recursion->all ? counting_apply(plan, table_ctes, storage)
                                   : recursive_apply(plan, table_ctes, storage);
    if (plan.top_k && !plan.recompute)
        return top_k_apply(plan, table_ctes, storage);
    if (plan.kind == DeltaPlan::Kind::Linear)
        return plan.key_columns.empty() ? linear_apply(plan, table_ctes, storage)
                                        : keyed_linear_apply(plan, table_ctes, storage);
    if (!plan.algebraic.empty()) {
        if (plan.recompute)
            return algebraic_recompute(plan, table_ctes, storage);
        return plan.relative_apply ? algebraic_relative(plan, table_ctes, storage)
                                   : algebraic_apply(plan, table_ctes, storage);
    }
    return grouped_apply(plan, table_ctes, storage);
}

// Whether `text` names the CTE `name` (and not a longer name it is a prefix of).
std::size_t mention_count(const std::string& text, const std::string& name) {
    std::size_t n = 0;
    for (auto at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
        const auto end = at + name.size();
        if (end >= text.size() || !std::isalnum(static_cast<unsigned char>(text[end])))
            ++n;
    }
    return n;
}

bool mentions(const std::string& text, const std::string& name) {
    return mention_count(text, name) > 0;
}

// The CTEs of `ctes` (table_ctes' output: each starts a line with its name, "__pgt_") that
// `body` reads, directly or through another one kept. PostgreSQL plans every CTE something
// mentions, even a CTE only unused ones mention, and initializes each plan at every execution:
// in IMMEDIATE mode, where a statement changes a row or two, that was most of the delta's cost.
std::string used_ctes(const std::string& ctes, const std::string& body) {
    std::vector<std::pair<std::string, std::string>> entries;  // name, definition
    // Entries are separated by ",\n__pgt_" outside parentheses and quotes (a quoted column name
    // may hold anything).
    std::size_t start = 0;
    int depth = 0;
    char quote = 0;
    auto add = [&](std::size_t end) {
        std::string text = ctes.substr(start, end - start);
        entries.emplace_back(text.substr(0, text.find(' ')), std::move(text));
    };
    for (std::size_t i = 0; i < ctes.size(); ++i) {
        const char c = ctes[i];
        if (quote != 0) {
            if (c == quote)
                quote = 0;  // a doubled quote closes and reopens: the same
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '(') {
            ++depth;
        } else if (c == ')') {
            --depth;
        } else if (depth == 0 && ctes.compare(i, 8, ",\n__pgt_") == 0) {
            add(i);
            start = i + 2;
        }
    }
    add(ctes.size());
    std::vector<std::string> kept;  // last to first
    std::string readers = body;     // the body and every CTE kept so far (later ones read earlier)
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        if (mentions(readers, it->first)) {
            kept.push_back(it->second);
            readers += "\n" + it->second;
        }
    }
    std::reverse(kept.begin(), kept.end());
    // (A statement reading none, a recomputation, still needs one after its WITH.)
    return kept.empty() ? "__pgt_nothing AS (SELECT)" : join(kept, ",\n");
}

}  // namespace

std::string apply_statement(const DeltaPlan& plan, const Frontier& prev, const std::string& storage,
                            Consolidation mode) {
    std::vector<bool> consolidate(plan.tables.size(), true);
    // Lean: a grouped plan's terms are summed per group, and a linear plan's per output row
    // (content_apply, keyed_linear_apply), so a table whose old state and changed-row set no
    // term reads can feed its buffered rows unconsolidated. Not when the terms join several
    // changed tables: an update of columns the query does not read leaves a pair of rows that
    // cancel, and the joins between changed tables' rows (the copies of signed_terms) would
    // multiply them before the sum does.
    const auto changed = std::count_if(plan.tables.begin(), plan.tables.end(),
                                       [](const DeltaTable& t) { return t.changed; });
    // The statement with its table CTEs left out, to see which of them it reads.
    const std::string body = statement_with(plan, "__pgt_tables", storage);
    // (A top-K plan's candidates come from its inner query's terms, summed the same way.)
    const DeltaPlan& shape = plan.top_k && !plan.recompute ? *plan.top_k->inner : plan;
    // Unless every changed table's reads leave such updates out (changed_bits): the pairs left
    // then cancel only for a row inserted and deleted, or changed and changed back, between two
    // refreshes, and grouping them away costs a hash of every buffered row.
    const bool unread_updates_left_out =
        std::all_of(plan.tables.begin(), plan.tables.end(),
                    [](const DeltaTable& t) { return !t.changed || t.changed_bits.has_value(); });
    const bool lean_grouped =
        shape.kind == DeltaPlan::Kind::Grouped &&
        (shape.key_refs.size() <= 1 || changed <= 1 || unread_updates_left_out);
    const bool lean_linear = shape.kind == DeltaPlan::Kind::Linear && !shape.recompute &&
                             !shape.recursion &&
                             (shape.refs.size() <= 1 || changed <= 1 || unread_updates_left_out);
    std::vector<bool> shared_sgn(plan.tables.size(), false);
    if (mode == Consolidation::Lean && (lean_grouped || lean_linear)) {
        for (std::size_t i = 0; i < plan.tables.size(); ++i) {
            consolidate[i] = mentions(body, fmt::format("__pgt_old_{}", i)) ||
                             mentions(body, fmt::format("__pgt_oldh_{}", i)) ||
                             mentions(body, fmt::format("__pgt_cur_{}", i)) ||
                             mentions(body, fmt::format("__pgt_any_{}", i));
            // Buffered rows several terms read are read from the buffer once.
            shared_sgn[i] = mention_count(body, fmt::format("__pgt_sgn_{}", i)) > 1;
        }
    }
    return statement_with(
        plan, used_ctes(all_table_ctes(plan, prev, consolidate, shared_sgn), body), storage);
}

bool recompute_cheaper(const DeltaPlan& plan) {
    if (plan.recompute || plan.recursion)
        return false;
    if (plan.top_k) {
        DeltaPlan inner = *plan.top_k->inner;
        inner.tables = plan.tables;
        return recompute_cheaper(inner);
    }
    auto unrestricted_change = [&](const std::vector<RelationRef>& refs,
                                   const std::vector<RestrictedText>& restrictions) {
        return std::any_of(refs.begin(), refs.end(), [&](const RelationRef& r) {
            const bool restricted =
                r.restriction >= 0 &&
                restrictions[static_cast<std::size_t>(r.restriction)].correlated;
            return r.nonlinear && !restricted && plan.tables[r.table].changed;
        });
    };
    if (plan.kind == DeltaPlan::Kind::Linear)
        return unrestricted_change(plan.refs, plan.restrictions);
    // Grouped: a group's running state can be recomputed from the sources (algebraic plans
    // only; the others keep no state to recompute but rescan the groups they find touched).
    return !plan.algebraic.empty() && unrestricted_change(plan.key_refs, plan.key_restrictions);
}

bool unique_row_ids(const DeltaPlan& plan) {
    return !(plan.kind == DeltaPlan::Kind::Linear && plan.key_columns.empty());
}

std::string row_id_check(const DeltaPlan& plan, const std::string& storage) {
    if (plan.kind != DeltaPlan::Kind::Linear || plan.recompute || plan.recursion)
        return {};
    return fmt::format("SELECT s.__pgt_row_id = {} FROM {} s LIMIT 1", row_id_expression(plan, "s"),
                       storage);
}

std::string relative_cleanup(const std::string& storage) {
    return fmt::format(
        "DELETE FROM {} s WHERE s.__pgt_row_id = ANY ($1::pg_catalog.int8[]) AND s.__pgt_count = 0",
        storage);
}

bool filters_buffer(const DeltaTable& t) {
    return (!t.change_filter.empty() || t.changed_bits) && t.change_source.empty();
}

std::string filtered_changes_query(const DeltaPlan& plan, const Frontier& prev) {
    std::vector<std::string> cols;
    const std::string pred = unconsumed_predicate(prev, "b");
    for (const auto& t : plan.tables) {
        if (t.changed && filters_buffer(t))
            cols.push_back(fmt::format("EXISTS (SELECT 1 FROM {} b WHERE {})",
                                       buffer_table(t.relid),
                                       buffer_condition(t, "IN ('I', 'D')", pred)));
    }
    return cols.empty() ? std::string() : "SELECT " + join(cols, ", ");
}

std::string pending_changes_query(std::uint32_t relid, const Frontier& prev) {
    const std::string pred = unconsumed_predicate(prev, "b");
    return fmt::format(
        "SELECT EXISTS (SELECT 1 FROM {0} b WHERE {1}),"
        " EXISTS (SELECT 1 FROM {0} b WHERE b.action = 'T' AND {1})",
        buffer_table(relid), pred);
}

}  // namespace pgtrickle::core
