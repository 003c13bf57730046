// IMMEDIATE maintenance: stream tables kept exact inside the writing transaction.
//
// Every relation an IMMEDIATE stream table reads (base tables, and the storage of stream tables
// it reads) carries a BEFORE statement trigger and AFTER statement triggers with transition
// tables (core::immediate_trigger_ddl), all calling the two functions below. BEFORE counts a
// statement in flight; AFTER keeps that statement's transition rows (appended to the last kept
// entry when that is of the same table: see keep) and counts it down. When the count is back at
// zero, the outermost statement that touched a source has ended together with every statement
// nested in it (a user trigger writing another source, the parts of a data-modifying WITH,
// INSERT ... ON CONFLICT's insert and update halves), and then the stream tables reading what
// changed are maintained, each with one delta statement of the differential engine that reads
// the kept rows instead of change buffers (DeltaTable::change_source) for all of its changed
// sources at once. Stream tables go in dependency order; what maintenance writes to a stream
// table is kept the same way and feeds the stream tables downstream in the same pass. Rows that
// users' triggers on stream tables write meanwhile are taken in further passes (rounds, at most
// 64), by the stream tables that had not taken them (Maintainer::run).
//
// Concurrency (docs/IMMEDIATE.md): a single-table COUNT/SUM/AVG aggregate is maintained by
// increments of its group rows (DeltaPlan::relative_apply): writers meet only at the rows of the
// groups they change, and hold the refresh advisory lock shared (refreshes and recomputations
// take it exclusively). Any other stream table is locked as a whole: the transaction updates its
// catalog row (data_timestamp), in pgt_id order. Under READ COMMITTED a concurrent maintainer of
// the same stream table makes it wait until that one ends, and the delta statements after it
// read with fresh snapshots; under REPEATABLE READ and SERIALIZABLE the update fails with 40001
// when a transaction this one's snapshot does not see has maintained the stream table.
//
// Cost: a backend keeps, per stream table, its analysed plan and its delta statements as kept
// SPI plans, one per shape of change (Cache), so a writing statement runs a catalog read, the
// lock, and one prepared delta statement.
//
// Transactions: the kept rows live in TopTransactionContext. A subtransaction that aborts drops
// the rows kept inside it and restores the count; the end of the transaction clears everything.
// The writes maintenance made are undone by PostgreSQL with the (sub)transaction that made them.
#include "pg_trickle/pg/immediate.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>
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
#include "pg_trickle/pg/refresh.hpp"
#include "pg_trickle/pg/storage.hpp"
#include "refresh/scopes.hpp"

namespace pgtrickle::pg {

namespace {

// The rows AFTER trigger firings on one relation saw (copies, in TopTransactionContext): one
// firing, or several in a row (nested statements, each of a few rows, as a user's row trigger
// runs them), appended to one entry (see keep).
struct Kept {
    Oid relid = InvalidOid;
    Tuplestorestate* old_rows = nullptr;
    Tuplestorestate* new_rows = nullptr;
    bool truncated = false;
    int firings = 1;
    // Of an UPDATE's rows: the bits (core::changed_column_bit, by the relation's attribute
    // numbers) of the columns some updated row changed. None: rows of an insert or delete, or
    // an update whose old and new rows differ in number. A stream table using none of those
    // columns has nothing to do (Maintainer::maintain): each old row equals a new one in every
    // column it reads.
    std::optional<std::uint64_t> changed;
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
    std::size_t sealed = 0;  // entries before this one are read by maintenance: not appended to
};
State state;

// Stream tables a refresh is recomputing while it empties them (SkipMaintenance): their
// recomputation reads what writes by triggers meanwhile made.
std::set<std::int64_t> skipped;

// Frees the copies of kept rows from `from` on (their memory, and the temporary files of those
// that spilled), and forgets them: maintenance used them, or their subtransaction aborted. Each
// writing statement of a transaction kept its own copies until the transaction ended: tens of
// kilobytes per one-row statement, and temporary files that warned as leaked at commit.
// (Plain calls: this runs in transaction callbacks too, before the resource owners release
// the files.)
void release_kept(std::size_t from = 0) {
    for (std::size_t i = from; i < state.kept.size(); ++i) {
        if (state.kept[i].old_rows != nullptr)
            tuplestore_end(state.kept[i].old_rows);
        if (state.kept[i].new_rows != nullptr)
            tuplestore_end(state.kept[i].new_rows);
    }
    state.kept.resize(std::min(from, state.kept.size()));
    state.sealed = std::min(state.sealed, state.kept.size());
}

void clear_state() {
    skipped.clear();
    state.in_flight = 0;
    state.maintaining = false;
    release_kept();
    state.marks.clear();
    state.sealed = 0;
}

// A copy of a transition table that outlives the statement (and nested query levels), or its
// rows appended to `into`. (Made under the transaction's resource owner, which the tuplestore
// keeps for the files it spills to.)
Tuplestorestate* keep_rows(Tuplestorestate* rows, TupleDesc desc, Tuplestorestate* into = nullptr) {
    if (rows == nullptr || tuplestore_tuple_count(rows) == 0)
        return into;
    return pg_call([&] {
        Tuplestorestate* copy = into;
        if (copy == nullptr) {
            MemoryContext old_context = MemoryContextSwitchTo(TopTransactionContext);
            ResourceOwner old_owner = CurrentResourceOwner;
            CurrentResourceOwner = TopTransactionResourceOwner;
            copy = tuplestore_begin_heap(false, false, work_mem);
            CurrentResourceOwner = old_owner;
            MemoryContextSwitchTo(old_context);
        }
        TupleTableSlot* slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
        tuplestore_rescan(rows);
        while (tuplestore_gettupleslot(rows, true, false, slot))
            tuplestore_puttupleslot(copy, slot);
        ExecDropSingleTupleTableSlot(slot);
        return copy;
    });
}

// The columns an UPDATE firing's rows changed (Kept::changed).
std::optional<std::uint64_t> changed_columns(Tuplestorestate* old_rows, Tuplestorestate* new_rows,
                                             TupleDesc desc) {
    if (old_rows == nullptr || new_rows == nullptr ||
        tuplestore_tuple_count(old_rows) != tuplestore_tuple_count(new_rows))
        return std::nullopt;
    return pg_call([&] {
        std::uint64_t bits = 0;
        TupleTableSlot* o = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
        TupleTableSlot* n = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
        tuplestore_rescan(old_rows);
        tuplestore_rescan(new_rows);
        while (tuplestore_gettupleslot(old_rows, true, false, o) &&
               tuplestore_gettupleslot(new_rows, true, false, n)) {
            slot_getallattrs(o);
            slot_getallattrs(n);
            for (int j = 0; j < desc->natts; ++j) {
                Form_pg_attribute att = TupleDescAttr(desc, j);
                if (att->attisdropped)
                    continue;
                const std::uint64_t bit = core::changed_column_bit(j + 1);
                if ((bits & bit) == 0 &&
                    !same_column_value(o->tts_values[j], o->tts_isnull[j], n->tts_values[j],
                                       n->tts_isnull[j], att))
                    bits |= bit;
            }
        }
        ExecDropSingleTupleTableSlot(o);
        ExecDropSingleTupleTableSlot(n);
        return bits;
    });
}

// Keeps one AFTER trigger firing's rows: appended to the last entry when that is of the same
// relation, made in the current subtransaction (whose abort drops whole entries) and not read
// by maintenance yet. A delta then reads one relation per source and action, not one per
// nested statement (thousands, for a row trigger writing a source row by row).
void keep(Oid relid, bool truncated, Tuplestorestate* old_rows, Tuplestorestate* new_rows,
          TupleDesc desc) {
    const std::size_t floor = state.marks.empty() ? 0 : state.marks.back().kept;
    if (!truncated && !state.kept.empty() &&
        state.kept.size() - 1 >= std::max(floor, state.sealed)) {
        Kept& last = state.kept.back();
        if (last.relid == relid && !last.truncated) {
            // (Not compared when the entry's changed columns are not known anyway.)
            const std::optional<std::uint64_t> changed =
                last.changed ? changed_columns(old_rows, new_rows, desc) : std::nullopt;
            // (Counted first: rows of two firings are never taken for one firing's.)
            ++last.firings;
            last.old_rows = keep_rows(old_rows, desc, last.old_rows);
            last.new_rows = keep_rows(new_rows, desc, last.new_rows);
            // (Paired firing by firing: the rows of each go to the ends of both.)
            last.changed = last.changed && changed
                               ? std::optional<std::uint64_t>(*last.changed | *changed)
                               : std::nullopt;
            return;
        }
    }
    const std::optional<std::uint64_t> changed =
        truncated ? std::nullopt : changed_columns(old_rows, new_rows, desc);
    Kept k;
    k.relid = relid;
    k.truncated = truncated;
    k.old_rows = keep_rows(old_rows, desc);
    k.new_rows = keep_rows(new_rows, desc);
    k.changed = changed;
    if (k.truncated || k.old_rows || k.new_rows)
        state.kept.push_back(k);
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

// What maintaining one stream table needs, built once per backend and kept while its
// defining query, storage and sources stay the same (see Cache).
struct Prepared {
    std::string defining_query;  // the plan below is for this text
    Oid storage = InvalidOid;
    Oid owner = InvalidOid;
    std::string qualified_name;
    std::optional<core::DeltaPlan> plan;
    std::set<Oid> sources;  // relations it reads (catalog dependencies)
    std::map<Oid, std::vector<std::string>> columns_used;  // of each source (Dependency)
    std::string display_name;
    std::map<std::string, SPIPlanPtr> deltas;  // delta statement text -> kept plan
    // The plan applies increments (DeltaPlan::relative_apply): no stream-table-wide lock.
    bool relative = false;
    // Whether the stored rows are identified as the plan identifies them (row_identity_holds):
    // unknown until the first maintenance.
    std::optional<bool> identity_holds;
    std::map<std::string, std::string> sql_by_shape;  // shape of a change -> delta statement
    std::map<Oid, std::uint64_t> used_bits;           // see used_bits()
};

// Per-backend cache of Prepared entries and of "which stream tables, in which order, does a
// change of these relations reach". A relcache invalidation of any relation the cache knows
// (a source, a storage table; or of all relations) marks it stale: it is emptied before its
// next use. Creating, altering or dropping an IMMEDIATE stream table always invalidates its
// sources (sync_immediate_triggers), and each use checks the defining query and storage the
// catalog row holds now.
struct Cache {
    std::map<std::int64_t, Prepared> tables;
    std::map<std::string, std::vector<std::int64_t>> orders;  // key: the changed relids
    std::set<Oid> known;
    bool stale = false;

    void flush() {
        for (auto& [id, p] : tables)
            for (auto& [sql, plan] : p.deltas)
                Spi::free_kept(plan);
        tables.clear();
        orders.clear();
        known.clear();
        stale = false;
    }
};
Cache cache;

// The refresh_mode column as maintenance reads it: 'ERROR' for a stream table in ERROR, which
// is not maintained (a source of its query was dropped, say: its other sources' writes must not
// fail; resuming it recomputes it).
#define MODE_UNLESS_ERROR "CASE WHEN status = 'ERROR' THEN 'ERROR' ELSE refresh_mode END"

// The bits (core::changed_column_bit, by attribute number) of the columns of source `relid` the
// plan reads, key columns included (DeltaTable::columns); every bit when not known.
std::uint64_t used_bits(Prepared& p, Oid relid) {
    if (auto it = p.used_bits.find(relid); it != p.used_bits.end())
        return it->second;
    std::uint64_t bits = ~std::uint64_t{0};
    for (const auto& t : p.plan->tables) {
        if (t.relid != relid)
            continue;
        bits = 0;
        for (const auto& c : t.columns) {
            const AttrNumber a = pg_call([&] { return get_attnum(relid, c.name.c_str()); });
            bits |= a == InvalidAttrNumber ? ~std::uint64_t{0} : core::changed_column_bit(a);
        }
    }
    p.used_bits.emplace(relid, bits);
    return bits;
}

class Maintainer {
  public:
    void run() {
        // A stream table altered since this backend last looked has invalidated its sources.
        pg_call([] { AcceptInvalidationMessages(); });
        if (cache.stale)
            cache.flush();
        PinnedSettings pinned;
        // Passes: the first maintains what the statement changed. A user's trigger on a stream
        // table may write a table some IMMEDIATE stream table reads (another source, or one of
        // its own) while it is maintained; such rows are kept like any others, and a stream
        // table that was maintained before they came (or not at all) takes them in a further
        // pass, each from where its last delta left off (seen_), until none is left.
        std::size_t pass_start = 0;
        for (int pass = 1;; ++pass) {
            std::set<Oid> changed;
            for (std::size_t i = pass_start; i < state.kept.size(); ++i)
                changed.insert(state.kept[i].relid);
            pass_start = state.kept.size();
            maintain_in_order(changed);
            if (!nested_writes_since(pass_start))
                break;
            if (pass == kMaxPasses)
                throw core::Error(
                    core::sqlstate::kStatementTooComplex,
                    fmt::format("IMMEDIATE maintenance did not settle after {} rounds", kMaxPasses),
                    "Triggers on stream tables kept writing tables that IMMEDIATE stream "
                    "tables read, each round changing a stream table again.",
                    "Look for a trigger on a stream table that writes one of its own sources.");
        }
        spi_.finish();
    }

  private:
    static constexpr int kMaxPasses = 64;
    static constexpr std::size_t kMaxKeptShapes = 32;

    // Whether the rows kept from `from` on that stream table `p` reads are all of updates of
    // columns it does not read (Kept::changed): nothing to do.
    static bool only_unread_updates(Prepared& p, std::size_t from) {
        return p.plan && std::all_of(state.kept.begin() + static_cast<std::ptrdiff_t>(from),
                                     state.kept.end(), [&](const Kept& k) {
                                         return !p.sources.count(k.relid) ||
                                                (!k.truncated && k.changed &&
                                                 (*k.changed & used_bits(p, k.relid)) == 0);
                                     });
    }

    // Whether rows kept from `from` on include rows of a table other than the storage of a
    // stream table this pass maintained. Those storages' rows were kept by maintenance itself,
    // and every stream table reading them came later in the pass (dependency order).
    bool nested_writes_since(std::size_t from) const {
        for (std::size_t i = from; i < state.kept.size(); ++i)
            if (!maintained_storages_.count(state.kept[i].relid))
                return true;
        return false;
    }

    // Locks and maintains the IMMEDIATE stream tables that a change of `changed` reaches.
    void maintain_in_order(const std::set<Oid>& changed) {
        maintained_storages_.clear();
        std::string key;
        for (Oid o : changed)
            key += std::to_string(o) + ",";
        auto it = cache.orders.find(key);
        if (it == cache.orders.end()) {
            it = cache.orders.emplace(key, affected_in_order(spi_, changed)).first;
            cache.known.insert(changed.begin(), changed.end());
        }
        const std::vector<std::int64_t> order = it->second;
        // What each stream table is now (its catalog row), then the locks: every stream table
        // that is not maintained by increments is locked, in pgt_id order (see the file
        // comment), and read again under the lock. One maintained by increments is not: its
        // writers meet at the rows of the groups they change.
        AsCatalogOwner owner;
        std::vector<std::int64_t> ids = order;
        std::sort(ids.begin(), ids.end());
        std::map<std::int64_t, Row> current;
        // Locks the whole stream table (its catalog row) and reads the row under the lock.
        auto lock_row = [&](std::int64_t id) {
            auto r = spi_.execute_cached(
                "UPDATE pgtrickle.pgt_stream_tables SET data_timestamp = pg_catalog.now()"
                " WHERE pgt_id = $1::bigint RETURNING " MODE_UNLESS_ERROR
                ", defining_query,"
                " pgt_relid::pg_catalog.text",
                {std::to_string(id)});
            if (!r.empty() && r.rows[0][0] == Value("IMMEDIATE"))
                current.emplace(id, r.rows[0]);
        };
        constexpr const char* kReadRow =
            "SELECT " MODE_UNLESS_ERROR
            ", defining_query, pgt_relid::pg_catalog.text"
            " FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint";
        // Storages of the stream tables maintained in this pass (unknown: not all are cached):
        // their maintenance may keep rows another one reads.
        std::optional<std::set<Oid>> storages{std::set<Oid>{}};
        for (auto id : order) {
            auto known = cache.tables.find(id);
            if (known == cache.tables.end()) {
                storages.reset();
                break;
            }
            storages->insert(known->second.storage);
        }
        for (auto id : ids) {
            // Known (the cache is current, see above): one taking increments needs only the
            // shared lock, taken directly while nobody holds it exclusively; any other only
            // its row lock.
            if (auto known = cache.tables.find(id); known != cache.tables.end()) {
                // Nothing to do (only updates of columns it does not read), and no other
                // stream table of this pass feeds it: neither locked nor maintained.
                Prepared& p = known->second;
                if (storages &&
                    std::none_of(p.sources.begin(), p.sources.end(),
                                 [&](Oid s) { return storages->count(s) > 0; }) &&
                    only_unread_updates(p, seen_[id])) {
                    seen_[id] = state.kept.size();
                    continue;
                }
                if (!known->second.relative) {
                    lock_row(id);
                    continue;
                }
                if (try_share_lock(id)) {
                    current.emplace(id, Row{Value("IMMEDIATE"), known->second.defining_query,
                                            std::to_string(known->second.storage)});
                    continue;
                }
            }
            // Not known yet, or a refresh or recomputation holds the lock: read the row (the
            // refresh lock shared if free: writers that apply increments need it; for the
            // others it is harmless, they lock the row below, which keeps refreshes out anyway).
            auto r = spi_.execute_cached(
                "SELECT " MODE_UNLESS_ERROR
                ", defining_query, pgt_relid::pg_catalog.text,"
                " pg_catalog.pg_try_advisory_xact_lock_shared($2::integer, $1::integer)"
                " FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint",
                {std::to_string(id), kRefreshLockClass});
            if (r.empty() || r.rows[0][0] != Value("IMMEDIATE"))
                continue;  // dropped or switched away since the cache looked
            if (prepared(id, r.rows[0]).relative) {
                if (r.rows[0][3] != Value("t")) {
                    // Wait for it, then read the row again.
                    share_lock_for_increments(spi_, id);
                    r = spi_.execute_cached(kReadRow, {std::to_string(id)});
                    if (r.empty() || r.rows[0][0] != Value("IMMEDIATE"))
                        continue;
                }
                if (prepared(id, r.rows[0]).relative) {
                    current.emplace(id, r.rows[0]);
                    continue;
                }
            }
            lock_row(id);
        }
        for (auto id : order) {
            auto c = current.find(id);
            if (c != current.end() && !skipped.count(id))
                maintain(id, prepared(id, c->second));
        }
    }

    // The refresh lock of `id` in shared mode, if it can be had without waiting (the same lock
    // as pg_try_advisory_xact_lock_shared(kRefreshLockClass, id)).
    static bool try_share_lock(std::int64_t id) {
        const auto lock_class = static_cast<uint32>(std::stoul(kRefreshLockClass));
        return pg_call([&] {
            LOCKTAG tag;
            SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, lock_class, static_cast<uint32>(id), 2);
            return LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
        });
    }

    // The cache entry of stream table `id` for its catalog row (refresh_mode, defining_query,
    // pgt_relid), built again when the query or the storage changed.
    Prepared& prepared(std::int64_t id, const Row& row) {
        const std::string& query = *row[1];
        const Oid storage = static_cast<Oid>(std::stoul(*row[2]));
        auto it = cache.tables.find(id);
        if (it != cache.tables.end() && it->second.defining_query == query &&
            it->second.storage == storage)
            return it->second;
        if (it != cache.tables.end()) {
            for (auto& [sql, plan] : it->second.deltas)
                Spi::free_kept(plan);
            cache.tables.erase(it);
        }
        auto st = catalog::find_by_id(spi_, id);
        if (!st)
            throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                              fmt::format("stream table {} vanished during maintenance", id));
        Prepared p;
        p.defining_query = query;
        p.storage = storage;
        p.qualified_name = st->qualified_name();
        p.owner = relation_owner(storage);
        p.plan = analyze_differential(spi_, query).plan;
        if (p.plan) {
            p.relative = p.plan->relative_apply = core::relative_apply_possible(*p.plan);
            p.plan->per_statement = true;
        }
        for (const auto& d : catalog::dependencies(spi_, id)) {
            p.sources.insert(d.source_relid);
            p.columns_used[d.source_relid] = d.columns_used;
        }
        p.display_name = st->display_name();
        cache.known.insert(p.sources.begin(), p.sources.end());
        cache.known.insert(storage);
        return cache.tables.emplace(id, std::move(p)).first->second;
    }

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
        // What is registered is read: rows are no longer appended to it.
        state.sealed = state.kept.size();
        for (; registered_ < state.kept.size(); ++registered_) {
            pg_call([] { CHECK_FOR_INTERRUPTS(); });
            const Kept& k = state.kept[registered_];
            if (k.old_rows)
                spi_.register_tuplestore(fmt::format("__pgt_ivm_{}_old", registered_), k.relid,
                                         k.old_rows);
            if (k.new_rows)
                spi_.register_tuplestore(fmt::format("__pgt_ivm_{}_new", registered_), k.relid,
                                         k.new_rows);
        }
    }

    // Runs a delta statement through the stream table's kept plans. (`sql` is a copy: it may
    // come from p.sql_by_shape, which this can empty.)
    QueryResult run_delta(Prepared& p, const std::string sql) {
        auto it = p.deltas.find(sql);
        if (it == p.deltas.end()) {
            // Shapes name the kept relations they read, which nested statements and later
            // passes number differently: the plans kept per stream table are bounded.
            if (p.deltas.size() >= kMaxKeptShapes) {
                for (auto& [text, plan] : p.deltas)
                    Spi::free_kept(plan);
                p.deltas.clear();
                p.sql_by_shape.clear();
            }
            it = p.deltas.emplace(sql, spi_.prepare_kept(sql)).first;
        }
        return spi_.execute_plan(it->second, sql);
    }

    // Maintains stream table `id` with the kept rows of its sources it has not taken yet.
    void maintain(std::int64_t id, Prepared& p) {
        register_kept();
        maintained_storages_.insert(p.storage);
        // Rows kept from here on come from statements after this delta's snapshot (the
        // triggers its own writes fire): a later pass takes them.
        const std::size_t from = std::exchange(seen_[id], state.kept.size());
        std::map<Oid, std::vector<std::pair<std::string, char>>> rows_of;
        std::map<Oid, int> firings;  // AFTER trigger firings that kept rows of each source
        bool truncated = false;
        for (std::size_t i = from; i < state.kept.size(); ++i) {
            const Kept& k = state.kept[i];
            if (!p.sources.count(k.relid))
                continue;
            truncated = truncated || k.truncated;
            firings[k.relid] += k.firings;
            auto& rel = rows_of[k.relid];
            if (k.old_rows)
                rel.emplace_back(fmt::format("__pgt_ivm_{}_old", i), 'D');
            if (k.new_rows)
                rel.emplace_back(fmt::format("__pgt_ivm_{}_new", i), 'I');
        }
        if (rows_of.empty())
            return;
        if (only_unread_updates(p, from))
            return;
        AsOwner as_owner(p.owner);
        // The changes are read from the statements' transition tables, which no privilege
        // guards: the owner must still be allowed to read the sources they come from (as
        // their query over those sources would check).
        for (const auto& [relid, rows] : rows_of)
            check_owner_reads(spi_, p.owner, relid, p.columns_used[relid], p.display_name);
        InternalWrite allow_write(p.storage);
        // A primary key added to a source or dropped since the rows were written changes how
        // they are identified (DeltaPlan::key_columns): rebuilt whole under the new identity,
        // as a refresh does.
        if (p.plan && !p.identity_holds)
            p.identity_holds = row_identity_holds(spi_, *p.plan, p.storage, p.qualified_name);
        const bool relayout = p.plan && !*p.identity_holds;
        if (p.plan && !truncated && !relayout) {
            // The delta statement for this shape of change (which sources changed, read from
            // which kept relations, consolidated or not) is generated once.
            std::string shape;
            for (const auto& t : p.plan->tables) {
                auto it = rows_of.find(static_cast<Oid>(t.relid));
                if (it == rows_of.end() || it->second.empty())
                    continue;
                shape += fmt::format("{}{}", t.relid,
                                     firings[static_cast<Oid>(t.relid)] == 1 ? "n" : "c");
                for (const auto& [name, action] : it->second)
                    shape += ":" + name + action;
                shape += ";";
            }
            if (shape.empty())
                return;  // only TRUNCATE-free statements that changed no row
            auto sit = p.sql_by_shape.find(shape);
            if (sit == p.sql_by_shape.end()) {
                core::DeltaPlan plan = *p.plan;
                for (auto& t : plan.tables) {
                    auto it = rows_of.find(static_cast<Oid>(t.relid));
                    t.changed = it != rows_of.end() && !it->second.empty();
                    if (t.changed) {
                        t.change_source = change_source(t, it->second);
                        // One statement's transition tables hold each row version once; rows
                        // of several statements (nested ones) are consolidated like buffered
                        // ones.
                        t.net = firings[static_cast<Oid>(t.relid)] == 1;
                    }
                }
                sit = p.sql_by_shape
                          .emplace(shape,
                                   core::apply_statement(plan, core::Frontier{}, p.qualified_name))
                          .first;
            }
            const std::string& sql = sit->second;
            if (p.relative) {
                // One table, immutable expressions: the rows that left it were evaluated when
                // they entered, so the delta raises no error the query over the table would
                // not (no subtransaction needed to fall back). It returns the row id of each
                // group it emptied (NULL for the others); a row-id collision raises inside it.
                auto r = run_delta(p, sql);
                std::string emptied;
                for (const auto& row : r.rows)
                    if (row[0])
                        emptied += (emptied.empty() ? "" : ",") + *row[0];
                if (!emptied.empty())
                    spi_.execute_cached(core::relative_cleanup(p.qualified_name),
                                        {"{" + emptied + "}"});
                return;
            }
            // As in a refresh: a row that left a source can raise a data error the query over
            // the current rows would not; then the stream table is recomputed.
            // (Not an error a user's trigger on the stream table raised.)
            Subtransaction sub;
            TriggerDepthWatch watch;
            try {
                run_delta(p, sql);
                sub.commit();
                return;
            } catch (const PgException& e) {
                if (ERRCODE_TO_CATEGORY(e.edata()->sqlerrcode) != ERRCODE_DATA_EXCEPTION ||
                    watch.raised_in_trigger())
                    throw;
            }
        }
        if (relayout)
            ensure_row_id_index(spi_, p.storage, false);
        spi_.run("DELETE FROM " + p.qualified_name);
        // The query reads the sources as they are now: rows kept by triggers the DELETE fired
        // are in it (and rows kept from now on go to new entries).
        seen_[id] = state.sealed = state.kept.size();
        spi_.run(p.plan ? core::full_insert(*p.plan, p.qualified_name)
                        : "INSERT INTO " + p.qualified_name +
                              " SELECT pg_catalog.row_number() OVER (), __pgt_q.* FROM (\n" +
                              p.defining_query + "\n) AS __pgt_q");
        if (relayout) {
            if (core::unique_row_ids(*p.plan))
                ensure_row_id_index(spi_, p.storage, true);
            p.identity_holds = true;
        }
    }

    Spi spi_;
    std::size_t registered_ = 0;
    // Per stream table, the kept rows before this index are in its contents.
    std::map<std::int64_t, std::size_t> seen_;
    // Storage tables of the stream tables the current pass maintained.
    std::set<Oid> maintained_storages_;
};

// A relcache invalidation: the cache goes stale when it may concern a relation it knows.
void relcache_changed(Datum, Oid relid) {
    if (!OidIsValid(relid) || cache.known.count(relid))
        cache.stale = true;
}

// Runs maintenance once the last statement in flight has ended.
void maintain_all() {
    state.maintaining = true;
    {
        Maintainer m;
        m.run();
    }
    release_kept();
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
        "   AND t.tgname = $2::text || 'before_' || c.oid)"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = $1::oid",
        {id, std::string(core::kImmediateTriggerPrefix)});
    if (info.empty() || *info.rows[0][1] == "v")
        return;  // gone, or a view (its base tables are sources of their own)
    const std::string qualified = *info.rows[0][0];
    const bool needed = *info.rows[0][2] == "t", present = *info.rows[0][3] == "t";
    // Backends keep what they know about IMMEDIATE stream tables per source until a relcache
    // invalidation of it: a stream table that starts or stops reading it sends one.
    if (needed || present)
        pg_call([&] { CacheInvalidateRelcacheByRelid(relid); });
    if (needed && !present) {
        if (*info.rows[0][1] == "p" || !capturable(spi, relid))
            throw core::unsupported(
                fmt::format("IMMEDIATE mode cannot maintain a stream table over {}", qualified),
                "IMMEDIATE maintenance needs statement triggers with transition tables, which "
                "only plain tables that are neither partitions nor inheritance parents have "
                "(partitioned tables are captured for DIFFERENTIAL and FULL only).",
                "Use refresh_mode => 'DIFFERENTIAL' or 'FULL'.");
        for (const auto& s : core::immediate_trigger_ddl(relid, qualified))
            spi.run(s);
    } else if (!needed && present) {
        for (const auto& s : core::drop_immediate_trigger_ddl(relid, qualified))
            spi.run(s);
    }
}

SkipMaintenance::SkipMaintenance(std::int64_t pgt_id) : pgt_id_(pgt_id) {
    skipped.insert(pgt_id);
}
SkipMaintenance::~SkipMaintenance() {
    skipped.erase(pgt_id_);
}

bool immediate_changes_pending() {
    return state.in_flight > 0 || state.maintaining || !state.kept.empty();
}

bool immediate_maintenance_running() {
    return state.maintaining;
}

void immediate_register_callbacks() {
    CacheRegisterRelcacheCallback(relcache_changed, PointerGetDatum(nullptr));
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
                release_kept(m.kept);
                state.sealed = std::min(state.sealed, state.kept.size());
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
    // A trigger named for another table's OID was restored from a dump (pg_trickle_ivm_*_<oid>):
    // the catalog may still name the old OIDs, and the stream table would silently not be
    // maintained.
    {
        auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
        const char* name = trigdata->tg_trigger->tgname;
        const char* suffix = strrchr(name, '_');
        char own[16];
        snprintf(own, sizeof(own), "%u", RelationGetRelid(trigdata->tg_relation));
        if (suffix != nullptr && strcmp(suffix + 1, own) != 0)
            ereport(ERROR,
                    (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                     errmsg("IMMEDIATE maintenance of \"%s\" is not set up for this database",
                            RelationGetRelationName(trigdata->tg_relation)),
                     errdetail("Its trigger %s was made for another table (restored from a dump).",
                               name),
                     errhint("Run SELECT pgtrickle.restore_stream_tables() as a superuser once the "
                             "restore is complete.")));
    }
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
        pgtrickle::pg::keep(RelationGetRelid(rel), TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event),
                            trigdata->tg_oldtable, trigdata->tg_newtable, RelationGetDescr(rel));
        // A BEFORE trigger this backend did not see (the triggers were created inside the
        // statement) leaves nothing to wait for.
        state.in_flight = std::max(0, state.in_flight - 1);
        if (state.in_flight == 0 && !state.maintaining && !state.kept.empty())
            pgtrickle::pg::maintain_all();
        return PointerGetDatum(nullptr);
    });
}

}  // extern "C"
