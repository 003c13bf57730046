// Defining-query analysis: raw parse, parse analysis, a walk over every range table (subqueries,
// CTEs and sublinks included), and a deparse under an empty search path.
#include "pg_trickle/pg/query_analysis.hpp"

#include <cstring>

#include <set>

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/walker.hpp"
#include "pg_trickle/pg/references.hpp"

namespace pgtrickle::pg {

namespace {

// Facts gathered by the C walker. Plain C data only: the walker runs inside PostgreSQL frames
// where a C++ exception must never be thrown.
struct WalkState {
    List* relids;    // every RTE_RELATION, in walk order (duplicates possible)
    bool row_marks;  // FOR UPDATE / FOR SHARE anywhere
    bool tablesample;
    bool modifying_cte;
};

bool walk_query_tree(Node* node, void* context);

// PostgreSQL 15 declares walkers as bool (*)(); void (*)() converts from any function pointer
// without -Wcast-function-type complaining.
bool walk_query(Query* q, WalkState* state) {
    if (q->rowMarks != NIL)
        state->row_marks = true;
    if (q->hasModifyingCTE || q->commandType != CMD_SELECT)
        state->modifying_cte = true;
    return query_tree_walker(q, as_walker(walk_query_tree), state, QTW_EXAMINE_RTES_BEFORE);
}

bool walk_query_tree(Node* node, void* context) {
    auto* state = static_cast<WalkState*>(context);
    if (node == nullptr)
        return false;
    if (IsA(node, RangeTblEntry)) {
        auto* rte = reinterpret_cast<RangeTblEntry*>(node);
        if (rte->rtekind == RTE_RELATION) {
            state->relids = lappend_oid(state->relids, rte->relid);
            if (rte->tablesample != nullptr)
                state->tablesample = true;
        }
        return false;
    }
    if (IsA(node, Query))
        return walk_query(reinterpret_cast<Query*>(node), state);
    return expression_tree_walker(node, as_walker(walk_query_tree), context);
}

// A LIMIT/OFFSET that is the same on every refresh: no column, no subquery, nothing mutable
// (LIMIT 2 arrives as a cast of a Const, so "is a Const" is too narrow a test).
bool is_constant_expression(Node* n) {
    return n == nullptr ||
           (!checkExprHasSubLink(n) && !contain_var_clause(n) && !contain_mutable_functions(n));
}

core::Error not_allowed(std::string what, std::string hint = {}) {
    return core::unsupported(fmt::format("{} is not supported in defining queries", what), {},
                             std::move(hint));
}

std::string source_type_for(char relkind) {
    switch (relkind) {
        case RELKIND_VIEW:
            return "VIEW";
        case RELKIND_MATVIEW:
            return "MATVIEW";
        case RELKIND_FOREIGN_TABLE:
            return "FOREIGN_TABLE";
        default:
            return "TABLE";
    }
}

// ---- WITH inlining --------------------------------------------------------------------------
// Plain C over PostgreSQL nodes (run under pg_call): non-recursive, read-only CTEs become
// subqueries, each reference its own copy, which is what PostgreSQL itself does for CTEs that are
// not materialized. The stored query then has no WITH, and the differential engine sees plain
// subqueries.
struct CteStack {
    List* levels[64];
    int depth;
    bool ok;
};

bool ctes_inlinable(List* ctes) {
    ListCell* lc;
    foreach (lc, ctes) {
        auto* cte = static_cast<CommonTableExpr*>(lfirst(lc));
        if (cte->cterecursive || !IsA(cte->ctequery, Query) ||
            reinterpret_cast<Query*>(cte->ctequery)->commandType != CMD_SELECT)
            return false;
    }
    return true;
}

void inline_ctes_level(Query* q, CteStack* stack);

bool inline_ctes_in_sublinks(Node* node, void* context) {
    if (node == nullptr)
        return false;
    if (IsA(node, Query)) {
        inline_ctes_level(reinterpret_cast<Query*>(node), static_cast<CteStack*>(context));
        return false;
    }
    return expression_tree_walker(node, as_walker(inline_ctes_in_sublinks), context);
}

void inline_ctes_level(Query* q, CteStack* stack) {
    if (!stack->ok)
        return;
    if (stack->depth >= 64 || !ctes_inlinable(q->cteList)) {
        stack->ok = false;
        return;
    }
    stack->levels[stack->depth++] = q->cteList;
    ListCell* lc;
    foreach (lc, q->rtable) {
        auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
        if (rte->rtekind == RTE_CTE) {
            int target = stack->depth - 1 - static_cast<int>(rte->ctelevelsup);
            CommonTableExpr* found = nullptr;
            ListCell* c;
            if (target >= 0) {
                foreach (c, stack->levels[target]) {
                    auto* cte = static_cast<CommonTableExpr*>(lfirst(c));
                    if (strcmp(cte->ctename, rte->ctename) == 0)
                        found = cte;
                }
            }
            if (found == nullptr) {
                stack->ok = false;
                return;
            }
            auto* body = static_cast<Query*>(copyObjectImpl(found->ctequery));
            if (rte->ctelevelsup > 0)
                IncrementVarSublevelsUp(reinterpret_cast<Node*>(body),
                                        static_cast<int>(rte->ctelevelsup), 1);
            rte->rtekind = RTE_SUBQUERY;
            rte->subquery = body;
            rte->security_barrier = false;
            rte->ctename = nullptr;
            rte->ctelevelsup = 0;
            rte->self_reference = false;
            rte->coltypes = NIL;
            rte->coltypmods = NIL;
            rte->colcollations = NIL;
        }
        if (rte->rtekind == RTE_SUBQUERY)
            inline_ctes_level(rte->subquery, stack);
    }
    query_tree_walker(q, as_walker(inline_ctes_in_sublinks), stack,
                      QTW_IGNORE_RT_SUBQUERIES | QTW_IGNORE_CTE_SUBQUERIES);
    stack->depth--;
}

// Returns the query with its CTEs inlined, or nullptr when they cannot be (recursive or
// data-modifying CTEs, or volatile functions whose evaluation count inlining would change).
Query* inline_ctes(Query* q) {
    if (contain_volatile_functions(reinterpret_cast<Node*>(q)))
        return nullptr;
    auto* copy = static_cast<Query*>(copyObjectImpl(q));
    CteStack stack{};
    stack.ok = true;
    inline_ctes_level(copy, &stack);
    if (!stack.ok)
        return nullptr;
    // Every level's WITH is now unused.
    return copy;
}

bool clear_cte_lists(Node* node, void* context) {
    if (node == nullptr)
        return false;
    if (IsA(node, Query)) {
        auto* q = reinterpret_cast<Query*>(node);
        q->cteList = NIL;
        q->hasRecursive = false;
        return query_tree_walker(q, as_walker(clear_cte_lists), context, 0);
    }
    return expression_tree_walker(node, as_walker(clear_cte_lists), context);
}

}  // namespace

namespace {

// Plain C state for the walker (it runs inside PostgreSQL frames).
struct FunctionState {
    List* names;  // char*
};

const char* value_function_name(SQLValueFunctionOp op) {
    switch (op) {
        case SVFOP_CURRENT_DATE:
            return "current_date";
        case SVFOP_CURRENT_TIME:
        case SVFOP_CURRENT_TIME_N:
            return "current_time";
        case SVFOP_CURRENT_TIMESTAMP:
        case SVFOP_CURRENT_TIMESTAMP_N:
            return "current_timestamp";
        case SVFOP_LOCALTIME:
        case SVFOP_LOCALTIME_N:
            return "localtime";
        case SVFOP_LOCALTIMESTAMP:
        case SVFOP_LOCALTIMESTAMP_N:
            return "localtimestamp";
        case SVFOP_CURRENT_ROLE:
            return "current_role";
        case SVFOP_CURRENT_USER:
            return "current_user";
        case SVFOP_USER:
            return "user";
        case SVFOP_SESSION_USER:
            return "session_user";
        case SVFOP_CURRENT_CATALOG:
            return "current_catalog";
        case SVFOP_CURRENT_SCHEMA:
            return "current_schema";
    }
    return "sql_value_function";
}

bool collect_functions(Node* node, void* context) {
    if (node == nullptr)
        return false;
    auto* s = static_cast<FunctionState*>(context);
    Oid f = InvalidOid;
    if (IsA(node, FuncExpr))
        f = reinterpret_cast<FuncExpr*>(node)->funcid;
    else if (IsA(node, Aggref))
        f = reinterpret_cast<Aggref*>(node)->aggfnoid;
    else if (IsA(node, WindowFunc))
        f = reinterpret_cast<WindowFunc*>(node)->winfnoid;
    else if (IsA(node, SQLValueFunction))
        s->names = lappend(
            s->names, pstrdup(value_function_name(reinterpret_cast<SQLValueFunction*>(node)->op)));
    // A user-defined operator's function too (what its body computes is the query's business
    // as much as a function called by name: DDL tracking follows both).
    bool operator_function = false;
    if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr)) {
        auto* op = reinterpret_cast<OpExpr*>(node);
        set_opfuncid(op);
        f = op->opfuncid;
        operator_function = true;
    } else if (IsA(node, ScalarArrayOpExpr)) {
        auto* op = reinterpret_cast<ScalarArrayOpExpr*>(node);
        set_sa_opfuncid(op);
        f = op->opfuncid;
        operator_function = true;
    }
    if (operator_function && OidIsValid(f) && get_func_namespace(f) == PG_CATALOG_NAMESPACE)
        f = InvalidOid;
    // A user-defined aggregate's support functions compute its result as much as it does.
    if (IsA(node, Aggref)) {
        HeapTuple tuple = SearchSysCache1(AGGFNOID, ObjectIdGetDatum(f));
        if (HeapTupleIsValid(tuple)) {
            auto* agg = reinterpret_cast<Form_pg_aggregate>(GETSTRUCT(tuple));
            for (Oid support : {agg->aggtransfn, agg->aggfinalfn, agg->aggcombinefn,
                                agg->aggmtransfn, agg->aggminvtransfn, agg->aggmfinalfn}) {
                if (OidIsValid(support) && get_func_namespace(support) != PG_CATALOG_NAMESPACE)
                    s->names = lappend(
                        s->names,
                        quote_qualified_identifier(get_namespace_name(get_func_namespace(support)),
                                                   get_func_name(support)));
            }
            ReleaseSysCache(tuple);
        }
    }
    if (OidIsValid(f)) {
        char* name = get_func_name(f);
        Oid nsp = get_func_namespace(f);
        if (name != nullptr)
            s->names =
                lappend(s->names, nsp == PG_CATALOG_NAMESPACE
                                      ? name
                                      : quote_qualified_identifier(get_namespace_name(nsp), name));
    }
    if (IsA(node, Query))
        return query_tree_walker(reinterpret_cast<Query*>(node), as_walker(collect_functions),
                                 context, 0);
    return expression_tree_walker(node, as_walker(collect_functions), context);
}

}  // namespace

std::vector<std::string> functions_used(Query* tree) {
    FunctionState state{NIL};
    pg_call([&] { query_tree_walker(tree, as_walker(collect_functions), &state, 0); });
    std::set<std::string> names;
    ListCell* lc;
    foreach (lc, state.names)
        names.insert(static_cast<const char*>(lfirst(lc)));
    return {names.begin(), names.end()};
}

namespace {

// An error with a position in the stream table's query (a syntax error, an unknown column or
// function) would be shown against the statement the user typed, its caret on some character
// of "SELECT pgtrickle.refresh_stream_table(...)": as SPI does for its queries, the position
// becomes one in the query, which is reported with it.
void query_position_callback(void* arg) {
    const int position = geterrposition();
    if (position > 0) {
        errposition(0);
        internalerrposition(position);
        internalerrquery(static_cast<const char*>(arg));
    }
}

// Runs fn (plain C calls only) with errors positioned in `text`.
template <typename F>
auto positioned_in(const char* text, F fn) {
    return pg_call([&] {
        ErrorContextCallback callback;
        callback.callback = query_position_callback;
        callback.arg = const_cast<char*>(text);
        callback.previous = error_context_stack;
        error_context_stack = &callback;
        auto result = fn();
        error_context_stack = callback.previous;
        return result;
    });
}

// Whether `text`, `q` printed back, orders and picks DISTINCT ON rows by the same output
// positions as `q`. deparse() qualifies a column an output name hides, but a column merged by
// JOIN ... USING has no qualifier to print: `SELECT a.v AS k, k AS v FROM a FULL JOIN b USING
// (k) ORDER BY 2` prints `ORDER BY k`, which reads the output column k.
bool same_sort_columns(Query* q, const std::string& text) {
    if (q->sortClause == NIL && !q->hasDistinctOn)
        return true;
    const char* t = text.c_str();
    return pg_call([&] {
        List* raw = pg_parse_query(t);
        Query* back =
            parse_analyze_fixedparams(linitial_node(RawStmt, raw), t, nullptr, 0, nullptr);
        // Per item, the expression read back at the position meant (an output listed twice,
        // `sum(x) AS a, sum(x) AS b ... ORDER BY 2`, is printed as its expression and read back
        // as the first); a repeated expression is dropped, in any direction, as the parser drops
        // it (a later key equal to an earlier one never decides anything).
        auto same = [&](List* a, List* b) {
            List* meant = NIL;
            ListCell* lc;
            foreach (lc, a) {
                auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
                TargetEntry* ta = get_sortgroupclause_tle(sgc, q->targetList);
                TargetEntry* tb = get_tle_by_resno(back->targetList, ta->resno);
                if (tb == nullptr || tb->resjunk != ta->resjunk)
                    return false;
                bool repeated = false;
                ListCell* lm;
                foreach (lm, meant)
                    repeated = repeated || equal(lfirst(lm), tb->expr);
                if (!repeated)
                    meant = lappend(meant, tb->expr);
            }
            if (list_length(meant) != list_length(b))
                return false;
            ListCell *lm, *lb;
            forboth(lm, meant, lb, b) {
                TargetEntry* tb = get_sortgroupclause_tle(static_cast<SortGroupClause*>(lfirst(lb)),
                                                          back->targetList);
                if (!equal(lfirst(lm), tb->expr))
                    return false;
            }
            return true;
        };
        return same(q->sortClause, back->sortClause) &&
               (!q->hasDistinctOn || same(q->distinctClause, back->distinctClause));
    });
}

}  // namespace

namespace {

bool hidden_name(const char* name) {
    return name != nullptr &&
           (std::strncmp(name, "__pgt_", 6) == 0 || std::strncmp(name, "__pgs_", 6) == 0);
}

// Whether column `v` of level `q` is a column of a stream table's storage (through join alias
// columns): the storage table carries pg_trickle's guard trigger. (Plain C.)
bool stream_table_column(Query* q, Var* v) {
    while (v->varlevelsup == 0 && v->varno >= 1 &&
           static_cast<int>(v->varno) <= list_length(q->rtable)) {
        RangeTblEntry* rte = rt_fetch(v->varno, q->rtable);
        if (rte->rtekind == RTE_RELATION)
            return OidIsValid(get_trigger_oid(rte->relid, "pgt_dml_guard", true));
        if (rte->rtekind != RTE_JOIN || v->varattno <= 0 ||
            v->varattno > list_length(rte->joinaliasvars))
            return false;
        Node* alias = strip_implicit_coercions(
            static_cast<Node*>(list_nth(rte->joinaliasvars, v->varattno - 1)));
        if (alias == nullptr || !IsA(alias, Var))
            return false;
        v = reinterpret_cast<Var*>(alias);
    }
    return false;
}

// `SELECT * FROM st` over a stream table (or `st.*`) expands into its hidden columns too
// (__pgt_row_id, ...), names a stream table may not have: those the select list's stars brought
// are left out, as if the star stood for the visible columns only. A hidden column named
// explicitly, or one that ORDER BY, GROUP BY or DISTINCT ON refers to, stays (and is refused
// below). Top level of a plain SELECT only. (Plain C.)
void drop_starred_hidden_columns(SelectStmt* raw, Query* q) {
    if (raw->op != SETOP_NONE || q->setOperations != nullptr)
        return;
    std::set<int> stars;  // locations of the select list's star column references
    ListCell* lc;
    foreach (lc, raw->targetList) {
        auto* rt = static_cast<ResTarget*>(lfirst(lc));
        if (rt->val != nullptr && IsA(rt->val, ColumnRef)) {
            auto* ref = reinterpret_cast<ColumnRef*>(rt->val);
            if (IsA(llast(ref->fields), A_Star))
                stars.insert(ref->location);
        }
    }
    if (stars.empty())
        return;
    // (SELECT DISTINCT * lists every column in its DISTINCT clause: the hidden ones leave it
    // too, so that the rows are told apart by their visible columns.)
    auto refers = [](List* clauses, Index ref) {
        ListCell* c;
        foreach (c, clauses)
            if (static_cast<SortGroupClause*>(lfirst(c))->tleSortGroupRef == ref)
                return true;
        return false;
    };
    auto only_distinct = [&](Index ref) {
        if (ref == 0)
            return true;
        if (q->hasDistinctOn || !refers(q->distinctClause, ref) || refers(q->sortClause, ref) ||
            refers(q->groupClause, ref))
            return false;
        ListCell* w;
        foreach (w, q->windowClause) {
            auto* wc = static_cast<WindowClause*>(lfirst(w));
            if (refers(wc->partitionClause, ref) || refers(wc->orderClause, ref))
                return false;
        }
        return true;
    };
    List* kept = NIL;
    bool dropped = false;
    foreach (lc, q->targetList) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        const bool starred = !tle->resjunk && IsA(tle->expr, Var) &&
                             stars.count(reinterpret_cast<Var*>(tle->expr)->location) > 0;
        if (starred && hidden_name(tle->resname) &&
            stream_table_column(q, reinterpret_cast<Var*>(tle->expr)) &&
            only_distinct(tle->ressortgroupref)) {
            if (tle->ressortgroupref != 0) {
                List* distinct = NIL;
                ListCell* c;
                foreach (c, q->distinctClause) {
                    auto* sgc = static_cast<SortGroupClause*>(lfirst(c));
                    if (sgc->tleSortGroupRef != tle->ressortgroupref)
                        distinct = lappend(distinct, sgc);
                }
                q->distinctClause = distinct;
            }
            dropped = true;
            continue;
        }
        kept = lappend(kept, tle);
    }
    if (!dropped)
        return;
    AttrNumber resno = 0;
    foreach (lc, kept)
        static_cast<TargetEntry*>(lfirst(lc))->resno = ++resno;
    q->targetList = kept;
}

}  // namespace

AnalyzedQuery analyze_query(const std::string& query) {
    const char* text = query.c_str();
    List* raw = positioned_in(text, [&] { return pg_parse_query(text); });
    if (list_length(raw) != 1) {
        throw core::Error("42601", "defining query must be exactly one SELECT statement",
                          fmt::format("The text contains {} statements.", list_length(raw)));
    }
    RawStmt* raw_stmt = linitial_node(RawStmt, raw);
    if (!IsA(raw_stmt->stmt, SelectStmt)) {
        throw core::Error("42601", "defining query must be a SELECT statement", {},
                          "Stream tables are defined by a query such as SELECT ... FROM ....");
    }
    if (reinterpret_cast<SelectStmt*>(raw_stmt->stmt)->intoClause != nullptr) {
        throw not_allowed("SELECT INTO");
    }

    AnalyzedQuery out;
    const int loc = raw_stmt->stmt_location;
    const int len = raw_stmt->stmt_len;
    out.statement = len > 0 ? query.substr(loc, len) : query.substr(loc);

    Query* q = positioned_in(
        text, [&] { return parse_analyze_fixedparams(raw_stmt, text, nullptr, 0, nullptr); });
    pg_call([&] { drop_starred_hidden_columns(reinterpret_cast<SelectStmt*>(raw_stmt->stmt), q); });

    WalkState state{NIL, false, false, false};
    pg_call([&] { walk_query(q, &state); });
    if (state.row_marks)
        throw not_allowed("FOR UPDATE/FOR SHARE");
    if (state.tablesample)
        throw not_allowed("TABLESAMPLE",
                          "Sample into a regular table and define the stream "
                          "table over it.");
    if (state.modifying_cte)
        throw not_allowed("a data-modifying statement in WITH");
    Node* limit = q->limitCount ? strip_implicit_coercions(q->limitCount) : nullptr;
    bool limit_all = limit && IsA(limit, Const) && reinterpret_cast<Const*>(limit)->constisnull;
    // (With DISTINCT ON the ORDER BY picks the row kept per key: it has an effect.)
    out.order_by_without_limit = q->sortClause != NIL && (q->limitCount == nullptr || limit_all) &&
                                 q->limitOffset == nullptr && !q->hasDistinctOn;
    if (q->limitCount != nullptr || q->limitOffset != nullptr) {
        if (!limit_all || q->limitOffset != nullptr) {
            if (q->sortClause == NIL)
                throw core::unsupported(
                    "LIMIT or OFFSET without ORDER BY is not supported in defining queries",
                    "Without ORDER BY the rows kept are arbitrary and change between refreshes.",
                    "Add an ORDER BY that determines which rows are kept.");
            if (!is_constant_expression(q->limitCount) || !is_constant_expression(q->limitOffset))
                throw core::unsupported("LIMIT and OFFSET in defining queries must be constants");
        }
    }

    // Sources, each once, in first-seen order.
    std::set<Oid> seen;
    ListCell* lc;
    foreach (lc, state.relids) {
        Oid relid = lfirst_oid(lc);
        if (!seen.insert(relid).second)
            continue;
        char relkind = pg_call([&] { return get_rel_relkind(relid); });
        char persistence = pg_call([&] { return get_rel_persistence(relid); });
        if (persistence == RELPERSISTENCE_TEMP) {
            const char* relname = pg_call([&] { return get_rel_name(relid); });
            throw core::unsupported(
                fmt::format("stream tables cannot read temporary table \"{}\"", relname),
                "Stream tables are refreshed by other sessions, which cannot see it.");
        }
        // Not pg_trickle's own catalog and change buffers (capture on them would capture
        // pg_trickle's own bookkeeping).
        const char* nspname = pg_call([&] { return get_namespace_name(get_rel_namespace(relid)); });
        if (nspname != nullptr && (std::strcmp(nspname, "pgtrickle") == 0 ||
                                   std::strcmp(nspname, "pgtrickle_changes") == 0)) {
            const char* relname = pg_call([&] { return get_rel_name(relid); });
            throw core::unsupported(
                fmt::format("stream tables cannot read {}.{}", nspname, relname),
                "The tables of pg_trickle's own schemas are its catalog and change buffers.",
                "Query pg_trickle's monitoring functions and views instead.");
        }
        out.sources.push_back({relid, source_type_for(relkind)});
    }

    // Output columns.
    std::set<std::string> names;
    foreach (lc, q->targetList) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (tle->resjunk)
            continue;
        std::string name = tle->resname ? tle->resname : "?column?";
        if (hidden_name(name.c_str())) {
            throw core::Error("42939",
                              fmt::format("column name \"{}\" is reserved for pg_trickle", name),
                              "Names starting with __pgt_ or __pgs_ are used for pg_trickle's "
                              "maintenance columns.",
                              "Give the column another name with AS.");
        }
        if (!names.insert(name).second) {
            throw core::Error(
                "42701", fmt::format("defining query returns column \"{}\" more than once", name),
                {}, "Give each output column a distinct name with AS.");
        }
        Node* expr = reinterpret_cast<Node*>(tle->expr);
        Oid type = pg_call([&] { return exprType(expr); });
        int32 typmod = pg_call([&] { return exprTypmod(expr); });
        Oid collation = pg_call([&] { return exprCollation(expr); });
        char* type_sql = pg_call([&] {
            return format_type_extended(type, typmod,
                                        FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
        });
        std::string column_type = type_sql;
        Oid default_collation = pg_call([&] { return get_typcollation(type); });
        if (OidIsValid(collation) && collation != default_collation) {
            char* coll = pg_call([&] { return generate_collation_name(collation); });
            column_type += std::string(" COLLATE ") + coll;
        }
        out.columns.push_back({name, column_type, type, typmod, collation});
    }
    if (out.columns.empty()) {
        throw core::Error("42601", "defining query must return at least one column");
    }

    // Views are inlined: the stored query then reads their base tables, which change capture
    // can watch, and the views stay recorded as sources for DDL tracking. Not when row-level
    // security applies (the rewrite would bake the creating user's policies into the query) nor
    // when the user may read the view but not its tables (the view's owner rights would be lost).
    Query* printed = q;
    bool has_view = false;
    for (const auto& src : out.sources)
        has_view = has_view || src.source_type == "VIEW";
    if (has_view) {
        List* rewritten =
            pg_call([&] { return QueryRewrite(static_cast<Query*>(copyObjectImpl(q))); });
        Query* r = list_length(rewritten) == 1 ? linitial_node(Query, rewritten) : nullptr;
        if (r != nullptr && !r->hasRowSecurity) {
            WalkState inner{NIL, false, false, false};
            pg_call([&] { walk_query(r, &inner); });
            std::vector<Dependency> base;
            bool readable = true;
            foreach (lc, inner.relids) {
                Oid relid = lfirst_oid(lc);
                if (!seen.insert(relid).second)
                    continue;
                char relkind = pg_call([&] { return get_rel_relkind(relid); });
                bool can_read = pg_call([&] {
                    return pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
                });
                readable = readable && can_read;
                base.push_back({relid, source_type_for(relkind), {}});
            }
            if (readable) {
                printed = r;
                out.sources.insert(out.sources.end(), base.begin(), base.end());
            }
        }
    }

    // WITH queries are inlined too, when that cannot change their meaning.
    {
        Query* inlined = pg_call([&] {
            Query* r = inline_ctes(printed);
            if (r != nullptr)
                clear_cte_lists(reinterpret_cast<Node*>(r), nullptr);
            return r;
        });
        if (inlined != nullptr)
            printed = inlined;
    }

    // Printed back schema-qualified and with constants in setting-independent forms (deparse()):
    // the stored query then means the same thing whoever runs it, whatever their settings.
    const std::string deparsed = deparse(printed);
    if (!same_sort_columns(printed, deparsed))
        throw core::Error(
            "42702", "ORDER BY or DISTINCT ON names a column that an output column hides",
            "Printed back, the query would order by the output column of that name: PostgreSQL "
            "prints a column merged by JOIN ... USING without a table name.",
            "Give the output column another name (AS ...).");
    out.deparsed = deparsed;
    out.functions_used = functions_used(printed);
    return out;
}

void check_can_read(Spi& spi, const AnalyzedQuery& q) {
    spi.execute("SELECT * FROM (\n" + q.deparsed + "\n) AS __pgt_probe LIMIT 0", {});
}

}  // namespace pgtrickle::pg
