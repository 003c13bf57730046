// Restricted evaluations of nonlinear relation references (see restrictions.hpp).
#include "restrictions.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/walker.hpp"
#include "pg_trickle/pg/ordering.hpp"

namespace pgtrickle::pg {

namespace {

// Moves an outer join's ON condition into a subquery over the nullable relation (range table
// index `*context` at this level): its Vars become Var 1 of the subquery, every other Var one
// level further out.
bool move_into_sublink(Node* node, void* context) {
    if (node == nullptr)
        return false;
    if (IsA(node, Var)) {
        auto* v = reinterpret_cast<Var*>(node);
        int nullable = *static_cast<int*>(context);
        if (v->varlevelsup == 0 && static_cast<int>(v->varno) == nullable) {
            v->varno = 1;
            v->varnosyn = 1;
            v->varattnosyn = v->varattno;
        } else {
            v->varlevelsup += 1;
        }
        return false;
    }
    return expression_tree_walker(node, as_walker(move_into_sublink), context);
}

// The Vars, at any depth, naming the query level `depth` levels above where the walk starts.
struct OuterVarState {
    List* vars;
    int depth;
};

bool collect_outer_vars(Node* node, void* context) {
    auto* s = static_cast<OuterVarState*>(context);
    if (node == nullptr)
        return false;
    if (IsA(node, Var)) {
        if (static_cast<int>(reinterpret_cast<Var*>(node)->varlevelsup) == s->depth)
            s->vars = lappend(s->vars, node);
        return false;
    }
    if (IsA(node, Query)) {
        s->depth++;
        bool r = query_tree_walker(reinterpret_cast<Query*>(node), as_walker(collect_outer_vars),
                                   context, 0);
        s->depth--;
        return r;
    }
    return expression_tree_walker(node, as_walker(collect_outer_vars), context);
}

// EXISTS (SELECT 1 FROM <rel> __pgt_any_ref WHERE <quals>): the condition that restricts an
// evaluation to the rows a change of `rel` can reach.
Node* exists_over(RangeTblEntry* rel, Node* quals) {
    auto* sub = makeNode(Query);
    sub->commandType = CMD_SELECT;
    sub->querySource = QSRC_ORIGINAL;
    sub->canSetTag = true;
    auto* r = static_cast<RangeTblEntry*>(copyObjectImpl(rel));
    r->alias = makeAlias(kAnyAlias, NIL);
    r->eref = static_cast<Alias*>(copyObjectImpl(rel->eref));
    r->eref->aliasname = pstrdup(kAnyAlias);
    r->lateral = false;
    r->inFromCl = true;
    sub->rtable = list_make1(r);
    auto* rtr = makeNode(RangeTblRef);
    rtr->rtindex = 1;
    sub->jointree = makeFromExpr(list_make1(rtr), quals);
    Const* one = makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(1), false, true);
    sub->targetList =
        list_make1(makeTargetEntry(reinterpret_cast<Expr*>(one), 1, pstrdup("__pgt_one"), false));
    auto* link = makeNode(SubLink);
    link->subLinkType = EXISTS_SUBLINK;
    link->subselect = reinterpret_cast<Node*>(sub);
    link->location = -1;
    return reinterpret_cast<Node*>(link);
}

// The clauses whose expressions name a part of the level's input (see
// partition_restrictions), or NIL when the level has no such parts.
List* partition_key(Query* q) {
    if (q->setOperations != nullptr || q->limitCount != nullptr || q->limitOffset != nullptr ||
        q->groupingSets != NIL || q->hasTargetSRFs)
        return NIL;
    const bool grouped = q->hasAggs || q->groupClause != NIL || q->havingQual != nullptr;
    if (q->hasWindowFuncs) {
        if (grouped || (q->distinctClause != NIL && !q->hasDistinctOn))
            return NIL;
        // The key columns every window function's partition has in common.
        WindowFuncLists* funcs = window_functions(q);
        List* common = NIL;
        bool first = true;
        ListCell* lc;
        foreach (lc, q->windowClause) {
            auto* wc = static_cast<WindowClause*>(lfirst(lc));
            if (funcs->windowFuncs[wc->winref] == NIL)
                continue;
            if (first) {
                common = list_copy(wc->partitionClause);
                first = false;
                continue;
            }
            List* kept = NIL;
            ListCell* kc;
            foreach (kc, common) {
                auto* a = static_cast<SortGroupClause*>(lfirst(kc));
                ListCell* pc;
                foreach (pc, wc->partitionClause)
                    if (static_cast<SortGroupClause*>(lfirst(pc))->tleSortGroupRef ==
                        a->tleSortGroupRef)
                        kept = lappend(kept, a);
            }
            common = kept;
        }
        // DISTINCT ON at the same level picks among rows of several partitions.
        if (q->hasDistinctOn)
            return NIL;
        return common;
    }
    if (grouped)
        return q->distinctClause != NIL ? NIL : q->groupClause;
    return q->distinctClause;  // DISTINCT ON keys, or every column of a DISTINCT
}

// The range table entries of a join tree that no outer join can null (a restriction on
// their columns keeps or drops a row together with its part) and that the level's WHERE
// sees (not inside `(...) AS alias`).
std::vector<Index> preserved_entries(Query* q, Node* n) {
    if (IsA(n, RangeTblRef))
        return {static_cast<Index>(reinterpret_cast<RangeTblRef*>(n)->rtindex)};
    if (IsA(n, FromExpr)) {
        std::vector<Index> out;
        ListCell* lc;
        foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist) {
            auto part = preserved_entries(q, static_cast<Node*>(lfirst(lc)));
            out.insert(out.end(), part.begin(), part.end());
        }
        return out;
    }
    auto* j = reinterpret_cast<JoinExpr*>(n);
    if (j->alias != nullptr)
        return {};
    std::vector<Index> out;
    if (j->jointype == JOIN_INNER || j->jointype == JOIN_LEFT)
        out = preserved_entries(q, j->larg);
    if (j->jointype == JOIN_INNER || j->jointype == JOIN_RIGHT) {
        auto part = preserved_entries(q, j->rarg);
        out.insert(out.end(), part.begin(), part.end());
    }
    return out;
}

// The entries that are the nullable side of a LEFT (RIGHT) JOIN in a preserved position.
void padded_laterals(Query* q, Node* n, std::vector<Index>& out) {
    if (IsA(n, FromExpr)) {
        ListCell* lc;
        foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
            padded_laterals(q, static_cast<Node*>(lfirst(lc)), out);
        return;
    }
    if (!IsA(n, JoinExpr))
        return;
    auto* j = reinterpret_cast<JoinExpr*>(n);
    if (j->jointype == JOIN_INNER) {
        padded_laterals(q, j->larg, out);
        padded_laterals(q, j->rarg, out);
    } else if (j->jointype == JOIN_LEFT || j->jointype == JOIN_RIGHT) {
        Node* nullable = j->jointype == JOIN_LEFT ? j->rarg : j->larg;
        padded_laterals(q, j->jointype == JOIN_LEFT ? j->larg : j->rarg, out);
        if (IsA(nullable, RangeTblRef))
            out.push_back(static_cast<Index>(reinterpret_cast<RangeTblRef*>(nullable)->rtindex));
    }
}

// Whether every Var of `sub` (at any depth) that names the level above it names one of
// `entries`.
bool reads_only(Query* sub, const std::vector<Index>& entries) {
    OuterVarState st{NIL, 1};
    pg_call([&] { query_tree_walker(sub, as_walker(collect_outer_vars), &st, 0); });
    ListCell* lc;
    foreach (lc, st.vars) {
        Index varno = reinterpret_cast<Var*>(lfirst(lc))->varno;
        if (std::find(entries.begin(), entries.end(), varno) == entries.end())
            return false;
    }
    return true;
}

bool has_aliased_join(Node* n) {
    if (IsA(n, JoinExpr)) {
        auto* j = reinterpret_cast<JoinExpr*>(n);
        return j->alias != nullptr || has_aliased_join(j->larg) || has_aliased_join(j->rarg);
    }
    if (IsA(n, FromExpr)) {
        ListCell* lc;
        foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
            if (has_aliased_join(static_cast<Node*>(lfirst(lc))))
                return true;
    }
    return false;
}

}  // namespace

namespace {

// Whether range table entry `rti` is among preserved_entries() of join tree `n` (plain C: runs
// inside in_test_qual's pg_call).
bool preserved_entry(Node* n, Index rti) {
    if (IsA(n, RangeTblRef))
        return static_cast<Index>(reinterpret_cast<RangeTblRef*>(n)->rtindex) == rti;
    if (IsA(n, FromExpr)) {
        ListCell* lc;
        foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
            if (preserved_entry(static_cast<Node*>(lfirst(lc)), rti))
                return true;
        return false;
    }
    auto* j = reinterpret_cast<JoinExpr*>(n);
    if (j->alias != nullptr)
        return false;
    return ((j->jointype == JOIN_INNER || j->jointype == JOIN_LEFT) &&
            preserved_entry(j->larg, rti)) ||
           ((j->jointype == JOIN_INNER || j->jointype == JOIN_RIGHT) &&
            preserved_entry(j->rarg, rti));
}

// Whether `expr` is a column declared NOT NULL of a table of level `q` that no outer join of
// the level can null (`c.id` on the nullable side of a FULL JOIN is NULL in the rows without a
// partner).
bool not_null_column(Node* expr, Query* q) {
    if (!IsA(expr, Var))
        return false;
    auto* v = reinterpret_cast<Var*>(expr);
    List* rtable = q->rtable;
    if (v->varlevelsup != 0 || v->varattno <= 0 || v->varno < 1 ||
        static_cast<int>(v->varno) > list_length(rtable))
        return false;
    if (q->jointree == nullptr || !preserved_entry(reinterpret_cast<Node*>(q->jointree), v->varno))
        return false;
    auto* rte = static_cast<RangeTblEntry*>(list_nth(rtable, static_cast<int>(v->varno) - 1));
    if (rte->rtekind != RTE_RELATION)
        return false;
    HeapTuple tuple =
        SearchSysCache2(ATTNUM, ObjectIdGetDatum(rte->relid), Int16GetDatum(v->varattno));
    if (!HeapTupleIsValid(tuple))
        return false;
    const bool not_null = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple))->attnotnull;
    ReleaseSysCache(tuple);
    return not_null;
}

// `x op (SELECT e FROM rel WHERE w)` of an `x IN / = ANY (...)` at level q: a changed row `a` of
// rel can change the value for a row of q only if w holds for it and `x op e(a)` is not false (a
// row whose comparison is false changes neither "some comparison true" nor "some NULL"), that is
//   EXISTS (a: w AND x op e) OR (x IS NULL AND EXISTS (a: w)) OR EXISTS (a: w AND e IS NULL).
// The NULL arms are left out for a column declared NOT NULL; what remains of them is ANDed
// with EXISTS (a: w), which is evaluated once and skips the whole evaluation when no changed
// row satisfies w. Alone, the first arm is a semi join the planner drives from the changed rows.
// nullptr when the test is not one strict operator between an expression of q and the
// subquery's single output column, or the subquery is not a plain select whose rows are exactly
// those satisfying w.
Node* in_test_qual(Query* q, SubLink* link, Query* sub, RangeTblEntry* rte, Node* w) {
    if (link == nullptr || link->subLinkType != ANY_SUBLINK || link->testexpr == nullptr ||
        !IsA(link->testexpr, OpExpr) || list_length(sub->targetList) != 1 || sub->hasAggs ||
        sub->groupClause != NIL || sub->groupingSets != NIL || sub->havingQual != nullptr ||
        sub->hasWindowFuncs || sub->hasTargetSRFs || sub->distinctClause != NIL ||
        sub->limitCount != nullptr || sub->limitOffset != nullptr)
        return nullptr;
    auto* op = reinterpret_cast<OpExpr*>(link->testexpr);
    if (list_length(op->args) != 2 || !IsA(lsecond(op->args), Param) ||
        reinterpret_cast<Param*>(lsecond(op->args))->paramkind != PARAM_SUBLINK ||
        !func_strict(op->opfuncid))
        return nullptr;
    auto* x = static_cast<Node*>(linitial(op->args));
    if (checkExprHasSubLink(x) || contain_volatile_functions(x) || contain_agg_clause(x))
        return nullptr;
    auto* tle = static_cast<TargetEntry*>(linitial(sub->targetList));
    auto* e = reinterpret_cast<Node*>(tle->expr);
    auto is_null = [](Node* arg) {
        auto* t = makeNode(NullTest);
        t->arg = reinterpret_cast<Expr*>(copyObjectImpl(arg));
        t->nulltesttype = IS_NULL;
        t->location = -1;
        return reinterpret_cast<Node*>(t);
    };
    auto with_w = [&](Node* b) {
        return w == nullptr ? b : make_and_qual(static_cast<Node*>(copyObjectImpl(w)), b);
    };
    auto satisfies_w = [&] {
        return exists_over(rte, w == nullptr ? nullptr : static_cast<Node*>(copyObjectImpl(w)));
    };
    // x inside the EXISTS is one level further from q.
    auto* inner_x = static_cast<Node*>(copyObjectImpl(x));
    IncrementVarSublevelsUp(inner_x, 1, 0);
    auto* matches = static_cast<OpExpr*>(copyObjectImpl(op));
    matches->args = list_make2(inner_x, copyObjectImpl(e));
    List* arms = list_make1(exists_over(rte, with_w(reinterpret_cast<Node*>(matches))));
    if (!not_null_column(x, q))
        arms = lappend(arms, make_and_qual(is_null(x), satisfies_w()));
    if (!not_null_column(e, sub))
        arms = lappend(arms, exists_over(rte, with_w(is_null(e))));
    if (list_length(arms) == 1)
        return static_cast<Node*>(linitial(arms));
    return make_and_qual(satisfies_w(), reinterpret_cast<Node*>(makeBoolExpr(OR_EXPR, arms, -1)));
}

// The range table entries of join tree `n`, at any depth (with `visible`, not those inside
// `(...) AS alias`, whose members the level's WHERE, where a restriction goes, cannot name).
void subtree_entries(Node* n, std::vector<Index>& out, bool visible = false) {
    if (IsA(n, RangeTblRef)) {
        out.push_back(static_cast<Index>(reinterpret_cast<RangeTblRef*>(n)->rtindex));
    } else if (IsA(n, FromExpr)) {
        ListCell* lc;
        foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
            subtree_entries(static_cast<Node*>(lfirst(lc)), out, visible);
    } else if (IsA(n, JoinExpr) && !(visible && reinterpret_cast<JoinExpr*>(n)->alias != nullptr)) {
        subtree_entries(reinterpret_cast<JoinExpr*>(n)->larg, out, visible);
        subtree_entries(reinterpret_cast<JoinExpr*>(n)->rarg, out, visible);
    }
}

// The binary operator clauses ANDed at the top of `qual`.
void top_conjuncts(Node* qual, std::vector<OpExpr*>& out) {
    if (qual == nullptr)
        return;
    if (IsA(qual, List) ||
        (IsA(qual, BoolExpr) && reinterpret_cast<BoolExpr*>(qual)->boolop == AND_EXPR)) {
        List* args = IsA(qual, List) ? reinterpret_cast<List*>(qual)
                                     : reinterpret_cast<BoolExpr*>(qual)->args;
        ListCell* lc;
        foreach (lc, args)
            top_conjuncts(static_cast<Node*>(lfirst(lc)), out);
    } else if (IsA(qual, OpExpr) && list_length(reinterpret_cast<OpExpr*>(qual)->args) == 2) {
        out.push_back(reinterpret_cast<OpExpr*>(qual));
    }
}

// For `a op b` between two plain columns of this level, one of entry `rti` and one of another
// entry: rti's column, then the other one.
std::optional<std::pair<Var*, Var*>> column_pair(OpExpr* op, Index rti) {
    Node* a = static_cast<Node*>(linitial(op->args));
    Node* b = static_cast<Node*>(lsecond(op->args));
    if (!IsA(a, Var) || !IsA(b, Var))
        return std::nullopt;
    auto* va = reinterpret_cast<Var*>(a);
    auto* vb = reinterpret_cast<Var*>(b);
    if (va->varlevelsup != 0 || vb->varlevelsup != 0 || (va->varno == rti) == (vb->varno == rti))
        return std::nullopt;
    Var* own = va->varno == rti ? va : vb;
    if (own->varattno <= 0)
        return std::nullopt;
    return std::make_pair(own, own == va ? vb : va);
}

// A conjunct of a join condition and the entries whose rows, when not NULL-padded, met it: a
// row of an inner join's input met its ON clause, a row of a LEFT (RIGHT) join's nullable side
// its ON clause (the preserved side's rows are kept whether they meet it or not).
struct JoinConjunct {
    OpExpr* op;
    std::vector<Index> met_by;
};

void join_conjuncts(Node* n, std::vector<JoinConjunct>& out) {
    if (IsA(n, FromExpr)) {
        ListCell* lc;
        foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
            join_conjuncts(static_cast<Node*>(lfirst(lc)), out);
        return;
    }
    if (!IsA(n, JoinExpr))
        return;
    auto* j = reinterpret_cast<JoinExpr*>(n);
    join_conjuncts(j->larg, out);
    join_conjuncts(j->rarg, out);
    std::vector<Index> met_by;
    if (j->jointype == JOIN_INNER)
        subtree_entries(n, met_by);
    else if (j->jointype == JOIN_LEFT)
        subtree_entries(j->rarg, met_by);
    else if (j->jointype == JOIN_RIGHT)
        subtree_entries(j->larg, met_by);
    else
        return;
    std::vector<OpExpr*> ops;
    top_conjuncts(j->quals, ops);
    for (OpExpr* op : ops)
        out.push_back({op, met_by});
}

// The level's key columns `keys` that are plain columns of preserved entries.
std::vector<std::pair<Var*, Oid>> preserved_key_columns(Query* q, List* keys,
                                                        const std::vector<Index>& preserved) {
    std::vector<std::pair<Var*, Oid>> out;
    ListCell* lc;
    foreach (lc, keys) {
        auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
        TargetEntry* tle = pg_call([&] { return get_sortgroupclause_tle(sgc, q->targetList); });
        if (!IsA(tle->expr, Var) || !OidIsValid(sgc->eqop))
            continue;
        auto* v = reinterpret_cast<Var*>(tle->expr);
        if (v->varlevelsup == 0 && v->varattno > 0 &&
            std::find(preserved.begin(), preserved.end(), v->varno) != preserved.end())
            out.emplace_back(v, sgc->eqop);
    }
    return out;
}

// A relation whose own columns are not among the level's key (or that an outer join can null)
// but whose rows join the rows of a part only by an equality with a key column: `GROUP BY
// c.id` over `c LEFT JOIN o ON o.cid = c.id` (or `c JOIN o ON ...`, or the equality in
// WHERE). A row of o, real (not NULL-padded) in an input row, met the equality there, so the
// parts holding it, or whose padding it decides (the c rows it matches), are those whose key
// equals its cid: keeping the input rows whose key equals a changed row's keeps whole parts
// (the equality is the key's own, its parts' equality). Each such equality of the relation's
// columns with key columns is required (all hold for a real row); a changed row with a NULL
// there reaches no part.
void equated_key_restrictions(Query* q, List* keys, const std::vector<Index>& preserved,
                              const std::vector<Index>& restricted, const char* scope,
                              std::vector<Restriction>& out) {
    const auto key_columns = preserved_key_columns(q, keys, preserved);
    if (key_columns.empty())
        return;
    std::vector<JoinConjunct> conjuncts;
    join_conjuncts(reinterpret_cast<Node*>(q->jointree), conjuncts);
    {
        std::vector<Index> all;
        subtree_entries(reinterpret_cast<Node*>(q->jointree), all);
        std::vector<OpExpr*> ops;
        top_conjuncts(q->jointree->quals, ops);
        for (OpExpr* op : ops)
            conjuncts.push_back({op, all});
    }
    auto key_of = [&](Node* n) -> const std::pair<Var*, Oid>* {
        if (!IsA(n, Var))
            return nullptr;
        auto* v = reinterpret_cast<Var*>(n);
        for (const auto& k : key_columns)
            if (v->varlevelsup == 0 && v->varno == k.first->varno &&
                v->varattno == k.first->varattno)
                return &k;
        return nullptr;
    };
    std::vector<Index> entries;
    subtree_entries(reinterpret_cast<Node*>(q->jointree), entries, /*visible=*/true);
    for (Index rti : entries) {
        auto* rte = static_cast<RangeTblEntry*>(list_nth(q->rtable, static_cast<int>(rti) - 1));
        if (rte->rtekind != RTE_RELATION ||
            std::find(restricted.begin(), restricted.end(), rti) != restricted.end())
            continue;
        const char* filter_column = nullptr;
        Node* qual = pg_call([&]() -> Node* {
            List* equal = NIL;
            for (const auto& c : conjuncts) {
                if (std::find(c.met_by.begin(), c.met_by.end(), rti) == c.met_by.end())
                    continue;
                const auto columns = column_pair(c.op, rti);
                const auto* k =
                    columns ? key_of(reinterpret_cast<Node*>(columns->second)) : nullptr;
                if (k == nullptr || k->second != c.op->opno)
                    continue;
                Var* v = columns->first;
                Var* changed = makeVar(1, v->varattno, v->vartype, v->vartypmod, v->varcollid, 0);
                Var* outer = makeVar(k->first->varno, k->first->varattno, k->first->vartype,
                                     k->first->vartypmod, k->first->varcollid, 1);
                // (The operator's own argument order: it may take two types.)
                auto* eq = static_cast<OpExpr*>(copyObjectImpl(c.op));
                eq->args = linitial(c.op->args) == v ? list_make2(changed, outer)
                                                     : list_make2(outer, changed);
                eq->location = -1;
                equal = lappend(equal, eq);
                if (filter_column == nullptr)
                    filter_column = get_attname(rte->relid, v->varattno, false);
            }
            if (equal == NIL)
                return nullptr;
            return exists_over(rte, reinterpret_cast<Node*>(make_ands_explicit(equal)));
        });
        if (qual != nullptr)
            out.push_back({rte, q, qual, scope, filter_column ? filter_column : ""});
    }
}
}  // namespace

void subquery_restriction(Query* q, Query* sub, SubLink* link, const char* scope,
                          std::vector<Restriction>& out) {
    if (sub->setOperations != nullptr || sub->cteList != NIL || list_length(sub->rtable) != 1 ||
        list_length(sub->jointree->fromlist) != 1 ||
        !IsA(linitial(sub->jointree->fromlist), RangeTblRef))
        return;
    auto* rte = static_cast<RangeTblEntry*>(linitial(sub->rtable));
    if (rte->rtekind != RTE_RELATION)
        return;
    Node* w = sub->jointree->quals;
    if (w != nullptr && pg_call([&] { return checkExprHasSubLink(w); }))
        return;
    Node* qual = pg_call([&] {
        if (Node* in_test = in_test_qual(q, link, sub, rte, w))
            return in_test;
        return exists_over(rte, static_cast<Node*>(copyObjectImpl(w)));
    });
    out.push_back({rte, q, qual, scope});
}

// A level that computes each output row from one part of its input rows (the rows of one
// group, window partition, DISTINCT ON key or DISTINCT value): the parts a change of `rel`
// can reach are those holding a changed row of rel, and each part is recognised by rel's
// columns among the part's key. Keeping only the input rows whose key columns of rel equal
// a changed row's keeps whole parts, so both evaluations are exact for them, and every other
// part is the same in both.
void partition_restrictions(Query* q, std::vector<Restriction>& out) {
    List* keys = partition_key(q);
    if (keys == NIL)
        return;
    // The kind of part, for the scope of each restriction (explain_st): by the relation's own
    // key columns, and through an equality with a key column (equated_key_restrictions).
    const int kind = q->hasWindowFuncs                     ? 0
                     : q->hasDistinctOn                    ? 1
                     : q->hasAggs || q->groupClause != NIL ? 2
                                                           : 3;
    static const char* const kOwnKey[] = {
        "the window partitions holding a changed row", "the DISTINCT ON keys of a changed row",
        "the groups holding a changed row", "the DISTINCT rows equal to a changed row"};
    static const char* const kJoinedKey[] = {
        "the window partitions a changed row joins", "the DISTINCT ON keys a changed row joins",
        "the groups a changed row joins", "the DISTINCT rows a changed row joins"};
    const char* scope = kOwnKey[kind];
    const auto preserved = preserved_entries(q, reinterpret_cast<Node*>(q->jointree));
    std::vector<Index> restricted;
    for (Index rti : preserved) {
        auto* rte = static_cast<RangeTblEntry*>(list_nth(q->rtable, static_cast<int>(rti) - 1));
        if (rte->rtekind != RTE_RELATION)
            continue;
        // EXISTS (changed row with equal key columns): an equality the planner hashes.
        // NULL keys (equal for grouping, never for `=`) take a second arm, which an
        // uncorrelated EXISTS switches off when no changed row has one:
        //   EXISTS (eq) OR (EXISTS (a NULL key) AND EXISTS (IS NOT DISTINCT FROM))
        Node* qual = pg_call([&]() -> Node* {
            List* equal = NIL;
            List* same = NIL;
            List* null_key = NIL;
            ListCell* lc;
            foreach (lc, keys) {
                auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
                TargetEntry* tle = get_sortgroupclause_tle(sgc, q->targetList);
                if (!IsA(tle->expr, Var) || !OidIsValid(sgc->eqop))
                    continue;
                auto* v = reinterpret_cast<Var*>(tle->expr);
                if (v->varlevelsup != 0 || v->varno != rti || v->varattno <= 0)
                    continue;
                auto changed = [&] {
                    return makeVar(1, v->varattno, v->vartype, v->vartypmod, v->varcollid, 0);
                };
                auto outer = [&] {
                    return makeVar(rti, v->varattno, v->vartype, v->vartypmod, v->varcollid, 1);
                };
                Expr* eq =
                    make_opclause(sgc->eqop, BOOLOID, false, reinterpret_cast<Expr*>(changed()),
                                  reinterpret_cast<Expr*>(outer()), InvalidOid, v->varcollid);
                reinterpret_cast<OpExpr*>(eq)->opfuncid = get_opcode(sgc->eqop);
                equal = lappend(equal, eq);
                auto* distinct = makeNode(DistinctExpr);
                distinct->opno = sgc->eqop;
                distinct->opfuncid = get_opcode(sgc->eqop);
                distinct->opresulttype = BOOLOID;
                distinct->inputcollid = v->varcollid;
                distinct->args = list_make2(changed(), outer());
                distinct->location = -1;
                same = lappend(same, makeBoolExpr(NOT_EXPR, list_make1(distinct), -1));
                auto* is_null = makeNode(NullTest);
                is_null->arg = reinterpret_cast<Expr*>(changed());
                is_null->nulltesttype = IS_NULL;
                is_null->location = -1;
                null_key = lappend(null_key, is_null);
            }
            if (equal == NIL)
                return nullptr;
            Node* by_equality =
                exists_over(rte, reinterpret_cast<Node*>(make_ands_explicit(equal)));
            Node* any_null = exists_over(
                rte, list_length(null_key) == 1
                         ? static_cast<Node*>(linitial(null_key))
                         : reinterpret_cast<Node*>(makeBoolExpr(OR_EXPR, null_key, -1)));
            Node* by_null = exists_over(rte, reinterpret_cast<Node*>(make_ands_explicit(same)));
            return reinterpret_cast<Node*>(makeBoolExpr(
                OR_EXPR,
                list_make2(by_equality, makeBoolExpr(AND_EXPR, list_make2(any_null, by_null), -1)),
                -1));
        });
        if (qual != nullptr) {
            out.push_back({rte, q, qual, scope});
            restricted.push_back(rti);
        }
    }
    equated_key_restrictions(q, keys, preserved, restricted, kJoinedKey[kind], out);
}

// `x, LATERAL (SELECT .. FROM rel WHERE w)` (or x LEFT JOIN LATERAL ... ON true): the
// subquery's answer for a row of x can only differ between the two evaluations when a
// changed row of rel satisfies w, exactly as for a subquery expression. (Not on the nullable
// side of an outer join: there its answer also decides which rows are NULL-padded.)
// A LEFT JOIN LATERAL whose left side is preserved qualifies too when the subquery reads
// only preserved entries: the padding of a row then depends on the subquery's answer alone.
void lateral_restrictions(Query* q, std::vector<Restriction>& out) {
    Node* tree = reinterpret_cast<Node*>(q->jointree);
    if (has_aliased_join(tree))
        return;
    const auto preserved = preserved_entries(q, tree);
    std::vector<Index> laterals = preserved;
    padded_laterals(q, tree, laterals);
    for (Index rti : laterals) {
        auto* rte = static_cast<RangeTblEntry*>(list_nth(q->rtable, static_cast<int>(rti) - 1));
        if (rte->rtekind != RTE_SUBQUERY || !rte->lateral)
            continue;
        if (std::find(preserved.begin(), preserved.end(), rti) == preserved.end() &&
            !reads_only(rte->subquery, preserved))
            continue;
        subquery_restriction(q, rte->subquery, nullptr,
                             "rows whose LATERAL subquery reads a changed row", out);
    }
}

// `x LEFT JOIN rel ON p`: the rows of x a change of rel can reach are those matching a
// changed row on p; every other row of x is padded or joined the same way in both.
void outer_join_restriction(Query* q, JoinExpr* j, Node* nullable, std::vector<Restriction>& out) {
    if (!IsA(nullable, RangeTblRef))
        return;
    int rti = reinterpret_cast<RangeTblRef*>(nullable)->rtindex;
    auto* rte = static_cast<RangeTblEntry*>(list_nth(q->rtable, rti - 1));
    if (rte->rtekind != RTE_RELATION)
        return;
    if (j->quals != nullptr && pg_call([&] { return checkExprHasSubLink(j->quals); }))
        return;
    Node* qual = pg_call([&] {
        Node* p = static_cast<Node*>(copyObjectImpl(j->quals));
        move_into_sublink(p, &rti);
        return exists_over(rte, p);
    });
    // `rel.c = x.d` ANDed in p, with the type's own equality: a row of rel joins a kept row of x
    // only if its c equals that of the changed row the kept row matched, so both evaluations
    // may read rel's rows with such a c only (core::RestrictedText::filter_column).
    const char* filter_column = nullptr;
    std::vector<OpExpr*> ops;
    top_conjuncts(j->quals, ops);
    for (OpExpr* op : ops) {
        const auto columns = column_pair(op, static_cast<Index>(rti));
        if (!columns || columns->first->vartype != columns->second->vartype ||
            columns->first->varcollid != columns->second->varcollid)
            continue;
        Var* own = columns->first;
        const bool type_equality = pg_call(
            [&] { return lookup_type_cache(own->vartype, TYPECACHE_EQ_OPR)->eq_opr == op->opno; });
        if (!type_equality)
            continue;
        filter_column = pg_call([&] { return get_attname(rte->relid, own->varattno, false); });
        break;
    }
    out.push_back({rte, q, qual, "rows whose outer-join partner is a changed row",
                   filter_column ? filter_column : ""});
}

}  // namespace pgtrickle::pg
