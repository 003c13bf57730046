// Recursive queries maintained incrementally: the shape they need (see recursion.hpp).
#include "pg_trickle/pg/recursion.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/references.hpp"

namespace pgtrickle::pg {

namespace {

// Only inner joins: the term is monotone (more rows in, never fewer out).
bool inner_joins_only(Node* n) {
    if (n == nullptr || IsA(n, RangeTblRef))
        return true;
    if (IsA(n, FromExpr)) {
        ListCell* lc;
        foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
            if (!inner_joins_only(static_cast<Node*>(lfirst(lc))))
                return false;
        return true;
    }
    if (IsA(n, JoinExpr)) {
        auto* j = reinterpret_cast<JoinExpr*>(n);
        return j->jointype == JOIN_INNER && inner_joins_only(j->larg) && inner_joins_only(j->rarg);
    }
    return false;
}

// A select-project-join of source tables (and, for the step, one reference to the CTE `name`
// one level up).
bool monotone_term(Query* t, const char* name, bool step) {
    if (t == nullptr || t->setOperations != nullptr || t->hasAggs || t->groupClause != NIL ||
        t->havingQual != nullptr || t->distinctClause != NIL || t->hasWindowFuncs ||
        t->hasTargetSRFs || t->limitCount != nullptr || t->limitOffset != nullptr ||
        t->hasSubLinks || t->cteList != NIL || t->groupingSets != NIL ||
        !inner_joins_only(reinterpret_cast<Node*>(t->jointree)))
        return false;
    int self = 0;
    ListCell* lc;
    foreach (lc, t->rtable) {
        auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
        switch (rte->rtekind) {
            case RTE_RELATION:
            case RTE_JOIN:
                break;
            case RTE_CTE:
                if (!step || rte->ctelevelsup < 1 || std::strcmp(rte->ctename, name) != 0)
                    return false;
                ++self;
                break;
            default:
                return false;
        }
    }
    return self == (step ? 1 : 0);
}

}  // namespace

std::optional<core::Recursion> recursive_terms(Query* q,
                                               const std::map<Oid, std::size_t>& table_index) {
    if (list_length(q->cteList) != 1)
        return std::nullopt;
    auto* cte = static_cast<CommonTableExpr*>(linitial(q->cteList));
    if (!cte->cterecursive || cte->search_clause != nullptr || cte->cycle_clause != nullptr ||
        !IsA(cte->ctequery, Query))
        return std::nullopt;
    const char* name = cte->ctename;

    // The top: every column of r, in order, from r alone.
    if (q->setOperations != nullptr || q->hasAggs || q->groupClause != NIL ||
        q->havingQual != nullptr || q->distinctClause != NIL || q->hasWindowFuncs ||
        q->hasTargetSRFs || q->limitCount != nullptr || q->limitOffset != nullptr ||
        q->hasSubLinks || list_length(q->rtable) != 1 || list_length(q->jointree->fromlist) != 1 ||
        q->jointree->quals != nullptr)
        return std::nullopt;
    auto* top_rte = static_cast<RangeTblEntry*>(linitial(q->rtable));
    if (top_rte->rtekind != RTE_CTE || top_rte->ctelevelsup != 0 ||
        std::strcmp(top_rte->ctename, name) != 0)
        return std::nullopt;
    const int ncols = list_length(cte->ctecolnames);
    int position = 0;
    ListCell* lc;
    foreach (lc, q->targetList) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (tle->resjunk)
            continue;
        ++position;
        if (!IsA(tle->expr, Var))
            return std::nullopt;
        auto* v = reinterpret_cast<Var*>(tle->expr);
        if (v->varno != 1 || v->varlevelsup != 0 || v->varattno != position)
            return std::nullopt;
    }
    if (position != ncols)
        return std::nullopt;

    // The CTE: base UNION [ALL] step.
    auto* body = reinterpret_cast<Query*>(cte->ctequery);
    auto* op = reinterpret_cast<SetOperationStmt*>(body->setOperations);
    if (op == nullptr || !IsA(op, SetOperationStmt) || op->op != SETOP_UNION ||
        !IsA(op->larg, RangeTblRef) || !IsA(op->rarg, RangeTblRef))
        return std::nullopt;
    auto term = [&](Node* n) {
        auto* rte = static_cast<RangeTblEntry*>(
            list_nth(body->rtable, reinterpret_cast<RangeTblRef*>(n)->rtindex - 1));
        return rte->rtekind == RTE_SUBQUERY ? rte->subquery : nullptr;
    };
    Query* base = term(op->larg);
    Query* step = term(op->rarg);
    if (!monotone_term(base, name, false) || !monotone_term(step, name, true))
        return std::nullopt;

    core::Recursion rec;
    rec.all = op->all;
    foreach (lc, cte->ctecolnames)
        rec.columns.push_back(strVal(lfirst(lc)));
    try {
        rec.base = deparse(base);
        rec.base_refs = analyze_references(base, rec.base, table_index).refs;
        rec.step = deparse(step);
        rec.step_refs = analyze_references(step, rec.step, table_index, name).refs;
    } catch (const std::exception&) {
        return std::nullopt;  // (a term the deparser or the reference analysis cannot place)
    }
    auto self = cte_reference(rec.step, name);
    if (!self)
        return std::nullopt;
    rec.self = *self;
    for (const auto& r : rec.base_refs)
        if (r.nonlinear)
            return std::nullopt;
    for (const auto& r : rec.step_refs)
        if (r.nonlinear)
            return std::nullopt;
    return rec;
}

}  // namespace pgtrickle::pg
