// Spans of subquery expressions in a deparsed query text (see sublink_spans.hpp).
#include "sublink_spans.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/walker.hpp"

namespace pgtrickle::pg {

namespace {

struct RangeVarState {
    List* range_vars;
    List* sublinks;  // per range var: the innermost subquery expression around it, or NULL
    List* hidden;    // per range var: inside a join with an alias at its own query level (int)
    SubLink* current;
    bool in_aliased_join;
};

bool collect_range_vars(Node* node, void* context) {
    auto* s = static_cast<RangeVarState*>(context);
    if (node == nullptr)
        return false;
    if (IsA(node, RangeVar)) {
        s->range_vars = lappend(s->range_vars, node);
        s->sublinks = lappend(s->sublinks, s->current);
        s->hidden = lappend_int(s->hidden, s->in_aliased_join ? 1 : 0);
        return false;
    }
    // (A query level of its own: a join with an alias around it does not hide its relations.)
    const bool level = IsA(node, SubLink) || IsA(node, RangeSubselect) ||
                       IsA(node, CommonTableExpr) || IsA(node, SelectStmt);
    const bool aliased = IsA(node, JoinExpr) && reinterpret_cast<JoinExpr*>(node)->alias != nullptr;
    const bool hidden = s->in_aliased_join;
    if (level)
        s->in_aliased_join = false;
    if (aliased)
        s->in_aliased_join = true;
    SubLink* outer = s->current;
    if (IsA(node, SubLink))
        s->current = reinterpret_cast<SubLink*>(node);
    bool done = raw_expression_tree_walker(node, as_walker(collect_range_vars), context);
    s->current = outer;
    s->in_aliased_join = hidden;
    return done;
}

// One past the end of the column reference starting at `at` (identifiers, quoted or not,
// joined by dots, as the deparser prints them).
std::size_t column_ref_end(const std::string& text, std::size_t at) {
    std::size_t i = at;
    while (i < text.size()) {
        if (text[i] == '"') {
            for (++i; i < text.size(); ++i)
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        ++i;
                        continue;
                    }
                    break;
                }
            ++i;
        } else {
            while (i < text.size() &&
                   (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_' ||
                    text[i] == '$' || static_cast<unsigned char>(text[i]) >= 0x80))
                ++i;
        }
        if (i < text.size() && text[i] == '.')
            ++i;
        else
            break;
    }
    return i;
}

// `alias.column` (a ColumnRef of two names): the alias, or nullptr for any other shape.
const char* qualifier(Node* n) {
    if (n == nullptr || !IsA(n, ColumnRef))
        return nullptr;
    List* fields = reinterpret_cast<ColumnRef*>(n)->fields;
    if (list_length(fields) != 2 || !IsA(linitial(fields), String) || !IsA(lsecond(fields), String))
        return nullptr;
    return strVal(linitial(fields));
}

struct ColumnRefState {
    const char* alias;
    bool foreign;  // a column reference not qualified by `alias`
};

bool foreign_column(Node* node, void* context) {
    if (node == nullptr)
        return false;
    auto* s = static_cast<ColumnRefState*>(context);
    if (IsA(node, ColumnRef)) {
        const char* q = qualifier(node);
        if (q == nullptr || strcmp(q, s->alias) != 0)
            s->foreign = true;
        return false;
    }
    if (IsA(node, SubLink) || IsA(node, ParamRef)) {
        s->foreign = true;
        return false;
    }
    return raw_expression_tree_walker(node, as_walker(foreign_column), context);
}

}  // namespace

// The relation references of a query text, in text order.
std::vector<RawRef> raw_refs(const std::string& text) {
    const char* t = text.c_str();
    RangeVarState state{NIL, NIL, NIL, nullptr, false};
    pg_call([&] {
        List* raw = pg_parse_query(t);
        collect_range_vars(linitial_node(RawStmt, raw)->stmt, &state);
    });
    std::vector<RawRef> refs;
    for (int i = 0; i < list_length(state.range_vars); ++i) {
        auto* sub = static_cast<SubLink*>(list_nth(state.sublinks, i));
        int start = -1;
        if (sub != nullptr)
            start = sub->subLinkType == EXISTS_SUBLINK
                        ? sub->location
                        : pg_call([&] { return exprLocation(sub->testexpr); });
        refs.push_back({static_cast<RangeVar*>(list_nth(state.range_vars, i)), sub, start,
                        list_nth_int(state.hidden, i) != 0});
    }
    std::sort(refs.begin(), refs.end(),
              [](const RawRef& a, const RawRef& b) { return a.var->location < b.var->location; });
    return refs;
}

// The end (one past its closing parenthesis) of the parenthesized subquery that starts at the
// first '(' at or after `from`, when that parenthesis opens `( SELECT` and the reference at `ref`
// lies inside; std::nullopt otherwise. Skips quoted literals and identifiers as the deparser
// writes them ('...' with '' or, after E, backslash escapes; "..." with "").
std::optional<std::size_t> subquery_end(const std::string& text, std::size_t from,
                                        std::size_t ref) {
    std::size_t open = text.find('(', from);
    if (open == std::string::npos || open >= ref)
        return std::nullopt;
    std::size_t k = open + 1;
    while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k])))
        ++k;
    if (text.compare(k, 6, "SELECT") != 0)
        return std::nullopt;
    int depth = 0;
    for (std::size_t i = open; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\'' || c == '"') {
            const bool escapes = c == '\'' && i > 0 && (text[i - 1] == 'E' || text[i - 1] == 'e');
            for (++i; i < text.size(); ++i) {
                if (escapes && text[i] == '\\') {
                    ++i;
                    continue;
                }
                if (text[i] == c) {
                    if (i + 1 < text.size() && text[i + 1] == c) {
                        ++i;
                        continue;
                    }
                    break;
                }
            }
            continue;
        }
        if (c == '(')
            ++depth;
        else if (c == ')' && --depth == 0)
            return i > ref ? std::optional<std::size_t>(i + 1) : std::nullopt;
    }
    return std::nullopt;
}

// Whether text[begin, end) has as many '(' as ')' outside quotes, never more ')' than '(' (an
// IN expression's left side printed in parentheses the parser does not place in it).
bool balanced(const std::string& text, std::size_t begin, std::size_t end) {
    int depth = 0;
    for (std::size_t i = begin; i < end; ++i) {
        const char c = text[i];
        if (c == '\'' || c == '"') {
            for (++i; i < end && text[i] != c; ++i) {
            }
            continue;
        }
        if (c == '(')
            ++depth;
        else if (c == ')' && --depth < 0)
            return false;
    }
    return depth == 0;
}

// The part over the deleted rows of a correlated `EXISTS (SELECT ... FROM rel alias WHERE ...)`
// (text[begin, end), `ref` its relation) whose WHERE is ANDed conditions, each over `alias`'s
// columns alone or an equality `alias.column = outer.column`: the same test as an uncorrelated
// IN, `(o IS DISTINCT FROM NULL AND o IN (SELECT i FROM <\x01> alias WHERE <the rest> AND i
// IS DISTINCT FROM NULL))` (rows of columns for several equalities), which is true exactly when
// the EXISTS is (an equality with a NULL is never true) and which PostgreSQL hashes once for all
// outer rows.
// Empty when the subquery is not correlated; std::nullopt when it cannot be written so.
std::optional<std::string> exists_as_in(const std::string& text, SubLink* sub, std::size_t begin,
                                        std::size_t end, const core::RelationRef& ref) {
    if (!IsA(sub->subselect, SelectStmt))
        return std::nullopt;
    auto* sel = reinterpret_cast<SelectStmt*>(sub->subselect);
    if (sel->op != SETOP_NONE || sel->sortClause != NIL || sel->limitCount != nullptr ||
        sel->limitOffset != nullptr || sel->groupClause != NIL || sel->havingClause != nullptr ||
        sel->windowClause != NIL || sel->distinctClause != NIL || sel->withClause != nullptr ||
        sel->lockingClause != NIL || list_length(sel->fromClause) != 1)
        return std::nullopt;
    if (sel->whereClause == nullptr)
        return std::string();
    List* conjuncts = nullptr;
    Node* where = sel->whereClause;
    if (IsA(where, BoolExpr) && reinterpret_cast<BoolExpr*>(where)->boolop == AND_EXPR)
        conjuncts = reinterpret_cast<BoolExpr*>(where)->args;
    else
        conjuncts = pg_call([&] { return list_make1(where); });
    const std::string alias = ref.refname;
    struct Pair {
        std::size_t inner, outer;  // locations of the two column references
        std::size_t from, to;      // the equality's operands, left to right
    };
    std::vector<Pair> pairs;
    ListCell* lc;
    foreach (lc, conjuncts) {
        auto* c = static_cast<Node*>(lfirst(lc));
        if (IsA(c, A_Expr)) {
            auto* e = reinterpret_cast<A_Expr*>(c);
            const char* lq = qualifier(e->lexpr);
            const char* rq = qualifier(e->rexpr);
            if (e->kind == AEXPR_OP && list_length(e->name) == 1 &&
                strcmp(strVal(linitial(e->name)), "=") == 0 && lq != nullptr && rq != nullptr &&
                ((alias == lq) != (alias == rq))) {
                const auto l =
                    static_cast<std::size_t>(reinterpret_cast<ColumnRef*>(e->lexpr)->location);
                const auto r =
                    static_cast<std::size_t>(reinterpret_cast<ColumnRef*>(e->rexpr)->location);
                if (l >= r)
                    return std::nullopt;
                pairs.push_back(alias == lq ? Pair{l, r, l, column_ref_end(text, r)}
                                            : Pair{r, l, l, column_ref_end(text, r)});
                continue;
            }
        }
        ColumnRefState state{alias.c_str(), false};
        pg_call([&] { foreign_column(c, &state); });
        if (state.foreign)
            return std::nullopt;
    }
    if (pairs.empty())
        return std::string();
    // The text after the relation (its alias, WHERE ...) up to the subquery's closing
    // parenthesis, with each equality written `true`, last to first.
    const std::size_t after = ref.location + ref.length;
    if (end == 0 || end - 1 <= after || text[end - 1] != ')')
        return std::nullopt;
    std::string rest = text.substr(after, end - 1 - after);
    for (auto it = pairs.rbegin(); it != pairs.rend(); ++it) {
        if (it->from < after || it->to > end - 1)
            return std::nullopt;
        rest.replace(it->from - after, it->to - it->from, "true");
    }
    auto column = [&](std::size_t at) { return text.substr(at, column_ref_end(text, at) - at); };
    std::string outer, inner, outer_set, inner_set;
    for (const auto& p : pairs) {
        const std::string sep = outer.empty() ? "" : ", ";
        outer += sep + column(p.outer);
        inner += sep + column(p.inner);
        // (IS DISTINCT FROM NULL, not IS NOT NULL: a composite value with a NULL field is not
        // "IS NOT NULL", yet equals another such value.)
        outer_set += column(p.outer) + " IS DISTINCT FROM NULL AND ";
        inner_set += " AND " + column(p.inner) + " IS DISTINCT FROM NULL";
    }
    if (pairs.size() > 1) {
        outer = "(" + outer + ")";
    }
    const std::string name =
        ref.has_alias ? "" : std::string(" ") + quote_identifier(ref.refname.c_str());
    (void)begin;
    return fmt::format("({}{} IN (SELECT {} FROM \x01{}{}{}))", outer_set, outer, inner, name, rest,
                       inner_set);
}

}  // namespace pgtrickle::pg
