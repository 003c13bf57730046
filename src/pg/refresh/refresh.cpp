// The refresh executor.
//
// One snapshot for the whole refresh: the change buffers and the sources are read as of the
// same moment, and that snapshot becomes the new frontier (see core/cdc.hpp). Output settings
// that change how values print (DateStyle, TimeZone, extra_float_digits, ...) are pinned, because
// row identities hash values' text: a refresh by a user with other settings, or by the
// scheduler, must compute the same identities. TimeZone is pinned to UTC: time-zone-dependent
// expressions in a defining query are evaluated in UTC whoever refreshes.
#include "pg_trickle/pg/refresh.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/core/time_dependence.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/immediate.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/storage.hpp"
#include "pg_trickle/pg/worker.hpp"
#include "refresh/scopes.hpp"

extern "C" {
#include "access/xact.h"
#include "storage/lmgr.h"
}

namespace pgtrickle::pg {

namespace {

// Spi::use_snapshot for a scope.
class SnapshotScope {
  public:
    SnapshotScope(Spi& spi, Snapshot s) : spi_(spi) { spi_.use_snapshot(s); }
    ~SnapshotScope() { spi_.use_snapshot(nullptr); }
    SnapshotScope(const SnapshotScope&) = delete;
    SnapshotScope& operator=(const SnapshotScope&) = delete;

  private:
    Spi& spi_;
};

// The frontier this refresh records. `full_reader` (core::Frontier): trims may not wait for it;
// also when the stored frontier had it and was written by this same transaction.
std::string frontier_now(Spi& spi, std::int64_t seq_start,
                         const std::optional<std::string>& buffer_epoch, bool full_reader,
                         const std::optional<core::Frontier>& stored) {
    auto r = spi.execute_cached(
        "SELECT pg_catalog.pg_current_snapshot()::text, pg_catalog.pg_current_xact_id()::text");
    core::Frontier f;
    f.snapshot = *r.rows[0][0];
    f.own_xid = r.rows[0][1];
    f.own_seq = seq_start;
    f.buffer_epoch = buffer_epoch;
    f.full_reader = full_reader || (stored && stored->full_reader && stored->own_xid == f.own_xid);
    f.system = std::to_string(pg_call([] { return GetSystemIdentifier(); }));
    return f.to_json();
}

// The xmax of frontier `f`'s snapshot (every transaction from it on was running or not yet
// started when that refresh took it), if its text has one.
std::optional<std::uint64_t> snapshot_xmax(const core::Frontier& f) {
    const auto colon = f.snapshot.find(':');
    if (colon == std::string::npos)
        return std::nullopt;
    return std::stoull(f.snapshot.substr(colon + 1));
}

// Whether frontier `f` was written by another cluster: one whose system identifier it records,
// or whose transactions it has seen this cluster has not reached yet (a frontier restored by
// pg_dump before identifiers were recorded). Its snapshot then hides changes made here.
bool foreign_frontier(const core::Frontier& f) {
    if (f.system && *f.system != std::to_string(pg_call([] { return GetSystemIdentifier(); })))
        return true;
    const auto xmax = snapshot_xmax(f);
    if (!xmax)
        return true;
    const std::uint64_t next =
        pg_call([] { return U64FromFullTransactionId(ReadNextFullTransactionId()); });
    return *xmax > next;
}

std::int64_t count_of(const Value& v) {
    return v ? std::stoll(*v) : 0;
}

// The size of relid's change buffer: its pages now, and its pages and rows at its last VACUUM or
// ANALYZE (pg_class.relpages, reltuples; 0 and -1 when none has run). Zero pages: no buffer.
struct BufferSize {
    std::int64_t pages = 0;
    std::int64_t analyzed_pages = 0;
    double analyzed_rows = -1;
};

BufferSize buffer_size(std::uint32_t relid) {
    const Oid rel = buffer_oid(relid);
    BufferSize out;
    if (!OidIsValid(rel))
        return out;
    pg_call([&] {
        Relation r = relation_open(rel, AccessShareLock);
        out.pages = RelationGetNumberOfBlocks(r);
        out.analyzed_pages = r->rd_rel->relpages;
        out.analyzed_rows = r->rd_rel->reltuples;
        relation_close(r, NoLock);
    });
    return out;
}

std::int64_t buffer_pages(std::uint32_t relid) {
    return buffer_size(relid).pages;
}

// A source's schema-qualified name, for messages (its OID when it has gone).
std::string relation_name(std::uint32_t relid) {
    const char* name = pg_call([&]() -> const char* {
        const char* rel = get_rel_name(relid);
        return rel == nullptr
                   ? nullptr
                   : quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
    });
    return name == nullptr ? std::to_string(relid) : std::string(name);
}

// The changes in relid's buffer that `prev` has not consumed, counted up to `cap` (the scan
// stops there).
std::int64_t unconsumed_changes(Spi& spi, std::uint32_t relid, const core::Frontier& prev,
                                std::int64_t cap) {
    core::Frontier from = prev;
    from.as_parameters = true;
    auto params = core::frontier_parameters(prev);
    params.push_back(std::to_string(cap));
    return count_of(
        spi.execute_cached(
               fmt::format("SELECT pg_catalog.count(*) FROM (SELECT 1 FROM {} b "
                           "WHERE {} LIMIT $4::pg_catalog.int8) x",
                           core::buffer_table(relid), core::unconsumed_predicate(from, "b")),
               params)
            .scalar());
}

// The rows of relid's buffer, estimated from its pages now and its rows per page at its last
// ANALYZE or VACUUM, when `prev` has consumed none of them: the buffer floor (worker.hpp) is at
// or past the xmax of its snapshot, so every row has an xid that snapshot did not see (but rows
// of the refresh's own transaction up to its own_seq, consumed: DML and a refresh in one
// transaction; and the estimate counts dead rows too: it may come out high, and then only raises
// work_mem). Else (or without statistics) nothing.
std::optional<double> all_unconsumed_estimate(std::uint32_t relid, const core::Frontier& prev) {
    const auto xmax = snapshot_xmax(prev);
    const uint64 floor = pg_call([&] { return worker::buffer_floor(relid); });
    if (!xmax || floor == 0 || *xmax > floor)
        return std::nullopt;
    const BufferSize size = buffer_size(relid);
    if (size.analyzed_pages <= 0 || size.analyzed_rows < 0)
        return std::nullopt;
    return static_cast<double>(size.pages) * size.analyzed_rows /
           static_cast<double>(size.analyzed_pages);
}

// Whether the relations' buffers hold more than n changes together that `prev` has not
// consumed. Buffers too small to hold that many rows are not read. With `estimate`, a buffer
// every row of which is unconsumed is not read either: its rows are estimated from its size
// (all_unconsumed_estimate; a count of 10,000 rows costs about 2 ms, a tenth of a small delta).
bool unconsumed_more_than(Spi& spi, const std::vector<std::uint32_t>& relids,
                          const core::Frontier& prev, std::int64_t n, bool estimate = false) {
    std::int64_t pages = 0;
    for (const std::uint32_t relid : relids)
        pages += buffer_pages(relid);
    if (pages * MaxHeapTuplesPerPage <= n)
        return false;
    std::int64_t seen = 0;
    for (const std::uint32_t relid : relids) {
        const auto rows = estimate ? all_unconsumed_estimate(relid, prev) : std::nullopt;
        seen += rows ? static_cast<std::int64_t>(*rows)
                     : unconsumed_changes(spi, relid, prev, n + 1 - seen);
        if (seen > n)
            return true;
    }
    return false;
}

// ANALYZE of a change buffer samples 3,000 rows (default_statistics_target 10): enough for the
// delta's estimates, a fraction of a full sample's cost (36,000 buffered lineitem changes: 12 ms
// against 100 ms).
class BufferSampleSettings : GucScope {
  public:
    BufferSampleSettings() {
        pg_call([] { set("default_statistics_target", "10"); });
    }
};

// pg_trickle.analyze_before_delta: ANALYZEs the change buffers the delta reads whose size has
// moved far (twice or half) from the size their statistics were taken at, or that have none.
// Autovacuum rarely does: a buffer is trimmed as often as it is filled. Without, the delta of
// a join is planned for a buffer of another size, with other keys (TPC-H Q9 in a session that
// refreshes again and again: 200 ms against 95 ms). Buffers under 16 pages are left as they are.
// A buffer another transaction is analyzing is skipped.
// A differential refresh reads change buffers, not its sources, so no statement checks that the
// stream table's owner may still read them: checked here (a FULL refresh's query checks it, as
// REFRESH MATERIALIZED VIEW does).
// The owner also reads the sources' change buffers, which capture grants to the owners of the
// stream tables reading them: a stream table given another owner (ALTER TABLE ... OWNER TO,
// REASSIGN OWNED) has them granted here, at its first refresh.
void check_owner_reads(Spi& spi, const StreamTable& st) {
    const Oid owner = relation_owner(st.relid);
    for (const auto& d : catalog::dependencies(spi, st.pgt_id)) {
        check_owner_reads(spi, owner, d.source_relid, d.columns_used, st.display_name());
        const Oid buffer = buffer_oid(d.source_relid);
        // (Granted column by column, the source columns the owner may read: any column
        // granted means capture has seen this owner. The buffer's owner, and any superuser,
        // is granted none and needs none: pg_attribute_aclcheck_all does not know that.)
        if (OidIsValid(buffer) && !pg_call([&] { return superuser_arg(owner); }) &&
            owner != relation_owner(buffer) &&
            pg_call([&] {
                return pg_attribute_aclcheck_all(buffer, owner, ACL_SELECT, ACLMASK_ANY);
            }) != ACLCHECK_OK)
            sync_capture(spi, d.source_relid);
    }
}

void analyze_stale_buffers(Spi& spi, const core::DeltaPlan& plan) {
    for (const auto& t : plan.tables) {
        if (!t.changed || !t.change_source.empty())
            continue;
        const BufferSize size = buffer_size(t.relid);
        const bool stale =
            size.pages >= 16 && (size.analyzed_pages <= 0 || size.pages > 2 * size.analyzed_pages ||
                                 2 * size.pages < size.analyzed_pages);
        if (!stale)
            continue;
        AsCatalogOwner owner;
        BufferSampleSettings sample;
        spi.run("ANALYZE (SKIP_LOCKED) " + core::buffer_table(t.relid));
    }
}

// A delta of more changes than this is a large one (pg_trickle.merge_work_mem_mb).
constexpr std::int64_t kLargeDeltaChanges = 10000;

// Why this refresh should be FULL: some source changed more than differential_max_change_ratio
// of its rows since the last refresh (counting stops at the threshold, so this stays cheap).
// Sources never analyzed (no row estimate) do not trigger it.
std::string change_ratio_exceeded(Spi& spi, const std::vector<std::uint32_t>& relids,
                                  const core::Frontier& prev) {
    for (auto relid : relids) {
        Value est =
            // (A partitioned table's rows are its leaf partitions', each analyzed on its own;
            // with one of them never analyzed, not known.)
            spi.execute_cached(
                   "SELECT CASE WHEN c.relkind <> 'p' THEN c.reltuples"
                   "  ELSE (SELECT CASE WHEN pg_catalog.min(l.reltuples) < 0 THEN -1"
                   "               ELSE pg_catalog.sum(l.reltuples) END"
                   "        FROM pgtrickle._partition_tree(c.oid) t"
                   "        JOIN pg_catalog.pg_class l ON l.oid = t.relid WHERE t.leaf) END"
                   " FROM pg_catalog.pg_class c WHERE c.oid = $1::oid",
                   {std::to_string(relid)})
                .scalar();
        double rows = est ? std::stod(*est) : -1;
        if (rows <= 0)
            continue;
        auto limit = static_cast<std::int64_t>(rows * guc::differential_max_change_ratio) + 1;
        // Not counted when the buffer cannot hold that many rows, consumed ones included: each
        // takes at least a tuple header, xid, seq and action, and a line pointer (157 to an 8 kB
        // page). A count of 37,000 buffered TPC-H lineitem changes against a limit of 90,000
        // took 10 ms, 40% of the refresh.
        constexpr double kMinBufferRow =
            MAXALIGN(MAXALIGN(SizeofHeapTupleHeader) + 2 * sizeof(int64) + 1) + sizeof(ItemIdData);
        const double max_rows = static_cast<double>(buffer_pages(relid)) *
                                std::floor((BLCKSZ - SizeOfPageHeaderData) / kMinBufferRow);
        if (max_rows < static_cast<double>(limit))
            continue;
        if (unconsumed_changes(spi, relid, prev, limit) >= limit) {
            return fmt::format(
                "more than {:.0f}% of the rows of a source changed (limit "
                "pg_trickle.differential_max_change_ratio = {})",
                guc::differential_max_change_ratio * 100, guc::differential_max_change_ratio);
        }
    }
    return {};
}

// Below this much time lost, a slower delta is noise, not a reason to switch (tiny tables).
constexpr double kCostModelMinLossMs = 50;
// After this many refreshes FULL in a row on the cost model's word, DIFFERENTIAL is tried again
// (the data, or the change rate, may have moved since).
constexpr int kCostModelRetryAfter = 15;

// Why this refresh should be FULL by the cost model: the stream table's last DIFFERENTIAL refresh
// took at least cost_model_safety_margin times its last FULL one, and 50 ms more.
std::string cost_model_prefers_full(Spi& spi, std::int64_t pgt_id) {
    AsCatalogOwner owner;
    auto r = spi.execute_cached(R"sql(
SELECT h.action, h.was_full_fallback,
       extract(epoch FROM h.end_time - h.start_time) * 1000, s.last_full_ms
FROM pgtrickle.pgt_stream_tables s
JOIN pgtrickle.pgt_refresh_history h USING (pgt_id)
WHERE s.pgt_id = $1::bigint AND h.status = 'COMPLETED' AND h.action IN ('DIFFERENTIAL', 'FULL')
ORDER BY h.refresh_id DESC LIMIT 32)sql",
                                {std::to_string(pgt_id)});
    int full_in_a_row = 0;
    for (const auto& row : r.rows) {
        if (row[0] == Value("FULL")) {
            if (row[1] != Value("t"))
                return {};  // (a FULL refresh of its own: the next one is DIFFERENTIAL's test)
            ++full_in_a_row;
            continue;
        }
        if (full_in_a_row >= kCostModelRetryAfter || !row[2] || !row[3])
            return {};
        const double diff_ms = std::stod(*row[2]);
        const double full_ms = std::stod(*row[3]);
        if (diff_ms < full_ms * guc::cost_model_safety_margin ||
            diff_ms - full_ms < kCostModelMinLossMs)
            return {};
        return fmt::format(
            "its last differential refresh took {:.0f} ms, more than its last full refresh "
            "({:.0f} ms) times pg_trickle.cost_model_safety_margin ({})",
            diff_ms, full_ms, guc::cost_model_safety_margin);
    }
    return {};
}

bool data_error(const PgException& e) {
    return ERRCODE_TO_CATEGORY(e.edata()->sqlerrcode) == ERRCODE_DATA_EXCEPTION;
}

// Whether an error of a delta statement that evaluates row versions no refresh saw (the Lean
// form, change filters) may be that version's doing, so that the next, more exact form is worth
// running: anything but a cancellation or shutdown, a lock or serialization failure, a system
// error or an internal one (corruption included), which the next form would meet as well, or
// should be seen. A function of the user's called by the query may raise any error for a row
// it never sees otherwise, and a row updated many times between refreshes is evaluated as many
// times by the Lean form (out of memory, temp_file_limit).
bool retry_after(const PgException& e) {
    const int code = e.edata()->sqlerrcode;
    const int category = ERRCODE_TO_CATEGORY(code);
    return category != ERRCODE_TRANSACTION_ROLLBACK && category != ERRCODE_OPERATOR_INTERVENTION &&
           category != ERRCODE_SYSTEM_ERROR && category != ERRCODE_INTERNAL_ERROR &&
           code != ERRCODE_LOCK_NOT_AVAILABLE;
}

// The sizes of the change buffers a delta statement reads, in steps of 4x pages: a plan made
// when a buffer held a few rows (nested loops over them) is not reused once it holds thousands.
// (PostgreSQL plans a kept statement again when a table it reads is altered or analyzed, not
// when it grows.)
std::string buffer_size_classes(const core::DeltaPlan& plan) {
    std::string out;
    for (const auto& t : plan.tables) {
        if (!t.changed || !t.change_source.empty())
            continue;
        std::int64_t pages = buffer_pages(t.relid);
        int size_class = 0;
        for (; pages > 1; pages >>= 2)
            ++size_class;
        out += fmt::format("{}:{} ", t.relid, size_class);
    }
    return out;
}

// Marks unchanged each table of the plan none of whose changes meets its change filter, and says
// whether no table is left changed. A data error raised by a filter (over a row version no
// refresh saw, see DeltaTable::change_filter) leaves every table as it was.
bool filter_unchanged(Spi& spi, Oid storage, core::DeltaPlan& plan, const core::Frontier& prev) {
    const std::string query = core::filtered_changes_query(plan, prev);
    if (query.empty())
        return false;
    std::optional<QueryResult> r;
    {
        AsOwner as_owner(relation_owner(storage));  // (as the delta: the query's owner)
        Subtransaction sub;
        try {
            r = spi.execute(query);
            sub.commit();
        } catch (const PgException& e) {
            if (!data_error(e) && !retry_after(e))
                throw;
            return false;  // (cannot tell: the delta decides)
        }
    }
    std::size_t i = 0;
    for (auto& t : plan.tables) {
        if (t.changed && core::filters_buffer(t))  // (filtered_changes_query's columns)
            t.changed = r->rows[0][i++] == Value("t");
    }
    return std::none_of(plan.tables.begin(), plan.tables.end(),
                        [](const core::DeltaTable& t) { return t.changed; });
}

void choose_increments(Spi& spi, Oid storage, core::DeltaPlan& plan) {
    if (!plan.relative_apply)
        return;
    if (!guc::aggregate_fast_path) {
        plan.relative_apply = false;
        return;
    }
    // (Our guards are told apart by their function, not by name.)
    auto r = spi.execute_cached(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1::oid"
        " AND tgfoid <> 'pgtrickle._pgt_guard()'::pg_catalog.regprocedure)",
        {std::to_string(storage)});
    plan.relative_apply = r.rows[0][0] != Value("t");
}

void choose_recompute(core::DeltaPlan& plan) {
    if (guc::refresh_strategy == guc::RefreshStrategy::Auto && core::recompute_cheaper(plan)) {
        plan.recompute = true;
        plan.relative_apply = false;  // (a grouped plan's recomputation writes whole rows)
        plan.recompute_reason =
            "a change to a relation read where the query is not linear in it, which the delta "
            "would evaluate whole twice";
    }
}

// Whether the transaction ends with the statement running this refresh: a SELECT sent on its
// own, outside a transaction block (BEGIN ... COMMIT, or a multi-statement query string) and
// any savepoint. Not a CALL or a DO block, whose procedure may go on working and commit later.
// (A SELECT that goes on long after the refresh, or a pipeline of statements before their Sync
// message, would hold the lock until it ends.)
bool statement_ends_transaction() {
    return pg_call([] {
        return !IsTransactionBlock() && GetCurrentTransactionNestLevel() == 1 &&
               ActivePortal != nullptr && ActivePortal->commandTag == CMDTAG_SELECT;
    });
}

// Trims the buffers of the captured sources of the stream table just refreshed. TRUNCATE holds
// a buffer's lock, and its writers, to the end of the transaction: a scheduled refresh's ends
// right after, and so does a manual one's run by a SELECT of its own
// (statement_ends_transaction). Otherwise the rows are deleted.
void trim_captured(Spi& spi, const std::vector<CapturedSource>& sources,
                   std::string_view initiated_by) {
    std::vector<Oid> captured;
    for (const auto& s : sources)
        if (s.captured)
            captured.push_back(s.relid);
    trim_buffers(spi, captured, initiated_by == "SCHEDULER" || statement_ends_transaction());
}

}  // namespace

void choose_apply(Spi& spi, Oid storage, core::DeltaPlan& plan) {
    choose_increments(spi, storage, plan);
    choose_recompute(plan);
}

void lock_for_recompute(Spi& spi, std::int64_t pgt_id) {
    spi.run("SELECT pg_catalog.pg_advisory_xact_lock($1::integer, $2::integer)",
            {kRefreshLockClass, std::to_string(pgt_id)});
}

void share_lock_for_increments(Spi& spi, std::int64_t pgt_id) {
    spi.execute_cached("SELECT pg_catalog.pg_advisory_xact_lock_shared($1::integer, $2::integer)",
                       {kRefreshLockClass, std::to_string(pgt_id)});
}

bool try_lock_for_refresh(Spi& spi, std::int64_t pgt_id) {
    const std::string id = std::to_string(pgt_id);
    Value got =
        spi.execute_cached("SELECT pg_catalog.pg_try_advisory_xact_lock($1::integer, $2::integer)",
                           {kRefreshLockClass, id})
            .scalar();
    if (!got || *got != "t")
        return false;
    AsCatalogOwner owner;
    auto row = spi.execute_cached(
        "SELECT 1 FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint"
        " FOR UPDATE SKIP LOCKED",
        {id});
    return !row.empty();
}

void check_owner_reads(Spi& spi, Oid owner, Oid relid, const std::vector<std::string>& columns,
                       const std::string& stream_table) {
    const bool readable = pg_call([&] {
        if (pg_class_aclcheck(relid, owner, ACL_SELECT) == ACLCHECK_OK)
            return true;
        if (columns.empty())
            return pg_attribute_aclcheck_all(relid, owner, ACL_SELECT, ACLMASK_ANY) == ACLCHECK_OK;
        for (const auto& c : columns) {
            const AttrNumber att = get_attnum(relid, c.c_str());
            if (att == InvalidAttrNumber ||
                pg_attribute_aclcheck(relid, att, owner, ACL_SELECT) != ACLCHECK_OK)
                return false;
        }
        return true;
    });
    if (readable)
        return;
    const std::string table = relation_name(relid);
    const std::string role = spi.execute("SELECT $1::oid::regrole::text", {std::to_string(owner)})
                                 .scalar()
                                 .value_or(std::to_string(owner));
    throw core::Error(core::sqlstate::kInsufficientPrivilege,
                      fmt::format("permission denied for table {}", table),
                      fmt::format("Stream table {} is maintained as its owner, {}, who may no "
                                  "longer read {}.",
                                  stream_table, role, table),
                      fmt::format("GRANT SELECT ON {} TO {}, or give the stream table another "
                                  "owner.",
                                  table, role));
}

namespace {}  // namespace

// Before a stream table that writers have not been maintaining is computed as IMMEDIATE
// (created so, switched to it, resumed from ERROR): its sources locked against writers, after
// waiting for those in progress. A writer whose statements ended before the stream table was
// IMMEDIATE (another IMMEDIATE stream table's triggers already on the source, so that no
// CREATE TRIGGER waited for it) did not maintain it; if it committed after the snapshot the
// computation reads, the stream table would lack its rows for good. The lock is held to the
// end of the transaction: writers starting meanwhile wait, then maintain it. (Under REPEATABLE
// READ or SERIALIZABLE the transaction's snapshot may be older than the wait: refresh reads
// with one taken after it.) Not for one writers maintain: they hold its lock (catalog row or
// refresh lock) until they commit, and the recomputation waits for that; waiting here for them
// while holding that lock could deadlock with their next statement.
void wait_for_source_writers(Spi& spi, const StreamTable& st, const std::set<Oid>& maintained) {
    for (const auto& dep : catalog::dependencies(spi, st.pgt_id)) {
        if (dep.source_type == "VIEW" || maintained.count(dep.source_relid))
            continue;  // (a view's tables are sources of their own)
        const Oid relid = dep.source_relid;
        pg_call([&] { LockRelationOid(relid, ShareLock); });
    }
}

RefreshResult refresh(Spi& spi, const StreamTable& given, std::string_view initiated_by,
                      bool force_full) {
    // An IMMEDIATE stream table's recomputation reads the sources as they are now, and the rows
    // a statement in progress keeps for its maintenance would then be applied on top of it
    // (refresh, resume, alter, repair called from a trigger on a source).
    if (given.refresh_mode == "IMMEDIATE" && immediate_changes_pending())
        throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                          fmt::format("cannot recompute IMMEDIATE stream table {} inside a "
                                      "statement that changes tables IMMEDIATE stream tables "
                                      "read",
                                      given.display_name()),
                          "It is called from a trigger; the statement's changes are applied to "
                          "IMMEDIATE stream tables when it ends.",
                          "Run it after the statement.");
    // Read the row again now that the caller holds the refresh lock: a refresh that committed
    // since the caller looked has moved the frontier, and this one must continue from it (under
    // REPEATABLE READ the caller's FOR UPDATE already raised a serialization failure instead).
    auto reloaded = catalog::find_by_id(spi, given.pgt_id);
    const StreamTable& st = reloaded ? *reloaded : given;
    const auto start = std::chrono::steady_clock::now();
    RefreshResult result;
    PinnedSettings pinned;
    // Whether capture is on, read before the snapshot: a write made while a capture trigger
    // was off committed before the ENABLE did (which waited for it), so a snapshot taken after
    // seeing capture on sees that write too.
    auto sources = captured_sources(spi, st.pgt_id);
    // Changes this transaction writes from now on get larger sequence numbers: the frontier
    // tells them apart from the ones this refresh consumes.
    const std::int64_t seq_start = std::stoll(
        *spi.execute_cached("SELECT pg_catalog.nextval('pgtrickle_changes.change_seq')").scalar());
    // (An IMMEDIATE stream table's computation reads what committed before it got its locks
    // (wait_for_source_writers, and the refresh lock writers hold), also when the transaction's
    // own snapshot is older.)
    RegisteredSnapshot snapshot(st.refresh_mode == "IMMEDIATE" &&
                                pg_call([] { return IsolationUsesXactSnapshot(); }));

    // A query without sources never changes: vacuously "all captured".
    bool all_captured = true;
    std::vector<std::uint32_t> relids;
    for (const auto& s : sources) {
        all_captured = all_captured && s.captured;
        relids.push_back(s.relid);
    }
    std::optional<core::Frontier> prev;
    if (st.frontier)
        prev = core::Frontier::from_json(*st.frontier);
    const std::optional<core::Frontier> stored = prev;  // (prev may be dropped below)
    const bool foreign = prev && foreign_frontier(*prev);
    if (foreign)
        prev.reset();
    // Whether trims may not wait for the frontier this refresh records (core::Frontier).
    // (Without shared memory they wait for every reader: trim_buffers.)
    const bool full_reader =
        worker::available() && (st.refresh_mode != "DIFFERENTIAL" || force_full || !prev);

    std::optional<std::string> frontier;
    std::string fallback_reason;
    // A crash empties UNLOGGED buffers and starts a new epoch of them (cdc.hpp): the changes
    // since a frontier of another epoch may be gone. (Checked also when no buffer is unlogged
    // any more but the last refresh read one: it may have been made LOGGED after the crash.)
    // (An UNLOGGED source too: a crash empties it without a trigger firing.)
    std::optional<std::string> buffer_epoch;
    bool buffers_lost = false;
    const bool reads_unlogged =
        any_unlogged_buffer(relids) ||
        std::any_of(sources.begin(), sources.end(), [](const auto& s) { return s.unlogged; });
    if (reads_unlogged || (prev && prev->buffer_epoch)) {
        const UnloggedEpoch e = check_unlogged_epoch(spi, prev);
        if (reads_unlogged)
            buffer_epoch = e.epoch;
        if (e.lost) {
            prev.reset();
            buffers_lost = true;
        }
    }
    {
        SnapshotScope scope(spi, snapshot.get());
        bool changed = true, truncated = false;
        std::string trimmed_reason;
        std::set<std::uint32_t> changed_relids(relids.begin(), relids.end());
        // IMMEDIATE stream tables are exact already: a refresh of one recomputes it (FULL).
        const bool immediate = st.refresh_mode == "IMMEDIATE";
        if (all_captured && prev && st.is_populated && !force_full && !immediate) {
            core::Frontier from = *prev;
            from.as_parameters = true;
            const auto frontier_values = core::frontier_parameters(*prev);
            changed_relids.clear();
            for (const std::uint32_t relid : relids) {
                auto r =
                    spi.execute_cached(core::pending_changes_query(relid, from), frontier_values);
                if (r.rows[0][0] == Value("t"))
                    changed_relids.insert(relid);
                truncated = truncated || r.rows[0][1] == Value("t");
            }
            // Trims do not wait for FULL stream tables (trim_buffers): changes after a frontier
            // written in FULL mode may be gone. Then a FULL stream table is not told NO_DATA,
            // and one that has become DIFFERENTIAL since is refreshed FULL. (Asked after
            // reading the buffers: a trim notes itself before its deletion commits, and a
            // TRUNCATE the reads above waited for has noted itself by then.)
            // (Without shared memory, as after a restart without pg_trickle preloaded, a
            // frontier trims did not wait for has lost track: everything counts as trimmed.)
            if (prev->full_reader || (st.refresh_mode == "FULL" && worker::available())) {
                const std::uint64_t xmin = std::stoull(prev->snapshot);  // "xmin:xmax:xip"
                for (const std::uint32_t relid : relids) {
                    if (worker::available() && !worker::trimmed_past(relid, xmin))
                        continue;
                    changed_relids.insert(relid);
                    if (st.refresh_mode != "FULL") {
                        truncated = true;  // (changes may be missing: FULL)
                        trimmed_reason =
                            "changes since its last refresh may have been removed from a change "
                            "buffer (while it was created, switched to DIFFERENTIAL, resumed, "
                            "or across a restart)";
                    }
                }
            }
            changed = !changed_relids.empty();
            // A query that reads the clock or the session changes without its sources. (From
            // the catalog: parsing the query here would lock its sources, and a refresh with
            // nothing to do must not wait for, say, a TRUNCATE in progress.)
            if (!changed && core::is_time_dependent(st.functions_used))
                changed = true;
        }
        if (!changed) {
            std::string f = frontier_now(spi, seq_start, buffer_epoch, full_reader, stored);
            spi.use_snapshot(nullptr);
            catalog::record_no_data(spi, st.pgt_id, initiated_by, f);
            result.action = "NO_DATA";
            return result;
        }

        std::optional<core::DeltaPlan> plan;
        std::string unsupported_reason;
        if (st.refresh_mode == "DIFFERENTIAL" || immediate) {
            if (!immediate)  // (an IMMEDIATE stream table's refresh runs its query: checked)
                check_owner_reads(spi, st);
            auto analysis = analyze_differential(spi, st.defining_query);
            plan = std::move(analysis.plan);
            unsupported_reason = std::move(analysis.reason);
        }
        if (plan) {
            const Oid reader = immediate ? InvalidOid : relation_owner(st.relid);
            for (auto& t : plan->tables) {
                t.changed = changed_relids.count(t.relid) > 0;
                if (t.changed && !immediate)
                    t.changed_bits = changed_bits(t.relid, t.columns, reader);
            }
            // Conditions through a partner table hold while it has no change of its own.
            core::compose_change_filters(plan->tables);
        }
        // Changes that no part of the query reads (all failing the change filters) leave the
        // result as it is: the table counts as unchanged, and with no other change the refresh
        // has no data to apply.
        if (plan && changed && !truncated && all_captured && prev && st.is_populated &&
            !force_full && !immediate && !core::is_time_dependent(st.functions_used) &&
            !plan->time_dependent && filter_unchanged(spi, st.relid, *plan, *prev)) {
            std::string f = frontier_now(spi, seq_start, buffer_epoch, full_reader, stored);
            spi.use_snapshot(nullptr);
            catalog::record_no_data(spi, st.pgt_id, initiated_by, f);
            result.action = "NO_DATA";
            // The changes it passed over are consumed: when every reader's refresh ends so (an
            // update of columns none reads, again and again), only this trims them.
            trim_captured(spi, sources, initiated_by);
            return result;
        }
        // A table found unchanged there lets its partners' conditions filter the others.
        if (plan)
            core::compose_change_filters(plan->tables);
        bool differential = plan && !immediate && all_captured && prev && st.is_populated &&
                            !truncated && !force_full;
        // Its storage is laid out for the plan (row ids, running state): without one even a
        // FULL refresh would write rows no later differential refresh could find.
        if (!plan && !immediate && st.refresh_mode == "DIFFERENTIAL")
            throw core::Error(
                core::sqlstate::kFeatureNotSupported,
                fmt::format("stream table {} can no longer be maintained differentially: {}",
                            st.display_name(), unsupported_reason),
                "Something its query uses has changed since the stream table was created (a "
                "function's volatility, for example).",
                "Switch it to FULL with pgtrickle.alter_stream_table(name, refresh_mode => "
                "'FULL'), or undo the change.");
        // Rows are identified by the key the sources' primary keys give the query
        // (DeltaPlan::key_columns), and the stored ones were written with the identity the
        // query had then: after a primary key of a source was added, dropped or changed, the
        // rows are reloaded under the new identity.
        bool relayout = false;
        if (plan && !immediate && st.refresh_mode == "DIFFERENTIAL" &&
            !row_identity_holds(spi, *plan, st.relid, st.qualified_name())) {
            relayout = true;
            if (differential)
                fallback_reason =
                    "how its rows are identified changed (a primary key of a table it reads was "
                    "added, dropped or changed, or a new version of pg_trickle identifies them "
                    "otherwise)";
            differential = false;
        }
        if (!trimmed_reason.empty())
            fallback_reason = trimmed_reason;
        if (foreign && plan && !immediate && all_captured && st.is_populated && !force_full)
            fallback_reason =
                "its last refresh was recorded by another cluster (restored from a dump): the "
                "changes it had consumed cannot be told apart here";
        // A capture trigger disabled or dropped by hand (ddl/capture_switches.cpp): changes
        // are missing from its buffer. FULL, and no frontier is recorded, until it is back.
        if (plan && !immediate && st.is_populated && !force_full) {
            for (const auto& s : sources) {
                if (s.buffered && !s.captured) {
                    fallback_reason =
                        s.subscribed ? fmt::format(
                                           "{} receives rows by logical replication, whose apply "
                                           "fires no statement trigger: its changes are not "
                                           "captured",
                                           relation_name(s.relid))
                        : s.detaching
                            ? fmt::format(
                                  "a partition of {} is being detached (DETACH PARTITION "
                                  "... CONCURRENTLY, until it is finalized: ALTER TABLE "
                                  "... DETACH PARTITION ... FINALIZE)",
                                  relation_name(s.relid))
                            : fmt::format(
                                  "change capture of {} is off (a trigger of pg_trickle's "
                                  "on it is disabled or was dropped; "
                                  "pgtrickle.repair_stream_table() puts it back)",
                                  relation_name(s.relid));
                    break;
                }
            }
        }
        if (buffers_lost && plan && !immediate && all_captured && st.is_populated && !force_full)
            fallback_reason =
                "changes since its last refresh may have been lost (an UNLOGGED change buffer "
                "or source was emptied by a crash, or converted since)";
        // A hard limit on the changes a delta reads, whatever the strategy: past it, a
        // differential refresh would take longer than recomputing (and one that keeps failing
        // would let the buffer grow without end).
        if (differential && guc::max_buffer_rows > 0) {
            for (const std::uint32_t relid : relids) {
                if (changed_relids.count(relid) == 0 ||
                    !unconsumed_more_than(spi, {relid}, *prev, guc::max_buffer_rows))
                    continue;
                fallback_reason = fmt::format(
                    "the change buffer of {} holds more than {} changes since its last refresh "
                    "(pg_trickle.max_buffer_rows)",
                    relation_name(relid), guc::max_buffer_rows);
                differential = false;
                break;
            }
        }
        const auto strategy = guc::refresh_strategy;
        if (differential && strategy == guc::RefreshStrategy::Full) {
            fallback_reason = "pg_trickle.refresh_strategy = 'full'";
            differential = false;
        }
        if (differential && strategy == guc::RefreshStrategy::Auto &&
            guc::differential_max_change_ratio > 0) {
            fallback_reason = change_ratio_exceeded(spi, relids, *prev);
            differential = fallback_reason.empty();
        }
        if (differential && strategy == guc::RefreshStrategy::Auto) {
            fallback_reason = cost_model_prefers_full(spi, st.pgt_id);
            differential = fallback_reason.empty();
        }
        const std::string table = st.qualified_name();
        {
            AsOwner as_owner(relation_owner(st.relid));
            InternalWrite allow_write(st.relid);
            if (differential) {
                // A delta also evaluates the query over the rows that left the sources, and
                // such a row can raise a data error (a division by zero, a bad cast) that the
                // query over the current rows would not. The Lean statement, and the change
                // filters of both, may also evaluate a row version that was never visible to a
                // refresh: after a data error the Exact statement runs, then the Exact one
                // without change filters, and after another one the refresh is done FULL.
                choose_apply(spi, st.relid, *plan);
                plan->verify = guc::verify_deltas;
                // The frontier goes in as parameters: the same text at every refresh, whose plan
                // this backend keeps (Spi::execute_reused).
                core::Frontier from = *prev;
                from.as_parameters = true;
                const auto frontier_values = core::frontier_parameters(*prev);
                if (guc::analyze_before_delta && !plan->recompute)  // (reads no buffer)
                    analyze_stale_buffers(spi, *plan);
                const std::string buffer_sizes = buffer_size_classes(*plan);
                // The forms tried in turn (see above), each made only when the one before
                // failed, and only if it differs from those before it.
                std::vector<std::string> statements{
                    core::apply_statement(*plan, from, table, core::Consolidation::Lean)};
                int forms_made = 1;
                auto make_next_form = [&] {
                    while (forms_made < 3) {
                        std::string s;
                        if (forms_made++ == 1) {
                            s = core::apply_statement(*plan, from, table);
                        } else if (std::any_of(plan->tables.begin(), plan->tables.end(),
                                               core::filters_buffer)) {
                            core::DeltaPlan unfiltered = *plan;
                            for (auto& t : unfiltered.tables)
                                t.change_filter.clear();
                            s = core::apply_statement(unfiltered, from, table);
                        }
                        if (!s.empty() && std::find(statements.begin(), statements.end(), s) ==
                                              statements.end()) {
                            statements.push_back(std::move(s));
                            return true;
                        }
                    }
                    return false;
                };
                std::optional<QueryResult> r;
                std::string error;
                std::vector<std::uint32_t> read;
                for (const auto& t : plan->tables)
                    if (t.changed && t.change_source.empty())
                        read.push_back(t.relid);
                // (Not for a recomputed query: it evaluates the whole query whatever the
                // changes, and more work_mem can turn its streaming aggregates into hashes.)
                const bool large = guc::planner_aggressive && !plan->recompute &&
                                   unconsumed_more_than(spi, read, *prev, kLargeDeltaChanges,
                                                        /*estimate=*/true);
                DeltaPlannerSettings planner(guc::planner_aggressive,
                                             large ? guc::merge_work_mem_mb : 0);
                for (std::size_t k = 0; k < statements.size(); ++k) {
                    Subtransaction sub;
                    TriggerDepthWatch watch;
                    try {
                        // (Only the first, the one that runs at almost every refresh, keeps
                        // its plan: a retry after a data error would evict a kept plan.)
                        r = k == 0 && guc::use_prepared_statements
                                ? spi.execute_reused(statements[k], frontier_values, buffer_sizes)
                                : spi.execute(statements[k], frontier_values);
                        sub.commit();
                        break;
                    } catch (const PgException& e) {
                        // The last statement evaluates no row version the query would not, but
                        // the rows that left the sources: only a data error sends it to FULL.
                        // (An error a user's trigger on the stream table raised is raised.)
                        if (watch.raised_in_trigger())
                            throw;
                        const bool last = k + 1 == statements.size() && !make_next_form();
                        if (!data_error(e) && (last || !retry_after(e)))
                            throw;
                        error = e.what();
                        debug(
                            fmt::format("pg_trickle: delta statement {} of {} for {} failed "
                                        "(SQLSTATE {}: {}); running the next",
                                        k + 1, statements.size(), table,
                                        unpack_sql_state(e.edata()->sqlerrcode), error));
                    }
                }
                if (r && plan->relative_apply) {
                    // Increments (emptied row ids, groups written, groups new); an update
                    // counts as a delete and an insert, as below.
                    const auto& row = r->rows[0];
                    const std::int64_t written = count_of(row[1]), added = count_of(row[2]);
                    std::int64_t removed = 0;
                    if (row[0]) {
                        removed = static_cast<std::int64_t>(
                            spi.run(core::relative_cleanup(table), {*row[0]}));
                    }
                    result.rows_inserted = written - removed;
                    result.rows_deleted = written - added;
                    result.action = "DIFFERENTIAL";
                } else if (r) {
                    // (pg_trickle.verify_deltas: the deletions the delta meant against those
                    // that found a stored row.)
                    if (plan->verify && r->rows[0].size() > 3 &&
                        count_of(r->rows[0][1]) < count_of(r->rows[0][3]))
                        throw core::Error(
                            core::sqlstate::kInternalError,
                            fmt::format("delta of {} takes away rows the stream table does "
                                        "not hold ({} to delete, {} found)",
                                        table, count_of(r->rows[0][3]), count_of(r->rows[0][1])),
                            "pg_trickle.verify_deltas is on: the delta computed an old state "
                            "holding rows the stream table never had.",
                            "Please report the defining query; refresh_mode => 'FULL' avoids it.");
                    result.rows_inserted = count_of(r->rows[0][0]) + count_of(r->rows[0][2]);
                    result.rows_deleted = count_of(r->rows[0][1]) + count_of(r->rows[0][2]);
                    result.action = "DIFFERENTIAL";
                } else {
                    differential = false;
                    fallback_reason = "the delta raised an error (" + error + ")";
                }
            }
            if (!differential) {
                if (relayout)
                    ensure_row_id_index(spi, st.relid, false);
                {
                    std::optional<SkipMaintenance> skip;
                    if (immediate)
                        skip.emplace(st.pgt_id);
                    result.rows_deleted =
                        static_cast<std::int64_t>(spi.run("DELETE FROM " + table));
                }
                std::string insert =
                    plan ? core::full_insert(*plan, table)
                         : "INSERT INTO " + table +
                               " SELECT pg_catalog.row_number() OVER (), __pgt_q.* FROM (\n" +
                               st.defining_query + "\n) AS __pgt_q";
                result.rows_inserted = static_cast<std::int64_t>(spi.run(insert));
                if (relayout && core::unique_row_ids(*plan))
                    ensure_row_id_index(spi, st.relid, true);
                result.action = "FULL";
            }
        }
        if (all_captured)
            frontier = frontier_now(spi, seq_start, buffer_epoch, full_reader, stored);
    }
    result.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    catalog::record_refresh_success(spi, st.pgt_id, result.action, initiated_by, result.duration_ms,
                                    result.rows_inserted, result.rows_deleted, frontier);
    if (!fallback_reason.empty()) {
        AsCatalogOwner owner;
        spi.run_cached(
            "UPDATE pgtrickle.pgt_refresh_history SET was_full_fallback = true"
            " WHERE refresh_id = (SELECT max(refresh_id) FROM pgtrickle.pgt_refresh_history"
            " WHERE pgt_id = $1::bigint)",
            {std::to_string(st.pgt_id)});
        notice(fmt::format("stream table {} refreshed FULL instead of DIFFERENTIAL: {}",
                           st.display_name(), fallback_reason));
    }
    // A source a subscription applies rows to is not captured: none of its readers records a
    // frontier, so no trim would ever reach its buffer, which its own writes go on filling. No
    // reader can use those rows (each refreshes FULL): the committed ones go.
    for (const auto& s : sources) {
        if (!s.subscribed || !s.buffered)
            continue;
        AsCatalogOwner owner;
        spi.run(
            fmt::format("DELETE FROM {} WHERE xid < pg_catalog.pg_snapshot_xmin("
                        "pg_catalog.pg_current_snapshot())",
                        core::buffer_table(s.relid)));
    }
    trim_captured(spi, sources, initiated_by);
    return result;
}

}  // namespace pgtrickle::pg
