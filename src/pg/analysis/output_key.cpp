// The output key of a linear query (output_key.hpp).
//
// A relation whose primary key is in the output identifies its rows there. A relation whose
// primary key is not can still be identified without it: `orders o JOIN customers c ON c.id =
// o.customer_id` yields at most one customers row per orders row, so `o.id` alone identifies the
// output rows. The condition must hold for every output row (a conjunct of the WHERE or of an
// inner join's ON; for a LEFT or RIGHT join's ON, only the relations of its nullable side, each
// of whose rows it keeps or NULL-extends once), compare with the equality of the key index's
// operator family for the key's own type, under the key's collation, and the key must be
// checked at once (a deferred key can hold duplicates inside a transaction, where IMMEDIATE
// stream tables are maintained; so for keys in the select list too).
#include "output_key.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "pg_trickle/pg/guard.hpp"

namespace pgtrickle::pg {

namespace {

// An equality `rel.att = other.x` (other.x any column of another relation) that every output
// row meets, with the operator and collation it compares with.
struct Equality {
    Index rel;
    AttrNumber att;
    Index other;
    Oid opno;
    Oid collation;
};

// The primary key of a relation as its index compares it (plain C: filled inside pg_call).
struct PrimaryKey {
    int n = 0;
    bool immediate = false;
    AttrNumber att[INDEX_MAX_KEYS];
    Oid opfamily[INDEX_MAX_KEYS];
    Oid type[INDEX_MAX_KEYS];  // the operator class's input type
    Oid collation[INDEX_MAX_KEYS];
};

// (From the catalog, without locking the index: analysis runs at every refresh.)
PrimaryKey primary_key_of(Oid relid) {
    PrimaryKey pk;
    pg_call([&] {
        Relation r = table_open(relid, AccessShareLock);
        const Oid index = RelationGetPrimaryKeyIndex(r);
        table_close(r, NoLock);
        if (!OidIsValid(index))
            return;
        HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
        if (!HeapTupleIsValid(tup))
            return;
        auto* form = reinterpret_cast<Form_pg_index>(GETSTRUCT(tup));
        bool isnull = false;
        auto* classes = reinterpret_cast<oidvector*>(
            DatumGetPointer(SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indclass, &isnull)));
        bool collnull = false;
        auto* collations = reinterpret_cast<oidvector*>(DatumGetPointer(
            SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indcollation, &collnull)));
        if (!isnull && !collnull) {
            pk.n = form->indnkeyatts;
            pk.immediate = form->indimmediate;
            for (int i = 0; i < pk.n; ++i) {
                pk.att[i] = form->indkey.values[i];
                pk.opfamily[i] = get_opclass_family(classes->values[i]);
                pk.type[i] = get_opclass_input_type(classes->values[i]);
                pk.collation[i] = collations->values[i];
            }
        }
        ReleaseSysCache(tup);
    });
    return pk;
}

Node* strip_relabel(Node* n) {
    while (n != nullptr && IsA(n, RelabelType))
        n = reinterpret_cast<Node*>(reinterpret_cast<RelabelType*>(n)->arg);
    return n;
}

// The relation of a Var of this query level that reads a table, or 0.
Index table_of(Query* q, Node* n) {
    n = strip_relabel(n);
    if (n == nullptr || !IsA(n, Var))
        return 0;
    auto* v = reinterpret_cast<Var*>(n);
    if (v->varlevelsup != 0 || v->varno < 1 || v->varno > list_length(q->rtable) ||
        v->varattno <= 0)
        return 0;
    auto* rte = static_cast<RangeTblEntry*>(list_nth(q->rtable, v->varno - 1));
    return rte->rtekind == RTE_RELATION ? static_cast<Index>(v->varno) : 0;
}

void relations_in(Node* n, std::set<Index>& out) {
    if (n == nullptr)
        return;
    if (IsA(n, RangeTblRef)) {
        out.insert(static_cast<Index>(reinterpret_cast<RangeTblRef*>(n)->rtindex));
    } else if (IsA(n, JoinExpr)) {
        auto* j = reinterpret_cast<JoinExpr*>(n);
        relations_in(j->larg, out);
        relations_in(j->rarg, out);
    } else if (IsA(n, FromExpr)) {
        ListCell* lc;
        foreach (lc, reinterpret_cast<FromExpr*>(n)->fromlist)
            relations_in(static_cast<Node*>(lfirst(lc)), out);
    }
}

// The equalities among the AND-ed conjuncts of `quals`, for the relations `allowed` (nullptr:
// any).
void equalities_in(Query* q, Node* quals, const std::set<Index>* allowed,
                   std::vector<Equality>& out) {
    if (quals == nullptr)
        return;
    if (IsA(quals, List)) {
        ListCell* lc;
        foreach (lc, reinterpret_cast<List*>(quals))
            equalities_in(q, static_cast<Node*>(lfirst(lc)), allowed, out);
        return;
    }
    if (IsA(quals, BoolExpr)) {
        auto* b = reinterpret_cast<BoolExpr*>(quals);
        if (b->boolop == AND_EXPR)
            equalities_in(q, reinterpret_cast<Node*>(b->args), allowed, out);
        return;
    }
    if (!IsA(quals, OpExpr))
        return;
    auto* op = reinterpret_cast<OpExpr*>(quals);
    if (list_length(op->args) != 2)
        return;
    Node* left = static_cast<Node*>(linitial(op->args));
    Node* right = static_cast<Node*>(lsecond(op->args));
    const Index l = table_of(q, left), r = table_of(q, right);
    if (l == 0 || r == 0 || l == r)
        return;
    auto add = [&](Index rel, Node* var, Index other) {
        if (allowed != nullptr && allowed->count(rel) == 0)
            return;
        out.push_back({rel, reinterpret_cast<Var*>(strip_relabel(var))->varattno, other, op->opno,
                       op->inputcollid});
    };
    add(l, left, r);
    add(r, right, l);
}

// The equalities of the join tree below `n` (the FROM list's items and their joins).
void join_equalities(Query* q, Node* n, std::vector<Equality>& out) {
    if (n == nullptr || !IsA(n, JoinExpr))
        return;
    auto* j = reinterpret_cast<JoinExpr*>(n);
    join_equalities(q, j->larg, out);
    join_equalities(q, j->rarg, out);
    if (j->jointype == JOIN_INNER) {
        equalities_in(q, j->quals, nullptr, out);
    } else if (j->jointype == JOIN_LEFT || j->jointype == JOIN_RIGHT) {
        std::set<Index> nullable;
        relations_in(j->jointype == JOIN_LEFT ? j->rarg : j->larg, nullable);
        equalities_in(q, j->quals, &nullable, out);
    }
}

// Whether `e` compares as the key column i of `pk` does: its operator family's equality for the
// key's own type (a cross-type one may not be one-to-one: `timestamp = timestamptz` meets two
// local times in a daylight-saving gap), under the key's collation.
bool matches_key_column(const Equality& e, const PrimaryKey& pk, int i) {
    if (e.collation != pk.collation[i])
        return false;
    return pg_call([&] {
        return get_opfamily_member(pk.opfamily[i], pk.type[i], pk.type[i], BTEqualStrategyNumber) ==
               e.opno;
    });
}

}  // namespace

std::vector<std::string> output_key(Query* q) {
    std::vector<std::string> keys;
    std::vector<Index> undetermined;  // relations whose key is not in the output
    std::set<Index> identified;       // relations whose rows the output key identifies
    std::map<Oid, PrimaryKey> pks;
    auto pk_of = [&](Oid relid) -> const PrimaryKey& {
        auto it = pks.find(relid);
        if (it == pks.end())
            it = pks.emplace(relid, primary_key_of(relid)).first;
        return it->second;
    };
    Index index = 0;
    ListCell* lc;
    foreach (lc, q->rtable) {
        ++index;
        auto* rte = static_cast<RangeTblEntry*>(lfirst(lc));
        if (rte->rtekind == RTE_JOIN)
            continue;
        if (rte->rtekind != RTE_RELATION)
            return {};
        // (A key checked only at commit can hold duplicates inside a transaction, where a
        // refresh or IMMEDIATE maintenance may run.)
        const PrimaryKey& pk = pk_of(rte->relid);
        if (pk.n == 0 || !pk.immediate)
            return {};
        std::vector<std::string> found_all;
        for (int i = 0; i < pk.n; ++i) {
            const char* found = nullptr;
            ListCell* tc;
            foreach (tc, q->targetList) {
                auto* tle = static_cast<TargetEntry*>(lfirst(tc));
                if (tle->resjunk || !IsA(tle->expr, Var))
                    continue;
                auto* v = reinterpret_cast<Var*>(tle->expr);
                if (v->varno == static_cast<int>(index) && v->varattno == pk.att[i] &&
                    v->varlevelsup == 0)
                    found = tle->resname;
            }
            if (found == nullptr) {
                found_all.clear();
                break;
            }
            found_all.push_back(found);
        }
        if (found_all.empty()) {
            undetermined.push_back(index);
            continue;
        }
        identified.insert(index);
        for (auto& k : found_all)
            if (std::find(keys.begin(), keys.end(), k) == keys.end())
                keys.push_back(std::move(k));
    }
    if (keys.empty())
        return {};
    if (undetermined.empty())
        return keys;

    std::vector<Equality> equalities;
    equalities_in(q, q->jointree->quals, nullptr, equalities);
    foreach (lc, q->jointree->fromlist)
        join_equalities(q, static_cast<Node*>(lfirst(lc)), equalities);
    // Relations identified through others, until none is left or no more can be.
    for (bool progress = true; progress && !undetermined.empty();) {
        progress = false;
        for (auto it = undetermined.begin(); it != undetermined.end();) {
            auto* rte = static_cast<RangeTblEntry*>(list_nth(q->rtable, *it - 1));
            const PrimaryKey& pk = pk_of(rte->relid);
            bool determined = true;
            for (int i = 0; determined && i < pk.n; ++i) {
                determined = std::any_of(equalities.begin(), equalities.end(), [&](const auto& e) {
                    return e.rel == *it && e.att == pk.att[i] && identified.count(e.other) > 0 &&
                           matches_key_column(e, pk, i);
                });
            }
            if (determined) {
                identified.insert(*it);
                it = undetermined.erase(it);
                progress = true;
            } else {
                ++it;
            }
        }
    }
    return undetermined.empty() ? keys : std::vector<std::string>{};
}

}  // namespace pgtrickle::pg
