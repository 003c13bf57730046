// Differential support analysis: which queries the delta rules can maintain exactly today, and
// the facts they need (relation references with their text positions, used columns, keys,
// group keys). Anything outside the supported shape is reported with a reason, so AUTO can fall
// back to FULL and DIFFERENTIAL can refuse with that reason.
#include "pg_trickle/pg/differential.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/guard.hpp"

namespace pgtrickle::pg {

namespace {

using Walker = bool (*)();
template <typename F>
Walker as_walker(F fn) {
    return reinterpret_cast<Walker>(reinterpret_cast<void (*)()>(fn));
}

// Plain C state for walkers (they run inside PostgreSQL frames: no C++ exceptions there).
struct VarState {
    List* vars;  // Var nodes of the top query
    bool whole_row;
    bool system_column;
};

bool collect_vars(Node* node, void* context) {
    auto* s = static_cast<VarState*>(context);
    if (node == nullptr)
        return false;
    if (IsA(node, Var)) {
        auto* v = reinterpret_cast<Var*>(node);
        if (v->varattno == 0)
            s->whole_row = true;
        if (v->varattno < 0)
            s->system_column = true;
        s->vars = lappend(s->vars, v);
        return false;
    }
    return expression_tree_walker(node, as_walker(collect_vars), context);
}

struct RangeVarState {
    List* range_vars;
};

bool collect_range_vars(Node* node, void* context) {
    auto* s = static_cast<RangeVarState*>(context);
    if (node == nullptr)
        return false;
    if (IsA(node, RangeVar)) {
        s->range_vars = lappend(s->range_vars, node);
        return false;
    }
    return raw_expression_tree_walker(node, as_walker(collect_range_vars), context);
}

Query* parse_one(const std::string& text) {
    const char* t = text.c_str();
    return pg_call([&] {
        List* raw = pg_parse_query(t);
        return parse_analyze_fixedparams(linitial_node(RawStmt, raw), t, nullptr, 0, nullptr);
    });
}

std::string deparse(Query* q) {
    char* s = pg_call([&] {
        int nest = NewGUCNestLevel();
        set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        char* out = pg_get_querydef(q, false);
        AtEOXact_GUC(true, nest);
        return out;
    });
    return s;
}

// The relation references of `text` (which must be a deparsed query over `tables`).
std::vector<core::RelationRef> relation_refs(const std::string& text,
                                             const std::map<Oid, std::size_t>& table_index) {
    const char* t = text.c_str();
    RangeVarState state{NIL};
    pg_call([&] {
        List* raw = pg_parse_query(t);
        collect_range_vars(linitial_node(RawStmt, raw)->stmt, &state);
    });
    std::vector<core::RelationRef> refs;
    ListCell* lc;
    foreach (lc, state.range_vars) {
        auto* rv = static_cast<RangeVar*>(lfirst(lc));
        Oid relid = pg_call([&] { return RangeVarGetRelid(rv, NoLock, false); });
        auto it = table_index.find(relid);
        if (it == table_index.end())
            throw std::runtime_error("relation reference without a source table");
        std::string printed = rv->schemaname ? std::string(quote_identifier(rv->schemaname)) + "." +
                                                   quote_identifier(rv->relname)
                                             : std::string(quote_identifier(rv->relname));
        core::RelationRef ref;
        ref.location = static_cast<std::size_t>(rv->location);
        if (text.compare(ref.location, printed.size(), printed) != 0)
            throw std::runtime_error("unexpected relation text in deparsed query: " + printed);
        ref.length = printed.size();
        ref.has_alias = rv->alias != nullptr;
        ref.refname = rv->alias ? rv->alias->aliasname : rv->relname;
        ref.table = it->second;
        refs.push_back(ref);
    }
    return refs;
}

DifferentialAnalysis unsupported(std::string reason) {
    DifferentialAnalysis a;
    a.reason = std::move(reason);
    return a;
}

}  // namespace

std::vector<std::string> primary_key(Spi& spi, Oid relid) {
    auto res = spi.execute(
        "SELECT a.attname FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid"
        "  AND a.attnum = ANY (i.indkey::smallint[])"
        " WHERE i.indrelid = $1::oid AND i.indisprimary"
        " ORDER BY pg_catalog.array_position(i.indkey::smallint[], a.attnum)",
        {std::to_string(relid)});
    std::vector<std::string> out;
    for (const auto& r : res.rows)
        out.push_back(*r[0]);
    return out;
}

DifferentialAnalysis analyze_differential(Spi& spi, const std::string& deparsed) {
    Query* q = parse_one(deparsed);

    if (q->setOperations)
        return unsupported("set operations (UNION, INTERSECT, EXCEPT)");
    if (q->cteList)
        return unsupported("WITH queries");
    if (q->hasSubLinks)
        return unsupported("subqueries in expressions (EXISTS, IN, scalar subqueries)");
    if (q->hasWindowFuncs)
        return unsupported("window functions");
    if (q->hasTargetSRFs)
        return unsupported("set-returning functions in the select list");
    if (q->groupingSets)
        return unsupported("GROUPING SETS, ROLLUP and CUBE");
    if (q->hasDistinctOn)
        return unsupported("DISTINCT ON");
    if (q->limitCount || q->limitOffset)
        return unsupported("LIMIT and OFFSET");
    bool grouped = q->hasAggs || q->groupClause != NIL || q->distinctClause != NIL;
    if ((q->hasAggs || q->groupClause != NIL) && q->distinctClause != NIL)
        return unsupported("DISTINCT over grouped results");
    if (pg_call([&] { return contain_volatile_functions(reinterpret_cast<Node*>(q)); })) {
        auto a = unsupported("volatile functions");
        a.volatile_functions = true;
        return a;
    }

    // Sources: plain tables joined by inner joins.
    core::DeltaPlan plan;
    std::map<Oid, std::size_t> table_index;
    std::map<Index, Oid> rte_relid;
    Index rti = 0;
    ListCell* lc;
    foreach (lc, q->rtable) {
        ++rti;
        auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
        if (rte->rtekind == RTE_JOIN) {
            if (rte->jointype != JOIN_INNER)
                return unsupported("outer joins");
            continue;
        }
        if (rte->rtekind != RTE_RELATION)
            return unsupported("subqueries or functions in FROM");
        if (rte->relkind != RELKIND_RELATION)
            return unsupported(fmt::format("sources that are not plain tables ({})",
                                           rte->relkind == RELKIND_VIEW
                                               ? "a view"
                                               : "relkind " + std::string(1, rte->relkind)));
        bool has_children = pg_call([&] { return has_subclass(rte->relid); });
        if (has_children)
            return unsupported("tables with inheritance children");
        rte_relid[rti] = rte->relid;
        if (table_index.count(rte->relid))
            continue;
        core::DeltaTable t;
        t.relid = rte->relid;
        char* nsp = pg_call([&] { return get_namespace_name(get_rel_namespace(rte->relid)); });
        char* rel = pg_call([&] { return get_rel_name(rte->relid); });
        t.qualified_name = core::quote_ident(nsp) + "." + core::quote_ident(rel);
        t.key = primary_key(spi, rte->relid);
        table_index[rte->relid] = plan.tables.size();
        plan.tables.push_back(t);
    }

    // Used columns (key columns always included, first).
    VarState vs{NIL, false, false};
    pg_call([&] { query_tree_walker(q, as_walker(collect_vars), &vs, 0); });
    if (vs.whole_row)
        return unsupported("whole-row references");
    if (vs.system_column)
        return unsupported("system columns");
    std::map<Oid, std::set<AttrNumber>> used;
    foreach (lc, vs.vars) {
        auto* v = static_cast<Var*>(lfirst(lc));
        auto it = rte_relid.find(v->varno);
        if (it != rte_relid.end())
            used[it->second].insert(v->varattno);
    }
    for (auto& t : plan.tables) {
        std::set<std::string> seen;
        auto add = [&](AttrNumber att) {
            char* name = pg_call([&] { return get_attname(t.relid, att, false); });
            if (!seen.insert(name).second)
                return;
            Oid type;
            int32 typmod;
            Oid coll;
            pg_call([&] { get_atttypetypmodcoll(t.relid, att, &type, &typmod, &coll); });
            char* type_sql = pg_call([&] {
                return format_type_extended(type, typmod,
                                            FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
            });
            t.columns.push_back({name, type_sql});
        };
        for (const auto& k : t.key) {
            const char* kn = k.c_str();
            AttrNumber att = pg_call([&] { return get_attnum(t.relid, kn); });
            add(att);
        }
        for (AttrNumber att : used[t.relid])
            add(att);
    }

    foreach (lc, q->targetList) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (!tle->resjunk)
            plan.output_columns.push_back(tle->resname);
    }

    plan.query = deparsed;
    plan.refs = relation_refs(deparsed, table_index);

    if (grouped) {
        plan.kind = core::DeltaPlan::Kind::Grouped;
        // Group keys: GROUP BY items, or every output column for DISTINCT.
        List* key_tles = NIL;
        if (q->distinctClause != NIL) {
            foreach (lc, q->targetList) {
                auto* tle = static_cast<TargetEntry*>(lfirst(lc));
                if (!tle->resjunk)
                    key_tles = lappend(key_tles, tle);
            }
        } else {
            foreach (lc, q->groupClause) {
                auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
                TargetEntry* tle =
                    pg_call([&] { return get_sortgroupclause_tle(sgc, q->targetList); });
                if (tle->resjunk)
                    return unsupported("GROUP BY expressions that are not in the select list");
                key_tles = lappend(key_tles, tle);
            }
        }
        // The input query: same FROM and WHERE, the group keys as __pgt_g1..k.
        Query* input = pg_call([&] { return static_cast<Query*>(copyObjectImpl(q)); });
        List* tlist = NIL;
        int resno = 0;
        foreach (lc, key_tles) {
            auto* tle = static_cast<TargetEntry*>(lfirst(lc));
            plan.group_columns.push_back(tle->resname);
            ++resno;
            std::string name = fmt::format("__pgt_g{}", resno);
            const char* n = name.c_str();
            Expr* e = tle->expr;
            int r = resno;
            tlist = pg_call([&] {
                return lappend(tlist,
                               makeTargetEntry(static_cast<Expr*>(copyObjectImpl(e)),
                                               static_cast<AttrNumber>(r), pstrdup(n), false));
            });
        }
        // Algebraic aggregates: every other output column is COUNT(*), COUNT(x), SUM(int) or
        // AVG(int), no HAVING. Their arguments join the key query as __pgt_a1..n.
        bool algebraic = q->distinctClause == NIL && q->havingQual == nullptr;
        std::vector<core::AlgebraicColumn> columns;
        List* args = NIL;
        foreach (lc, q->targetList) {
            auto* tle = static_cast<TargetEntry*>(lfirst(lc));
            if (tle->resjunk || !algebraic)
                continue;
            core::AlgebraicColumn col;
            char* type_sql = pg_call([&] {
                return format_type_extended(exprType(reinterpret_cast<Node*>(tle->expr)),
                                            exprTypmod(reinterpret_cast<Node*>(tle->expr)),
                                            FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
            });
            col.type_sql = type_sql;
            int key_pos = -1;
            for (int k = 0; k < list_length(key_tles); ++k)
                if (list_nth(key_tles, k) == tle)
                    key_pos = k;
            if (key_pos >= 0) {
                col.kind = core::AlgebraicColumn::Kind::Key;
                col.index = static_cast<std::size_t>(key_pos) + 1;
                columns.push_back(col);
                continue;
            }
            if (!IsA(tle->expr, Aggref)) {
                algebraic = false;
                continue;
            }
            auto* agg = reinterpret_cast<Aggref*>(tle->expr);
            char* fname = pg_call([&] { return get_func_name(agg->aggfnoid); });
            Oid fnsp = pg_call([&] { return get_func_namespace(agg->aggfnoid); });
            std::string name = fname ? fname : "";
            if (agg->aggdistinct != NIL || agg->aggfilter != nullptr ||
                agg->aggkind != AGGKIND_NORMAL || fnsp != PG_CATALOG_NAMESPACE ||
                agg->aggvariadic) {
                algebraic = false;
                continue;
            }
            if (name == "count" && agg->aggstar) {
                col.kind = core::AlgebraicColumn::Kind::CountStar;
                columns.push_back(col);
                continue;
            }
            if (list_length(agg->args) != 1) {
                algebraic = false;
                continue;
            }
            auto* arg = static_cast<TargetEntry*>(linitial(agg->args));
            Oid arg_type = pg_call([&] { return exprType(reinterpret_cast<Node*>(arg->expr)); });
            // Exact sums: integers, or numerics of one declared scale (a sum of numeric(p,s)
            // values always has scale s, so no display scale can drift as rows come and go).
            int32 arg_typmod =
                pg_call([&] { return exprTypmod(reinterpret_cast<Node*>(arg->expr)); });
            bool integer = arg_type == INT2OID || arg_type == INT4OID || arg_type == INT8OID ||
                           (arg_type == NUMERICOID && arg_typmod >= 0);
            if (name == "count") {
                col.kind = core::AlgebraicColumn::Kind::Count;
            } else if (name == "sum" && integer) {
                col.kind = core::AlgebraicColumn::Kind::Sum;
            } else if (name == "avg" && integer) {
                col.kind = core::AlgebraicColumn::Kind::Avg;
            } else {
                algebraic = false;
                continue;
            }
            args = lappend(args, arg->expr);
            col.index = static_cast<std::size_t>(list_length(args));
            columns.push_back(col);
        }
        if (algebraic) {
            plan.algebraic = columns;
            plan.algebraic_args = static_cast<std::size_t>(list_length(args));
            int i = 0;
            foreach (lc, args) {
                ++i;
                std::string name = fmt::format("__pgt_a{}", i);
                const char* n = name.c_str();
                Expr* e = static_cast<Expr*>(lfirst(lc));
                int r = ++resno;
                tlist = pg_call([&] {
                    return lappend(tlist,
                                   makeTargetEntry(static_cast<Expr*>(copyObjectImpl(e)),
                                                   static_cast<AttrNumber>(r), pstrdup(n), false));
                });
            }
        }
        plan.scalar = q->groupClause == NIL && q->distinctClause == NIL;
        if (tlist == NIL) {
            tlist = pg_call([&] {
                Const* one = makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(1), false, true);
                return list_make1(
                    makeTargetEntry(reinterpret_cast<Expr*>(one), 1, pstrdup("__pgt_one"), false));
            });
        }
        input->targetList = tlist;
        input->groupClause = NIL;
        input->hasAggs = false;
        input->havingQual = nullptr;
        input->distinctClause = NIL;
        input->sortClause = NIL;
        plan.key_query = deparse(input);
        plan.key_refs = relation_refs(plan.key_query, table_index);
    }
    DifferentialAnalysis a;
    a.plan = std::move(plan);
    return a;
}

}  // namespace pgtrickle::pg
