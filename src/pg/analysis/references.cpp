// Relation references of a defining query's text (see references.hpp).
//
// The analyzed tree says what each reference is (linear or not, which level, which join); the
// text says where it is. The two are lined up by deparsing a copy of the tree in which every
// relation carries a marker alias: the k-th reference in that text is the k-th in the real one.
#include "pg_trickle/pg/references.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

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

constexpr const char* kAnyAlias = "__pgt_any_ref";
constexpr const char* kMarkerPrefix = "__pgt_m";

// Plain C state for walkers (they run inside PostgreSQL frames: no C++ exceptions there).
struct SublinkState {
    List* found;
};

bool find_sublinks(Node* node, void* context) {
    if (node == nullptr)
        return false;
    auto* s = static_cast<SublinkState*>(context);
    if (IsA(node, SubLink)) {
        s->found = lappend(s->found, node);
        // Its test expression belongs to this level; its subquery does not.
        return expression_tree_walker(reinterpret_cast<SubLink*>(node)->testexpr,
                                      as_walker(find_sublinks), context);
    }
    if (IsA(node, Query))
        return false;
    return expression_tree_walker(node, as_walker(find_sublinks), context);
}

std::vector<SubLink*> to_vector(List* list) {
    std::vector<SubLink*> out;
    ListCell* lc;
    foreach (lc, list)
        out.push_back(static_cast<SubLink*>(lfirst(lc)));
    return out;
}

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

// Every relation and every query level of a tree, in one fixed order: copies of the tree
// enumerate in the same order, so an index names the same node in each.
struct Enumeration {
    std::vector<RangeTblEntry*> rels;
    std::vector<Query*> levels;
};

void enumerate(Query* q, Enumeration& e) {
    e.levels.push_back(q);
    ListCell* lc;
    foreach (lc, q->rtable) {
        auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
        if (rte->rtekind == RTE_RELATION)
            e.rels.push_back(rte);
        else if (rte->rtekind == RTE_SUBQUERY)
            enumerate(rte->subquery, e);
    }
    for (SubLink* s : level_sublinks(q))
        enumerate(reinterpret_cast<Query*>(s->subselect), e);
}

using IdProducts = std::vector<std::vector<int>>;

IdProducts cross(const IdProducts& a, const IdProducts& b) {
    IdProducts out;
    for (const auto& x : a)
        for (const auto& y : b) {
            auto p = x;
            p.insert(p.end(), y.begin(), y.end());
            out.push_back(std::move(p));
        }
    return out;
}

std::vector<int> flatten(const IdProducts& products) {
    std::set<int> all;
    for (const auto& p : products)
        all.insert(p.begin(), p.end());
    return {all.begin(), all.end()};
}

// A level whose output is a sum over its input rows: the query is linear in its relations when
// the level itself sits in a linear place.
bool level_is_linear(Query* q) {
    return !q->hasAggs && q->groupClause == NIL && q->havingQual == nullptr &&
           q->distinctClause == NIL && !q->hasWindowFuncs && q->limitCount == nullptr &&
           q->limitOffset == nullptr && q->groupingSets == NIL;
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

// A restriction: for relation `id`, the condition `qual` added to the WHERE of level `level`.
struct Candidate {
    int id;
    int level;
    Node* qual;
    const char* scope;  // which rows it keeps, for people (explain_st)
};

// Walks a tree deciding, per relation, whether the query is linear in it, how the relations
// combine into products, and which nonlinear ones can be restricted.
class Classifier {
  public:
    explicit Classifier(Query* root, const Enumeration& e) : root_(root) {
        for (std::size_t i = 0; i < e.rels.size(); ++i)
            ids_[e.rels[i]] = static_cast<int>(i);
        for (std::size_t i = 0; i < e.levels.size(); ++i)
            levels_[e.levels[i]] = static_cast<int>(i);
        nonlinear.assign(e.rels.size(), false);
    }

    IdProducts level(Query* q, bool linear) {
        // (The top of a grouped query is its own plan: its references here are its input's.)
        const bool lin =
            linear && (q == root_ ? !q->hasWindowFuncs && !q->hasDistinctOn : level_is_linear(q));
        if (q->setOperations != nullptr) {
            // A sum at the top of the query (no subquery expression at its own level) is
            // crossed with nothing: its branches are always differentiated apart.
            const bool top_sum = q == root_ && level_sublinks(q).empty();
            IdProducts out = setop(q, q->setOperations, lin, top_sum);
            // (LIMIT (SELECT ...) and the like at the set operation's own level.)
            for (SubLink* s : level_sublinks(q)) {
                auto inner = flatten(level(reinterpret_cast<Query*>(s->subselect), false));
                for (auto& p : out)
                    p.insert(p.end(), inner.begin(), inner.end());
            }
            return out;
        }
        IdProducts out{{}};
        ListCell* lc;
        foreach (lc, q->jointree->fromlist)
            out = cross(out, node(q, static_cast<Node*>(lfirst(lc)), lin));
        // Subquery expressions in WHERE or the select list of a linear level can be
        // restricted (a row outside the restriction has the same value in both evaluations).
        std::set<SubLink*> restrictable;
        if (lin) {
            for (SubLink* s : sublinks_of(q->jointree->quals))
                restrictable.insert(s);
            for (SubLink* s : sublinks_of(reinterpret_cast<Node*>(q->targetList)))
                restrictable.insert(s);
        }
        for (SubLink* s : level_sublinks(q)) {
            auto inner = flatten(level(reinterpret_cast<Query*>(s->subselect), false));
            for (auto& p : out)
                p.insert(p.end(), inner.begin(), inner.end());
            if (restrictable.count(s))
                sublink_candidate(q, s);
        }
        if (linear && !lin)
            partition_candidates(q);
        if (lin)
            lateral_candidates(q);
        return out;
    }

    std::vector<bool> nonlinear;
    std::vector<Candidate> candidates;

  private:
    IdProducts node(Query* q, Node* n, bool lin, bool hidden = false) {
        if (IsA(n, RangeTblRef)) {
            auto* rte = static_cast<RangeTblEntry*>(
                list_nth(q->rtable, reinterpret_cast<RangeTblRef*>(n)->rtindex - 1));
            if (rte->rtekind == RTE_RELATION) {
                int id = ids_.at(rte);
                nonlinear[static_cast<std::size_t>(id)] = !lin;
                return {{id}};
            }
            if (rte->rtekind == RTE_SUBQUERY)
                return level(rte->subquery, lin);
            return {{}};
        }
        if (IsA(n, JoinExpr)) {
            auto* j = reinterpret_cast<JoinExpr*>(n);
            // An outer join is linear in its preserved side only.
            const bool left = lin && (j->jointype == JOIN_INNER || j->jointype == JOIN_LEFT);
            const bool right = lin && (j->jointype == JOIN_INNER || j->jointype == JOIN_RIGHT);
            // Inside `(...) AS alias` the member tables are not visible to the level's WHERE,
            // where a restriction would go.
            const bool inner_hidden = hidden || j->alias != nullptr;
            auto out =
                cross(node(q, j->larg, left, inner_hidden), node(q, j->rarg, right, inner_hidden));
            if (lin && !inner_hidden && j->jointype == JOIN_LEFT)
                join_candidate(q, j, j->rarg);
            if (lin && !inner_hidden && j->jointype == JOIN_RIGHT)
                join_candidate(q, j, j->larg);
            return out;
        }
        if (IsA(n, FromExpr)) {
            IdProducts out{{}};
            ListCell* lc;
            foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
                out = cross(out, node(q, static_cast<Node*>(lfirst(lc)), lin, hidden));
            return out;
        }
        throw std::runtime_error("unexpected join tree node");
    }

    IdProducts setop(Query* q, Node* n, bool lin, bool top_sum) {
        if (IsA(n, RangeTblRef)) {
            auto* rte = static_cast<RangeTblEntry*>(
                list_nth(q->rtable, reinterpret_cast<RangeTblRef*>(n)->rtindex - 1));
            return level(rte->subquery, lin);
        }
        auto* op = reinterpret_cast<SetOperationStmt*>(n);
        if (lin && op->op == SETOP_UNION && op->all) {
            auto out = setop(q, op->larg, true, top_sum);
            auto right = setop(q, op->rarg, true, top_sum);
            out.insert(out.end(), right.begin(), right.end());
            // A branch is emptied (while another is differentiated) by emptying its relations.
            // A branch that still yields rows then (constants, a scalar aggregate) yields the
            // same rows in both evaluations of a term, which cancel; but where the sum is
            // crossed with other relations (a UNION ALL in a subquery in FROM, a correlated
            // LATERAL branch), those rows would be joined with the other relations' change
            // once per product. There, each branch needs a linear relation of its own.
            if (top_sum)
                return out;
            bool separable = true;
            for (const auto& p : out) {
                bool own_linear = false;
                for (int id : p)
                    own_linear = own_linear || !nonlinear[static_cast<std::size_t>(id)];
                separable = separable && own_linear;
            }
            if (separable)
                return out;
            return {flatten(out)};
        }
        // UNION, INTERSECT, EXCEPT: one product, nonlinear in all of it.
        auto l = flatten(setop(q, op->larg, false, false));
        auto r = flatten(setop(q, op->rarg, false, false));
        l.insert(l.end(), r.begin(), r.end());
        return {l};
    }

    // `EXISTS / IN / scalar (SELECT .. FROM rel WHERE w)`: its value for a row can only differ
    // between the two evaluations when a changed row of rel satisfies w.
    void sublink_candidate(Query* q, SubLink* s) {
        subquery_candidate(q, reinterpret_cast<Query*>(s->subselect),
                           "rows whose subquery expression reads a changed row");
    }

    void subquery_candidate(Query* q, Query* sub, const char* scope) {
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
        Node* qual =
            pg_call([&] { return exists_over(rte, static_cast<Node*>(copyObjectImpl(w))); });
        candidates.push_back({ids_.at(rte), levels_.at(q), qual, scope});
    }

    // A level that computes each output row from one part of its input rows (the rows of one
    // group, window partition, DISTINCT ON key or DISTINCT value): the parts a change of `rel`
    // can reach are those holding a changed row of rel, and each part is recognised by rel's
    // columns among the part's key. Keeping only the input rows whose key columns of rel equal
    // a changed row's keeps whole parts, so both evaluations are exact for them, and every other
    // part is the same in both.
    void partition_candidates(Query* q) {
        List* keys = partition_key(q);
        if (keys == NIL)
            return;
        const char* scope = q->hasWindowFuncs  ? "the window partitions holding a changed row"
                            : q->hasDistinctOn ? "the DISTINCT ON keys of a changed row"
                            : q->hasAggs || q->groupClause != NIL
                                ? "the groups holding a changed row"
                                : "the DISTINCT rows equal to a changed row";
        for (Index rti : preserved_entries(q, reinterpret_cast<Node*>(q->jointree))) {
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
                    list_make2(by_equality,
                               makeBoolExpr(AND_EXPR, list_make2(any_null, by_null), -1)),
                    -1));
            });
            if (qual != nullptr)
                candidates.push_back({ids_.at(rte), levels_.at(q), qual, scope});
        }
    }

    // The clauses whose expressions name a part of the level's input (see
    // partition_candidates), or NIL when the level has no such parts.
    static List* partition_key(Query* q) {
        if (q->setOperations != nullptr || q->limitCount != nullptr || q->limitOffset != nullptr ||
            q->groupingSets != NIL || q->hasTargetSRFs)
            return NIL;
        const bool grouped = q->hasAggs || q->groupClause != NIL || q->havingQual != nullptr;
        if (q->hasWindowFuncs) {
            if (grouped || (q->distinctClause != NIL && !q->hasDistinctOn))
                return NIL;
            // The key columns every window function's partition has in common.
            WindowFuncLists* funcs = pg_call([&] {
                Index max_ref = 0;
                ListCell* lc;
                foreach (lc, q->windowClause)
                    max_ref = std::max(max_ref, static_cast<WindowClause*>(lfirst(lc))->winref);
                return find_window_functions(reinterpret_cast<Node*>(q->targetList), max_ref);
            });
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
    static std::vector<Index> preserved_entries(Query* q, Node* n) {
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

    // `x, LATERAL (SELECT .. FROM rel WHERE w)` (or x LEFT JOIN LATERAL ... ON true): the
    // subquery's answer for a row of x can only differ between the two evaluations when a
    // changed row of rel satisfies w, exactly as for a subquery expression. (Not on the nullable
    // side of an outer join: there its answer also decides which rows are NULL-padded.)
    // A LEFT JOIN LATERAL whose left side is preserved qualifies too when the subquery reads
    // only preserved entries: the padding of a row then depends on the subquery's answer alone.
    void lateral_candidates(Query* q) {
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
            subquery_candidate(q, rte->subquery, "rows whose LATERAL subquery reads a changed row");
        }
    }

    // The entries that are the nullable side of a LEFT (RIGHT) JOIN in a preserved position.
    static void padded_laterals(Query* q, Node* n, std::vector<Index>& out) {
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
                out.push_back(
                    static_cast<Index>(reinterpret_cast<RangeTblRef*>(nullable)->rtindex));
        }
    }

    // Whether every Var of `sub` (at any depth) that names the level above it names one of
    // `entries`.
    static bool reads_only(Query* sub, const std::vector<Index>& entries) {
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

    static bool has_aliased_join(Node* n) {
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

    // `x LEFT JOIN rel ON p`: the rows of x a change of rel can reach are those matching a
    // changed row on p; every other row of x is padded or joined the same way in both.
    void join_candidate(Query* q, JoinExpr* j, Node* nullable) {
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
        candidates.push_back(
            {ids_.at(rte), levels_.at(q), qual, "rows whose outer-join partner is a changed row"});
    }

    Query* root_;
    std::map<RangeTblEntry*, int> ids_;
    std::map<Query*, int> levels_;
};

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

// The relation references of a query text, in text order.
std::vector<RangeVar*> raw_range_vars(const std::string& text) {
    const char* t = text.c_str();
    RangeVarState state{NIL};
    pg_call([&] {
        List* raw = pg_parse_query(t);
        collect_range_vars(linitial_node(RawStmt, raw)->stmt, &state);
    });
    std::vector<RangeVar*> vars;
    ListCell* lc;
    foreach (lc, state.range_vars)
        vars.push_back(static_cast<RangeVar*>(lfirst(lc)));
    std::sort(vars.begin(), vars.end(),
              [](RangeVar* a, RangeVar* b) { return a->location < b->location; });
    return vars;
}

struct TextRef {
    core::RelationRef ref;
    Oid relid;
    std::string alias;
};

// (An unqualified reference named `cte` is that CTE's: every relation is printed qualified.)
std::vector<TextRef> text_refs(const std::string& text,
                               const std::map<Oid, std::size_t>& table_index,
                               const std::string& cte = "") {
    std::vector<TextRef> out;
    for (RangeVar* rv : raw_range_vars(text)) {
        if (!cte.empty() && rv->schemaname == nullptr && cte == rv->relname)
            continue;
        Oid relid = pg_call([&] { return RangeVarGetRelid(rv, NoLock, false); });
        auto it = table_index.find(relid);
        if (it == table_index.end())
            throw std::runtime_error("relation reference without a source table");
        std::string printed = rv->schemaname ? std::string(quote_identifier(rv->schemaname)) + "." +
                                                   quote_identifier(rv->relname)
                                             : std::string(quote_identifier(rv->relname));
        core::RelationRef ref;
        // `t AS x(a, b)`: replacing t by a change CTE would rename the CTE's columns by
        // position. (The deparser writes such lists itself to keep USING names unique.)
        if (rv->alias != nullptr && rv->alias->colnames != NIL)
            throw std::runtime_error("a relation with a column alias list");
        ref.location = static_cast<std::size_t>(rv->location);
        if (text.compare(ref.location, printed.size(), printed) != 0)
            throw std::runtime_error("unexpected relation text in deparsed query: " + printed);
        ref.length = printed.size();
        ref.has_alias = rv->alias != nullptr;
        ref.refname = rv->alias ? rv->alias->aliasname : rv->relname;
        ref.table = it->second;
        out.push_back({ref, relid, rv->alias ? rv->alias->aliasname : ""});
    }
    return out;
}

}  // namespace

std::optional<core::RelationRef> cte_reference(const std::string& text, const std::string& cte) {
    std::optional<core::RelationRef> found;
    for (RangeVar* rv : raw_range_vars(text)) {
        if (rv->schemaname != nullptr || cte != rv->relname)
            continue;
        if (found || (rv->alias != nullptr && rv->alias->colnames != NIL))
            return std::nullopt;  // (read twice, or with renamed columns)
        core::RelationRef ref;
        const std::string printed = quote_identifier(rv->relname);
        ref.location = static_cast<std::size_t>(rv->location);
        if (text.compare(ref.location, printed.size(), printed) != 0)
            return std::nullopt;
        ref.length = printed.size();
        ref.has_alias = rv->alias != nullptr;
        ref.refname = rv->alias ? rv->alias->aliasname : rv->relname;
        found = ref;
    }
    return found;
}

std::vector<SubLink*> sublinks_of(Node* node) {
    SublinkState s{NIL};
    pg_call([&] { find_sublinks(node, &s); });
    return to_vector(s.found);
}

std::vector<SubLink*> level_sublinks(Query* q) {
    SublinkState s{NIL};
    pg_call([&] { query_tree_walker(q, as_walker(find_sublinks), &s, QTW_IGNORE_RT_SUBQUERIES); });
    return to_vector(s.found);
}

// Under an empty search path (every name schema-qualified) and output settings whose forms
// every setting reads back the same way: a date printed under DateStyle 'SQL, DMY' would be read
// back as another date (or not at all) under the settings of a refresh.
std::string deparse(Query* q) {
    char* s = pg_call([&] {
        int nest = NewGUCNestLevel();
        set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        char* out = pg_get_querydef(q, false);
        AtEOXact_GUC(true, nest);
        return out;
    });
    return s;
}

ReferenceAnalysis analyze_references(Query* tree, const std::string& text,
                                     const std::map<Oid, std::size_t>& table_index,
                                     const std::string& cte) {
    // (C++ code between the pg_call()s: only plain C calls run inside them.)
    Enumeration e;
    enumerate(tree, e);
    Classifier classifier(tree, e);
    IdProducts id_products = classifier.level(tree, true);

    // Line the text's references up with the tree's relations through marker aliases.
    auto* marked = pg_call([&] { return static_cast<Query*>(copyObjectImpl(tree)); });
    Enumeration em;
    enumerate(marked, em);
    for (std::size_t k = 0; k < em.rels.size(); ++k) {
        const std::string name = fmt::format("{}{}", kMarkerPrefix, k);
        const char* n = name.c_str();
        RangeTblEntry* rte = em.rels[k];
        pg_call([&] {
            rte->alias = makeAlias(n, NIL);
            rte->eref = static_cast<Alias*>(copyObjectImpl(rte->eref));
            rte->eref->aliasname = pstrdup(n);
        });
    }
    const auto marked_refs = text_refs(deparse(marked), table_index, cte);
    const auto refs = text_refs(text, table_index, cte);
    if (marked_refs.size() != refs.size() || refs.size() != e.rels.size())
        throw std::runtime_error("relation references do not line up with the query");
    std::vector<int> id_at(refs.size());
    std::vector<std::size_t> position_of(refs.size());
    for (std::size_t k = 0; k < refs.size(); ++k) {
        const std::string& alias = marked_refs[k].alias;
        if (alias.rfind(kMarkerPrefix, 0) != 0)
            throw std::runtime_error("relation reference without its marker");
        int id = std::stoi(alias.substr(std::string(kMarkerPrefix).size()));
        if (id < 0 || static_cast<std::size_t>(id) >= refs.size() ||
            e.rels[static_cast<std::size_t>(id)]->relid != refs[k].relid)
            throw std::runtime_error("relation references do not line up with the query");
        id_at[k] = id;
        position_of[static_cast<std::size_t>(id)] = k;
    }

    ReferenceAnalysis out;
    for (std::size_t k = 0; k < refs.size(); ++k) {
        out.refs.push_back(refs[k].ref);
        out.refs.back().nonlinear = classifier.nonlinear[static_cast<std::size_t>(id_at[k])];
    }
    for (const auto& p : id_products) {
        std::vector<std::size_t> ids;
        for (int id : p)
            ids.push_back(position_of[static_cast<std::size_t>(id)]);
        std::sort(ids.begin(), ids.end());
        out.products.push_back(std::move(ids));
    }

    // The restricted forms: the same tree with one more condition, deparsed.
    for (const auto& c : classifier.candidates) {
        auto* variant = pg_call([&] { return static_cast<Query*>(copyObjectImpl(tree)); });
        Enumeration ev;
        enumerate(variant, ev);
        Query* level = ev.levels[static_cast<std::size_t>(c.level)];
        pg_call([&] {
            level->jointree->quals =
                make_and_qual(level->jointree->quals, static_cast<Node*>(copyObjectImpl(c.qual)));
            level->hasSubLinks = true;
        });
        core::RestrictedText r;
        r.text = deparse(variant);
        r.scope = c.scope;
        int next = 0;
        int any = 0;
        bool lined_up = true;
        for (const auto& t : text_refs(r.text, table_index, cte)) {
            r.refs.push_back(t.ref);
            if (t.alias == kAnyAlias) {
                r.original.push_back(-1);
                ++any;
                continue;
            }
            if (static_cast<std::size_t>(next) >= refs.size() ||
                refs[static_cast<std::size_t>(next)].relid != t.relid)
                lined_up = false;
            r.original.push_back(next++);
        }
        if (!lined_up || any < 1 || static_cast<std::size_t>(next) != refs.size())
            continue;  // no restriction: the plain evaluations are exact too
        auto& ref = out.refs[position_of[static_cast<std::size_t>(c.id)]];
        ref.restriction = static_cast<int>(out.restrictions.size());
        out.restrictions.push_back(std::move(r));
    }
    return out;
}

}  // namespace pgtrickle::pg
