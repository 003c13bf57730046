// Change filters of relation references (see change_filters.hpp).
#include "change_filters.hpp"

#include "catalog/pg_operator.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/walker.hpp"

namespace pgtrickle::pg {

namespace {

// The conjuncts that every row of range table entry `rti` must meet to reach the output of the
// level whose join tree `node` is part of, given `applicable`, those that bind the rows `node`
// produces. Outer joins: the conditions above a join bind its preserved side, not its nullable
// side (a condition such as `u.z IS NULL` is met by the NULLs a missing row of u leaves), and
// the join's own ON clause binds only its nullable side. Plain C: runs inside pg_call.
bool gather(Node* node, Index rti, List* applicable, List** out) {
    if (node == nullptr)
        return false;
    if (IsA(node, RangeTblRef)) {
        if (reinterpret_cast<RangeTblRef*>(node)->rtindex != static_cast<int>(rti))
            return false;
        *out = applicable;
        return true;
    }
    if (IsA(node, FromExpr)) {
        auto* from = reinterpret_cast<FromExpr*>(node);
        List* here =
            list_concat_copy(applicable, make_ands_implicit(reinterpret_cast<Expr*>(from->quals)));
        ListCell* lc;
        foreach (lc, from->fromlist) {
            if (gather(static_cast<Node*>(lfirst(lc)), rti, here, out))
                return true;
        }
        return false;
    }
    if (IsA(node, JoinExpr)) {
        auto* join = reinterpret_cast<JoinExpr*>(node);
        List* on = make_ands_implicit(reinterpret_cast<Expr*>(join->quals));
        switch (join->jointype) {
            case JOIN_INNER: {
                List* here = list_concat_copy(applicable, on);
                return gather(join->larg, rti, here, out) || gather(join->rarg, rti, here, out);
            }
            case JOIN_LEFT:
                return gather(join->larg, rti, applicable, out) || gather(join->rarg, rti, on, out);
            case JOIN_RIGHT:
                return gather(join->rarg, rti, applicable, out) || gather(join->larg, rti, on, out);
            default:  // FULL: a row failing any condition still comes out, NULL-extended
                return gather(join->larg, rti, NIL, out) || gather(join->rarg, rti, NIL, out);
        }
    }
    return false;
}

struct OwnVarsState {
    Index rti;
    int vars;       // Vars seen
    int functions;  // functions called (an estimate of the conjunct's cost, for their order)
    bool ok;        // every Var a user column of rti at this level; nothing else disqualifying
};

bool user_defined(Oid func, void*) {
    return func >= FirstNormalObjectId;
}

bool count_function(Oid, void* context) {
    static_cast<OwnVarsState*>(context)->functions++;
    return false;
}

// Whether an expression reads nothing but columns of `rti` at its own level: no outer
// reference, no subquery (its rows may be any relation's), no aggregate (an outer query's
// `count(*)` has no Var at all) or window function, no parameter; and calls built-in functions
// only. A filter sees row versions the query never does (one inserted and changed again between
// two refreshes): a built-in function can fail on one only with a data error, which the refresh
// answers by running without filters, where a user's function may raise anything, or depend on
// who calls it. (Domain checks, GREATEST/LEAST and subscripts of user-defined types call
// functions check_functions_in_node does not see: not either.) Plain C.
bool own_vars_only(Node* node, void* context) {
    if (node == nullptr)
        return false;
    auto* s = static_cast<OwnVarsState*>(context);
    if (check_functions_in_node(node, user_defined, nullptr) || IsA(node, CoerceToDomain) ||
        (IsA(node, MinMaxExpr) && exprType(node) >= FirstNormalObjectId) ||
        (IsA(node, SubscriptingRef) &&
         reinterpret_cast<SubscriptingRef*>(node)->refcontainertype >= FirstNormalObjectId)) {
        s->ok = false;
        return true;
    }
    check_functions_in_node(node, count_function, context);
    if (IsA(node, Var)) {
        auto* v = reinterpret_cast<Var*>(node);
        if (v->varlevelsup != 0 || static_cast<Index>(v->varno) != s->rti || v->varattno <= 0)
            s->ok = false;
        s->vars++;
        return false;
    }
    if (IsA(node, SubLink) || IsA(node, Aggref) || IsA(node, GroupingFunc) ||
        IsA(node, WindowFunc) || IsA(node, Param) || IsA(node, CurrentOfExpr) || IsA(node, Query)) {
        s->ok = false;
        return true;
    }
    return expression_tree_walker(node, as_walker(own_vars_only), context);
}

// Moves `rti`'s Vars to range table entry 1 (the alias of deparse_context_for). Plain C.
bool to_first_entry(Node* node, void* context) {
    if (node == nullptr)
        return false;
    if (IsA(node, Var)) {
        auto* v = reinterpret_cast<Var*>(node);
        (void)context;
        v->varno = 1;
        v->varnosyn = 1;
        v->varattnosyn = v->varattno;
        return false;
    }
    return expression_tree_walker(node, as_walker(to_first_entry), context);
}

// Whether every column the conjunct reads keeps its name in the change buffer (core::
// buffer_column renames a few that would collide with the buffer's own columns).
bool names_kept(Node* conjunct, Oid relid) {
    List* vars = pg_call([&] { return pull_var_clause(conjunct, 0); });
    ListCell* lc;
    foreach (lc, vars) {
        auto* v = static_cast<Var*>(lfirst(lc));
        const char* name = pg_call([&] { return get_attname(relid, v->varattno, false); });
        if (core::buffer_column(name) != name)
            return false;
    }
    return true;
}

// The part of `clause` that restricts rti's rows alone (see change_filter), or nullptr: the
// clause itself when it qualifies; for an OR, the OR of what each arm's conjuncts restrict
// (TPC-H Q19's three arms each fix lineitem's quantity range and ship mode as well as part's
// brand), provided every arm restricts something (a row failing every arm's part fails every
// arm). `functions` adds up the functions the part calls.
Node* own_part(Node* clause, Index rti, Oid relid, int* functions) {
    OwnVarsState s{rti, 0, 0, true};
    pg_call([&] { own_vars_only(clause, &s); });
    if (s.ok && s.vars > 0 && names_kept(clause, relid)) {
        *functions += s.functions;
        return clause;
    }
    if (!pg_call([&] { return is_orclause(clause); }))
        return nullptr;
    List* arms = NIL;
    ListCell* lc;
    foreach (lc, reinterpret_cast<BoolExpr*>(clause)->args) {
        List* arm_conjuncts =
            pg_call([&] { return make_ands_implicit(static_cast<Expr*>(lfirst(lc))); });
        List* parts = NIL;
        ListCell* cc;
        foreach (cc, arm_conjuncts) {
            if (Node* part = own_part(static_cast<Node*>(lfirst(cc)), rti, relid, functions))
                parts = pg_call([&] { return lappend(parts, part); });
        }
        if (parts == NIL)
            return nullptr;
        Expr* arm = pg_call([&] { return make_ands_explicit(parts); });
        arms = pg_call([&] { return lappend(arms, arm); });
    }
    return reinterpret_cast<Node*>(pg_call([&] { return make_orclause(arms); }));
}

// The conjuncts of `parts`, deparsed over alias `alias` for the relation of range table entry
// `rti` (moved to entry 1), cheaper ones first, joined by AND.
std::string deparsed_conjunction(std::vector<std::pair<int, Node*>> parts, const char* alias,
                                 Oid relid) {
    std::stable_sort(parts.begin(), parts.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out;
    for (const auto& [cost, part] : parts) {
        char* text = pg_call([&] {
            Node* copy = static_cast<Node*>(copyObjectImpl(part));
            to_first_entry(copy, nullptr);
            List* context = deparse_context_for(alias, relid);
            return deparse_expression(copy, context, true, false);
        });
        out += (out.empty() ? "" : " AND ") + std::string(text);  // (self-delimited)
    }
    return out;
}

// `OPERATOR(schema.name)` of a built-in operator, or "" for a user's.
std::string operator_text(Oid opno) {
    char* text = pg_call([&]() -> char* {
        if (opno >= FirstNormalObjectId || get_opcode(opno) >= FirstNormalObjectId)
            return nullptr;
        HeapTuple tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
        if (!HeapTupleIsValid(tup))
            return nullptr;
        auto* op = reinterpret_cast<Form_pg_operator>(GETSTRUCT(tup));
        char* out =
            psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(op->oprnamespace)),
                     NameStr(op->oprname));
        ReleaseSysCache(tup);
        return out;
    });
    return text != nullptr ? std::string(text) : std::string();
}

}  // namespace

std::vector<PartnerFilter> partner_filters(Query* q, Index rti, Oid relid, Query* parent) {
    List* conjuncts = nullptr;
    bool found =
        pg_call([&] { return gather(reinterpret_cast<Node*>(q->jointree), rti, NIL, &conjuncts); });
    std::vector<PartnerFilter> out;
    if (!found)
        return out;
    ListCell* lc;
    foreach (lc, conjuncts) {
        auto* c = static_cast<Node*>(lfirst(lc));
        if (!IsA(c, OpExpr) || list_length(reinterpret_cast<OpExpr*>(c)->args) != 2)
            continue;
        auto* e = reinterpret_cast<OpExpr*>(c);
        auto* l = static_cast<Node*>(linitial(e->args));
        auto* r = static_cast<Node*>(lsecond(e->args));
        if (!IsA(l, Var) || !IsA(r, Var))
            continue;
        auto* lv = reinterpret_cast<Var*>(l);
        auto* rv = reinterpret_cast<Var*>(r);
        auto is_mine = [&](const Var* v) {
            return v->varlevelsup == 0 && static_cast<Index>(v->varno) == rti;
        };
        if (lv->varattno <= 0 || rv->varattno <= 0 || is_mine(lv) == is_mine(rv))
            continue;
        // An equality, strict (a NULL never matches): a row of rti reaches the result only
        // joined with a row of the partner whose column equals its own. Written `b.col op ANY
        // (SELECT p.col ...)`, which PostgreSQL hashes once (the filter sits in a CASE, where
        // an EXISTS would be evaluated per changed row): a hashable operator, with rti's column
        // on its left (the commutator otherwise).
        Var* mine = is_mine(lv) ? lv : rv;
        Var* theirs = mine == lv ? rv : lv;
        // The partner's level: this one, or the parent's for an outer reference.
        Query* level = theirs->varlevelsup == 0 ? q : theirs->varlevelsup == 1 ? parent : nullptr;
        if (level == nullptr)
            continue;
        const Oid opno = mine == lv ? e->opno : pg_call([&] { return get_commutator(e->opno); });
        const Oid mine_type = exprType(reinterpret_cast<Node*>(mine));
        if (!OidIsValid(opno) || !pg_call([&] { return op_hashjoinable(opno, mine_type); }) ||
            !pg_call([&] { return func_strict(get_opcode(opno)); }))
            continue;
        const std::string op = operator_text(opno);
        if (op.empty())
            continue;
        auto* rte = static_cast<RangeTblEntry*>(list_nth(level->rtable, theirs->varno - 1));
        if (rte->rtekind != RTE_RELATION ||
            (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE))
            continue;
        const Oid partner = rte->relid;
        // The partner's own conditions among those binding rti's rows: a partner row that
        // joins a row of rti in the result meets them. (At the parent's level: those binding
        // the partner's rows there.) Without any, the partner filters out nothing but orphans:
        // not worth a probe per changed row.
        List* partner_conjuncts = conjuncts;
        if (level != q && !pg_call([&] {
                return gather(reinterpret_cast<Node*>(level->jointree),
                              static_cast<Index>(theirs->varno), NIL, &partner_conjuncts);
            }))
            continue;
        std::vector<std::pair<int, Node*>> parts;
        ListCell* pc;
        foreach (pc, partner_conjuncts) {
            int functions = 0;
            Node* part = own_part(static_cast<Node*>(lfirst(pc)), static_cast<Index>(theirs->varno),
                                  partner, &functions);
            if (part != nullptr)
                parts.emplace_back(functions, part);
        }
        if (parts.empty())
            continue;
        const std::string conditions = deparsed_conjunction(parts, "p", partner);
        const char* mine_name = pg_call([&] { return get_attname(relid, mine->varattno, false); });
        const char* their_name =
            pg_call([&] { return get_attname(partner, theirs->varattno, false); });
        char* nsp = pg_call([&] { return get_namespace_name(get_rel_namespace(partner)); });
        char* rel = pg_call([&] { return get_rel_name(partner); });
        const std::string b_col = "b." + core::quote_ident(core::buffer_column(mine_name));
        const std::string p_col = "p." + core::quote_ident(their_name);
        out.push_back(
            {partner, fmt::format("{} {} ANY (SELECT {} FROM {}.{} p WHERE {})", b_col, op, p_col,
                                  core::quote_ident(nsp), core::quote_ident(rel), conditions)});
    }
    return out;
}

std::string change_filter(Query* q, Index rti, Oid relid) {
    List* conjuncts = nullptr;
    bool found =
        pg_call([&] { return gather(reinterpret_cast<Node*>(q->jointree), rti, NIL, &conjuncts); });
    if (!found)
        return "";
    // The cheaper conjuncts first (by functions called, as PostgreSQL orders a scan's
    // conditions by cost): `x <> 0 AND 100 / x > 1` is evaluated in that order either way.
    std::vector<std::pair<int, Node*>> parts;
    ListCell* lc;
    foreach (lc, conjuncts) {
        int functions = 0;
        if (Node* part = own_part(static_cast<Node*>(lfirst(lc)), rti, relid, &functions))
            parts.emplace_back(functions, part);
    }
    return deparsed_conjunction(std::move(parts), "b", relid);
}

}  // namespace pgtrickle::pg
