// Random schemas, queries and DML for the differential-vs-full property tester
// (test_property.cpp).
//
// Everything is drawn from one seeded generator, so a case is a pure function of its seed. The
// generators only produce what DIFFERENTIAL supports (see src/pg/analysis/differential.cpp and
// docs/DIFFERENTIAL.md): inner, LEFT, RIGHT and FULL joins of plain tables (any depth, nested,
// self-joins, non-equi, comma joins, USING), subqueries in FROM and WITH queries that are
// select-project-joins, UNION ALLs of them, or grouped / DISTINCT, a top-level UNION [ALL],
// INTERSECT [ALL] or EXCEPT [ALL] of select-project-joins, subquery expressions (EXISTS, NOT
// EXISTS, IN, NOT IN, ANY / ALL, scalar subqueries; correlated or not, nested, with joins,
// GROUP BY or LIMIT inside) in WHERE and in ungrouped select lists, immutable expressions,
// GROUP BY with every key in the select list and any aggregates (FILTER, ORDER BY inside,
// DISTINCT inside; sometimes only COUNT/SUM/AVG/MIN/MAX, the algebraic case), HAVING, scalar
// aggregates, DISTINCT.
//
// Every generated query is deterministic (its result is a function of the data only), otherwise
// comparing two evaluations of it would prove nothing:
//  - no floating point; numeric values and numeric expressions always have exactly two decimal
//    digits (columns are numeric(6,2), literals are written 1.50, only operations that keep the
//    scale are used), so equal numbers always print the same and grouping on them is stable;
//    now and then a value is NaN;
//  - ordered aggregates order by the aggregated value itself (or by another value then by it), so
//    ties only ever involve identical elements;
//  - no division (the failure test uses it on purpose), no stable or volatile functions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace pgtrickle::test::property {

class Rng {
  public:
    explicit Rng(std::uint64_t seed) : gen_(seed) {}
    // Uniform in [lo, hi]. Written out (not std::uniform_int_distribution) so a seed means the
    // same case with every standard library.
    int range(int lo, int hi) {
        return lo + static_cast<int>(gen_() % static_cast<std::uint64_t>(hi - lo + 1));
    }
    bool chance(double p) { return static_cast<double>(gen_() >> 11) * 0x1.0p-53 < p; }
    template <typename T>
    const T& pick(const std::vector<T>& v) {
        return v[static_cast<std::size_t>(range(0, static_cast<int>(v.size()) - 1))];
    }
    // Index drawn with the given weights.
    std::size_t weighted(const std::vector<int>& weights) {
        int total = 0;
        for (int w : weights)
            total += w;
        int r = range(0, total - 1);
        for (std::size_t i = 0; i < weights.size(); ++i) {
            if (r < weights[i])
                return i;
            r -= weights[i];
        }
        return weights.size() - 1;
    }
    template <typename T>
    void shuffle(std::vector<T>& v) {
        for (std::size_t i = v.size(); i > 1; --i)
            std::swap(v[i - 1], v[static_cast<std::size_t>(range(0, static_cast<int>(i) - 1))]);
    }
    // The same permutation applied to two vectors of equal length.
    template <typename T, typename U>
    void shuffle_together(std::vector<T>& a, std::vector<U>& b) {
        for (std::size_t i = a.size(); i > 1; --i) {
            auto j = static_cast<std::size_t>(range(0, static_cast<int>(i) - 1));
            std::swap(a[i - 1], a[j]);
            std::swap(b[i - 1], b[j]);
        }
    }
    std::uint64_t next() { return gen_(); }

  private:
    std::mt19937_64 gen_;
};

enum class Type { Int, Num, Text, Bool, Date };

inline const char* sql_type(Type t) {
    switch (t) {
        case Type::Int:
            return "integer";
        case Type::Num:
            return "numeric(6,2)";
        case Type::Text:
            return "text";
        case Type::Bool:
            return "boolean";
        case Type::Date:
            return "date";
    }
    return "?";
}

// Literals from small domains, so that joins and groups collide a lot.
inline std::string literal(Rng& rng, Type t) {
    switch (t) {
        case Type::Int:
            return std::to_string(rng.chance(0.9) ? rng.range(0, 4) : rng.range(-2, 9));
        case Type::Num:
            // Now and then a NaN, which numeric(p,s) columns accept too.
            if (rng.chance(0.03))
                return "'NaN'::numeric";
            return rng.pick(std::vector<std::string>{"0.00", "1.50", "2.25", "(-1.00)", "3.00",
                                                     "1.50", "10.75"});
        case Type::Text:
            return rng.pick(std::vector<std::string>{"'a'", "'b'", "'c'", "'ab'", "''", "'B'",
                                                     "'a b'", "'x,y'", "'q''t'", "'a'", "'b'"});
        case Type::Bool:
            return rng.chance(0.5) ? "true" : "false";
        case Type::Date:
            return fmt::format("DATE '2024-01-0{}'", rng.range(1, 5));
    }
    return "NULL";
}

struct ColumnDef {
    std::string name;
    Type type;
    bool not_null = false;
};

struct TableDef {
    std::string name;
    std::vector<ColumnDef> columns;
    std::vector<std::string> key;  // primary key columns; empty = keyless (duplicates allowed)
    // A partitioned table: by hash of its key (or of k when keyless) into two partitions, the
    // second of them partitioned again by range, with a default partition.
    bool partitioned = false;

    bool is_key(const std::string& c) const {
        return std::find(key.begin(), key.end(), c) != key.end();
    }
    std::size_t index_of(const std::string& c) const {
        for (std::size_t i = 0; i < columns.size(); ++i)
            if (columns[i].name == c)
                return i;
        return 0;
    }
    std::string column_list(const std::string& prefix = "") const {
        std::string out;
        for (const auto& c : columns)
            out += (out.empty() ? "" : ", ") + prefix + c.name;
        return out;
    }
    std::string create_sql() const {
        std::string cols;
        for (const auto& c : columns)
            cols += fmt::format("{}{} {}{}", cols.empty() ? "" : ", ", c.name, sql_type(c.type),
                                c.not_null ? " NOT NULL" : "");
        if (!key.empty()) {
            std::string k;
            for (const auto& c : key)
                k += (k.empty() ? "" : ", ") + c;
            cols += fmt::format(", PRIMARY KEY ({})", k);
        }
        if (!partitioned)
            return fmt::format("CREATE TABLE {} ({})", name, cols);
        return fmt::format("CREATE TABLE {} ({}) PARTITION BY HASH ({})", name, cols,
                           partition_column());
    }

    std::string partition_column() const { return key.empty() ? "k" : "id"; }
    // The name of a member of the partition tree: name_<suffix>, in the table's schema.
    std::string member(std::string_view suffix) const {
        if (!name.empty() && name.back() == '"')
            return fmt::format("{}_{}\"", name.substr(0, name.size() - 1), suffix);
        return fmt::format("{}_{}", name, suffix);
    }
    // The partitions, after create_sql(); empty for a plain table.
    std::vector<std::string> partitions_sql() const {
        if (!partitioned)
            return {};
        const std::string c = partition_column();
        return {
            fmt::format("CREATE TABLE {} PARTITION OF {} FOR VALUES WITH (MODULUS 2, REMAINDER 0)",
                        member("p0"), name),
            fmt::format("CREATE TABLE {} PARTITION OF {} FOR VALUES WITH (MODULUS 2, REMAINDER 1)"
                        " PARTITION BY RANGE ({})",
                        member("p1"), name, c),
            fmt::format("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM (MINVALUE) TO (20)",
                        member("p1_low"), member("p1")),
            fmt::format("CREATE TABLE {} PARTITION OF {} DEFAULT", member("p1_rest"), member("p1")),
        };
    }
    // Members a statement may name instead of the partitioned table.
    std::vector<std::string> members() const {
        if (!partitioned)
            return {};
        return {member("p0"), member("p1"), member("p1_low"), member("p1_rest")};
    }
};

inline std::size_t rng_weighted_name(Rng& rng) {
    return rng.weighted({85, 8, 7});
}

// A random schema: 2-4 tables t1..tn, each with a join column k, some other typed columns and
// either no key, a single-column key (id) or a composite key (id, tag); with `partitioned`,
// some of them partitioned tables.
inline std::vector<TableDef> random_schema(Rng& rng, bool partitioned = false) {
    std::vector<TableDef> tables;
    const int n = rng.range(2, 4);
    for (int i = 1; i <= n; ++i) {
        TableDef t;
        // Now and then a name that needs quoting or a schema (relation references in the
        // deparsed query are found by their printed text).
        switch (rng_weighted_name(rng)) {
            case 1:
                t.name = fmt::format("\"T{}\"", i);
                break;
            case 2:
                t.name = fmt::format("ps.t{}", i);
                break;
            default:
                t.name = fmt::format("t{}", i);
                break;
        }
        switch (rng.weighted({4, 4, 2})) {
            case 0:
                break;  // keyless
            case 1:
                t.columns.push_back({"id", Type::Int, true});
                t.key = {"id"};
                break;
            default:
                t.columns.push_back({"id", Type::Int, true});
                t.columns.push_back({"tag", Type::Text, true});
                t.key = {"id", "tag"};
                break;
        }
        t.columns.push_back({"k", Type::Int});
        std::vector<ColumnDef> extra = {{"j", Type::Int},  {"n", Type::Num},  {"s", Type::Text},
                                        {"b", Type::Bool}, {"d", Type::Date}, {"s2", Type::Text}};
        if (rng.chance(0.3)) {
            // Column names the change buffer uses itself, or that need quoting.
            for (auto& c : extra) {
                if (c.name == "s2")
                    c.name = "action";
                else if (c.name == "j")
                    c.name = "xid";
                else if (c.name == "s" && rng.chance(0.5))
                    c.name = "\"Mixed Case\"";
                else if (c.name == "d" && rng.chance(0.5))
                    c.name = "\"select\"";
            }
        }
        rng.shuffle(extra);
        const int m = rng.range(2, 4);
        for (int c = 0; c < m; ++c)
            t.columns.push_back(extra[static_cast<std::size_t>(c)]);
        t.partitioned = partitioned && rng.chance(0.5);
        tables.push_back(t);
    }
    return tables;
}

// Columns visible to an expression: SQL reference and type.
struct Scope {
    std::vector<std::pair<std::string, Type>> columns;

    std::vector<std::string> of(Type t) const {
        std::vector<std::string> out;
        for (const auto& [ref, type] : columns)
            if (type == t)
                out.push_back(ref);
        return out;
    }
    static Scope of_table(const TableDef& t, const std::string& qualifier) {
        Scope s;
        for (const auto& c : t.columns)
            s.columns.emplace_back(qualifier.empty() ? c.name : qualifier + "." + c.name, c.type);
        return s;
    }
};

// Random immutable expressions of a given type over a scope.
class ExprGen {
  public:
    ExprGen(Rng& rng, const Scope& scope) : rng_(rng), scope_(scope) {}

    std::string column_or_literal(Type t) {
        auto cols = scope_.of(t);
        if (!cols.empty() && rng_.chance(0.8))
            return rng_.pick(cols);
        if (rng_.chance(0.85))
            return typed_literal(t);
        // A column of another type, converted.
        switch (t) {
            case Type::Int:
                if (auto s = scope_.of(Type::Text); !s.empty())
                    return fmt::format("length({})", rng_.pick(s));
                break;
            case Type::Num:
                if (auto s = scope_.of(Type::Int); !s.empty())
                    return fmt::format("({} * 1.00)", rng_.pick(s));
                break;
            case Type::Text:
                if (auto s = scope_.of(Type::Int); !s.empty())
                    return fmt::format("({})::text", rng_.pick(s));
                break;
            case Type::Bool:
                if (auto s = scope_.of(Type::Int); !s.empty())
                    return fmt::format("({} > 1)", rng_.pick(s));
                break;
            case Type::Date:
                if (auto s = scope_.of(Type::Int); !s.empty())
                    return fmt::format("(DATE '2024-01-01' + {})", rng_.pick(s));
                break;
        }
        return typed_literal(t);
    }

    // A literal whose type does not depend on its context ('a' || 'b' is ambiguous).
    std::string typed_literal(Type t) {
        std::string l = literal(rng_, t);
        return t == Type::Text ? l + "::text" : l;
    }

    // Whether e mentions a column of the scope (a GROUP BY key must not be a constant).
    bool references_column(const std::string& e) const {
        for (const auto& [ref, type] : scope_.columns)
            if (e.find(ref) != std::string::npos)
                return true;
        return false;
    }

    std::string expr(Type t, int depth) {
        if (depth <= 0 || rng_.chance(0.45))
            return column_or_literal(t);
        const int d = depth - 1;
        switch (t) {
            case Type::Int:
                switch (rng_.range(0, 11)) {
                    case 0:
                        return fmt::format("({} + {})", expr(t, d), expr(t, d));
                    case 1:
                        return fmt::format("({} - {})", expr(t, d), expr(t, d));
                    case 2:
                        return fmt::format("({} * {})", expr(t, d), rng_.range(-2, 3));
                    case 3:
                        return fmt::format("abs({})", expr(t, d));
                    case 4:
                        return case_expr(t, d);
                    case 5:
                        return fmt::format("COALESCE({}, {})", expr(t, d), literal(rng_, t));
                    case 6:
                        return fmt::format("NULLIF({}, {})", expr(t, d), literal(rng_, t));
                    case 7:
                        return fmt::format("length({})", expr(Type::Text, d));
                    case 8:
                        return fmt::format("({} - {})", expr(Type::Date, d), expr(Type::Date, d));
                    case 9:
                        return fmt::format("({} % 3)", expr(t, d));
                    case 10:
                        return fmt::format("greatest({}, {})", expr(t, d), expr(t, d));
                    default:
                        return fmt::format("least({}, {})", expr(t, d), expr(t, d));
                }
            case Type::Num:
                switch (rng_.range(0, 9)) {
                    case 0:
                        return fmt::format("({} + {})", expr(t, d), expr(t, d));
                    case 1:
                        return fmt::format("({} - {})", expr(t, d), expr(t, d));
                    case 2:
                        return fmt::format("({} * {})", expr(t, d), expr(Type::Int, d));
                    case 3:
                        return fmt::format("abs({})", expr(t, d));
                    case 4:
                        return case_expr(t, d);
                    case 5:
                        return fmt::format("COALESCE({}, {})", expr(t, d), literal(rng_, t));
                    case 6:
                        return fmt::format("round({} * {}, 2)", expr(t, d), expr(t, d));
                    case 7:
                        return fmt::format("(({}) % 1000000)::numeric(10,2)", expr(Type::Int, d));
                    case 8:
                        return fmt::format("(- {})", expr(t, d));
                    default:
                        return fmt::format("greatest({}, {})", expr(t, d), expr(t, d));
                }
            case Type::Text:
                switch (rng_.range(0, 10)) {
                    case 0:
                        return fmt::format("({} || {})", expr(t, d), expr(t, d));
                    case 1:
                        return fmt::format("upper({})", expr(t, d));
                    case 2:
                        return fmt::format("lower({})", expr(t, d));
                    case 3:
                        return fmt::format("substr({}, 1, 2)", expr(t, d));
                    case 4:
                        return fmt::format("COALESCE({}, {})", expr(t, d), literal(rng_, t));
                    case 5:
                        return case_expr(t, d);
                    case 6:
                        return fmt::format("({})::text", expr(Type::Int, d));
                    case 7:
                        return fmt::format("({})::text", expr(Type::Num, d));
                    case 8:
                        return fmt::format("replace({}, 'a', 'z')", expr(t, d));
                    case 9:
                        return fmt::format("({})::text", expr(Type::Bool, d));
                    default:
                        return fmt::format("NULLIF({}, {})", expr(t, d), literal(rng_, t));
                }
            case Type::Date:
                switch (rng_.range(0, 3)) {
                    case 0:
                        return fmt::format("({} + {})", expr(t, d), expr(Type::Int, d));
                    case 1:
                        return fmt::format("COALESCE({}, {})", expr(t, d), literal(rng_, t));
                    case 2:
                        return case_expr(t, d);
                    default:
                        return fmt::format("greatest({}, {})", expr(t, d), expr(t, d));
                }
            case Type::Bool:
                return predicate(d);
        }
        return column_or_literal(t);
    }

    std::string predicate(int depth) {
        if (depth <= 0)
            return comparison(0);
        const int d = depth - 1;
        switch (rng_.range(0, 13)) {
            case 0:
            case 1:
                return fmt::format("({} AND {})", predicate(d), predicate(d));
            case 2:
            case 3:
                return fmt::format("({} OR {})", predicate(d), predicate(d));
            case 4:
                return fmt::format("(NOT {})", predicate(d));
            case 5:
                return fmt::format("({} IS {}NULL)", expr(random_type(), d),
                                   rng_.chance(0.5) ? "NOT " : "");
            case 6: {
                Type t = rng_.pick(std::vector<Type>{Type::Int, Type::Num, Type::Date});
                std::string lo = literal(rng_, t), hi = literal(rng_, t);
                return fmt::format("({} {}BETWEEN {} AND {})", expr(t, d),
                                   rng_.chance(0.2) ? "NOT " : "", lo, hi);
            }
            case 7: {
                Type t = rng_.pick(std::vector<Type>{Type::Int, Type::Text, Type::Num, Type::Date});
                std::string list;
                for (int i = rng_.range(1, 4); i > 0; --i)
                    list += (list.empty() ? "" : ", ") +
                            (rng_.chance(0.1) ? std::string("NULL") : literal(rng_, t));
                return fmt::format("({} {}IN ({}))", expr(t, d), rng_.chance(0.25) ? "NOT " : "",
                                   list);
            }
            case 8: {
                Type t = random_type();
                return fmt::format("({} IS {}DISTINCT FROM {})", expr(t, d),
                                   rng_.chance(0.5) ? "NOT " : "", expr(t, d));
            }
            case 9:
                return fmt::format("({} LIKE {})", expr(Type::Text, d),
                                   rng_.pick(std::vector<std::string>{"'a%'", "'%b'", "'_'"}));
            case 10: {
                auto bools = scope_.of(Type::Bool);
                if (!bools.empty())
                    return rng_.chance(0.5)
                               ? rng_.pick(bools)
                               : fmt::format("({} IS {})", rng_.pick(bools),
                                             rng_.pick(std::vector<std::string>{
                                                 "TRUE", "NOT TRUE", "FALSE", "NOT FALSE"}));
                return comparison(d);
            }
            default:
                return comparison(d);
        }
    }

    std::string comparison(int depth) {
        Type t = rng_.pick(
            std::vector<Type>{Type::Int, Type::Int, Type::Num, Type::Text, Type::Date, Type::Bool});
        std::string op = rng_.pick(std::vector<std::string>{"=", "=", "<>", "<", "<=", ">", ">="});
        if (t == Type::Bool)
            op = rng_.chance(0.5) ? "=" : "<>";
        std::string rhs = rng_.chance(0.6) ? literal(rng_, t) : expr(t, depth);
        return fmt::format("({} {} {})", expr(t, depth), op, rhs);
    }

    Type random_type() {
        return rng_.pick(
            std::vector<Type>{Type::Int, Type::Int, Type::Num, Type::Text, Type::Bool, Type::Date});
    }

  private:
    std::string case_expr(Type t, int d) {
        if (rng_.chance(0.3))
            return fmt::format("CASE {} WHEN {} THEN {} ELSE {} END", expr(Type::Int, d),
                               literal(rng_, Type::Int), expr(t, d), expr(t, d));
        if (rng_.chance(0.3))
            return fmt::format("CASE WHEN {} THEN {} END", predicate(d), expr(t, d));
        return fmt::format("CASE WHEN {} THEN {} WHEN {} THEN {} ELSE {} END", predicate(d),
                           expr(t, d), predicate(d), expr(t, d), expr(t, d));
    }

    Rng& rng_;
    const Scope& scope_;
};

// A generated defining query and what it reads.
struct QuerySpec {
    std::string sql;
    std::set<std::string> tables;  // source tables it reads
    std::vector<std::string> output_columns;
    std::string shape;  // "linear", "grouped", "scalar" or "distinct" (for statistics)
};

class QueryGen {
  public:
    QueryGen(Rng& rng, const std::vector<TableDef>& tables, bool nested = false)
        : rng_(rng), tables_(tables), nested_(nested) {}

    // Makes the first relation of the top-level FROM clause this one (a stream table as a
    // source).
    void first_relation(const TableDef* t) { first_ = t; }

    QuerySpec generate() {
        QuerySpec q;
        if (!nested_ && first_ == nullptr && rng_.chance(recursive_share()))
            return recursive_query();
        from_clause(q);
        if (!nested_ && rng_.chance(0.12))
            lateral_item();
        ExprGen eg(rng_, scope_);
        std::string where;
        if (!where_parts_.empty() || rng_.chance(0.6)) {
            std::vector<std::string> parts = where_parts_;
            if (rng_.chance(0.6))
                parts.push_back(eg.predicate(rng_.range(0, 2)));
            if (rng_.chance(0.3)) {
                std::string sub = sublink_predicate(eg, 1);
                if (rng_.chance(0.2))
                    sub = fmt::format("({} {} {})", sub, rng_.chance(0.6) ? "OR" : "AND",
                                      eg.predicate(1));
                parts.push_back(sub);
            }
            rng_.shuffle(parts);
            for (const auto& p : parts)
                where += (where.empty() ? "" : " AND ") + p;
        }
        // Only COUNT / SUM / AVG without FILTER, DISTINCT or HAVING: the shape the engine keeps
        // as running state instead of rescanning groups.
        const bool algebraic = rng_.chance(0.35);
        const bool quoted_names = rng_.chance(0.1);
        // (Output names must differ from input column names, which for a stream table as a
        // source are the names used here.)
        auto out_name = [&](std::size_t i) {
            if (first_ != nullptr)
                return quoted_names ? fmt::format("\"Res {}\"", i + 1) : fmt::format("o{}", i + 1);
            return quoted_names ? fmt::format("\"Out {}\"", i + 1) : fmt::format("c{}", i + 1);
        };
        std::vector<std::string> items;  // select list without aliases
        std::vector<Type> item_types;    // (projections only)
        std::string tail;
        std::string distinct;
        switch (rng_.weighted({35, 40, 12, 13, 12, 8, 5})) {
            case 0:  // projection
                q.shape = "linear";
                if (rng_.chance(0.35)) {
                    // The primary key of every relation read: rows are then identified by
                    // those keys and updated in place. Or of the first and some others: a
                    // relation whose key an equality ties to the others' columns is identified
                    // through them (pg/analysis/output_key.cpp), and otherwise rows are
                    // identified by content.
                    const bool all = rng_.chance(0.5);
                    for (std::size_t i = 0; i < rels_.size(); ++i) {
                        if (!all && i > 0 && rng_.chance(0.6))
                            continue;
                        const auto& r = rels_[i];
                        for (const auto& k : r.table->key) {
                            item_types.push_back(r.table->columns[r.table->index_of(k)].type);
                            items.push_back(r.name + "." + k);
                        }
                    }
                }
                for (int i = rng_.range(items.empty() ? 1 : 0, 4); i > 0; --i) {
                    Type t = eg.random_type();
                    item_types.push_back(t);
                    items.push_back(eg.expr(t, rng_.range(0, 2)));
                }
                if (rng_.chance(0.12)) {
                    item_types.push_back(Type::Int);
                    items.push_back(scalar_subquery(eg));
                }
                rng_.shuffle_together(items, item_types);
                break;
            case 1: {  // GROUP BY
                q.shape = "grouped";
                std::vector<std::string> keys;
                for (int i = rng_.range(1, 3); i > 0; --i) {
                    // Mostly plain columns: low cardinality, many collisions.
                    std::string k = rng_.chance(0.65) ? eg.column_or_literal(eg.random_type())
                                                      : eg.expr(eg.random_type(), rng_.range(1, 2));
                    if (!eg.references_column(k) ||
                        std::find(keys.begin(), keys.end(), k) != keys.end())
                        continue;
                    keys.push_back(k);
                }
                if (keys.empty())
                    keys.push_back(scope_.columns.front().first);
                std::vector<std::pair<std::string, int>> list;  // item, key index or -1
                for (std::size_t i = 0; i < keys.size(); ++i)
                    list.emplace_back(keys[i], static_cast<int>(i) + 1);
                for (int i = rng_.range(1, 4); i > 0; --i)
                    list.emplace_back(algebraic ? algebraic_aggregate(eg) : aggregate_item(eg), -1);
                rng_.shuffle(list);
                std::vector<std::string> group_refs;
                for (std::size_t i = 0; i < list.size(); ++i) {
                    items.push_back(list[i].first);
                    if (list[i].second < 0)
                        continue;
                    switch (rng_.range(0, 3)) {
                        case 0:  // ordinal
                            group_refs.push_back(std::to_string(i + 1));
                            break;
                        case 1:  // output name
                            group_refs.push_back(out_name(i));
                            break;
                        default:  // the expression
                            group_refs.push_back(list[i].first);
                            break;
                    }
                }
                rng_.shuffle(group_refs);
                tail = " GROUP BY ";
                for (std::size_t i = 0; i < group_refs.size(); ++i)
                    tail += (i ? ", " : "") + group_refs[i];
                if (!algebraic && rng_.chance(0.35))
                    tail += " HAVING " + having(eg, keys);
                break;
            }
            case 2:  // scalar aggregates
                q.shape = "scalar";
                for (int i = rng_.range(1, 4); i > 0; --i)
                    items.push_back(algebraic ? algebraic_aggregate(eg) : aggregate_item(eg));
                if (!algebraic && rng_.chance(0.2))
                    tail = " HAVING " + having(eg, {});
                break;
            case 4:  // window functions
                q.shape = "window";
                for (int i = rng_.range(0, 2); i > 0; --i)
                    items.push_back(eg.expr(eg.random_type(), rng_.range(0, 1)));
                for (int i = rng_.range(1, 3); i > 0; --i)
                    items.push_back(window_item(eg));
                rng_.shuffle(items);
                break;
            case 5: {  // GROUPING SETS / ROLLUP / CUBE
                q.shape = "grouping sets";
                std::vector<std::string> keys;
                for (int i = rng_.range(1, 3); i > 0; --i) {
                    std::string k = eg.column_or_literal(eg.random_type());
                    if (eg.references_column(k) &&
                        std::find(keys.begin(), keys.end(), k) == keys.end())
                        keys.push_back(k);
                }
                if (keys.empty())
                    keys.push_back(scope_.columns.front().first);
                items = keys;
                for (int i = rng_.range(1, 3); i > 0; --i)
                    items.push_back(rng_.chance(0.5) ? algebraic_aggregate(eg)
                                                     : aggregate_item(eg));
                if (rng_.chance(0.4)) {
                    std::string g;
                    for (const auto& k : keys)
                        g += (g.empty() ? "" : ", ") + k;
                    items.push_back("GROUPING(" + g + ")");
                }
                tail = " GROUP BY " + grouping_sets(keys);
                if (rng_.chance(0.2))
                    tail += " HAVING " + having(eg, {});
                break;
            }
            case 6: {  // DISTINCT ON, made deterministic by the keys of every relation
                const std::string keys = all_keys();
                if (keys.empty()) {
                    q.shape = "distinct";
                    distinct = "DISTINCT ";
                    items.push_back(eg.column_or_literal(eg.random_type()));
                    break;
                }
                q.shape = "distinct on";
                std::vector<std::string> on;
                for (int i = rng_.range(1, 2); i > 0; --i) {
                    std::string k = eg.column_or_literal(eg.random_type());
                    if (eg.references_column(k) && std::find(on.begin(), on.end(), k) == on.end())
                        on.push_back(k);
                }
                if (on.empty())
                    on.push_back(scope_.columns.front().first);
                std::string on_list;
                for (const auto& k : on)
                    on_list += (on_list.empty() ? "" : ", ") + k;
                distinct = "DISTINCT ON (" + on_list + ") ";
                items = on;
                for (int i = rng_.range(1, 2); i > 0; --i)
                    items.push_back(eg.expr(eg.random_type(), rng_.range(0, 1)));
                tail = fmt::format(" ORDER BY {}, {} {}, {}", on_list, order_column(),
                                   rng_.chance(0.5) ? "DESC" : "ASC", keys);
                break;
            }
            default:  // DISTINCT
                q.shape = "distinct";
                distinct = "DISTINCT ";
                for (int i = rng_.range(1, 3); i > 0; --i)
                    items.push_back(rng_.chance(0.6) ? eg.column_or_literal(eg.random_type())
                                                     : eg.expr(eg.random_type(), 1));
                if (rng_.chance(0.1))
                    items.push_back(scalar_subquery(eg));
                break;
        }
        std::string select;
        for (std::size_t i = 0; i < items.size(); ++i) {
            select += fmt::format("{}{} AS {}", i ? ", " : "", items[i], out_name(i));
            q.output_columns.push_back(out_name(i));
        }
        q.sql = fmt::format("SELECT {}{} FROM {}{}{}", distinct, select, from_,
                            where.empty() ? "" : " WHERE " + where, tail);
        if (!item_types.empty() && !nested_ && rng_.chance(0.2)) {
            // UNION ALL of a second select-project-join with the same column types.
            QueryGen other(rng_, tables_, true);
            const std::string op = rng_.pick(
                std::vector<std::string>{"UNION ALL", "UNION ALL", "UNION ALL", "UNION",
                                         "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"});
            q.sql += " " + op + " " + other.branch(item_types, q.tables);
            q.shape = op == "UNION ALL" ? "union" : "setop";
        }
        if (!nested_ && q.shape != "distinct on" && rng_.chance(0.15)) {
            // Top-K ordered by every output column (rows that tie are then equal, so the rows
            // kept are one multiset whatever the plan), in a random order and directions:
            // maintained from the change of the query without it (core::TopK).
            std::vector<std::size_t> positions(q.output_columns.size());
            std::iota(positions.begin(), positions.end(), std::size_t{1});
            rng_.shuffle(positions);
            std::string order;
            for (std::size_t p : positions)
                order += fmt::format(
                    "{}{} {}{}", order.empty() ? "" : ", ", p, rng_.chance(0.5) ? "DESC" : "ASC",
                    rng_.chance(0.3) ? (rng_.chance(0.5) ? " NULLS FIRST" : " NULLS LAST") : "");
            q.sql += fmt::format(" ORDER BY {} LIMIT {}", order, rng_.range(1, 6));
            q.shape = "top-k " + q.shape;
        }
        if (!with_.empty())
            q.sql = "WITH " + with_ + " " + q.sql;
        q.tables.insert(read_.begin(), read_.end());
        return q;
    }

    // The primary key columns of every relation of the FROM clause, comma-separated (an order
    // over them is total); "" when a relation has none.
    std::string all_keys() const {
        std::string out;
        for (const auto& r : rels_) {
            if (!r.source.empty() || r.table->key.empty())
                return "";
            for (const auto& k : r.table->key)
                out += (out.empty() ? "" : ", ") + r.name + "." + k;
        }
        // A set-returning LATERAL item makes several rows of one row of the relations: its
        // value tells them apart (rows equal in it are equal in every column).
        for (const auto& k : lateral_keys_)
            out += ", " + k;
        return out;
    }

    // A column of the scope to order by (ORDER BY rejects a non-integer constant).
    std::string order_column() {
        std::vector<std::string> cols;
        for (const auto& [ref, type] : scope_.columns)
            if (type != Type::Bool)
                cols.push_back(ref);
        return cols.empty() ? scope_.columns.front().first : rng_.pick(cols);
    }

    // A window function call whose value is a function of the data: over an order that can tie
    // only functions that give tied rows the same value; the others ordered by the keys too.
    std::string window_item(ExprGen& eg) {
        std::string partition;
        for (int i = rng_.weighted({25, 55, 20}); i > 0; --i) {
            std::string p = eg.column_or_literal(eg.random_type());
            if (eg.references_column(p))
                partition += (partition.empty() ? "PARTITION BY " : ", ") + p;
        }
        const std::string order = order_column() + (rng_.chance(0.3) ? " DESC" : "");
        auto over = [&](const std::string& order_by, const std::string& frame = "") {
            std::string w = partition;
            if (!order_by.empty())
                w += (w.empty() ? "" : " ") + std::string("ORDER BY ") + order_by;
            if (!frame.empty())
                w += " " + frame;
            return "(" + w + ")";
        };
        const std::string keys = all_keys();
        if (!keys.empty() && rng_.chance(0.5)) {
            const std::string total = order + ", " + keys;
            switch (rng_.range(0, 4)) {
                case 0:
                    return "row_number() OVER " + over(total);
                case 1:
                    return fmt::format("lag({}) OVER {}", eg.column_or_literal(eg.random_type()),
                                       over(total));
                case 2:
                    return fmt::format("lead({}, 2) OVER {}", eg.column_or_literal(Type::Int),
                                       over(total));
                case 3:
                    return fmt::format("first_value({}) OVER {}",
                                       eg.column_or_literal(eg.random_type()), over(total));
                default:
                    return fmt::format("sum({}) OVER {}", eg.column_or_literal(Type::Int),
                                       over(total, "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW"));
            }
        }
        const bool ordered = rng_.chance(0.7);
        switch (rng_.range(0, 5)) {
            case 0:
                return "rank() OVER " + over(order);
            case 1:
                return "dense_rank() OVER " + over(order);
            case 2:
                return "count(*) OVER " + over(ordered ? order : "");
            case 3:
                return fmt::format("sum({}) OVER {}", eg.column_or_literal(Type::Num),
                                   over(ordered ? order : ""));
            case 4:
                return fmt::format(
                    "max({}) OVER {}",
                    eg.column_or_literal(rng_.pick(std::vector<Type>{Type::Int, Type::Date})),
                    over(ordered ? order : ""));
            default:
                // (A frame with EXCLUDE is aggregated again for every row: quadratic in a
                // large partition, too slow for the test's budget.)
                return fmt::format("count({}) OVER {}", eg.column_or_literal(Type::Text),
                                   over(order, "GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW"));
        }
    }

    // ROLLUP, CUBE or explicit GROUPING SETS over the keys.
    std::string grouping_sets(const std::vector<std::string>& keys) {
        std::string list;
        for (const auto& k : keys)
            list += (list.empty() ? "" : ", ") + k;
        switch (rng_.range(0, 3)) {
            case 0:
                return "ROLLUP (" + list + ")";
            case 1:
                return "CUBE (" + list + ")";
            case 2: {
                // (Every key must be grouped in some set: the select list reads it.)
                std::string sets = "(" + list + ")";
                for (const auto& k : keys)
                    if (rng_.chance(0.6))
                        sets += ", (" + k + ")";
                if (rng_.chance(0.5))
                    sets += ", ()";
                return "GROUPING SETS (" + sets + ")";
            }
            default:
                // A plain key before a ROLLUP of the others.
                if (keys.size() == 1)
                    return "ROLLUP (" + list + ")";
                std::string rest;
                for (std::size_t i = 1; i < keys.size(); ++i)
                    rest += (rest.empty() ? "" : ", ") + keys[i];
                return keys[0] + ", ROLLUP (" + rest + ")";
        }
    }

    // A LATERAL item after the FROM clause: a set-returning function of the row, or a
    // subquery correlated to it (an aggregate, or the first row by a total order).
    void lateral_item() {
        const int n = ++sub_counter_;
        switch (rng_.range(0, 3)) {
            case 0: {
                ExprGen eg(rng_, scope_);
                const bool ordinality = rng_.chance(0.3);
                from_ +=
                    fmt::format(", LATERAL unnest(ARRAY[{}, {}]) {}AS un{}({})",
                                eg.expr(Type::Int, 1), eg.column_or_literal(Type::Int),
                                ordinality ? "WITH ORDINALITY " : "", n, ordinality ? "v, o" : "v");
                scope_.columns.push_back({fmt::format("un{}.v", n), Type::Int});
                lateral_keys_.push_back(fmt::format("un{}.v", n));
                return;
            }
            case 1: {
                ExprGen eg(rng_, scope_);
                from_ += fmt::format(" CROSS JOIN LATERAL generate_series(0, ({}) % 3) AS gs{}(v)",
                                     eg.column_or_literal(Type::Int), n);
                scope_.columns.push_back({fmt::format("gs{}.v", n), Type::Int});
                lateral_keys_.push_back(fmt::format("gs{}.v", n));
                return;
            }
            case 2: {
                Sub sub = sub_from(scope_);
                std::string corr = correlation(sub, scope_);
                ExprGen ig(rng_, sub.inner);
                from_ += fmt::format(
                    ", LATERAL (SELECT count(*)::integer AS v, max({}) AS w FROM {} WHERE {}) lt{}",
                    ig.column_or_literal(Type::Int), sub.from, corr, n);
                scope_.columns.push_back({fmt::format("lt{}.v", n), Type::Int});
                scope_.columns.push_back({fmt::format("lt{}.w", n), Type::Int});
                return;
            }
            default: {
                // LEFT JOIN LATERAL sees only the left side of its join: correlated to the last
                // relation, which always is on it.
                const Rel& last = rels_.back();
                Scope outer = Scope::of_table(*last.table, last.name);
                const TableDef& t = rng_.pick(tables_);
                if (t.key.empty())
                    return;
                read_.insert(t.name);
                const std::string alias = fmt::format("lq{}", n);
                Sub sub;
                sub.from = t.name + " " + alias;
                sub.inner = Scope::of_table(t, alias);
                sub.both = sub.inner;
                for (const auto& c : outer.columns)
                    sub.both.columns.push_back(c);
                std::string corr = correlation(sub, outer);
                ExprGen ig(rng_, sub.inner);
                std::string keys;
                for (const auto& k : t.key)
                    keys += ", " + alias + "." + k;
                from_ += fmt::format(
                    " LEFT JOIN LATERAL (SELECT {} AS v FROM {} WHERE {} ORDER BY {}{} LIMIT {}) "
                    "lj{} ON true",
                    ig.column_or_literal(Type::Int), sub.from, corr,
                    ig.column_or_literal(Type::Text), keys, rng_.range(1, 2), n);
                scope_.columns.push_back({fmt::format("lj{}.v", n), Type::Int});
                return;
            }
        }
    }

    // The share of top-level queries that are recursive: 4%, or PGTRICKLE_PROPERTY_RECURSIVE
    // percent (to test recursion on its own).
    static double recursive_share() {
        const char* v = std::getenv("PGTRICKLE_PROPERTY_RECURSIVE");
        return v == nullptr || *v == '\0' ? 0.04 : std::strtod(v, nullptr) / 100.0;
    }

    // WITH RECURSIVE: the k values reachable from one table's rows through another's, each
    // with its depth and a value carried along or taken from the last row (NULLs included).
    // UNION is finite whatever the data; so is UNION ALL, as the depth is bounded.
    QuerySpec recursive_query() {
        QuerySpec q;
        q.shape = "recursive";
        const TableDef& a = rng_.pick(tables_);
        const TableDef& b = rng_.pick(tables_);
        q.tables = {a.name, b.name};
        auto ints_of = [](const TableDef& t) {
            std::vector<std::string> out;
            for (const auto& c : t.columns)
                if (c.type == Type::Int)
                    out.push_back(c.name);
            return out;
        };
        const std::vector<std::string> ints = ints_of(b);
        const std::string step =
            rng_.chance(0.5) ? "y.k = rr.k + 1" : fmt::format("y.{} = rr.k", rng_.pick(ints));
        const std::string carried =
            rng_.chance(0.5) ? "rr.v" : fmt::format("y.{}", rng_.pick(ints));
        // Mostly r as it is (maintained incrementally); now and then r aggregated or joined
        // again at the top (recomputed).
        const int top = rng_.range(0, 5);
        const std::string top_sql =
            top == 0   ? "SELECT k AS c1, count(*) AS c2, max(v) AS c3 FROM rr GROUP BY k"
            : top == 1 ? fmt::format(
                             "SELECT rr.k AS c1, rr.d AS c2, z.k AS c3 FROM rr JOIN {} z "
                             "ON z.k = rr.v",
                             a.name)
                       : "SELECT k AS c1, d AS c2, v AS c3 FROM rr";
        q.sql = fmt::format(
            "WITH RECURSIVE rr(k, d, v) AS (SELECT x.k, 0, x.{} FROM {} x{} UNION{} "
            "SELECT y.k, rr.d + 1, {} FROM rr JOIN {} y ON {} WHERE rr.d < {}) {}",
            rng_.pick(ints_of(a)), a.name, rng_.chance(0.5) ? " WHERE x.k IS NOT NULL" : "",
            rng_.chance(0.5) ? " ALL" : "", carried, b.name, step, rng_.range(1, 3), top_sql);
        q.output_columns = {"c1", "c2", "c3"};
        return q;
    }

    // SELECT of expressions of the given types over a fresh FROM clause (names c1..cn).
    std::string branch(const std::vector<Type>& types, std::set<std::string>& tables) {
        QuerySpec q;
        from_clause(q);
        tables.insert(q.tables.begin(), q.tables.end());
        ExprGen eg(rng_, scope_);
        std::string select;
        for (std::size_t i = 0; i < types.size(); ++i) {
            std::string e;
            // A plain k column now and then keeps the branch joinable.
            if (types[i] == Type::Int && rng_.chance(0.5)) {
                std::vector<std::string> ks;
                for (const auto& c : scope_.of(Type::Int))
                    if (c.ends_with(".k"))
                        ks.push_back(c);
                if (!ks.empty())
                    e = rng_.pick(ks);
            }
            if (e.empty())
                e = eg.expr(types[i], 1);
            select += fmt::format("{}{} AS {}", i ? ", " : "", e,
                                  names_.empty() ? fmt::format("c{}", i + 1) : names_[i]);
        }
        std::vector<std::string> parts = where_parts_;
        if (rng_.chance(0.5))
            parts.push_back(eg.predicate(1));
        if (rng_.chance(0.1))
            parts.push_back(sublink_predicate(eg, 0));
        std::string where;
        for (const auto& p : parts)
            where += (where.empty() ? " WHERE " : " AND ") + p;
        tables.insert(read_.begin(), read_.end());
        return fmt::format("SELECT {} FROM {}{}", select, from_, where);
    }

  private:
    struct Rel {
        const TableDef* table;
        std::string name;    // alias, or the table name when it has none
        std::string source;  // a derived relation: its FROM item without the alias
    };

    // A subquery in FROM (or a WITH query): a select-project-join, or a UNION ALL of two,
    // with columns k (integer) and x1..xn of random types.
    Rel derived(const std::string& alias, std::set<std::string>& tables) {
        auto def = std::make_unique<TableDef>();
        def->name = fmt::format("dv{}", derived_.size() + 1);
        def->columns.push_back({"k", Type::Int});
        std::vector<Type> types = {Type::Int};
        for (int i = rng_.range(1, 3); i > 0; --i) {
            Type t = rng_.pick(
                std::vector<Type>{Type::Int, Type::Num, Type::Text, Type::Bool, Type::Date});
            def->columns.push_back({fmt::format("x{}", def->columns.size()), t});
            types.push_back(t);
        }
        std::vector<std::string> names;
        for (const auto& c : def->columns)
            names.push_back(c.name);
        std::string sql;
        if (rng_.chance(0.3)) {
            QueryGen part(rng_, tables_, true);
            part.names_ = names;
            sql = part.grouped_branch(types, tables);
        } else {
            for (int b = rng_.chance(0.3) ? 2 : 1; b > 0; --b) {
                QueryGen part(rng_, tables_, true);
                part.names_ = names;
                sql += (sql.empty() ? "" : " UNION ALL ") + part.branch(types, tables);
            }
        }
        Rel r{def.get(), alias, ""};
        if (rng_.chance(0.4)) {
            with_ += fmt::format("{}{} AS ({})", with_.empty() ? "" : ", ", def->name, sql);
            r.source = def->name;
        } else {
            r.source = "(" + sql + ")";
        }
        derived_.push_back(std::move(def));
        return r;
    }

    // An ON / WHERE condition between `r` and one of the relations before it.
    std::string join_condition(const Rel& r, const std::vector<Rel>& before, bool allow_non_equi,
                               bool equality_only = false) {
        const Rel& other = rng_.pick(before);
        // Pairs of same-typed columns.
        std::vector<std::pair<std::string, std::string>> pairs;
        for (const auto& a : r.table->columns)
            for (const auto& b : other.table->columns)
                if (a.type == b.type && a.type != Type::Bool)
                    pairs.emplace_back(r.name + "." + a.name, other.name + "." + b.name);
        if (pairs.empty())  // (a stream table as a source may share no type with the other)
            return "true";
        std::vector<std::pair<std::string, std::string>> k_pairs;
        for (const auto& p : pairs)
            if (p.first.ends_with(".k") && p.second.ends_with(".k"))
                k_pairs.push_back(p);
        auto [a, b] =
            (!k_pairs.empty() && rng_.chance(0.6)) ? rng_.pick(k_pairs) : rng_.pick(pairs);
        std::string op = "=";
        if (allow_non_equi && !equality_only && rng_.chance(0.3))
            op = rng_.pick(std::vector<std::string>{"<", "<=", "<>", ">"});
        std::string cond = fmt::format("{} {} {}", a, op, b);
        // (FULL JOIN needs merge- or hash-joinable conditions.)
        if (!equality_only && rng_.chance(0.2)) {
            Scope both = Scope::of_table(*r.table, r.name);
            for (const auto& c : Scope::of_table(*other.table, other.name).columns)
                both.columns.push_back(c);
            ExprGen eg(rng_, both);
            cond =
                fmt::format("({} {} {})", cond, rng_.chance(0.7) ? "AND" : "OR", eg.predicate(1));
        }
        return cond;
    }

    void from_clause(QuerySpec& q) {
        const int n = nested_ ? static_cast<int>(rng_.weighted({60, 40})) + 1
                              : static_cast<int>(rng_.weighted({25, 43, 26, 6})) + 1;
        std::vector<Rel> rels;
        std::map<std::string, int> uses;
        for (int i = 0; i < n; ++i) {
            if (!nested_ && n <= 3 && (i > 0 || first_ == nullptr) && rng_.chance(0.12)) {
                rels.push_back(derived(fmt::format("r{}", i + 1), q.tables));
                continue;
            }
            const TableDef* t = &rng_.pick(tables_);
            if (i == 0 && first_ != nullptr)
                t = first_;
            if (i > 0 && rng_.chance(0.2)) {
                const Rel& earlier = rels[static_cast<std::size_t>(rng_.range(0, i - 1))];
                if (earlier.source.empty() && earlier.table != first_)
                    t = earlier.table;  // self-join
            }
            uses[t->name]++;
            rels.push_back({t, fmt::format("{}{}", nested_ ? "n" : "r", i + 1), ""});
        }
        // A table referenced once may go without an alias.
        for (auto& r : rels)
            if (r.source.empty() && uses[r.table->name] == 1 && rng_.chance(0.25))
                r.name = r.table->name;
        rels_ = rels;
        for (const auto& r : rels) {
            if (r.source.empty())
                q.tables.insert(r.table->name);
            for (const auto& c : Scope::of_table(*r.table, r.name).columns)
                scope_.columns.push_back(c);
        }
        auto ref = [](const Rel& r) {
            if (!r.source.empty())
                return r.source + " " + r.name;
            return r.name == r.table->name ? r.name : r.table->name + " " + r.name;
        };
        const bool allow_non_equi = n <= 3;
        int non_equi_left = n == 3 ? 1 : 2;
        // `a, b JOIN c ON ..` is `a, (b JOIN c ON ..)`: an ON condition may only mention the
        // relations since the last comma; a WHERE condition may mention any.
        std::size_t segment = 0;
        auto cond = [&](std::size_t i, bool in_where) {
            std::vector<Rel> before(rels.begin() + static_cast<long>(in_where ? 0 : segment),
                                    rels.begin() + static_cast<long>(i));
            bool ne = allow_non_equi && non_equi_left > 0;
            std::string c = join_condition(rels[i], before, ne);
            if (c.find(" = ") == std::string::npos)
                --non_equi_left;
            return c;
        };
        from_ = ref(rels[0]);
        if (n == 3 && rng_.chance(0.25)) {
            // Nested: r1 JOIN (r2 JOIN r3 ON ..) ON ..
            std::vector<Rel> only2 = {rels[1]};
            std::string inner = fmt::format("{} JOIN {} ON {}", ref(rels[1]), ref(rels[2]),
                                            join_condition(rels[2], only2, false));
            std::vector<Rel> first = {rels[0]};
            const Rel& right = rng_.chance(0.5) ? rels[1] : rels[2];
            std::string kind = join_kind();
            from_ += fmt::format(" {} ({}) ON {}", kind, inner,
                                 join_condition(right, first, true, kind == "FULL JOIN"));
            return;
        }
        for (std::size_t i = 1; i < rels.size(); ++i) {
            switch (rng_.weighted({55, 25, 12, 8})) {
                case 0: {
                    std::string kind = join_kind();
                    if (kind == "FULL JOIN") {
                        std::vector<Rel> before(rels.begin() + static_cast<long>(segment),
                                                rels.begin() + static_cast<long>(i));
                        from_ += fmt::format(" FULL JOIN {} ON {}", ref(rels[i]),
                                             join_condition(rels[i], before, false, true));
                        break;
                    }
                    from_ += fmt::format(" {} {} ON {}", kind, ref(rels[i]), cond(i, false));
                    break;
                }
                case 1:  // comma join, condition in WHERE
                    from_ += ", " + ref(rels[i]);
                    where_parts_.push_back(cond(i, true));
                    segment = i;
                    break;
                case 2: {  // USING, when unambiguous (only as the first join)
                    std::string using_col;
                    for (const auto& c : rels[i].table->columns)
                        for (const auto& lc : rels[0].table->columns)
                            if (i == 1 && lc.name == c.name && lc.type == c.type &&
                                c.type != Type::Bool && (using_col.empty() || rng_.chance(0.3)))
                                using_col = c.name;
                    if (!using_col.empty()) {
                        from_ += fmt::format(" JOIN {} USING ({})", ref(rels[i]), using_col);
                        break;
                    }
                    from_ += fmt::format(" JOIN {} ON {}", ref(rels[i]), cond(i, false));
                    break;
                }
                default:  // CROSS JOIN, condition in WHERE
                    from_ += " CROSS JOIN " + ref(rels[i]);
                    where_parts_.push_back(cond(i, true));
                    break;
            }
        }
    }

    std::string join_kind() {
        switch (rng_.weighted({45, 15, 22, 10, 8})) {
            case 0:
                return "JOIN";
            case 1:
                return "INNER JOIN";
            case 2:
                return "LEFT JOIN";
            case 3:
                return "RIGHT JOIN";
            default:
                return "FULL JOIN";
        }
    }

    // A subquery's FROM over one table (sometimes two, joined), aliases sq<n>, and the scopes
    // inside it: its own columns, and those plus the outer ones (for correlation).
    struct Sub {
        std::string from;
        Scope inner;
        Scope both;
    };
    Sub sub_from(const Scope& outer) {
        Sub s;
        const TableDef& t = rng_.pick(tables_);
        read_.insert(t.name);
        std::string alias = fmt::format("sq{}", ++sub_counter_);
        s.from = t.name + " " + alias;
        s.inner = Scope::of_table(t, alias);
        if (rng_.chance(0.15)) {
            const TableDef& u = rng_.pick(tables_);
            read_.insert(u.name);
            std::string alias2 = fmt::format("sq{}", ++sub_counter_);
            s.from += fmt::format(" JOIN {} {} ON {}.k = {}.k", u.name, alias2, alias, alias2);
            for (const auto& c : Scope::of_table(u, alias2).columns)
                s.inner.columns.push_back(c);
        }
        s.both = s.inner;
        for (const auto& c : outer.columns)
            s.both.columns.push_back(c);
        return s;
    }

    // A correlation between the subquery and the outer scope (or a plain inner predicate).
    std::string correlation(Sub& sub, const Scope& outer) {
        std::vector<std::pair<std::string, std::string>> pairs;
        for (const auto& [ic, it] : sub.inner.columns)
            for (const auto& [oc, ot] : outer.columns)
                if (it == ot && it != Type::Bool)
                    pairs.emplace_back(ic, oc);
        if (pairs.empty() || rng_.chance(0.15)) {
            ExprGen ig(rng_, sub.inner);
            return ig.predicate(1);
        }
        auto [i, o] = rng_.pick(pairs);
        std::string c = fmt::format("{} {} {}", i, rng_.chance(0.8) ? "=" : "<", o);
        if (rng_.chance(0.3)) {
            ExprGen bg(rng_, sub.both);
            c = fmt::format("{} AND {}", c, bg.predicate(1));
        }
        return c;
    }

    // A subquery expression usable as a predicate over the current scope.
    std::string sublink_predicate(ExprGen& eg, int depth) {
        Sub sub = sub_from(scope_);
        std::string corr = correlation(sub, scope_);
        ExprGen ig(rng_, sub.inner);
        // Sometimes a further subquery expression inside, correlated to this one.
        if (depth > 0 && rng_.chance(0.2)) {
            Scope saved = scope_;
            scope_ = sub.both;
            ExprGen bg(rng_, scope_);
            corr = fmt::format("{} AND {}", corr, sublink_predicate(bg, depth - 1));
            scope_ = saved;
        }
        // What an EXISTS selects cannot change its answer (the engine reads it as SELECT 1).
        auto exists_list = [&] {
            switch (rng_.range(0, 5)) {
                case 0:
                    return std::string("*");
                case 1:
                    return ig.column_or_literal(Type::Int);
                case 2:
                    return "DISTINCT " + ig.expr(Type::Text, 1);
                default:
                    return std::string("1");
            }
        };
        switch (rng_.range(0, 9)) {
            case 0:
            case 1:
                return fmt::format("EXISTS (SELECT {} FROM {} WHERE {})", exists_list(), sub.from,
                                   corr);
            case 2:
            case 3:
                return fmt::format("NOT EXISTS (SELECT {} FROM {} WHERE {})", exists_list(),
                                   sub.from, corr);
            case 4: {
                Type t = rng_.pick(std::vector<Type>{Type::Int, Type::Int, Type::Text, Type::Num});
                return fmt::format("({} {}IN (SELECT {} FROM {}{}))", eg.expr(t, 1),
                                   rng_.chance(0.4) ? "NOT " : "", ig.column_or_literal(t),
                                   sub.from, rng_.chance(0.6) ? " WHERE " + corr : "");
            }
            case 5: {
                Type t = rng_.pick(std::vector<Type>{Type::Int, Type::Num, Type::Date});
                return fmt::format("({} {} {} (SELECT {} FROM {} WHERE {}))", eg.expr(t, 1),
                                   rng_.pick(std::vector<std::string>{"<", ">=", "=", "<>"}),
                                   rng_.chance(0.5) ? "ANY" : "ALL", ig.column_or_literal(t),
                                   sub.from, corr);
            }
            case 6: {
                Type t = rng_.pick(std::vector<Type>{Type::Int, Type::Num, Type::Text, Type::Date});
                return fmt::format("({} {} (SELECT {}({}) FROM {} WHERE {}))", eg.expr(t, 1),
                                   rng_.pick(std::vector<std::string>{"<", ">=", "=", "<>"}),
                                   rng_.chance(0.5) ? "max" : "min", ig.expr(t, 1), sub.from, corr);
            }
            case 7:
                return fmt::format("((SELECT count(*) FROM {} WHERE {}) {} {})", sub.from, corr,
                                   rng_.pick(std::vector<std::string>{">", "=", "<"}),
                                   rng_.range(0, 2));
            case 8:
                return fmt::format("EXISTS (SELECT 1 FROM {} WHERE {} LIMIT 1)", sub.from, corr);
            default:
                return fmt::format(
                    "{}EXISTS (SELECT {} FROM {} WHERE {} GROUP BY 1 HAVING count(*) > 1)",
                    rng_.chance(0.5) ? "NOT " : "", ig.column_or_literal(Type::Int), sub.from,
                    corr);
        }
    }

    // An integer-valued scalar subquery over the current scope.
    std::string scalar_subquery(ExprGen&) {
        Sub sub = sub_from(scope_);
        std::string corr = correlation(sub, scope_);
        ExprGen ig(rng_, sub.inner);
        switch (rng_.range(0, 2)) {
            case 0:
                return fmt::format("(SELECT count(*) FROM {} WHERE {})", sub.from, corr);
            case 1:
                return fmt::format("(SELECT max({}) FROM {} WHERE {})", ig.expr(Type::Int, 1),
                                   sub.from, corr);
            default:
                return fmt::format("(SELECT sum({}) FROM {} WHERE {})",
                                   ig.column_or_literal(Type::Int), sub.from, corr);
        }
    }

    // A GROUP BY (or SELECT DISTINCT) with the given column types, named names_, over a fresh
    // FROM clause.
    std::string grouped_branch(const std::vector<Type>& types, std::set<std::string>& tables) {
        QuerySpec q;
        from_clause(q);
        tables.insert(q.tables.begin(), q.tables.end());
        ExprGen eg(rng_, scope_);
        const bool distinct = rng_.chance(0.3);
        std::string select;
        for (std::size_t i = 0; i < types.size(); ++i) {
            std::string e;
            const Type t = types[i];
            if (i == 0 || distinct) {
                e = eg.column_or_literal(t);
            } else {
                switch (t) {
                    case Type::Int:
                        e = rng_.chance(0.5)
                                ? "count(*)::integer"
                                : fmt::format("sum({})::integer", eg.column_or_literal(t));
                        break;
                    case Type::Num:
                        e = fmt::format("sum({})", eg.column_or_literal(t));
                        break;
                    case Type::Text:
                        e = fmt::format("max({})", eg.column_or_literal(t));
                        break;
                    case Type::Bool:
                        e = fmt::format("bool_or({})", eg.predicate(0));
                        break;
                    case Type::Date:
                        e = fmt::format("min({})", eg.column_or_literal(t));
                        break;
                }
            }
            select += fmt::format("{}{} AS {}", i ? ", " : "", e, names_[i]);
        }
        std::string where;
        for (const auto& p : where_parts_)
            where += (where.empty() ? " WHERE " : " AND ") + p;
        tables.insert(read_.begin(), read_.end());
        return fmt::format("SELECT {}{} FROM {}{}{}", distinct ? "DISTINCT " : "", select, from_,
                           where, distinct ? "" : " GROUP BY 1");
    }

    // One select-list item containing aggregates.
    std::string aggregate_item(ExprGen& eg) {
        std::string a = aggregate(eg);
        switch (rng_.range(0, 9)) {
            case 0:
                return fmt::format("COALESCE({}, 0)", aggregate_of_type(eg, Type::Int));
            case 1:
                return fmt::format(
                    "({} * 2)", rng_.chance(0.5) ? "count(*)" : aggregate_of_type(eg, Type::Int));
            case 2: {
                std::string e = eg.expr(Type::Int, 1);
                return fmt::format("(max({0}) - min({0}))", e);
            }
            default:
                return a;
        }
    }

    // COUNT / SUM / AVG over integers (int2, int4, int8) and fixed-scale numerics, MIN / MAX.
    std::string algebraic_aggregate(ExprGen& eg) {
        auto summable = [&]() -> std::string {
            switch (rng_.range(0, 7)) {
                case 7:
                    // Values of two scales (2 and 0): kept with a count of the scale-2 ones.
                    return fmt::format(
                        "CASE WHEN {} THEN (({}) % 1000000)::numeric(10,2) ELSE 0 END",
                        eg.predicate(1), eg.expr(Type::Num, 1));
                case 0:
                    return eg.expr(Type::Int, 1);
                case 1:
                    return fmt::format("({})::bigint", eg.expr(Type::Int, 1));
                case 2:
                    return fmt::format("(({}) % 1000)::smallint", eg.column_or_literal(Type::Int));
                case 3:
                    return fmt::format("(({}) % 1000000)::numeric(10,2)", eg.expr(Type::Num, 1));
                case 4:
                    return eg.expr(Type::Num, 1);
                default:
                    return eg.column_or_literal(rng_.chance(0.5) ? Type::Int : Type::Num);
            }
        };
        // COUNT / SUM / AVG alone (not MIN / MAX, which keep their value in their column).
        auto running = [&]() -> std::string {
            switch (rng_.range(0, 3)) {
                case 0:
                    return "count(*)";
                case 1:
                    return fmt::format("sum({})", summable());
                case 2:
                    return fmt::format("avg({})", summable());
                default:
                    return fmt::format("count({})", eg.expr(eg.random_type(), 1));
            }
        };
        switch (rng_.range(0, 7)) {
            case 0:
                return "count(*)";
            case 1:
                return fmt::format("count({})", eg.expr(eg.random_type(), 1));
            case 7:
                // An expression over running aggregates, recomputed from their states.
                switch (rng_.range(0, 2)) {
                    case 0:
                        return fmt::format("(100.00 * {} / NULLIF({}, 0))", running(), running());
                    case 1:
                        return fmt::format("(COALESCE({}, 0) - {})", running(), running());
                    default:
                        return fmt::format("({} * 2 + 1)", running());
                }
            case 2:
            case 3:
                return fmt::format("sum({})", summable());
            case 4: {
                // MIN / MAX of any ordered type: kept in place, rescanned when the extreme goes.
                Type t = rng_.pick(std::vector<Type>{Type::Int, Type::Num, Type::Text, Type::Date});
                return fmt::format("{}({})", rng_.chance(0.5) ? "min" : "max",
                                   rng_.chance(0.6) ? eg.column_or_literal(t) : eg.expr(t, 1));
            }
            default:
                return fmt::format("avg({})", summable());
        }
    }

    std::string filter(ExprGen& eg) {
        return rng_.chance(0.2) ? fmt::format(" FILTER (WHERE {})", eg.predicate(1)) : "";
    }

    // An aggregate call whose result is an integer-like value.
    std::string aggregate_of_type(ExprGen& eg, Type) {
        switch (rng_.range(0, 2)) {
            case 0:
                return "count(*)" + filter(eg);
            case 1:
                return fmt::format("sum({}){}", eg.expr(Type::Int, 1), filter(eg));
            default:
                return fmt::format("max({}){}", eg.expr(Type::Int, 1), filter(eg));
        }
    }

    std::string aggregate(ExprGen& eg) {
        switch (rng_.range(0, 15)) {
            case 0:
                return "count(*)" + filter(eg);
            case 1:
                return fmt::format("count({}){}", eg.expr(eg.random_type(), 1), filter(eg));
            case 2:
                return fmt::format("count(DISTINCT {}){}", eg.expr(eg.random_type(), 1),
                                   filter(eg));
            case 3:
                return fmt::format("sum({}){}", eg.expr(Type::Int, 1), filter(eg));
            case 4:
                return fmt::format("sum({}){}", eg.expr(Type::Num, 1), filter(eg));
            case 5:
                return fmt::format(
                    "avg({}){}", eg.expr(rng_.chance(0.5) ? Type::Int : Type::Num, 1), filter(eg));
            case 6:
            case 7: {
                Type t = rng_.pick(std::vector<Type>{Type::Int, Type::Num, Type::Text, Type::Date});
                return fmt::format("{}({}){}", rng_.chance(0.5) ? "min" : "max", eg.expr(t, 1),
                                   filter(eg));
            }
            case 8:
            case 9: {
                std::string e = eg.expr(Type::Text, 1);
                if (rng_.chance(0.25))
                    return fmt::format("string_agg(DISTINCT {0}, '|' ORDER BY {0}){1}", e,
                                       filter(eg));
                return fmt::format("string_agg({0}, ',' ORDER BY {0}{1}){2}", e,
                                   rng_.chance(0.3) ? " DESC" : "", filter(eg));
            }
            case 10:
                return fmt::format(
                    "{}({}){}", rng_.pick(std::vector<std::string>{"bool_and", "bool_or", "every"}),
                    eg.predicate(1), filter(eg));
            case 11:
            case 12: {
                Type t = rng_.pick(
                    std::vector<Type>{Type::Int, Type::Num, Type::Text, Type::Date, Type::Bool});
                std::string e = eg.expr(t, 1);
                std::string order = e;
                if (rng_.chance(0.3)) {
                    // Order by another value first; ties are broken by the element itself.
                    std::string other = eg.expr(eg.random_type(), 0);
                    order = fmt::format("{} DESC, {}", other, e);
                }
                std::string dir = rng_.pick(
                    std::vector<std::string>{"", " DESC", " NULLS FIRST", " DESC NULLS LAST"});
                return fmt::format("array_agg({} ORDER BY {}{}){}", e, order, dir, filter(eg));
            }
            case 13:
                return fmt::format("count({}) FILTER (WHERE {})", eg.expr(eg.random_type(), 0),
                                   eg.predicate(1));
            case 14:
                return fmt::format("sum({}) FILTER (WHERE {})", eg.expr(Type::Num, 0),
                                   eg.predicate(1));
            default:
                return fmt::format("min({}){}", eg.expr(Type::Date, 1), filter(eg));
        }
    }

    std::string having(ExprGen& eg, const std::vector<std::string>& keys) {
        auto one = [&]() -> std::string {
            switch (rng_.range(0, 5)) {
                case 0:
                    return fmt::format("count(*) {} {}",
                                       rng_.pick(std::vector<std::string>{">", ">=", "<", "="}),
                                       rng_.range(0, 3));
                case 1:
                    return fmt::format("sum({}) > {}", eg.expr(Type::Int, 1), rng_.range(0, 6));
                case 2:
                    return fmt::format("max({}) <> {}", eg.expr(Type::Text, 0),
                                       literal(rng_, Type::Text));
                case 3:
                    return fmt::format("bool_or({})", eg.predicate(1));
                case 4:
                    if (!keys.empty())
                        return fmt::format("({}) IS NOT NULL", rng_.pick(keys));
                    return "count(*) > 0";
                default:
                    return fmt::format("min({}) IS NOT NULL",
                                       eg.expr(rng_.pick(std::vector<Type>{Type::Int, Type::Num,
                                                                           Type::Text, Type::Date}),
                                               0));
            }
        };
        std::string h = one();
        if (rng_.chance(0.3))
            h = fmt::format("({}) {} ({})", h, rng_.chance(0.5) ? "AND" : "OR", one());
        if (rng_.chance(0.15))
            h = fmt::format("NOT ({})", h);
        return h;
    }

    Rng& rng_;
    const std::vector<TableDef>& tables_;
    bool nested_;  // a branch or a derived relation: no further nesting
    const TableDef* first_ = nullptr;
    std::vector<std::string> names_;  // output names of a derived relation's branches
    std::vector<std::unique_ptr<TableDef>> derived_;
    std::string with_;  // WITH list of the query
    Scope scope_;
    std::string from_;
    std::vector<Rel> rels_;                  // the relations of from_
    std::vector<std::string> lateral_keys_;  // the values of set-returning LATERAL items
    std::vector<std::string> where_parts_;
    int sub_counter_ = 0;         // subquery aliases sq1, sq2, ...
    std::set<std::string> read_;  // tables read by subquery expressions
};

// A DML statement and whether it may legitimately fail (unique / not-null violations).
struct Statement {
    std::string sql;
    bool may_fail = false;
};

class DmlGen {
  public:
    DmlGen(Rng& rng, const TableDef& t) : rng_(rng), t_(t), scope_(Scope::of_table(t, "")) {}

    // A value for column c in a new row.
    std::string value(const ColumnDef& c) {
        if (c.name == "id")
            return std::to_string(t_.key.size() == 2 ? rng_.range(1, 12) : rng_.range(1, 60));
        if (c.name == "tag")
            return rng_.pick(std::vector<std::string>{"'a'", "'b'", "'c'"});
        if (!c.not_null && rng_.chance(0.15))
            return "NULL";
        return literal(rng_, c.type);
    }

    std::string row() {
        std::string r;
        for (const auto& c : t_.columns)
            r += (r.empty() ? "" : ", ") + value(c);
        return "(" + r + ")";
    }

    std::string order_all() const { return t_.column_list(); }

    Statement insert() {
        const bool keyed = !t_.key.empty();
        std::string body;
        if (rng_.chance(0.07)) {
            // A bulk insert: many rows, values cycling through small domains.
            std::string cols;
            for (const auto& c : t_.columns) {
                std::string v;
                if (c.name == "id")
                    v = fmt::format("{} + g", rng_.range(100, 300));
                else if (c.name == "tag")
                    v = "'a'";
                else
                    switch (c.type) {
                        case Type::Int:
                            v = fmt::format("NULLIF(g % {}, 0)", rng_.range(2, 5));
                            break;
                        case Type::Num:
                            v = "(g % 4) * 1.25";
                            break;
                        case Type::Text:
                            v = "substr('abcab', g % 3 + 1, 1)";
                            break;
                        case Type::Bool:
                            v = "g % 2 = 0";
                            break;
                        case Type::Date:
                            v = "DATE '2024-01-01' + g % 3";
                            break;
                    }
                cols += (cols.empty() ? "" : ", ") + v;
            }
            body = fmt::format("SELECT {} FROM generate_series(1, {}) g", cols, rng_.range(5, 15));
        } else if (rng_.chance(0.2)) {
            // Copies of existing rows (exact duplicates for keyless tables).
            ExprGen eg(rng_, scope_);
            std::string cols = t_.column_list();
            if (keyed) {
                cols.clear();
                for (const auto& c : t_.columns)
                    cols += (cols.empty() ? "" : ", ") +
                            (c.name == "id" ? fmt::format("id + {}", rng_.range(1, 40)) : c.name);
            }
            body = fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {}", cols, t_.name,
                               eg.predicate(1), order_all(), rng_.range(1, 3));
        } else {
            std::vector<std::string> rows;
            for (int i = rng_.range(1, 4); i > 0; --i)
                rows.push_back(row());
            if (rng_.chance(0.3))
                rows.push_back(rng_.pick(rows));  // an exact duplicate within the statement
            body = "VALUES ";
            for (std::size_t i = 0; i < rows.size(); ++i)
                body += (i ? ", " : "") + rows[i];
        }
        std::string sql = fmt::format("INSERT INTO {} ({}) {}", t_.name, t_.column_list(), body);
        if (!keyed)
            return {sql, false};
        switch (rng_.range(0, 3)) {
            case 0:
            case 1:
                return {sql + " ON CONFLICT DO NOTHING", false};
            case 2: {
                // Upsert: on conflict the existing row is updated (an UPDATE for the capture).
                // A VALUES list hitting the same key twice is an error (cardinality violation).
                std::string sets;
                for (const auto& c : t_.columns)
                    if (!t_.is_key(c.name) && rng_.chance(0.6))
                        sets += fmt::format("{}{} = EXCLUDED.{}", sets.empty() ? "" : ", ", c.name,
                                            c.name);
                if (sets.empty())
                    sets = "k = EXCLUDED.k";
                std::string key;
                for (const auto& k : t_.key)
                    key += (key.empty() ? "" : ", ") + k;
                return {fmt::format("{} ON CONFLICT ({}) DO UPDATE SET {}", sql, key, sets), true};
            }
            default:
                return {sql, true};
        }
    }

    std::string new_value_expr(const ColumnDef& c) {
        if (!c.not_null && rng_.chance(0.2))
            return "NULL";
        if (rng_.chance(0.45))
            return c.name == "id" ? std::to_string(rng_.range(1, 60))
                                  : (c.name == "tag" ? value(c) : literal(rng_, c.type));
        switch (c.type) {
            case Type::Int:
                return rng_.chance(0.5) ? fmt::format("{} + {}", c.name, rng_.range(1, 3))
                                        : fmt::format("COALESCE({}, 0) - 1", c.name);
            case Type::Num:
                return fmt::format("{} + 1.50", c.name);
            case Type::Text:
                return fmt::format("substr({} || 'b', 1, 3)", c.name);
            case Type::Bool:
                return fmt::format("NOT {}", c.name);
            case Type::Date:
                return fmt::format("{} + 1", c.name);
        }
        return "NULL";
    }

    Statement update() {
        std::vector<ColumnDef> cols = t_.columns;
        rng_.shuffle(cols);
        const int n = rng_.range(1, 2);
        std::string sets;
        bool touches_key = false;
        for (int i = 0; i < n && i < static_cast<int>(cols.size()); ++i) {
            const auto& c = cols[static_cast<std::size_t>(i)];
            touches_key = touches_key || t_.is_key(c.name);
            sets += fmt::format("{}{} = {}", sets.empty() ? "" : ", ", c.name, new_value_expr(c));
        }
        ExprGen eg(rng_, scope_);
        std::string where;
        switch (rng_.range(0, 5)) {
            case 0:  // every row
                break;
            case 1:  // exactly one row, even among duplicates
                where = fmt::format(
                    " WHERE ctid = (SELECT ctid FROM {} WHERE {} ORDER BY {} "
                    "LIMIT 1)",
                    t_.name, eg.predicate(1), order_all());
                break;
            default:
                where = " WHERE " + eg.predicate(rng_.range(0, 2));
                break;
        }
        return {fmt::format("UPDATE {} SET {}{}", t_.name, sets, where), touches_key};
    }

    Statement remove() {
        ExprGen eg(rng_, scope_);
        switch (rng_.range(0, 9)) {
            case 0:  // a whole group
                return {
                    fmt::format("DELETE FROM {} WHERE k = {}", t_.name, literal(rng_, Type::Int)),
                    false};
            case 1:
                return {fmt::format("DELETE FROM {} WHERE k IS NULL", t_.name), false};
            case 2:  // one copy
                return {fmt::format("DELETE FROM {0} WHERE ctid = (SELECT ctid FROM {0} WHERE {1} "
                                    "ORDER BY {2} LIMIT 1)",
                                    t_.name, eg.predicate(1), order_all()),
                        false};
            case 3:  // one copy of every duplicated row
                return {fmt::format("DELETE FROM {0} WHERE ctid IN (SELECT min(ctid) FROM {0} "
                                    "GROUP BY {1} HAVING count(*) > 1)",
                                    t_.name, t_.column_list()),
                        false};
            case 4:
                if (rng_.chance(0.3))
                    return {fmt::format("DELETE FROM {}", t_.name), false};
                [[fallthrough]];
            default:
                return {
                    fmt::format("DELETE FROM {} WHERE {}", t_.name, eg.predicate(rng_.range(0, 2))),
                    false};
        }
    }

    // Less common statement forms: no-op updates, DELETE and re-INSERT in one statement,
    // MERGE, an UPDATE computed by a correlated subquery.
    Statement other() {
        ExprGen eg(rng_, scope_);
        switch (rng_.range(0, 4)) {
            case 0: {  // every captured row changes to an identical row
                const auto& c = rng_.pick(t_.columns);
                return {fmt::format("UPDATE {} SET {} = {} WHERE {}", t_.name, c.name, c.name,
                                    eg.predicate(1)),
                        false};
            }
            case 1: {  // rows deleted and inserted again (maybe changed) by one statement
                std::string cols;
                bool changed = false;
                for (const auto& c : t_.columns) {
                    std::string v = c.name;
                    if (!t_.is_key(c.name) && c.type == Type::Int && !changed && rng_.chance(0.5)) {
                        v = fmt::format("{} + 1", c.name);
                        changed = true;
                    }
                    cols += (cols.empty() ? "" : ", ") + v;
                }
                return {fmt::format("WITH d AS (DELETE FROM {0} WHERE {1} RETURNING *) INSERT "
                                    "INTO {0} ({2}) SELECT {3} FROM d",
                                    t_.name, eg.predicate(1), t_.column_list(), cols),
                        true};
            }
            case 2:
            case 3:
                return merge();
            default: {
                const std::string alias = "x";
                return {fmt::format("UPDATE {0} SET k = (SELECT min({1}.k) FROM {0} {1} WHERE "
                                    "{1}.k > {0}.k) WHERE {2}",
                                    t_.name, alias, eg.predicate(1)),
                        false};
            }
        }
    }

    Statement merge() {
        // Typed source rows (a NULL in the first VALUES row would otherwise be text).
        std::string rows;
        for (int i = rng_.range(1, 4); i > 0; --i) {
            std::string r;
            for (const auto& c : t_.columns)
                r += fmt::format("{}{}::{}", r.empty() ? "" : ", ", value(c), sql_type(c.type));
            rows += (rows.empty() ? "(" : ", (") + r + ")";
        }
        std::string vcols, on, ins;
        for (std::size_t i = 0; i < t_.columns.size(); ++i) {
            vcols += fmt::format("{}v{}", i ? ", " : "", i);
            ins += fmt::format("{}v.v{}", i ? ", " : "", i);
        }
        auto vref = [&](const std::string& name) {
            for (std::size_t i = 0; i < t_.columns.size(); ++i)
                if (t_.columns[i].name == name)
                    return fmt::format("v.v{}", i);
            return std::string("NULL");
        };
        if (!t_.key.empty()) {
            for (const auto& k : t_.key)
                on += fmt::format("{}m.{} = {}", on.empty() ? "" : " AND ", k, vref(k));
        } else {
            on = fmt::format("m.k = {}", vref("k"));
        }
        std::string sets;
        // Now and then rows of a partitioned table moved to another partition (PostgreSQL 15
        // leaves them out of a MERGE's transition tables).
        const bool move = t_.partitioned && t_.key.empty() && rng_.chance(0.5);
        if (move)
            sets = "k = m.k + 7";
        for (const auto& c : t_.columns)
            if (!t_.is_key(c.name) && !(move && c.name == "k") &&
                (sets.empty() || rng_.chance(0.4)))
                sets += fmt::format("{}{} = {}", sets.empty() ? "" : ", ", c.name, vref(c.name));
        Scope ms = Scope::of_table(t_, "m");
        ExprGen eg(rng_, ms);
        std::string when;
        switch (rng_.range(0, 2)) {
            case 0:
                when =
                    fmt::format(" WHEN MATCHED AND {} THEN DELETE WHEN MATCHED THEN UPDATE SET {}",
                                eg.predicate(1), sets);
                break;
            case 1:
                when = fmt::format(" WHEN MATCHED THEN UPDATE SET {}", sets);
                break;
            default:
                when = " WHEN MATCHED THEN DELETE";
                break;
        }
        if (rng_.chance(0.8))
            when += fmt::format(" WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})", t_.column_list(),
                                ins);
        // Two source rows for one target row, or two inserts of one key: allowed to fail.
        return {fmt::format("MERGE INTO {} m USING (VALUES {}) AS v({}) ON {}{}", t_.name, rows,
                            vcols, on, when),
                true};
    }

  private:
    Rng& rng_;
    const TableDef& t_;
    Scope scope_;
};

}  // namespace pgtrickle::test::property
