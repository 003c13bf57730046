// Running-state support of the differential analysis (see running_state.hpp).
#include "running_state.hpp"

#include <bit>

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/walker.hpp"

extern "C" {
#include "utils/typcache.h"
}

namespace pgtrickle::pg {

bool collect_aggregates(Node* node, void* context) {
    auto* st = static_cast<AggExprState*>(context);
    if (node == nullptr)
        return false;
    if (IsA(node, Aggref)) {
        st->aggs = lappend(st->aggs, node);
        return false;
    }
    if (IsA(node, Var) || IsA(node, SubLink) || IsA(node, WindowFunc) || IsA(node, GroupingFunc) ||
        IsA(node, Param)) {
        st->ok = false;
        return true;
    }
    return expression_tree_walker(node, as_walker(collect_aggregates), context);
}

// The expression with its k-th aggregate (of collect_aggregates' list, compared by equality)
// replaced by the parameter $k of the aggregate's type.
Node* aggregates_to_params(Node* node, void* context) {
    auto* st = static_cast<AggExprState*>(context);
    if (node == nullptr)
        return nullptr;
    if (IsA(node, Aggref)) {
        int k = 0;
        ListCell* lc;
        foreach (lc, st->aggs) {
            ++k;
            if (equal(lfirst(lc), node)) {
                Param* p = makeNode(Param);
                p->paramkind = PARAM_EXTERN;
                p->paramid = k;
                p->paramtype = exprType(node);
                p->paramtypmod = exprTypmod(node);
                p->paramcollid = exprCollation(node);
                p->location = -1;
                return reinterpret_cast<Node*>(p);
            }
        }
    }
    return expression_tree_mutator(node, as_mutator(aggregates_to_params), context);
}

// The subquery of a query that reads nothing but one plain subquery in FROM (`SELECT ... FROM
// (SELECT ... FROM a, b WHERE ...) x GROUP BY ...`, TPC-H's Q7 to Q9), or nullptr. Its key query
// can then read the subquery's tables directly: the subquery's rows are its join's rows, one for
// one, so the outer expressions are the subquery's output expressions put in for its columns.
Query* liftable_subquery(Query* q) {
    if (list_length(q->rtable) != 1 || q->hasSubLinks || q->cteList != NIL ||
        q->setOperations != nullptr || list_length(q->jointree->fromlist) != 1 ||
        !IsA(linitial(q->jointree->fromlist), RangeTblRef))
        return nullptr;
    auto* rte = static_cast<RangeTblEntry*>(linitial(q->rtable));
    if (rte->rtekind != RTE_SUBQUERY || rte->lateral)
        return nullptr;
    Query* sub = rte->subquery;
    if (sub->commandType != CMD_SELECT || sub->hasAggs || sub->hasWindowFuncs ||
        sub->hasTargetSRFs || sub->hasSubLinks || sub->hasRecursive || sub->hasForUpdate ||
        sub->groupClause != NIL || sub->groupingSets != NIL || sub->havingQual != nullptr ||
        sub->distinctClause != NIL || sub->sortClause != NIL || sub->limitCount != nullptr ||
        sub->limitOffset != nullptr || sub->setOperations != nullptr || sub->cteList != NIL ||
        sub->rowMarks != NIL)
        return nullptr;
    return sub;
}

// `e` (of the query liftable_subquery accepted) over the subquery's tables.
Expr* lifted(Expr* e, Query* outer) {
    auto* rte = static_cast<RangeTblEntry*>(linitial(outer->rtable));
    return reinterpret_cast<Expr*>(ReplaceVarsFromTargetList(reinterpret_cast<Node*>(e), 1, 0, rte,
                                                             rte->subquery->targetList,
                                                             REPLACEVARS_REPORT_ERROR, 0, nullptr));
}

bool nondeterministic_collation(Oid collation) {
    return OidIsValid(collation) && !get_collation_isdeterministic(collation);
}

// Whether two values of the type that its equality operator calls equal are the same value, so
// that grouping a table's changes by the column keeps rows apart that print differently
// (DeltaTable::groupable). Not numeric without a scale (1.0 = 1.00), floats (-0 = 0),
// intervals ('1 day' = '24 hours'), json(b), or strings under a nondeterministic collation or
// none; an enum is (its values are OIDs). Plain C: called inside pg_call.
bool equality_is_identity(Oid type, int32 typmod, Oid collation) {
    if (type_is_enum(type))
        return true;
    switch (type) {
        case INT2OID:
        case INT4OID:
        case INT8OID:
        case OIDOID:
        case BOOLOID:
        case CHAROID:
        case DATEOID:
        case TIMEOID:
        case TIMESTAMPOID:
        case TIMESTAMPTZOID:
        case UUIDOID:
        case BYTEAOID:
            return true;
        case NUMERICOID:
            return typmod >= 0;
        case BPCHAROID:  // padded to its length: no trailing blanks to ignore
        case TEXTOID:
        case VARCHAROID:
        case NAMEOID:
            // Under a deterministic collation equal strings are the same bytes. (No collation:
            // an expression mixing two, whose comparisons PostgreSQL refuses.)
            return (type != BPCHAROID || typmod >= 0) && OidIsValid(collation) &&
                   !nondeterministic_collation(collation);
        default:
            return false;
    }
}

bool domain_over_enum(Oid type) {
    const Oid base = getBaseType(type);
    return base != type && type_is_enum(base);
}

bool prints_names(Oid type) {
    return prints_names_within(type, 0);
}

bool prints_names_within(Oid type, int depth) {
    if (depth > 16)
        return false;
    type = getBaseType(type);
    if (const Oid element = get_element_type(type); OidIsValid(element))
        return prints_names_within(element, depth + 1);
    switch (type) {
        case REGCLASSOID:
        case REGTYPEOID:
        case REGPROCOID:
        case REGPROCEDUREOID:
        case REGOPEROID:
        case REGOPERATOROID:
        case REGNAMESPACEOID:
        case REGROLEOID:
        case REGCONFIGOID:
        case REGDICTIONARYOID:
        case REGCOLLATIONOID:
            return true;
        default:
            break;
    }
    if (type_is_range(type))
        return prints_names_within(get_range_subtype(type), depth + 1);
    if (type != RECORDOID && type_is_rowtype(type)) {  // a composite: its attributes
        TupleDesc desc = lookup_rowtype_tupdesc(type, -1);
        bool found = false;
        for (int i = 0; i < desc->natts && !found; ++i) {
            Form_pg_attribute a = TupleDescAttr(desc, i);
            found = !a->attisdropped && prints_names_within(a->atttypid, depth + 1);
        }
        ReleaseTupleDesc(desc);
        return found;
    }
    return false;
}

namespace {

bool names_walker(Node* node, void* context) {
    if (node == nullptr)
        return false;
    if (IsA(node, Query))
        return query_tree_walker(reinterpret_cast<Query*>(node), as_walker(names_walker), context,
                                 0);
    switch (nodeTag(node)) {
        case T_Var:
        case T_Const:
        case T_Param:
        case T_FuncExpr:
        case T_OpExpr:
        case T_CoerceViaIO:
        case T_RelabelType:
        case T_ArrayCoerceExpr:
        case T_CoerceToDomain:
        case T_Aggref:
        case T_WindowFunc:
        case T_FieldSelect:
        case T_SubscriptingRef:
        case T_RowExpr:
            if (prints_names(exprType(node)))
                return true;
            break;
        default:
            break;
    }
    return expression_tree_walker(node, as_walker(names_walker), context);
}

}  // namespace

bool reads_names_as_values(Query* q) {
    return query_tree_walker(q, as_walker(names_walker), nullptr, 0);
}

namespace {

// Context of `through_subqueries`: the query level whose range table the Vars at hand belong
// to, and how many subqueries deep the walk is (a bound, against pathological nesting).
struct LevelContext {
    Query* level;
    int depth;
};

Node* through_subqueries_mutator(Node* node, void* context) {
    if (node == nullptr)
        return nullptr;
    auto* ctx = static_cast<LevelContext*>(context);
    if (IsA(node, Var)) {
        auto* v = reinterpret_cast<Var*>(node);
        // (A set operation's output columns are Vars of its leftmost branch that stand for
        // every branch: not resolved.)
        if (v->varlevelsup != 0 || v->varattno <= 0 || ctx->depth >= 32 ||
            ctx->level->setOperations != nullptr || v->varno < 1 ||
            v->varno > list_length(ctx->level->rtable))
            return node;
        RangeTblEntry* rte = rt_fetch(v->varno, ctx->level->rtable);
        Node* under = nullptr;
        LevelContext inner{ctx->level, ctx->depth + 1};
        if (rte->rtekind == RTE_JOIN && v->varattno <= list_length(rte->joinaliasvars)) {
            under = static_cast<Node*>(list_nth(rte->joinaliasvars, v->varattno - 1));
        } else if (rte->rtekind == RTE_SUBQUERY && rte->subquery != nullptr &&
                   rte->subquery->setOperations == nullptr) {
            TargetEntry* tle = get_tle_by_resno(rte->subquery->targetList, v->varattno);
            if (tle != nullptr && !tle->resjunk) {
                under = reinterpret_cast<Node*>(tle->expr);
                inner.level = rte->subquery;
            }
        }
        // (The subquery's expression has the Var's type; its typmod may say more.)
        if (under == nullptr || exprType(under) != v->vartype)
            return node;
        return through_subqueries_mutator(under, &inner);
    }
    if (IsA(node, Query))  // (a subquery expression's own levels are not this one's)
        return node;
    return expression_tree_mutator(node, as_mutator(through_subqueries_mutator), context);
}

}  // namespace

Node* through_subqueries(Node* e, Query* level) {
    LevelContext ctx{level, 0};
    return through_subqueries_mutator(e, &ctx);
}

bool key_is_identity(Node* key, Query* level) {
    return key_is_identity(through_subqueries(key, level));
}

bool key_is_identity(Node* key) {
    int32 typmod = exprTypmod(key);
    const Oid type = getBaseTypeAndTypmod(exprType(key), &typmod);
    if (equality_is_identity(type, typmod, exprCollation(key)))
        return true;
    uint64_t scales = 0;
    return type == NUMERICOID && exprType(key) == NUMERICOID && value_scales(key, &scales) &&
           std::popcount(scales) <= 1;
}

// The display scales the values of the numeric expression `n` can have, as a bit set (bit s =
// scale s), or false when they are not known: integers (0), numerics of a declared scale,
// constants, +, - and * of those (numeric addition keeps the larger scale of its operands,
// multiplication their sum), and CASE / COALESCE choosing among those. A running sum of
// values of one scale prints exactly as the sum recomputed from the rows (sum(price * (1 -
// discount)) over numeric(15,2) columns always has scale 4); with two scales (CASE WHEN ... THEN
// price * (1 - discount) ELSE 0 END, TPC-H Q8 and Q14) the sum has the larger one exactly while
// a value of that scale is among the rows, which the running state counts
// (AlgebraicColumn::low_scale). NaN values are counted apart by the running state and add no
// scale; infinities are refused (a running sum could never subtract one back out).
bool value_scales(Node* n, uint64_t* scales) {
    *scales = 0;
    if (n == nullptr)
        return false;
    const Oid type = exprType(n);
    if (type == INT2OID || type == INT4OID || type == INT8OID) {
        *scales = 1;
        return true;
    }
    if (type != NUMERICOID)
        return false;
    if (IsA(n, Const)) {
        auto* c = reinterpret_cast<Const*>(n);
        if (c->constisnull || numeric_is_nan(DatumGetNumeric(c->constvalue)))
            return true;
        if (numeric_is_inf(DatumGetNumeric(c->constvalue)))
            return false;
        const int32 scale = DatumGetInt32(DirectFunctionCall1(numeric_scale, c->constvalue));
        if (scale < 0 || scale > 63)
            return false;
        *scales = uint64_t{1} << scale;
        return true;
    }
    if (exprTypmod(n) >= 0) {
        // numeric(p, s): every value is rounded to scale s (none below 0 is displayed).
        const int32 scale = (((exprTypmod(n) - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;
        if (scale > 63)
            return false;
        *scales = uint64_t{1} << (scale < 0 ? 0 : scale);
        return true;
    }
    if (IsA(n, RelabelType))
        return value_scales(reinterpret_cast<Node*>(reinterpret_cast<RelabelType*>(n)->arg),
                            scales);
    List* args = nullptr;
    Oid fn = InvalidOid;
    if (IsA(n, CaseExpr) || IsA(n, CoalesceExpr)) {
        List* choices = NIL;
        if (IsA(n, CoalesceExpr)) {
            choices = reinterpret_cast<CoalesceExpr*>(n)->args;
        } else {
            auto* c = reinterpret_cast<CaseExpr*>(n);
            ListCell* lc;
            foreach (lc, c->args)
                choices = lappend(choices, reinterpret_cast<CaseWhen*>(lfirst(lc))->result);
            choices = lappend(choices, c->defresult);
        }
        ListCell* lc;
        foreach (lc, choices) {
            uint64_t one = 0;
            if (!value_scales(static_cast<Node*>(lfirst(lc)), &one))
                return false;
            *scales |= one;
        }
        return true;
    }
    if (IsA(n, OpExpr)) {
        fn = reinterpret_cast<OpExpr*>(n)->opfuncid;
        args = reinterpret_cast<OpExpr*>(n)->args;
    } else if (IsA(n, FuncExpr)) {
        fn = reinterpret_cast<FuncExpr*>(n)->funcid;
        args = reinterpret_cast<FuncExpr*>(n)->args;
    } else {
        return false;
    }
    switch (fn) {
        case F_NUMERIC_INT2:
        case F_NUMERIC_INT4:
        case F_NUMERIC_INT8:
            *scales = 1;
            return true;
        case F_EXTRACT_TEXT_DATE:
        case F_EXTRACT_TEXT_TIME:
        case F_EXTRACT_TEXT_TIMETZ:
        case F_EXTRACT_TEXT_TIMESTAMP:
        case F_EXTRACT_TEXT_TIMESTAMPTZ:
        case F_EXTRACT_TEXT_INTERVAL: {
            // A whole-number field (its value made with int64_to_numeric): scale 0. Others
            // (second, epoch, julian ...) have fractions.
            auto* field = static_cast<Node*>(linitial(args));
            if (!IsA(field, Const) || reinterpret_cast<Const*>(field)->constisnull)
                return false;
            char* name = TextDatumGetCString(reinterpret_cast<Const*>(field)->constvalue);
            for (const char* whole :
                 {"year", "month", "day", "hour", "minute", "quarter", "week", "decade", "century",
                  "millennium", "dow", "doy", "isodow", "isoyear"}) {
                if (pg_strcasecmp(name, whole) == 0) {
                    *scales = 1;
                    return true;
                }
            }
            return false;
        }
        case F_NUMERIC_UMINUS:
        case F_NUMERIC_UPLUS:
            return value_scales(static_cast<Node*>(linitial(args)), scales);
        case F_ROUND_NUMERIC:
        case F_TRUNC_NUMERIC:
        case F_FLOOR_NUMERIC:
        case F_CEIL_NUMERIC:
        case F_CEILING_NUMERIC:
            // (A NaN or infinity stays one: no display scale to drift.)
            *scales = 1;
            return true;
        case F_ROUND_NUMERIC_INT4:
        case F_TRUNC_NUMERIC_INT4: {
            // round(x, s) / trunc(x, s) with a constant s: scale s (0 for s < 0: 123 -> 120).
            auto* digits = static_cast<Node*>(lsecond(args));
            if (!IsA(digits, Const) || reinterpret_cast<Const*>(digits)->constisnull)
                return false;
            const int32 s = DatumGetInt32(reinterpret_cast<Const*>(digits)->constvalue);
            if (s > 63)
                return false;
            *scales = uint64_t{1} << (s < 0 ? 0 : s);
            return true;
        }
        case F_NUMERIC_ADD:
        case F_NUMERIC_SUB:
        case F_NUMERIC_MUL:
            break;
        default:
            return false;
    }
    uint64_t a = 0, b = 0;
    if (!value_scales(static_cast<Node*>(linitial(args)), &a) ||
        !value_scales(static_cast<Node*>(lsecond(args)), &b))
        return false;
    for (int i = 0; i < 64; ++i) {
        if (!(a & (uint64_t{1} << i)))
            continue;
        for (int j = 0; j < 64; ++j) {
            if (!(b & (uint64_t{1} << j)))
                continue;
            const int r = fn == F_NUMERIC_MUL ? i + j : (i > j ? i : j);
            if (r > 63)
                return false;
            *scales |= uint64_t{1} << r;
        }
    }
    return true;
}

}  // namespace pgtrickle::pg
