// Order dependence of window functions, DISTINCT ON and LIMIT (see ordering.hpp).
#include "pg_trickle/pg/ordering.hpp"

#include <cstring>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "running_state.hpp"

namespace pgtrickle::pg {

namespace {

using Column = std::pair<Index, AttrNumber>;  // (range table index, attribute) of one level

// The base column a Var of the level names, looking through join alias columns (a Var of a
// JOIN ... USING column names the join's range table entry).
std::optional<Column> base_column(Query* q, Node* e) {
    for (int depth = 0; depth < 32 && e != nullptr && IsA(e, Var); ++depth) {
        auto* v = reinterpret_cast<Var*>(e);
        if (v->varlevelsup != 0 || v->varattno <= 0)
            return std::nullopt;
        auto* rte =
            static_cast<RangeTblEntry*>(list_nth(q->rtable, static_cast<int>(v->varno) - 1));
        if (rte->rtekind != RTE_JOIN)
            return Column{v->varno, v->varattno};
        if (v->varattno > list_length(rte->joinaliasvars))
            return std::nullopt;
        e = static_cast<Node*>(list_nth(rte->joinaliasvars, v->varattno - 1));
    }
    return std::nullopt;
}

// The base columns of the sort / group clauses' expressions.
void add_columns(Query* q, List* clauses, std::set<Column>& out) {
    ListCell* lc;
    foreach (lc, clauses) {
        auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
        TargetEntry* tle = pg_call([&] { return get_sortgroupclause_tle(sgc, q->targetList); });
        if (auto c = base_column(q, reinterpret_cast<Node*>(tle->expr)))
            out.insert(*c);
    }
}

// Whether the columns include the primary key of every table the level reads (and it reads
// nothing else: a subquery, function or VALUES list in FROM has no key to order by).
bool total_order(Spi& spi, Query* q, const std::set<Column>& columns) {
    Index rti = 0;
    ListCell* lc;
    foreach (lc, q->rtable) {
        ++rti;
        auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
        if (rte->rtekind == RTE_JOIN)
            continue;
        if (rte->rtekind != RTE_RELATION)
            return false;
        auto key = primary_key(spi, rte->relid);
        if (key.empty())
            return false;
        for (const auto& k : key) {
            const char* name = k.c_str();
            Oid relid = rte->relid;
            AttrNumber att = pg_call([&] { return get_attnum(relid, name); });
            if (!columns.count({rti, att}))
                return false;
        }
    }
    return true;
}

// A window function whose value is the same for rows that tie in its window's order.
bool same_for_ties(WindowFunc* wf, WindowClause* wc) {
    const char* name = pg_call([&] { return get_func_name(wf->winfnoid); });
    Oid nsp = pg_call([&] { return get_func_namespace(wf->winfnoid); });
    if (name == nullptr || nsp != PG_CATALOG_NAMESPACE)
        return false;
    if (!wf->winagg)
        return std::strcmp(name, "rank") == 0 || std::strcmp(name, "dense_rank") == 0 ||
               std::strcmp(name, "percent_rank") == 0 || std::strcmp(name, "cume_dist") == 0;
    // An aggregate over a frame of whole peer groups sees the same rows for tied rows.
    if ((wc->frameOptions & FRAMEOPTION_ROWS) != 0)
        return false;
    if (std::strcmp(name, "count") == 0)
        return true;
    if (list_length(wf->args) != 1)
        return false;
    Node* arg = static_cast<Node*>(linitial(wf->args));
    Oid type = pg_call([&] { return exprType(arg); });
    if (std::strcmp(name, "sum") == 0 || std::strcmp(name, "avg") == 0)
        return type == INT2OID || type == INT4OID || type == INT8OID || type == NUMERICOID;
    if (std::strcmp(name, "min") == 0 || std::strcmp(name, "max") == 0)
        // (Tied values that print alike: min / max of them is one text.)
        return pg_call([&] { return key_is_identity(arg); });
    return false;
}

}  // namespace

WindowFuncLists* window_functions(Query* q) {
    return pg_call([&] {
        Index max_ref = 0;
        ListCell* lc;
        foreach (lc, q->windowClause)
            max_ref = std::max(max_ref, static_cast<WindowClause*>(lfirst(lc))->winref);
        return find_window_functions(reinterpret_cast<Node*>(q->targetList), max_ref);
    });
}

std::string order_dependence(Spi& spi, Query* q) {
    if (q->hasWindowFuncs) {
        WindowFuncLists* funcs = window_functions(q);
        ListCell* lc;
        foreach (lc, q->windowClause) {
            auto* wc = static_cast<WindowClause*>(lfirst(lc));
            List* used = funcs->windowFuncs[wc->winref];
            if (used == NIL)
                continue;
            std::set<Column> columns;
            add_columns(q, wc->partitionClause, columns);
            add_columns(q, wc->orderClause, columns);
            if (total_order(spi, q, columns))
                continue;
            ListCell* fc;
            foreach (fc, used) {
                auto* wf = static_cast<WindowFunc*>(lfirst(fc));
                if (!same_for_ties(wf, wc)) {
                    const char* name = pg_call([&] { return get_func_name(wf->winfnoid); });
                    return fmt::format(
                        "window function {}() over an order that can tie (its PARTITION BY and "
                        "ORDER BY do not include the primary key of every table it reads)",
                        name ? name : "?");
                }
            }
        }
    }
    if (q->hasDistinctOn) {
        std::set<Column> columns;
        add_columns(q, q->distinctClause, columns);
        add_columns(q, q->sortClause, columns);
        if (!total_order(spi, q, columns))
            return "DISTINCT ON whose ORDER BY can tie (it does not include the primary key of "
                   "every table the query reads)";
    }
    if (q->limitCount != nullptr || q->limitOffset != nullptr) {
        std::set<Column> columns;
        add_columns(q, q->sortClause, columns);
        if (!total_order(spi, q, columns))
            return "LIMIT / OFFSET over an order that can tie (its ORDER BY does not include the "
                   "primary key of every table the query reads)";
    }
    return "";
}

}  // namespace pgtrickle::pg
