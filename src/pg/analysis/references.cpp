// Relation references of a defining query's text (see references.hpp).
//
// The analyzed tree says what each reference is (linear or not, which level, which join); the
// text says where it is. The two are lined up by deparsing a copy of the tree in which every
// relation carries a marker alias: the k-th reference in that text is the k-th in the real one.
#include "pg_trickle/pg/references.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/walker.hpp"
#include "restrictions.hpp"
#include "sublink_spans.hpp"

namespace pgtrickle::pg {

namespace {

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

// A restriction: for relation `id`, the condition `qual` added to the WHERE of level `level`.
struct Candidate {
    int id;
    int level;
    Node* qual;
    const char* scope;  // which rows it keeps, for people (explain_st)
    std::string filter_column;
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
        splittable.assign(e.rels.size(), false);
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
            note_splittable(s);
        }
        if (linear && !lin) {
            std::vector<Restriction> found;
            partition_restrictions(q, found);
            add(found);
        }
        if (lin) {
            std::vector<Restriction> found;
            lateral_restrictions(q, found);
            add(found);
        }
        return out;
    }

    std::vector<bool> nonlinear;
    // Per relation: it is the only relation of an EXISTS / ANY / ALL subquery that is a plain
    // filter over it, so that the expression over a union of row sets is the OR (AND for ALL)
    // of the expression over each (core::RelationRef::split_end).
    std::vector<bool> splittable;
    std::vector<Candidate> candidates;

  private:
    void note_splittable(SubLink* s) {
        if (s->subLinkType != EXISTS_SUBLINK && s->subLinkType != ANY_SUBLINK &&
            s->subLinkType != ALL_SUBLINK)
            return;
        auto* sq = reinterpret_cast<Query*>(s->subselect);
        if (sq->commandType != CMD_SELECT || sq->setOperations != nullptr || sq->hasAggs ||
            sq->groupClause != NIL || sq->groupingSets != NIL || sq->havingQual != nullptr ||
            sq->distinctClause != NIL || sq->hasWindowFuncs || sq->hasTargetSRFs ||
            sq->limitCount != nullptr || sq->limitOffset != nullptr || sq->cteList != NIL ||
            sq->hasSubLinks || sq->rowMarks != NIL || sq->jointree == nullptr ||
            list_length(sq->rtable) != 1 || list_length(sq->jointree->fromlist) != 1 ||
            !IsA(linitial(sq->jointree->fromlist), RangeTblRef))
            return;
        auto* rte = static_cast<RangeTblEntry*>(linitial(sq->rtable));
        if (rte->rtekind != RTE_RELATION || rte->tablesample != nullptr)
            return;
        // Split, the expression is no longer a join the planner can hash once: each part is
        // evaluated per outer row, hashed only when the outer row is met by equalities alone.
        // So only where that costs little: an uncorrelated subquery (hashed, or evaluated
        // once), or one that equates a column leading an index with the outer row (a probe).
        // (A correlated ANY / ALL is evaluated per outer row in both parts, the deleted rows
        // scanned each time: not split. A correlated EXISTS's deleted part is written as an
        // uncorrelated IN, which is hashed: see exists_as_in.)
        const bool exists = s->subLinkType == EXISTS_SUBLINK;
        if (pg_call([&] {
                return correlated(sq) && (!exists || !indexed_equality(sq, rte->relid) ||
                                          !outer_equalities_commute(sq));
            }))
            return;
        splittable[static_cast<std::size_t>(ids_.at(rte))] = true;
    }

    // (Plain C: these run inside pg_call.)
    static bool outer_var(Node* node, void* context) {
        if (node == nullptr)
            return false;
        if (IsA(node, Var))
            return reinterpret_cast<Var*>(node)->varlevelsup > 0;
        return expression_tree_walker(node, as_walker(outer_var), context);
    }

    static bool correlated(Query* sq) {
        return outer_var(sq->jointree->quals, nullptr) ||
               outer_var(reinterpret_cast<Node*>(sq->targetList), nullptr);
    }

    // Whether every top-level AND of the subquery's WHERE that reads the outer row is an operator
    // with a commutator: exists_as_in writes `i = o` as `o IN (SELECT i ...)`, which resolves the
    // operator with its operands the other way round (there is `xid = integer` but no
    // `integer = xid`).
    static bool outer_equalities_commute(Query* sq) {
        List* conjuncts = make_ands_implicit(reinterpret_cast<Expr*>(sq->jointree->quals));
        ListCell* lc;
        foreach (lc, conjuncts) {
            auto* c = static_cast<Node*>(lfirst(lc));
            if (!outer_var(c, nullptr))
                continue;
            if (!IsA(c, OpExpr) || !OidIsValid(get_commutator(reinterpret_cast<OpExpr*>(c)->opno)))
                return false;
        }
        return true;
    }

    // Whether a top-level AND of the subquery's WHERE is `col = <outer expression>` (either way
    // round, an equality operator) with col the first column of a valid, non-partial index.
    static bool indexed_equality(Query* sq, Oid relid) {
        List* conjuncts = make_ands_implicit(reinterpret_cast<Expr*>(sq->jointree->quals));
        Relation rel = relation_open(relid, NoLock);
        List* indexes = RelationGetIndexList(rel);
        relation_close(rel, NoLock);
        ListCell* lc;
        foreach (lc, conjuncts) {
            auto* op = static_cast<Node*>(lfirst(lc));
            if (!IsA(op, OpExpr) || list_length(reinterpret_cast<OpExpr*>(op)->args) != 2)
                continue;
            auto* e = reinterpret_cast<OpExpr*>(op);
            if (!op_mergejoinable(e->opno, exprType(static_cast<Node*>(linitial(e->args)))) &&
                !op_hashjoinable(e->opno, exprType(static_cast<Node*>(linitial(e->args)))))
                continue;
            for (int side = 0; side < 2; ++side) {
                Node* mine = strip_implicit_coercions(static_cast<Node*>(list_nth(e->args, side)));
                Node* other = static_cast<Node*>(list_nth(e->args, 1 - side));
                if (!IsA(mine, Var) || reinterpret_cast<Var*>(mine)->varlevelsup != 0 ||
                    contain_vars_of_level(other, 0) || !outer_var(other, nullptr))
                    continue;
                const AttrNumber att = reinterpret_cast<Var*>(mine)->varattno;
                ListCell* ic;
                foreach (ic, indexes) {
                    HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(ic)));
                    if (!HeapTupleIsValid(tup))
                        continue;
                    auto* index = reinterpret_cast<Form_pg_index>(GETSTRUCT(tup));
                    const bool leads = index->indisvalid && index->indnkeyatts > 0 &&
                                       index->indkey.values[0] == att &&
                                       heap_attisnull(tup, Anum_pg_index_indpred, nullptr);
                    ReleaseSysCache(tup);
                    if (leads)
                        return true;
                }
            }
        }
        return false;
    }

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
            std::vector<Restriction> found;
            if (lin && !inner_hidden && j->jointype == JOIN_LEFT)
                outer_join_restriction(q, j, j->rarg, found);
            if (lin && !inner_hidden && j->jointype == JOIN_RIGHT)
                outer_join_restriction(q, j, j->larg, found);
            add(found);
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
        std::vector<Restriction> found;
        subquery_restriction(q, reinterpret_cast<Query*>(s->subselect), s,
                             "rows whose subquery expression reads a changed row", found);
        add(found);
    }

    void add(const std::vector<Restriction>& found) {
        for (const auto& r : found)
            candidates.push_back(
                {ids_.at(r.rel), levels_.at(r.level), r.qual, r.scope, r.filter_column});
    }

    Query* root_;
    std::map<RangeTblEntry*, int> ids_;
    std::map<Query*, int> levels_;
};

std::vector<RangeVar*> raw_range_vars(const std::string& text) {
    std::vector<RangeVar*> vars;
    for (const auto& r : raw_refs(text))
        vars.push_back(r.var);
    return vars;
}

struct TextRef {
    core::RelationRef ref;
    Oid relid;
    std::string alias;
};

// Every column of table `relid`, in order, quoted: "a", "b".
std::string column_list(Oid relid) {
    std::string out;
    pg_call([&] {
        Relation rel = relation_open(relid, AccessShareLock);
        TupleDesc desc = RelationGetDescr(rel);
        for (int i = 0; i < desc->natts; ++i) {
            Form_pg_attribute a = TupleDescAttr(desc, i);
            if (a->attisdropped)
                continue;
            if (!out.empty())
                out += ", ";
            out += quote_identifier(NameStr(a->attname));
        }
        relation_close(rel, AccessShareLock);
    });
    return out;
}

// (An unqualified reference named `cte` is that CTE's: every relation is printed qualified.)
std::vector<TextRef> text_refs(const std::string& text,
                               const std::map<Oid, std::size_t>& table_index,
                               const std::string& cte = "") {
    std::vector<TextRef> out;
    for (const RawRef& raw : raw_refs(text)) {
        RangeVar* rv = raw.var;
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
        if (raw.in_aliased_join)
            ref.projection = column_list(relid);
        // The whole subquery expression around it, for substitute_split; kept only where the
        // analysed tree says the expression splits (analyze_references).
        if (raw.sublink != nullptr && raw.sublink_start >= 0 &&
            (raw.sublink->subLinkType == EXISTS_SUBLINK ||
             raw.sublink->subLinkType == ANY_SUBLINK || raw.sublink->subLinkType == ALL_SUBLINK)) {
            const auto begin = static_cast<std::size_t>(raw.sublink_start);
            const auto end =
                subquery_end(text, static_cast<std::size_t>(raw.sublink->location), ref.location);
            if (end && begin < ref.location && balanced(text, begin, *end)) {
                ref.split_begin = begin;
                ref.split_end = *end;
                ref.split_op = raw.sublink->subLinkType == ALL_SUBLINK ? '&' : '|';
                // A correlated EXISTS splits only where its deleted part can be hashed.
                if (raw.sublink->subLinkType == EXISTS_SUBLINK) {
                    auto del = exists_as_in(text, raw.sublink, begin, *end, ref);
                    if (del)
                        ref.split_del = *del;
                    else
                        ref.split_end = 0;
                }
            }
        }
        out.push_back({ref, relid, rv->alias ? rv->alias->aliasname : ""});
    }
    // A span holding another reference is not split (see substitute_split).
    for (auto& t : out) {
        for (const auto& o : out)
            if (&o != &t && o.ref.location < t.ref.split_end &&
                o.ref.location + o.ref.length > t.ref.split_begin)
                t.ref.split_end = 0;
        if (t.ref.split_end == 0) {
            t.ref.split_begin = 0;
            t.ref.split_op = 0;
            t.ref.split_del.clear();
        }
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

namespace {

// Runs `print` (plain C calls) under an empty search path (every name schema-qualified) and
// output settings whose forms every setting reads back the same way: a date printed under
// DateStyle 'SQL, DMY' would be read back as another date (or not at all) under the settings of
// a refresh.
template <typename F>
char* printed(F print) {
    return pg_call([&] {
        int nest = NewGUCNestLevel();
        set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
        char* out = print();
        AtEOXact_GUC(true, nest);
        return out;
    });
}

// Whether an ORDER BY or DISTINCT ON item of the top level of `q` is an input column that
// ruleutils would print by its bare name while another output column has that name: read back,
// the name would be that output column (ORDER BY and DISTINCT ON look for output names first),
// as in `SELECT y AS x, x AS y FROM t ORDER BY 1` printed `... ORDER BY y`. (Plain C.)
bool ambiguous_sort_names(Query* q) {
    if (list_length(q->rtable) != 1)
        return false;  // (columns are printed qualified then)
    auto check = [&](List* clauses) {
        ListCell* lc;
        foreach (lc, clauses) {
            auto* sgc = static_cast<SortGroupClause*>(lfirst(lc));
            TargetEntry* tle = get_sortgroupclause_tle(sgc, q->targetList);
            if (!IsA(tle->expr, Var))
                continue;
            auto* v = reinterpret_cast<Var*>(tle->expr);
            if (v->varlevelsup != 0 || v->varattno <= 0)
                continue;
            const char* name = get_rte_attribute_name(
                static_cast<RangeTblEntry*>(linitial(q->rtable)), v->varattno);
            ListCell* oc;
            foreach (oc, q->targetList) {
                auto* other = static_cast<TargetEntry*>(lfirst(oc));
                if (other != tle && !other->resjunk && other->resname != nullptr &&
                    strcmp(other->resname, name) == 0)
                    return true;
            }
        }
        return false;
    };
    return check(q->sortClause) || (q->hasDistinctOn && check(q->distinctClause));
}

}  // namespace

std::string deparse(Query* q) {
    // An ambiguous name gets its relation's name as qualifier: printed with a second range table
    // entry, which no part of the query reads, ruleutils qualifies every column.
    Query* printable = pg_call([&]() -> Query* {
        if (!ambiguous_sort_names(q))
            return q;
        auto* copy = static_cast<Query*>(copyObjectImpl(q));
        auto* extra = static_cast<RangeTblEntry*>(copyObjectImpl(linitial(copy->rtable)));
        extra->inFromCl = false;
        copy->rtable = lappend(copy->rtable, extra);
        return copy;
    });
    return printed([&] { return pg_get_querydef(printable, false); });
}

std::string deparse_expression(Node* e) {
    return printed([&] { return ::deparse_expression(e, NIL, false, false); });
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

    // A reference's subquery expression is split only where the tree says it may be.
    auto keep_split = [](core::RelationRef& ref, bool splittable) {
        if (!splittable) {
            ref.split_begin = ref.split_end = 0;
            ref.split_op = 0;
            ref.split_del.clear();
        }
    };
    ReferenceAnalysis out;
    for (std::size_t k = 0; k < refs.size(); ++k) {
        out.refs.push_back(refs[k].ref);
        const auto id = static_cast<std::size_t>(id_at[k]);
        out.refs.back().nonlinear = classifier.nonlinear[id];
        keep_split(out.refs.back(), classifier.splittable[id]);
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
        r.filter_column = c.filter_column;
        r.correlated = pg_call([&] { return contain_vars_of_level(c.qual, 0); });
        int next = 0;
        int any = 0;
        bool lined_up = true;
        for (const auto& t : text_refs(r.text, table_index, cte)) {
            r.refs.push_back(t.ref);
            if (t.alias == kAnyAlias) {
                keep_split(r.refs.back(), false);
                r.original.push_back(-1);
                ++any;
                continue;
            }
            if (static_cast<std::size_t>(next) >= refs.size() ||
                refs[static_cast<std::size_t>(next)].relid != t.relid) {
                lined_up = false;
                keep_split(r.refs.back(), false);
            } else {
                keep_split(r.refs.back(), classifier.splittable[static_cast<std::size_t>(
                                              id_at[static_cast<std::size_t>(next)])]);
            }
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
