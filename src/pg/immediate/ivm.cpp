// IMMEDIATE maintenance: stream tables kept exact inside the writing transaction.
//
// Every relation an IMMEDIATE stream table reads (base tables, and the storage of stream tables
// it reads) carries a BEFORE statement trigger and AFTER statement triggers with transition
// tables (core::immediate_trigger_ddl), all calling the two functions below. BEFORE counts a
// statement in flight; AFTER keeps that statement's transition rows and counts it down. When
// the count is back at zero, the outermost statement that touched a source has ended together
// with every statement nested in it (a user trigger writing another source, the parts of a
// data-modifying WITH, INSERT ... ON CONFLICT's insert and update halves), and then the stream
// tables reading what changed are maintained, each with one delta statement of the
// differential engine that reads the kept rows instead of change buffers
// (DeltaTable::change_source) for all of its changed sources at once. Stream tables go in
// dependency order; what maintenance writes to a stream table is kept the same way and feeds
// the stream tables downstream in the same pass.
//
// Concurrency: before maintaining a stream table the transaction updates the stream table's
// catalog row (data_timestamp), in pgt_id order. Under READ COMMITTED a concurrent maintainer
// of the same stream table makes it wait until that one ends, and the delta statements after it
// read with fresh snapshots; under REPEATABLE READ and SERIALIZABLE the update fails with 40001
// when a transaction this one's snapshot does not see has maintained the stream table.
//
// Transactions: the kept rows live in TopTransactionContext. A subtransaction that aborts drops
// the rows kept inside it and restores the count; the end of the transaction clears everything.
// The writes maintenance made are undone by PostgreSQL with the (sub)transaction that made them.
#include "pg_trickle/pg/immediate.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/storage.hpp"
#include "refresh/scopes.hpp"

namespace pgtrickle::pg {

namespace {

// The rows one AFTER trigger firing saw (copies, in TopTransactionContext).
struct Kept {
    Oid relid = InvalidOid;
    Tuplestorestate* old_rows = nullptr;
    Tuplestorestate* new_rows = nullptr;
    bool truncated = false;
};

// Where a subtransaction started: what its abort restores.
struct Mark {
    int in_flight = 0;
    std::size_t kept = 0;
    bool maintaining = false;
};

struct State {
    int in_flight = 0;         // statements on sources begun and not yet ended
    bool maintaining = false;  // inside maintain_all: AFTER triggers only keep rows
    std::vector<Kept> kept;
    std::vector<Mark> marks;
};
State state;

void clear_state() {
    state.in_flight = 0;
    state.maintaining = false;
    state.kept.clear();
    state.marks.clear();
}

// A copy of a transition table that outlives the statement (and nested query levels).
Tuplestorestate* keep_rows(Tuplestorestate* rows, TupleDesc desc) {
    if (rows == nullptr || tuplestore_tuple_count(rows) == 0)
        return nullptr;
    return pg_call([&] {
        MemoryContext old_context = MemoryContextSwitchTo(TopTransactionContext);
        ResourceOwner old_owner = CurrentResourceOwner;
        CurrentResourceOwner = TopTransactionResourceOwner;
        Tuplestorestate* copy = tuplestore_begin_heap(false, false, work_mem);
        CurrentResourceOwner = old_owner;
        MemoryContextSwitchTo(old_context);
        TupleTableSlot* slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
        tuplestore_rescan(rows);
        while (tuplestore_gettupleslot(rows, true, false, slot))
            tuplestore_puttupleslot(copy, slot);
        ExecDropSingleTupleTableSlot(slot);
        return copy;
    });
}

std::string oid_array(const std::set<Oid>& oids) {
    std::string out = "{";
    for (Oid o : oids)
        out += (out.size() > 1 ? "," : "") + std::to_string(o);
    return out + "}";
}

// IMMEDIATE stream tables reading `changed`, directly or through other IMMEDIATE stream
// tables, in an order where each comes after the stream tables it reads (pgt_id breaks ties).
std::vector<std::int64_t> affected_in_order(Spi& spi, const std::set<Oid>& changed) {
    auto res = spi.execute(
        "WITH RECURSIVE a(pgt_id, relid) AS ("
        "  SELECT st.pgt_id, st.pgt_relid FROM pgtrickle.pgt_dependencies d"
        "  JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
        "  WHERE st.refresh_mode = 'IMMEDIATE' AND d.source_relid = ANY ($1::oid[])"
        "  UNION"
        "  SELECT st.pgt_id, st.pgt_relid FROM a"
        "  JOIN pgtrickle.pgt_dependencies d ON d.source_relid = a.relid"
        "  JOIN pgtrickle.pgt_stream_tables st ON st.pgt_id = d.pgt_id"
        "  WHERE st.refresh_mode = 'IMMEDIATE')"
        " SELECT a.pgt_id, up.pgt_id FROM a"
        " LEFT JOIN pgtrickle.pgt_dependencies d ON d.pgt_id = a.pgt_id"
        " LEFT JOIN a up ON up.relid = d.source_relid"
        " ORDER BY 1",
        {oid_array(changed)});
    std::map<std::int64_t, std::set<std::int64_t>> upstream;
    for (const auto& r : res.rows) {
        auto& ups = upstream[std::stoll(*r[0])];
        if (r[1])
            ups.insert(std::stoll(*r[1]));
    }
    std::vector<std::int64_t> order;
    while (!upstream.empty()) {
        auto ready = std::find_if(upstream.begin(), upstream.end(), [&](const auto& e) {
            return std::all_of(e.second.begin(), e.second.end(),
                               [&](std::int64_t u) { return !upstream.count(u) || u == e.first; });
        });
        if (ready == upstream.end())
            ready = upstream.begin();  // a cycle cannot be created; do not loop on one
        order.push_back(ready->first);
        upstream.erase(ready);
    }
    return order;
}

// The relation `kept` rows of source `t` form, laid out like a change buffer.
std::string change_source(const core::DeltaTable& t,
                          const std::vector<std::pair<std::string, char>>& relations) {
    std::vector<std::string> parts;
    for (const auto& [name, action] : relations) {
        std::string cols;
        for (const auto& c : t.columns)
            cols += fmt::format(", e.{} AS {}", core::quote_ident(c.name),
                                core::quote_ident(core::buffer_column(c.name)));
        parts.push_back(fmt::format("SELECT '{}'::\"char\" AS action{} FROM {} e", action, cols,
                                    core::quote_ident(name)));
    }
    std::string out;
    for (const auto& p : parts)
        out += (out.empty() ? "" : " UNION ALL ") + p;
    return out;
}

class Maintainer {
  public:
    void run() {
        std::set<Oid> changed;
        for (const auto& k : state.kept)
            changed.insert(k.relid);
        PinnedSettings pinned;
        auto order = affected_in_order(spi_, changed);
        {
            // Lock every stream table first, in pgt_id order (see the file comment).
            AsCatalogOwner owner;
            std::vector<std::int64_t> ids = order;
            std::sort(ids.begin(), ids.end());
            for (auto id : ids)
                spi_.run(
                    "UPDATE pgtrickle.pgt_stream_tables SET data_timestamp = pg_catalog.now()"
                    " WHERE pgt_id = $1::bigint",
                    {std::to_string(id)});
        }
        for (auto id : order) {
            auto st = catalog::find_by_id(spi_, id);
            if (st && st->refresh_mode == "IMMEDIATE")
                maintain(*st);
        }
        spi_.finish();
    }

  private:
    // Registers the kept rows not registered yet as ephemeral relations of this connection.
    void register_kept() {
        // Rows kept by a delta attempt that was rolled back are gone (see
        // immediate_subxact_event); their names may be reused.
        for (; registered_ > state.kept.size(); --registered_) {
            for (const char* side : {"old", "new"}) {
                std::string name = fmt::format("__pgt_ivm_{}_{}", registered_ - 1, side);
                pg_call([&] { SPI_unregister_relation(name.c_str()); });
            }
        }
        for (; registered_ < state.kept.size(); ++registered_) {
            const Kept& k = state.kept[registered_];
            if (k.old_rows)
                spi_.register_tuplestore(fmt::format("__pgt_ivm_{}_old", registered_), k.relid,
                                         k.old_rows);
            if (k.new_rows)
                spi_.register_tuplestore(fmt::format("__pgt_ivm_{}_new", registered_), k.relid,
                                         k.new_rows);
        }
    }

    void maintain(const StreamTable& st) {
        register_kept();
        std::set<Oid> sources;
        for (const auto& d : catalog::dependencies(spi_, st.pgt_id))
            sources.insert(d.source_relid);
        std::map<Oid, std::vector<std::pair<std::string, char>>> rows_of;
        bool truncated = false;
        for (std::size_t i = 0; i < state.kept.size(); ++i) {
            const Kept& k = state.kept[i];
            if (!sources.count(k.relid))
                continue;
            truncated = truncated || k.truncated;
            auto& rel = rows_of[k.relid];
            if (k.old_rows)
                rel.emplace_back(fmt::format("__pgt_ivm_{}_old", i), 'D');
            if (k.new_rows)
                rel.emplace_back(fmt::format("__pgt_ivm_{}_new", i), 'I');
        }
        if (rows_of.empty())
            return;
        auto plan = analyze_differential(spi_, st.defining_query).plan;
        const std::string table = st.qualified_name();
        AsOwner as_owner(relation_owner(st.relid));
        InternalWrite allow_write;
        if (plan && !truncated) {
            bool any = false;
            for (auto& t : plan->tables) {
                auto it = rows_of.find(static_cast<Oid>(t.relid));
                t.changed = it != rows_of.end() && !it->second.empty();
                if (t.changed)
                    t.change_source = change_source(t, it->second);
                any = any || t.changed;
            }
            if (!any)
                return;  // only TRUNCATE-free statements that changed no row
            // As in a refresh: a row that left a source can raise a data error the query over
            // the current rows would not; then the stream table is recomputed.
            Subtransaction sub;
            try {
                spi_.run(core::apply_statement(*plan, core::Frontier{}, table));
                sub.commit();
                return;
            } catch (const PgException& e) {
                if (ERRCODE_TO_CATEGORY(e.edata()->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
                    throw;
            }
        }
        spi_.run("DELETE FROM " + table);
        spi_.run(plan ? core::full_insert(*plan, table)
                      : "INSERT INTO " + table +
                            " SELECT pg_catalog.row_number() OVER (), __pgt_q.* FROM (\n" +
                            st.defining_query + "\n) AS __pgt_q");
    }

    Oid relation_owner(Oid relid) {
        Value owner = spi_.execute("SELECT relowner FROM pg_catalog.pg_class WHERE oid = $1::oid",
                                   {std::to_string(relid)})
                          .scalar();
        return static_cast<Oid>(std::stoul(*owner));
    }

    Spi spi_;
    std::size_t registered_ = 0;
};

// Runs maintenance once the last statement in flight has ended.
void maintain_all() {
    state.maintaining = true;
    Maintainer m;
    m.run();
    state.kept.clear();
    state.maintaining = false;
}

}  // namespace

void sync_immediate_triggers(Spi& spi, Oid relid) {
    AsCatalogOwner owner;
    const std::string id = std::to_string(relid);
    auto info = spi.execute(
        "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),"
        " c.relkind,"
        " EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d"
        "   JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
        "   WHERE d.source_relid = c.oid AND st.refresh_mode = 'IMMEDIATE'),"
        " EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid"
        "   AND t.tgname = 'pg_trickle_ivm_before_' || c.oid)"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = $1::oid",
        {id});
    if (info.empty() || *info.rows[0][1] == "v")
        return;  // gone, or a view (its base tables are sources of their own)
    const std::string qualified = *info.rows[0][0];
    const bool needed = *info.rows[0][2] == "t", present = *info.rows[0][3] == "t";
    if (needed && !present) {
        if (!capturable(spi, relid))
            throw core::unsupported(
                fmt::format("IMMEDIATE mode cannot maintain a stream table over {}", qualified),
                "IMMEDIATE maintenance needs statement triggers with transition tables, which "
                "only plain tables without inheritance children have.",
                "Use refresh_mode => 'DIFFERENTIAL' or 'FULL'.");
        for (const auto& s : core::immediate_trigger_ddl(relid, qualified))
            spi.run(s);
    } else if (!needed && present) {
        for (const auto& s : core::drop_immediate_trigger_ddl(relid, qualified))
            spi.run(s);
    }
}

void immediate_xact_event(XactEvent event) {
    switch (event) {
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:
            clear_state();
            break;
        default:
            break;
    }
}

void immediate_subxact_event(SubXactEvent event) {
    switch (event) {
        case SUBXACT_EVENT_START_SUB:
            state.marks.push_back({state.in_flight, state.kept.size(), state.maintaining});
            break;
        case SUBXACT_EVENT_COMMIT_SUB:
            if (!state.marks.empty())
                state.marks.pop_back();
            break;
        case SUBXACT_EVENT_ABORT_SUB:
            if (!state.marks.empty()) {
                const Mark m = state.marks.back();
                state.marks.pop_back();
                state.in_flight = m.in_flight;
                if (state.kept.size() > m.kept)
                    state.kept.resize(m.kept);
                state.maintaining = m.maintaining;
            }
            break;
        default:
            break;
    }
}

}  // namespace pgtrickle::pg

using pgtrickle::pg::state;

extern "C" {

PG_FUNCTION_INFO_V1(pg_trickle_ivm_before);
Datum pg_trickle_ivm_before(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR,
                (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                 errmsg("pgtrickle.pg_trickle_ivm_before() may only be called as a trigger")));
    ++state.in_flight;
    return PointerGetDatum(nullptr);
}

PG_FUNCTION_INFO_V1(pg_trickle_ivm_after);
Datum pg_trickle_ivm_after(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR,
                (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                 errmsg("pgtrickle.pg_trickle_ivm_after() may only be called as a trigger")));
    return pgtrickle::pg::pg_guard([&] {
        auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
        Relation rel = trigdata->tg_relation;
        pgtrickle::pg::Kept k;
        k.relid = RelationGetRelid(rel);
        k.truncated = TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event);
        k.old_rows = pgtrickle::pg::keep_rows(trigdata->tg_oldtable, RelationGetDescr(rel));
        k.new_rows = pgtrickle::pg::keep_rows(trigdata->tg_newtable, RelationGetDescr(rel));
        if (k.truncated || k.old_rows || k.new_rows)
            state.kept.push_back(k);
        // A BEFORE trigger this backend did not see (the triggers were created inside the
        // statement) leaves nothing to wait for.
        state.in_flight = std::max(0, state.in_flight - 1);
        if (state.in_flight == 0 && !state.maintaining && !state.kept.empty())
            pgtrickle::pg::maintain_all();
        return PointerGetDatum(nullptr);
    });
}

}  // extern "C"
