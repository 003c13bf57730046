// GROUPING SETS / ROLLUP / CUBE as UNION ALL (see grouping_sets.hpp).
#include "pg_trickle/pg/grouping_sets.hpp"

#include <fmt/format.h>

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/references.hpp"
#include "pg_trickle/pg/walker.hpp"

namespace pgtrickle::pg {

namespace {

// Plain C state for the mutator (it runs inside PostgreSQL frames).
struct BranchState {
    List* set;     // sortgrouprefs grouped in this branch
    List* kept;    // expressions grouped in it (whole: their Vars are not nulled inside them)
    List* nulled;  // expressions of the grouped columns outside it
};

// GROUPING(a, b, ...) of one set: bit i (from the left) set when the i-th argument is not
// grouped in it.
Const* grouping_value(GroupingFunc* g, List* set) {
    int value = 0;
    ListCell* lc;
    foreach (lc, g->refs)
        value = (value << 1) | (list_member_int(set, lfirst_int(lc)) ? 0 : 1);
    return makeConst(INT4OID, -1, InvalidOid, sizeof(int32), Int32GetDatum(value), false, true);
}

Node* branch_mutator(Node* node, void* context) {
    if (node == nullptr)
        return nullptr;
    auto* s = static_cast<BranchState*>(context);
    if (IsA(node, GroupingFunc))
        return reinterpret_cast<Node*>(
            grouping_value(reinterpret_cast<GroupingFunc*>(node), s->set));
    // An aggregate's arguments are read per input row, where the column has its value.
    if (IsA(node, Aggref))
        return static_cast<Node*>(copyObjectImpl(node));
    ListCell* lc;
    foreach (lc, s->kept) {
        if (equal(node, lfirst(lc)))
            return static_cast<Node*>(copyObjectImpl(node));
    }
    foreach (lc, s->nulled) {
        Node* e = static_cast<Node*>(lfirst(lc));
        if (equal(node, e))
            return reinterpret_cast<Node*>(
                makeNullConst(exprType(e), exprTypmod(e), exprCollation(e)));
    }
    return expression_tree_mutator(node, as_mutator(branch_mutator), context);
}

// The query grouped by one set alone.
Query* branch(Query* q, List* set) {
    auto* b = static_cast<Query*>(copyObjectImpl(q));
    b->groupingSets = NIL;
    b->groupDistinct = false;
    b->sortClause = NIL;
    BranchState state{set, NIL, NIL};
    List* kept = NIL;
    ListCell* lc;
    foreach (lc, q->groupClause) {
        auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
        TargetEntry* tle = get_sortgroupclause_tle(sgc, q->targetList);
        if (list_member_int(set, static_cast<int>(sgc->tleSortGroupRef))) {
            kept = lappend(kept, copyObjectImpl(sgc));
            state.kept = lappend(state.kept, tle->expr);
            continue;
        }
        state.nulled = lappend(state.nulled, tle->expr);
    }
    b->groupClause = kept;
    List* tlist = NIL;
    foreach (lc, b->targetList) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (!list_member_int(set, static_cast<int>(tle->ressortgroupref)))
            tle->ressortgroupref = 0;
        tle->expr =
            reinterpret_cast<Expr*>(branch_mutator(reinterpret_cast<Node*>(tle->expr), &state));
        tlist = lappend(tlist, tle);
    }
    b->targetList = tlist;
    b->havingQual = branch_mutator(b->havingQual, &state);
    return b;
}

}  // namespace

std::string grouping_sets_as_union(Query* q, int max_branches) {
    List* sets = pg_call(
        [&] { return expand_grouping_sets(q->groupingSets, q->groupDistinct, max_branches); });
    if (sets == NIL)
        return "";
    std::string text;
    ListCell* lc;
    foreach (lc, sets) {
        List* set = static_cast<List*>(lfirst(lc));
        Query* b = pg_call([&] { return branch(q, set); });
        text += (text.empty() ? "(" : "\nUNION ALL\n(") + deparse(b) + ")";
    }
    return text;
}

}  // namespace pgtrickle::pg
