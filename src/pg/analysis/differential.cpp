// Differential support analysis: which queries the delta rules can maintain exactly today, and
// the facts they need (relation references with their text positions, used columns, keys,
// group keys). Anything outside the supported shape is reported with a reason, so AUTO can fall
// back to FULL and DIFFERENTIAL can refuse with that reason.
#include "pg_trickle/pg/differential.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pg_trickle/core/names.hpp"
#include "pg_trickle/core/time_dependence.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/grouping_sets.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/walker.hpp"
#include "change_filters.hpp"
#include "output_key.hpp"
#include "pg_trickle/pg/ordering.hpp"
#include "pg_trickle/pg/query_analysis.hpp"
#include "pg_trickle/pg/recursion.hpp"
#include "pg_trickle/pg/references.hpp"
#include "running_state.hpp"

extern "C" {
#include "utils/rls.h"
#include "utils/typcache.h"
#include "utils/regproc.h"
}

namespace pgtrickle::pg {

namespace {

// Plain C state for walkers (they run inside PostgreSQL frames: no C++ exceptions there).
struct VarState {
    List* vars;  // Var nodes referencing the level the walk started at
    int depth;   // how many query levels below that level the walk is
    Query* top;  // that level
};

// Collects the Vars, at any depth below a level (subqueries and subquery expressions
// included), that reference that level's range table.
// Aggregates of one level (not of its subqueries) whose result depends on the order rows arrive
// in, or on floating-point summation order: evaluated twice (new and old state) below the top of
// a query, they could print differently for the same rows, and the old row would not be found.
struct OrderState {
    bool check_aggregates;  // (at the top, aggregates are grouped and kept per group)
    bool order_sensitive;
};

bool find_order_sensitive(Node* node, void* context) {
    if (node == nullptr)
        return false;
    auto* s = static_cast<OrderState*>(context);
    if (IsA(node, Query))
        return false;
    if (IsA(node, SubLink)) {
        auto* link = reinterpret_cast<SubLink*>(node);
        if (link->subLinkType == ARRAY_SUBLINK &&
            reinterpret_cast<Query*>(link->subselect)->sortClause == NIL)
            s->order_sensitive = true;
        return expression_tree_walker(link->testexpr, as_walker(find_order_sensitive), context);
    }
    if (IsA(node, Aggref)) {
        auto* agg = reinterpret_cast<Aggref*>(node);
        if (agg->agglevelsup == 0 && s->check_aggregates) {
            const char* name = get_func_name(agg->aggfnoid);
            const bool ordered_result =
                name && (strcmp(name, "string_agg") == 0 || strcmp(name, "array_agg") == 0 ||
                         strcmp(name, "json_agg") == 0 || strcmp(name, "jsonb_agg") == 0 ||
                         strcmp(name, "json_object_agg") == 0 ||
                         strcmp(name, "jsonb_object_agg") == 0 || strcmp(name, "xmlagg") == 0);
            if (ordered_result && agg->aggorder == NIL)
                s->order_sensitive = true;
            // Strings that are equal under a nondeterministic collation and differ ('abc',
            // 'ABC'): min / max, DISTINCT and an ordered aggregate's ties pick one of them by
            // the order rows arrive in. (Numerics of another scale, 1.0 and 1.00, would too,
            // but their scale is rarely known below the top, TPC-H Q15's max(total_revenue)
            // among them, and such ties are rare: not refused for them.)
            const bool picks_among_equal =
                name &&
                (strcmp(name, "min") == 0 || strcmp(name, "max") == 0 || agg->aggdistinct != NIL);
            ListCell* lc;
            foreach (lc, agg->args) {
                auto* arg = reinterpret_cast<Node*>(static_cast<TargetEntry*>(lfirst(lc))->expr);
                if (picks_among_equal && nondeterministic_collation(exprCollation(arg)))
                    s->order_sensitive = true;
            }
            if (ordered_result) {
                foreach (lc, agg->aggorder) {
                    auto* tle = get_sortgroupclause_tle(static_cast<SortGroupClause*>(lfirst(lc)),
                                                        agg->args);
                    if (nondeterministic_collation(
                            exprCollation(reinterpret_cast<Node*>(tle->expr))))
                        s->order_sensitive = true;
                }
            }
            if (name && (strcmp(name, "sum") == 0 || strcmp(name, "avg") == 0 ||
                         strncmp(name, "stddev", 6) == 0 || strncmp(name, "var", 3) == 0)) {
                ListCell* lc;
                foreach (lc, agg->aggargtypes) {
                    Oid t = lfirst_oid(lc);
                    if (t == FLOAT4OID || t == FLOAT8OID)
                        s->order_sensitive = true;
                }
            }
        }
    }
    return expression_tree_walker(node, as_walker(find_order_sensitive), context);
}

bool collect_vars(Node* node, void* context) {
    auto* s = static_cast<VarState*>(context);
    if (node == nullptr)
        return false;
    if (IsA(node, Var)) {
        auto* v = reinterpret_cast<Var*>(node);
        if (static_cast<int>(v->varlevelsup) != s->depth)
            return false;
        // A column of a join (one merged by USING, mostly: the parser points the others at
        // their tables' columns): the columns it stands for, Vars of the top level.
        RangeTblEntry* rte = rt_fetch(v->varno, s->top->rtable);
        if (rte->rtekind == RTE_JOIN && v->varattno > 0) {
            const int depth = std::exchange(s->depth, 0);
            const bool r = collect_vars(
                static_cast<Node*>(list_nth(rte->joinaliasvars, v->varattno - 1)), context);
            s->depth = depth;
            return r;
        }
        s->vars = lappend(s->vars, v);
        return false;
    }
    if (IsA(node, Query)) {
        s->depth++;
        bool r = query_tree_walker(reinterpret_cast<Query*>(node), as_walker(collect_vars), context,
                                   QTW_IGNORE_JOINALIASES);
        s->depth--;
        return r;
    }
    return expression_tree_walker(node, as_walker(collect_vars), context);
}

Query* parse_one(const std::string& text) {
    const char* t = text.c_str();
    return pg_call([&] {
        List* raw = pg_parse_query(t);
        return parse_analyze_fixedparams(linitial_node(RawStmt, raw), t, nullptr, 0, nullptr);
    });
}

bool has_aggregate(Node* node, void*) {
    if (node == nullptr)
        return false;
    if (IsA(node, Aggref) || IsA(node, GroupingFunc))
        return true;
    if (IsA(node, Query))
        return query_tree_walker(reinterpret_cast<Query*>(node), as_walker(has_aggregate), nullptr,
                                 0);
    return expression_tree_walker(node, as_walker(has_aggregate), nullptr);
}

// Whether `EXISTS (sub)` keeps its answer when sub's select list is replaced by a constant:
// PostgreSQL's planner drops that list itself (simplify_EXISTS_query) under these conditions,
// none of which lets the list change whether a row comes out. Not when the list holds an
// aggregate of an outer query (`EXISTS (SELECT sum(o.x) FROM t)` makes the outer query
// aggregate), nor with FETCH ... WITH TIES, which needs the ORDER BY dropped with the list.
bool exists_list_irrelevant(Query* sub) {
    return sub->commandType == CMD_SELECT && sub->setOperations == nullptr && !sub->hasAggs &&
           sub->groupingSets == NIL && !sub->hasWindowFuncs && !sub->hasTargetSRFs &&
           !sub->hasModifyingCTE && sub->havingQual == nullptr && sub->limitOffset == nullptr &&
           sub->limitOption != LIMIT_OPTION_WITH_TIES && sub->rowMarks == NIL &&
           !has_aggregate(reinterpret_cast<Node*>(sub->targetList), nullptr) &&
           !(list_length(sub->targetList) == 1 &&
             IsA(static_cast<TargetEntry*>(linitial(sub->targetList))->expr, Const));
}

// Reads every `EXISTS (SELECT <list> ...)` below `node` as `EXISTS (SELECT 1 ...)` (with the
// clauses that refer to the list, which cannot change the answer either: GROUP BY, DISTINCT,
// ORDER BY, WINDOW). `EXISTS (SELECT * FROM t ...)` would otherwise make every column of t a
// used column: captured for every writer of t, and consolidated by every refresh.
bool drop_exists_lists(Node* node, void* changed) {
    if (node == nullptr)
        return false;
    if (IsA(node, SubLink)) {
        auto* link = reinterpret_cast<SubLink*>(node);
        auto* sub = reinterpret_cast<Query*>(link->subselect);
        if (link->subLinkType == EXISTS_SUBLINK && IsA(sub, Query) && exists_list_irrelevant(sub)) {
            Const* one = makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(1), false, true);
            sub->targetList =
                list_make1(makeTargetEntry(reinterpret_cast<Expr*>(one), 1, pstrdup("one"), false));
            sub->groupClause = NIL;
            sub->windowClause = NIL;
            sub->distinctClause = NIL;
            sub->sortClause = NIL;
            sub->hasDistinctOn = false;
            *static_cast<bool*>(changed) = true;
        }
    }
    if (IsA(node, Query))
        return query_tree_walker(reinterpret_cast<Query*>(node), as_walker(drop_exists_lists),
                                 changed, 0);
    return expression_tree_walker(node, as_walker(drop_exists_lists), changed);
}

DifferentialAnalysis unsupported(std::string reason) {
    DifferentialAnalysis a;
    a.reason = std::move(reason);
    return a;
}

// How deep queries nest in one another (subqueries in FROM, subquery expressions, CTEs, the
// branches of set operations) and set operations in one another: the analysis walks them
// recursively. The walk stops once past `limit` (plain C: it runs inside pg_call).
struct NestingState {
    int depth;
    int limit;
};

bool nested_deeper(Node* node, void* context) {
    if (node == nullptr)
        return false;
    auto* s = static_cast<NestingState*>(context);
    const bool level = IsA(node, Query) || IsA(node, SetOperationStmt);
    if (level && ++s->depth > s->limit)
        return true;
    const bool deeper = IsA(node, Query)
                            ? query_tree_walker(reinterpret_cast<Query*>(node),
                                                as_walker(nested_deeper), context, 0)
                            : expression_tree_walker(node, as_walker(nested_deeper), context);
    if (level)
        --s->depth;
    return deeper;
}

bool non_identity_key(List* clauses, Query* q) {
    ListCell* lc;
    foreach (lc, clauses) {
        auto* tle =
            get_sortgroupclause_tle(static_cast<SortGroupClause*>(lfirst(lc)), q->targetList);
        if (!key_is_identity(reinterpret_cast<Node*>(tle->expr), q))
            return true;
    }
    return false;
}

// Whether some level of the query matches rows by values that can be equal and still differ:
// a GROUP BY, DISTINCT [ON] or window PARTITION BY key, or a set operation's column (but UNION
// ALL's, which matches nothing), that is not key_is_identity (a string of a nondeterministic
// collation, 'abc' = 'ABC'; a numeric of unknown scale, 1.0 = 1.00; a float, -0 = 0; an
// interval, '1 day' = '24 hours'; jsonb, arrays, records ...). The engine identifies a group,
// a distinct row or a set operation's row by the text of its values: 1.0 and 1.00 would be two
// groups in the stream table and one in the query, and which one the query shows is its own
// choice at each evaluation. Plain C (runs inside pg_call).
bool matches_by_non_identity_keys(Node* node, void* context) {
    if (node == nullptr)
        return false;
    if (IsA(node, Query)) {
        auto* q = reinterpret_cast<Query*>(node);
        if (non_identity_key(q->groupClause, q) || non_identity_key(q->distinctClause, q))
            return true;
        ListCell* lc;
        foreach (lc, q->windowClause) {
            auto* w = static_cast<WindowClause*>(lfirst(lc));
            if (non_identity_key(w->partitionClause, q))
                return true;
        }
        return query_tree_walker(q, as_walker(matches_by_non_identity_keys), context, 0);
    }
    if (IsA(node, SetOperationStmt)) {
        auto* op = reinterpret_cast<SetOperationStmt*>(node);
        if (!(op->op == SETOP_UNION && op->all)) {
            ListCell *t, *m, *c;
            forthree(t, op->colTypes, m, op->colTypmods, c, op->colCollations) {
                int32 typmod = lfirst_int(m);
                const Oid type = getBaseTypeAndTypmod(lfirst_oid(t), &typmod);
                if (!equality_is_identity(type, typmod, lfirst_oid(c)))
                    return true;
            }
        }
    }
    return expression_tree_walker(node, as_walker(matches_by_non_identity_keys), context);
}

}  // namespace

// A DEFERRABLE primary key is none: inside a transaction it can hold a key twice, which every
// use below (the old state rebuilt by key, one row per key and content, a total order) would
// take for impossible.
std::vector<std::string> primary_key(Spi& spi, Oid relid) {
    auto res = spi.execute_cached(
        "SELECT a.attname FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid"
        "  AND a.attnum = ANY (i.indkey::smallint[])"
        " WHERE i.indrelid = $1::oid AND i.indisprimary AND i.indimmediate"
        " ORDER BY pg_catalog.array_position(i.indkey::smallint[], a.attnum)",
        {std::to_string(relid)});
    std::vector<std::string> out;
    for (const auto& r : res.rows)
        out.push_back(*r[0]);
    return out;
}

namespace {

constexpr const char* kRecursiveReason = "a recursive query (WITH RECURSIVE)";

// The type of expression `e` as SQL, schema-qualified, with its modifier (numeric(15,2)).
std::string type_sql_of(Node* e) {
    return pg_call([&] {
        return format_type_extended(exprType(e), exprTypmod(e),
                                    FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
    });
}

// What the walk over a query's levels found.
struct Sources {
    core::DeltaPlan* plan;
    std::map<Oid, std::size_t> table_index;
    std::map<Oid, std::set<AttrNumber>> used;
    // Per table, the change filter of each reference to it and the filters through its
    // partners (change_filters.hpp).
    struct ReferenceFilter {
        std::string own;
        std::vector<PartnerFilter> partners;
    };
    std::map<Oid, std::vector<ReferenceFilter>> filters;
    // Set when a part can only be maintained by recomputing the whole query: why.
    std::string recompute_reason;
};

// Where a query level sits: the defining query itself, a subquery in FROM, or the subquery
// of a subquery expression (EXISTS (...) allows LIMIT: it cannot change the answer).
enum class Place { Top, From, Sublink, Exists };

// Checks one query level (and, recursively, its subqueries and subquery expressions) is
// something the delta rules handle, records its tables and the columns it uses. Returns the
// reason when it is not supported.
// `parent`: the level whose subquery expression `q` is (Place::Sublink, Place::Exists).
std::string walk_level(Spi& spi, Query* q, Place place, Sources& out, Query* parent = nullptr) {
    auto recompute = [&](std::string why) {
        if (out.recompute_reason.empty())
            out.recompute_reason = std::move(why);
    };
    // Recursive CTEs (the others were inlined by analyze_query): recomputed.
    ListCell* cc;
    foreach (cc, q->cteList) {
        auto* cte = static_cast<CommonTableExpr*>(lfirst(cc));
        recompute(kRecursiveReason);
        if (cte->search_clause != nullptr || cte->cycle_clause != nullptr)
            return "WITH RECURSIVE ... SEARCH / CYCLE";
        std::string why =
            walk_level(spi, reinterpret_cast<Query*>(cte->ctequery), Place::From, out);
        if (!why.empty())
            return why;
    }
    if (q->groupingSets)
        recompute(place == Place::Top
                      ? "GROUPING SETS, ROLLUP or CUBE with window functions, DISTINCT, LIMIT or "
                        "a subquery expression at the same level"
                      : "GROUPING SETS, ROLLUP or CUBE below the top of the query");
    const bool grouped_level = q->hasAggs || q->groupClause != NIL || q->havingQual != nullptr;
    if (q->hasWindowFuncs && (grouped_level || (q->distinctClause != NIL && !q->hasDistinctOn)))
        recompute("window functions over grouped or DISTINCT rows");
    if (q->hasTargetSRFs && (grouped_level || q->distinctClause != NIL))
        recompute("set-returning functions in the select list of a grouped or DISTINCT query");
    if (place != Place::Exists) {
        std::string why = order_dependence(spi, q);
        if (!why.empty())
            recompute(std::move(why));
    }

    {
        OrderState os{place != Place::Top, false};
        pg_call([&] {
            find_order_sensitive(reinterpret_cast<Node*>(q->targetList), &os);
            find_order_sensitive(q->havingQual, &os);
            find_order_sensitive(q->jointree->quals, &os);
        });
        if (os.order_sensitive)
            return "aggregates whose result depends on row order (string_agg, array_agg, json_agg "
                   "... without ORDER BY, ARRAY(SELECT ...) without ORDER BY, floating-point "
                   "sums, min / max / DISTINCT / ORDER BY over strings of a nondeterministic "
                   "collation) below the top of the query";
    }
    for (SubLink* link : level_sublinks(q)) {
        Place inner = link->subLinkType == EXISTS_SUBLINK ? Place::Exists : Place::Sublink;
        std::string why = walk_level(spi, reinterpret_cast<Query*>(link->subselect), inner, out, q);
        if (!why.empty())
            return why;
    }

    std::map<Index, Oid> rte_relid;
    Index rti = 0;
    ListCell* lc;
    foreach (lc, q->rtable) {
        ++rti;
        auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
        switch (rte->rtekind) {
            case RTE_JOIN:
                continue;
            case RTE_SUBQUERY: {
                std::string why = walk_level(spi, rte->subquery, Place::From, out);
                if (!why.empty())
                    return why;
                continue;
            }
            case RTE_RELATION:
                break;
            case RTE_FUNCTION:  // (volatile ones are refused for the whole query)
            case RTE_VALUES:
            case RTE_CTE:  // a recursive CTE's reference (recomputed, above)
                continue;
            default:
                return "table functions (XMLTABLE) in FROM";
        }
        // A partitioned table is captured with triggers on every member of its tree
        // (capture.cpp), unless a member is a foreign table; one of its partitions is not (a
        // statement on the partitioned table fires its own statement triggers, not the
        // partition's: the partition's capture would miss its changes).
        const bool partitioned = rte->relkind == RELKIND_PARTITIONED_TABLE;
        if (partitioned) {
            if (pg_call([&] { return get_rel_relispartition(rte->relid); }))
                return "partitions of a partitioned table as sources";
            // (No rows, ever; its partitions' changes would reach the buffer all the same.)
            if (!rte->inh)
                return "ONLY on a partitioned table";
            // (capturable(): a partition tree without foreign partitions.)
            const bool foreign = !capturable(spi, rte->relid);
            if (foreign)
                return "partitioned tables with foreign-table partitions as sources";
        } else if (rte->relkind != RELKIND_RELATION) {
            switch (rte->relkind) {
                case RELKIND_VIEW:
                    return "views as sources";
                case RELKIND_MATVIEW:
                    return "materialized views as sources";
                case RELKIND_FOREIGN_TABLE:
                    return "foreign tables as sources";
                default:
                    return "sources that are not plain tables";
            }
        }
        bool has_children = !partitioned && pg_call([&] { return has_subclass(rte->relid); });
        if (has_children)
            return "tables with inheritance children";
        if (pg_call([&] { return get_rel_relispartition(rte->relid); }))
            return "partitions of a partitioned table as sources";
        // (Nor of an inheritance parent, whose statements change the child's rows.)
        if (pg_call([&] { return has_superclass(rte->relid); }))
            return "inheritance children as sources";
        // (No trigger may be created on a system catalog.)
        if (pg_call([&] { return IsCatalogRelationOid(rte->relid); }))
            return "system catalog tables as sources";
        rte_relid[rti] = rte->relid;
        out.filters[rte->relid].push_back(
            {change_filter(q, rti, rte->relid), partner_filters(q, rti, rte->relid, parent)});
        if (out.table_index.count(rte->relid))
            continue;
        core::DeltaTable t;
        t.relid = rte->relid;
        char* nsp = pg_call([&] { return get_namespace_name(get_rel_namespace(rte->relid)); });
        char* rel = pg_call([&] { return get_rel_name(rte->relid); });
        t.qualified_name = core::quote_ident(nsp) + "." + core::quote_ident(rel);
        t.key = primary_key(spi, rte->relid);
        out.table_index[rte->relid] = out.plan->tables.size();
        out.plan->tables.push_back(t);
    }

    // Vars referencing this level, wherever they are (correlated subqueries included).
    // (Not the joins' lists of their columns, which name every column of both sides: a column
    // of a join the query reads is followed to its tables' columns, collect_vars.)
    VarState vs{NIL, 0, q};
    pg_call([&] {
        query_tree_walker(q, as_walker(collect_vars), &vs, QTW_IGNORE_JOINALIASES);
        // Except a join with an alias, `(a JOIN b ON ...) AS j`: its text names every column of
        // both sides (`AS j(id, k, ...)`), so a delta reading a or b there reads them all.
        ListCell* rc;
        foreach (rc, q->rtable) {
            auto* rte = static_cast<RangeTblEntry*>(lfirst(rc));
            if (rte->rtekind == RTE_JOIN && rte->alias != nullptr)
                collect_vars(reinterpret_cast<Node*>(rte->joinaliasvars), &vs);
        }
    });
    foreach (lc, vs.vars) {
        auto* v = static_cast<Var*>(lfirst(lc));
        if (v->varattno == 0)
            return "whole-row references";
        if (v->varattno < 0)
            return "system columns";
        auto it = rte_relid.find(v->varno);
        if (it != rte_relid.end())
            out.used[it->second].insert(v->varattno);
    }
    return "";
}

}  // namespace

namespace {

// Whether an index of table `relid` has the expression `key` (over the table's columns, its
// Vars numbered `varno`) as its leading column. Plain C.
bool expression_index_leads(Oid relid, Node* key, Index varno) {
    Node* k = static_cast<Node*>(copyObjectImpl(key));
    if (varno != 1)
        ChangeVarNodes(k, static_cast<int>(varno), 1, 0);
    k = eval_const_expressions(nullptr, k);
    Relation rel = table_open(relid, AccessShareLock);
    List* indexes = RelationGetIndexList(rel);
    bool found = false;
    ListCell* lc;
    foreach (lc, indexes) {
        Relation index = index_open(lfirst_oid(lc), AccessShareLock);
        if (index->rd_index->indkey.values[0] == 0) {
            List* exprs = RelationGetIndexExpressions(index);
            found = exprs != NIL && equal(linitial(exprs), k);
        }
        index_close(index, AccessShareLock);
        if (found)
            break;
    }
    list_free(indexes);
    table_close(rel, AccessShareLock);
    return found;
}

// DeltaPlan::groups_in_one_pass for the group keys `key_tles` of `q`: each a column of a table
// of q's FROM clause or an expression over such columns, of a type whose equal values are the
// same value (row ids hash their text), and none that an index could serve: a column leading
// an index of its table, or an expression an index of its table leads with. (Evaluated
// per group, a key no index serves reads its table whole for every group: DISTINCT v % 5000
// over a big table took seconds per thousand changed rows.)
bool groups_in_one_pass(Spi& spi, Query* q, List* key_tles) {
    if (key_tles == NIL)
        return false;
    auto relation_of = [&](Var* v) -> RangeTblEntry* {
        if (v->varlevelsup != 0 || v->varattno <= 0 || v->varno < 1 ||
            v->varno > list_length(q->rtable))
            return nullptr;
        auto* rte = static_cast<RangeTblEntry*>(list_nth(q->rtable, v->varno - 1));
        return rte->rtekind == RTE_RELATION ? rte : nullptr;
    };
    ListCell* lc;
    foreach (lc, key_tles) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (IsA(tle->expr, Var)) {
            auto* v = reinterpret_cast<Var*>(tle->expr);
            RangeTblEntry* rte = relation_of(v);
            int32 typmod = v->vartypmod;
            const Oid type = pg_call([&] { return getBaseTypeAndTypmod(v->vartype, &typmod); });
            if (rte == nullptr ||
                !pg_call([&] { return equality_is_identity(type, typmod, v->varcollid); }))
                return false;
            auto indexed = spi.execute_cached(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index"
                " WHERE indrelid = $1::oid AND indkey[0] = $2::int2)",
                {std::to_string(rte->relid), std::to_string(v->varattno)});
            if (indexed.scalar() == Value("t"))
                return false;
            continue;
        }
        auto* e = reinterpret_cast<Node*>(tle->expr);
        if (!pg_call([&] { return key_is_identity(e); }))
            return false;
        List* vars = pg_call([&] { return pull_var_clause(e, 0); });
        if (vars == NIL)
            return false;
        ListCell* vc;
        foreach (vc, vars) {
            auto* v = static_cast<Var*>(lfirst(vc));
            if (!IsA(v, Var) || relation_of(v) == nullptr)
                return false;
        }
        // An index on the expression itself (of the one table it reads) serves it.
        auto* first = static_cast<Var*>(linitial(vars));
        bool one_table = true;
        foreach (vc, vars)
            one_table = one_table && static_cast<Var*>(lfirst(vc))->varno == first->varno;
        if (one_table && pg_call([&] {
                return expression_index_leads(relation_of(first)->relid, e, first->varno);
            }))
            return false;
    }
    return true;
}

// A top-K query (ORDER BY ... LIMIT k at the top) whose inner query, the query without them,
// the rules maintain: its plan (core::TopK). Only an order over output columns by their types'
// default orderings (the stored rows are sorted by it), without OFFSET, WITH TIES or DISTINCT
// ON (whose row choice follows the ORDER BY). nullopt: the query is recomputed instead.
std::optional<DifferentialAnalysis> top_k_plan(Spi& spi, Query* q, const std::string& deparsed,
                                               bool check_limits) {
    if (q->limitOption != LIMIT_OPTION_COUNT || q->hasDistinctOn)
        return std::nullopt;
    auto constant = [](Node* n) -> std::optional<int64> {
        Node* folded = pg_call([&] { return eval_const_expressions(nullptr, n); });
        if (!IsA(folded, Const) || reinterpret_cast<Const*>(folded)->constisnull ||
            reinterpret_cast<Const*>(folded)->consttype != INT8OID)
            return std::nullopt;
        return DatumGetInt64(reinterpret_cast<Const*>(folded)->constvalue);
    };
    if (q->limitOffset != nullptr && constant(q->limitOffset) != std::optional<int64>(0))
        return std::nullopt;
    const std::optional<int64> limit = constant(q->limitCount);
    if (!limit || *limit <= 0)
        return std::nullopt;
    core::TopK top_k;
    top_k.limit = static_cast<std::size_t>(*limit);
    ListCell* lc;
    foreach (lc, q->sortClause) {
        auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
        TargetEntry* tle = pg_call([&] { return get_sortgroupclause_tle(sgc, q->targetList); });
        if (tle->resjunk || tle->resname == nullptr)
            return std::nullopt;
        const Oid type = pg_call([&] { return exprType(reinterpret_cast<Node*>(tle->expr)); });
        TypeCacheEntry* tc =
            pg_call([&] { return lookup_type_cache(type, TYPECACHE_LT_OPR | TYPECACHE_GT_OPR); });
        core::TopK::Item item;
        item.column = tle->resname;
        if (sgc->sortop == tc->lt_opr && OidIsValid(sgc->sortop))
            item.descending = false;
        else if (sgc->sortop == tc->gt_opr && OidIsValid(sgc->sortop))
            item.descending = true;
        else
            return std::nullopt;
        item.nulls_first = sgc->nulls_first;
        List* names = NIL;
        List* args = NIL;
        const Oid sortop = sgc->sortop;
        pg_call([&] { format_operator_parts(sortop, &names, &args, false); });
        if (list_length(names) != 2)
            return std::nullopt;
        // (format_operator_parts lists plain C strings: schema, name.)
        item.sort_operator = fmt::format(
            "OPERATOR({}.{})", quote_identifier(static_cast<const char*>(linitial(names))),
            static_cast<const char*>(lsecond(names)));
        top_k.order.push_back(std::move(item));
    }
    Query* inner = pg_call([&] {
        auto* c = static_cast<Query*>(copyObjectImpl(q));
        c->sortClause = NIL;
        c->limitCount = nullptr;
        c->limitOffset = nullptr;
        c->limitOption = LIMIT_OPTION_DEFAULT;
        return c;
    });
    DifferentialAnalysis a = analyze_differential(spi, deparse(inner), check_limits);
    if (!a.plan || a.plan->recompute || a.plan->recursion || a.plan->time_dependent ||
        a.plan->top_k)
        return std::nullopt;
    // Only an inner query read linearly throughout (joins, WHERE, grouping; no subquery
    // expression, outer join or set operation other than UNION ALL): the terms of a relation
    // read new minus old evaluate such a query twice, and their plans over a large table can
    // cost many times the one evaluation a recomputation does (TPC-H Q21's NOT EXISTS: 8.8 s
    // against 0.1 s). Such a query is recomputed.
    const auto& inner_refs =
        a.plan->kind == core::DeltaPlan::Kind::Grouped ? a.plan->key_refs : a.plan->refs;
    if (std::any_of(inner_refs.begin(), inner_refs.end(),
                    [](const core::RelationRef& r) { return r.nonlinear; }))
        return std::nullopt;
    // Nor a grouped one whose touched groups would be evaluated in one pass over its tables (no
    // index leads a group key): that pass is the whole query, what a recomputation costs,
    // before the terms that find the touched groups.
    if (a.plan->kind == core::DeltaPlan::Kind::Grouped && a.plan->groups_in_one_pass)
        return std::nullopt;
    core::DeltaPlan inner_plan = std::move(*a.plan);
    // Only the first k rows are stored, not a group's running state: touched groups are
    // evaluated again.
    inner_plan.algebraic.clear();
    inner_plan.algebraic_args = 0;
    inner_plan.relative_apply = false;
    inner_plan.probe_storage = false;
    core::DeltaPlan plan;
    plan.kind = core::DeltaPlan::Kind::Linear;
    plan.tables = inner_plan.tables;
    plan.output_columns = inner_plan.output_columns;
    plan.output_groupable = inner_plan.output_groupable;
    plan.query = deparsed;
    top_k.inner = std::make_shared<const core::DeltaPlan>(std::move(inner_plan));
    plan.top_k = std::move(top_k);
    DifferentialAnalysis out;
    out.plan = std::move(plan);
    return out;
}

}  // namespace

DifferentialAnalysis analyze_differential(Spi& spi, const std::string& defining_query,
                                          bool check_limits) {
    std::string deparsed = defining_query;
    Query* q = parse_one(deparsed);
    if (NestingState n{0, guc::max_parse_depth};
        check_limits && pg_call([&] { return nested_deeper(reinterpret_cast<Node*>(q), &n); }))
        return unsupported(fmt::format(
            "queries or set operations nested more than {} deep (pg_trickle.max_parse_depth)",
            guc::max_parse_depth));
    // GROUPING SETS / ROLLUP / CUBE at the top: maintained as the UNION ALL of one grouped
    // query per set (the same rows). With LIMIT, a subquery expression or window functions at
    // that level they are recomputed instead (walk_level).
    if (q->groupingSets != NIL && q->limitCount == nullptr && q->limitOffset == nullptr &&
        !q->hasSubLinks && !q->hasWindowFuncs && q->distinctClause == NIL) {
        const int max_branches = check_limits ? guc::max_grouping_set_branches : 65536;
        std::string as_union = grouping_sets_as_union(q, max_branches);
        if (as_union.empty())
            return unsupported(fmt::format(
                "more than {} grouping sets (pg_trickle.max_grouping_set_branches)", max_branches));
        q = parse_one(as_union);
        deparsed = deparse(q);
        q = parse_one(deparsed);
    }
    // Top-K (ORDER BY ... LIMIT at the top), and grouped queries whose select list or HAVING
    // has a subquery (below): maintained by evaluating the query whole and writing only the rows
    // that differ from the stored ones (DeltaPlan::recompute); the query must still be made of
    // parts the engine handles.
    std::string recompute_reason;
    if (q->limitCount != nullptr && q->sortClause != NIL) {
        if (auto top_k = top_k_plan(spi, q, deparsed, check_limits))
            return std::move(*top_k);
        recompute_reason = "a top-K query (ORDER BY ... LIMIT)";
    } else if (q->limitCount != nullptr || q->limitOffset != nullptr)
        recompute_reason = "a query with LIMIT / OFFSET";
    // (DISTINCT ON keeps one row per key: maintained like a window function, not grouped.)
    bool grouped = q->hasAggs || q->groupClause != NIL || q->havingQual != nullptr ||
                   (q->distinctClause != NIL && !q->hasDistinctOn);
    if (recompute_reason.empty() && (q->hasAggs || q->groupClause != NIL) &&
        q->distinctClause != NIL)
        recompute_reason = "DISTINCT over grouped rows";
    // The groups a change touches are found from the query's input (FROM and WHERE); what the
    // select list or HAVING of a grouped query reads besides that (TPC-H Q11's threshold) can
    // move any group: such a query is recomputed whole like a top-K one (DeltaPlan::recompute).
    if (recompute_reason.empty() && (q->hasAggs || q->groupClause != NIL) && pg_call([&] {
            return checkExprHasSubLink(reinterpret_cast<Node*>(q->targetList)) ||
                   checkExprHasSubLink(q->havingQual);
        }))
        recompute_reason = "a grouped query with a subquery in its select list or HAVING";
    if (pg_call([&] { return contain_volatile_functions(reinterpret_cast<Node*>(q)); })) {
        auto a = unsupported("volatile functions");
        a.volatile_functions = true;
        return a;
    }
    // (After the check above: a volatile function in an EXISTS select list is refused like
    // anywhere else, though the planner never evaluates it.)
    bool lists_dropped = false;
    pg_call([&] { query_tree_walker(q, as_walker(drop_exists_lists), &lists_dropped, 0); });
    if (lists_dropped) {
        deparsed = deparse(q);
        q = parse_one(deparsed);
    }

    // Time or session: evaluated as of each refresh, which recomputes the query (the result
    // changes without any source changing; core/time_dependence.hpp).
    const bool time_dependent = core::is_time_dependent(functions_used(q));
    if (time_dependent)
        recompute_reason =
            "functions whose value changes with time or session (now(), CURRENT_DATE, "
            "current_setting(), ...), evaluated as of each refresh";

    if (recompute_reason.empty() &&
        pg_call([&] { return matches_by_non_identity_keys(reinterpret_cast<Node*>(q), nullptr); }))
        recompute_reason =
            "groups, DISTINCT, window partitions or set operations over values that can be "
            "equal and print differently (strings of a nondeterministic collation, numeric of "
            "varying scale, floating point, interval, json ...)";

    core::DeltaPlan plan;
    Sources sources{&plan, {}, {}};
    Query* walked = q;
    if (!recompute_reason.empty()) {
        walked = pg_call([&] { return static_cast<Query*>(copyObjectImpl(q)); });
        walked->limitCount = nullptr;
        walked->limitOffset = nullptr;
    }
    std::string why = walk_level(spi, walked, Place::Top, sources);
    if (!why.empty())
        return unsupported(why);
    if (recompute_reason.empty())
        recompute_reason = sources.recompute_reason;
    std::map<Oid, std::size_t>& table_index = sources.table_index;
    ListCell* lc;
    // Row-level security that applies to the stream table's owner (who gives the query): a
    // change buffer holds every row, and the delta reads it without the policies, while a FULL
    // refresh reads the table through them. (When the query is given: maintenance analyses it
    // again as whoever writes or refreshes.)
    if (check_limits) {
        for (const auto& t : plan.tables) {
            const Oid relid = t.relid;
            if (pg_call([&] { return check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED; }))
                return unsupported(
                    "tables with row-level security as sources (their policies apply to the "
                    "stream table's owner)");
        }
    }

    // Used columns (key columns always included, first).
    bool names_as_values = false;
    bool enum_domain = false;
    for (auto& t : plan.tables) {
        std::set<std::string> seen;
        t.groupable = true;
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
            names_as_values = names_as_values || pg_call([&] { return prints_names(type); });
            enum_domain = enum_domain || pg_call([&] { return domain_over_enum(type); });
            t.groupable =
                t.groupable && pg_call([&] { return equality_is_identity(type, typmod, coll); });
        };
        for (const auto& k : t.key) {
            const char* kn = k.c_str();
            AttrNumber att = pg_call([&] { return get_attnum(t.relid, kn); });
            add(att);
        }
        for (AttrNumber att : sources.used[t.relid])
            add(att);
        // The change filter: the disjunction of the references' filters (each a conjunction),
        // set by compose_change_filters below and again by the refresh, which knows which
        // tables changed.
        for (const auto& r : sources.filters[t.relid]) {
            core::DeltaTable::ReferenceFilter f{r.own, {}};
            for (const auto& p : r.partners)
                if (auto it = table_index.find(p.relid); it != table_index.end())
                    f.partners.emplace_back(it->second, p.condition);
            t.reference_filters.push_back(std::move(f));
        }
    }
    core::compose_change_filters(plan.tables);

    plan.output_groupable = true;
    foreach (lc, q->targetList) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (tle->resjunk)
            continue;
        plan.output_columns.push_back(tle->resname);
        auto* e = reinterpret_cast<Node*>(tle->expr);
        names_as_values = names_as_values || pg_call([&] { return prints_names(exprType(e)); });
        enum_domain = enum_domain || pg_call([&] { return domain_over_enum(exprType(e)); });
        plan.output_groupable =
            plan.output_groupable && pg_call([&] { return key_is_identity(e, q); });
    }

    // Rows and groups are identified by the text of their values, which for these follows
    // the names of the objects they stand for: a rename (or another search_path) would leave
    // the stored rows under identities no change finds again.
    if (names_as_values || pg_call([&] { return reads_names_as_values(q); }))
        return unsupported(
            "values that print as object names (regclass, regtype, regproc, ...): their text "
            "changes when an object is renamed");
    // The delta compares such values with =, which PostgreSQL does not resolve for a domain
    // over an enum (anyenum does not take it), though GROUP BY and DISTINCT do.
    if (enum_domain)
        return unsupported(
            "values of a domain over an enum type (no = operator resolves for them)");
    plan.query = deparsed;
    if (!recompute_reason.empty()) {
        plan.recompute = true;
        plan.recompute_reason = recompute_reason;
        plan.time_dependent = time_dependent;
        // A recursive query of the common shape is maintained by delete and rederive instead.
        if (recompute_reason == kRecursiveReason) {
            plan.recursion = recursive_terms(q, sources.table_index);
            plan.recompute = !plan.recursion;
        }
        DifferentialAnalysis a;
        a.plan = std::move(plan);
        return a;
    }

    // Linear queries that return the primary key of every relation they read (or of enough of
    // them to determine the others) have unique rows with a stable identity: the key.
    if (!grouped && q->setOperations == nullptr && !q->hasTargetSRFs)
        plan.key_columns = output_key(q);
    try {
        auto r = analyze_references(q, deparsed, table_index);
        plan.refs = std::move(r.refs);
        plan.products = std::move(r.products);
        plan.restrictions = std::move(r.restrictions);
    } catch (const std::runtime_error& e) {
        return unsupported(fmt::format("a query shape the analysis cannot place ({})", e.what()));
    }

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
        // The input query: same FROM and WHERE, the group keys as __pgt_g1..k. Over a plain
        // subquery in FROM, the subquery itself with the outer WHERE added (liftable_subquery).
        Query* input = pg_call([&] { return static_cast<Query*>(copyObjectImpl(q)); });
        Query* outer = pg_call([&] { return liftable_subquery(input); }) ? input : nullptr;
        auto over_input = [&](Expr* e) {
            return pg_call([&] {
                Expr* c = static_cast<Expr*>(copyObjectImpl(e));
                return outer ? lifted(c, outer) : c;
            });
        };
        if (outer) {
            input = pg_call([&] {
                auto* rte = static_cast<RangeTblEntry*>(linitial(outer->rtable));
                Query* sub = static_cast<Query*>(copyObjectImpl(rte->subquery));
                if (outer->jointree->quals != nullptr)
                    sub->jointree->quals = reinterpret_cast<Node*>(make_and_qual(
                        sub->jointree->quals,
                        reinterpret_cast<Node*>(lifted(
                            static_cast<Expr*>(copyObjectImpl(outer->jointree->quals)), outer))));
                return sub;
            });
        }
        plan.groups_in_one_pass = groups_in_one_pass(spi, q, key_tles);
        List* tlist = NIL;
        int resno = 0;
        foreach (lc, key_tles) {
            auto* tle = static_cast<TargetEntry*>(lfirst(lc));
            plan.group_columns.push_back(tle->resname);
            ++resno;
            std::string name = fmt::format("__pgt_g{}", resno);
            const char* n = name.c_str();
            Expr* e = over_input(tle->expr);
            int r = resno;
            tlist = pg_call([&] {
                return lappend(tlist,
                               makeTargetEntry(e, static_cast<AttrNumber>(r), pstrdup(n), false));
            });
        }
        // Algebraic aggregates: every other output column is COUNT(*), COUNT(x), SUM(int) or
        // AVG(int), no HAVING. Their arguments join the key query as __pgt_a1..n.
        bool algebraic = q->distinctClause == NIL && q->havingQual == nullptr;
        std::vector<core::AlgebraicColumn> columns;
        List* args = NIL;
        // Whether `agg` is kept by running state: fills col's kind and argument, and adds the
        // argument to args. MIN / MAX only when allowed (not inside an expression: they keep
        // their value in their own output column).
        std::vector<bool> shared_args;  // per entry of args: not an extreme's (see classify)
        auto classify = [&](Aggref* agg, core::AlgebraicColumn& col, bool extremes) -> bool {
            char* fname = pg_call([&] { return get_func_name(agg->aggfnoid); });
            Oid fnsp = pg_call([&] { return get_func_namespace(agg->aggfnoid); });
            std::string name = fname ? fname : "";
            if (agg->aggdistinct != NIL || agg->aggfilter != nullptr ||
                agg->aggkind != AGGKIND_NORMAL || fnsp != PG_CATALOG_NAMESPACE || agg->aggvariadic)
                return false;
            if (name == "count" && agg->aggstar) {
                col.kind = core::AlgebraicColumn::Kind::CountStar;
                return true;
            }
            if (list_length(agg->args) != 1)
                return false;
            Expr* arg_expr = over_input(static_cast<TargetEntry*>(linitial(agg->args))->expr);
            Oid arg_type = pg_call([&] { return exprType(reinterpret_cast<Node*>(arg_expr)); });
            // Exact sums: integers, or numerics whose values have one known scale (a sum of
            // them always has that scale, so no display scale can drift as rows come and go)
            // or two (see value_scales).
            uint64_t scales = 0;
            const bool known =
                pg_call([&] { return value_scales(reinterpret_cast<Node*>(arg_expr), &scales); });
            const int kinds = std::popcount(scales);
            // One scale (or none: only NULLs and NaNs), or two told apart by a count.
            const bool exact_sum = known && kinds <= 2;
            if (name == "count") {
                col.kind = core::AlgebraicColumn::Kind::Count;
            } else if ((name == "sum" || name == "avg") && exact_sum) {
                col.kind = name == "sum" ? core::AlgebraicColumn::Kind::Sum
                                         : core::AlgebraicColumn::Kind::Avg;
                col.nan_possible = arg_type == NUMERICOID;
                col.low_scale = kinds == 2 ? std::countr_zero(scales) : -1;
            } else if (extremes && (name == "min" || name == "max") && agg->aggorder == NIL &&
                       // Values that can be equal and print differently (1.0 / 1.00, -0, and
                       // arrays, ranges or domains of such) would keep whichever tied value
                       // came first: rescanned instead.
                       pg_call(
                           [&] { return key_is_identity(reinterpret_cast<Node*>(arg_expr)); }) &&
                       pg_call([&]() -> bool {
                           Oid c = exprCollation(reinterpret_cast<Node*>(arg_expr));
                           return c == InvalidOid || c == DEFAULT_COLLATION_OID;
                       })) {
                // (With another collation the stored value would be compared in the default
                // one, which may order differently.)
                col.kind = name == "min" ? core::AlgebraicColumn::Kind::Min
                                         : core::AlgebraicColumn::Kind::Max;
            } else {
                return false;
            }
            // COUNT / SUM / AVG of one argument share its running state (sum(x) and avg(x)
            // both read __pgt_aux_count_<i> and __pgt_aux_sum_<i>), so the argument is
            // evaluated and summed once. A MIN / MAX keeps an extreme of its own.
            const bool extreme = col.kind == core::AlgebraicColumn::Kind::Min ||
                                 col.kind == core::AlgebraicColumn::Kind::Max;
            if (!extreme) {
                for (int k = 0; k < list_length(args); ++k) {
                    if (shared_args[k] &&
                        pg_call([&] { return equal(list_nth(args, k), arg_expr); })) {
                        col.index = static_cast<std::size_t>(k) + 1;
                        return true;
                    }
                }
            }
            args = lappend(args, arg_expr);
            shared_args.push_back(!extreme);
            col.index = static_cast<std::size_t>(list_length(args));
            return true;
        };
        foreach (lc, q->targetList) {
            auto* tle = static_cast<TargetEntry*>(lfirst(lc));
            if (tle->resjunk || !algebraic)
                continue;
            core::AlgebraicColumn col;
            col.type_sql = type_sql_of(reinterpret_cast<Node*>(tle->expr));
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
            if (IsA(tle->expr, Aggref)) {
                algebraic = classify(reinterpret_cast<Aggref*>(tle->expr), col, true);
                if (algebraic)
                    columns.push_back(col);
                continue;
            }
            // An expression over aggregates (and constants): each aggregate is kept as above,
            // the expression recomputed from them.
            AggExprState found{NIL, true};
            pg_call([&] { collect_aggregates(reinterpret_cast<Node*>(tle->expr), &found); });
            if (!found.ok || found.aggs == NIL) {
                algebraic = false;
                continue;
            }
            col.kind = core::AlgebraicColumn::Kind::Expr;
            ListCell* ac;
            foreach (ac, found.aggs) {
                auto* agg = static_cast<Aggref*>(lfirst(ac));
                core::AlgebraicColumn part;
                part.type_sql = type_sql_of(reinterpret_cast<Node*>(agg));
                algebraic = algebraic && classify(agg, part, false);
                col.parts.push_back(part);
            }
            if (!algebraic)
                continue;
            Node* with_params = pg_call([&] {
                return aggregates_to_params(static_cast<Node*>(copyObjectImpl(tle->expr)), &found);
            });
            col.expr_sql = deparse_expression(with_params);
            columns.push_back(col);
        }
        if (algebraic) {
            plan.algebraic = columns;
            plan.probe_storage = true;
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
        // A flat key query (tables and unaliased joins, no subqueries) gets the weight column
        // (DeltaPlan::key_weighted): every relation it reads is visible to its select list.
        bool flat = !input->hasSubLinks && input->cteList == NIL && input->setOperations == nullptr;
        foreach (lc, input->rtable) {
            auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
            flat = flat && (rte->rtekind == RTE_RELATION ||
                            (rte->rtekind == RTE_JOIN && rte->alias == nullptr));
        }
        if (flat) {
            const int r = list_length(tlist) + 1;
            tlist = pg_call([&] {
                Const* one = makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(1), false, true);
                return lappend(
                    tlist, makeTargetEntry(reinterpret_cast<Expr*>(one), static_cast<AttrNumber>(r),
                                           pstrdup("__pgt_wt"), false));
            });
        }
        input->targetList = tlist;
        input->groupClause = NIL;
        input->hasAggs = false;
        input->havingQual = nullptr;
        input->distinctClause = NIL;
        input->sortClause = NIL;
        plan.key_query = deparse(input);
        plan.key_weighted = flat && plan.key_query.find(core::kKeyWeight) != std::string::npos;
        try {
            auto r = analyze_references(input, plan.key_query, table_index);
            plan.key_refs = std::move(r.refs);
            plan.key_products = std::move(r.products);
            plan.key_restrictions = std::move(r.restrictions);
        } catch (const std::runtime_error& e) {
            return unsupported(
                fmt::format("a query shape the analysis cannot place ({})", e.what()));
        }
    }
    plan.relative_apply = core::increments_possible(plan);
    DifferentialAnalysis a;
    a.plan = std::move(plan);
    return a;
}

}  // namespace pgtrickle::pg
