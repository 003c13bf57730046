// SPI wrapper: every SPI call goes through pg_call so a PostgreSQL ERROR becomes a PgException.
#include "pg_trickle/pg/spi.hpp"

#include <vector>

#include "pg_trickle/pg/statement_depth.hpp"

#include <exception>
#include <list>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "pg_trickle/pg/guard.hpp"

namespace pgtrickle::pg {

Spi::Spi() {
    pg_call([] {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "pg_trickle: SPI_connect failed");
    });
    connected_ = true;
}

void Spi::register_tuplestore(const std::string& name, Oid relid, Tuplestorestate* rows) {
    pg_call([&] {
        auto* enr =
            static_cast<EphemeralNamedRelation>(palloc0(sizeof(EphemeralNamedRelationData)));
        enr->md.name = pstrdup(name.c_str());
        enr->md.reliddesc = relid;  // rows laid out like this relation
        enr->md.tupdesc = nullptr;
        enr->md.enrtype = ENR_NAMED_TUPLESTORE;
        enr->md.enrtuples = static_cast<double>(tuplestore_tuple_count(rows));
        enr->reldata = rows;
        if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
            elog(ERROR, "pg_trickle: could not register relation \"%s\"", enr->md.name);
    });
}

void Spi::finish() {
    if (!connected_)
        return;
    connected_ = false;
    pg_call([] { SPI_finish(); });
}

namespace {
// The executor depth (statement_depth.hpp) at which each statement pg_trickle runs through Spi was
// started, innermost last: DDL that fires an event trigger one level below the innermost is
// that statement, pg_trickle's own; DDL deeper down was run by a trigger the statement fired
// (a user's, which pg_trickle checks as any other).
std::vector<int> own_statements;
struct OwnStatement {
    OwnStatement() { own_statements.push_back(executor_depth()); }
    ~OwnStatement() { own_statements.pop_back(); }
    OwnStatement(const OwnStatement&) = delete;
    OwnStatement& operator=(const OwnStatement&) = delete;
};
}  // namespace

bool running_own_statement() {
    return !own_statements.empty() && executor_depth() == own_statements.back() + 1;
}

namespace {

// Parameters as SPI wants them: all text, in palloc'd arrays (plain C memory, freed with the SPI
// procedure context).
struct Args {
    int n = 0;
    Oid* types = nullptr;
    Datum* values = nullptr;
    char* nulls = nullptr;
};

Args text_args(const std::vector<Value>& params) {
    Args a;
    a.n = static_cast<int>(params.size());
    if (a.n == 0)
        return a;
    const int n = a.n;
    a.types = pg_call([&] { return static_cast<Oid*>(palloc(sizeof(Oid) * n)); });
    a.values = pg_call([&] { return static_cast<Datum*>(palloc(sizeof(Datum) * n)); });
    a.nulls = pg_call([&] { return static_cast<char*>(palloc(n)); });
    for (int i = 0; i < n; ++i) {
        a.types[i] = TEXTOID;
        if (params[i]) {
            const char* s = params[i]->c_str();
            a.values[i] = pg_call([&] { return CStringGetTextDatum(s); });
            a.nulls[i] = ' ';
        } else {
            a.values[i] = 0;
            a.nulls[i] = 'n';
        }
    }
    return a;
}

}  // namespace

QueryResult Spi::execute(const std::string& sql, const std::vector<Value>& params, long max_rows) {
    const Args a = text_args(params);
    const int nargs = a.n;
    Oid* types = a.types;
    Datum* values = a.values;
    char* nulls = a.nulls;
    const char* query = sql.c_str();
    Snapshot snapshot = snapshot_;
    OwnStatement own;
    int rc = pg_call([&] {
        if (snapshot != nullptr) {
            SPIPlanPtr plan = SPI_prepare(query, nargs, types);
            if (plan == nullptr)
                elog(ERROR, "pg_trickle: SPI_prepare failed: %s",
                     SPI_result_code_string(SPI_result));
            int r = SPI_execute_snapshot(plan, values, nulls, snapshot, InvalidSnapshot, false,
                                         true, max_rows);
            SPI_freeplan(plan);
            return r;
        }
        return nargs > 0
                   ? SPI_execute_with_args(query, nargs, types, values, nulls, false, max_rows)
                   : SPI_execute(query, false, max_rows);
    });
    return copy_result(sql, rc);
}

QueryResult Spi::execute_cached(const std::string& sql, const std::vector<Value>& params) {
    static std::map<std::string, SPIPlanPtr> plans;
    const Args a = text_args(params);
    const int nargs = a.n;
    Oid* types = a.types;
    Datum* values = a.values;
    char* nulls = a.nulls;
    SPIPlanPtr plan = nullptr;
    if (auto it = plans.find(sql); it != plans.end()) {
        plan = it->second;
    } else {
        const char* query = sql.c_str();
        plan = pg_call([&] {
            SPIPlanPtr p = SPI_prepare(query, nargs, types);
            if (p == nullptr)
                elog(ERROR, "pg_trickle: SPI_prepare failed: %s",
                     SPI_result_code_string(SPI_result));
            SPI_keepplan(p);
            return p;
        });
        plans.emplace(sql, plan);
    }
    Snapshot snapshot = snapshot_;
    OwnStatement own;
    int rc = pg_call([&] {
        return snapshot != nullptr ? SPI_execute_snapshot(plan, values, nulls, snapshot,
                                                          InvalidSnapshot, false, true, 0)
                                   : SPI_execute_plan(plan, values, nulls, false, 0);
    });
    return copy_result(sql, rc);
}

std::uint64_t Spi::run_cached(const std::string& sql, const std::vector<Value>& params) {
    return execute_cached(sql, params).processed;
}

namespace {

// The plans execute_reused keeps, most recently used first. Bounded by the memory they hold: a
// plan of a delta statement over many relations holds megabytes (TPC-H Q8: about 2 MB), one of a
// single-table aggregate about 300 kB, and a pool worker refreshes any number of
// stream tables, each in turn: a bound on their number below that number would keep none of
// them until its next use. (The count is a bound too, for the index.)
constexpr std::size_t kKeptPlanMemory = std::size_t{64} << 20;
constexpr std::size_t kReusedPlans = 1024;
struct KeptPlan {
    std::string key;
    SPIPlanPtr plan;
    int running = 0;  // executions in progress (a statement may refresh another stream table)
    std::size_t memory = 0;  // what it held after its last execution (plan_memory)
};
std::list<KeptPlan> reused;
std::unordered_map<std::string, std::list<KeptPlan>::iterator> reused_index;

// The settings a plan depends on, read when it is made: a plan made under others (a session's
// SET, pg_trickle.planner_aggressive, ALTER SYSTEM and reload) is a plan of another statement.
// The planner's costs and methods, and the settings that decide how the text is read.
std::string planner_settings() {
    static const char* const kNames[] = {"seq_page_cost",
                                         "random_page_cost",
                                         "cpu_tuple_cost",
                                         "cpu_index_tuple_cost",
                                         "cpu_operator_cost",
                                         "parallel_setup_cost",
                                         "parallel_tuple_cost",
                                         "min_parallel_table_scan_size",
                                         "min_parallel_index_scan_size",
                                         "max_parallel_workers_per_gather",
                                         "effective_cache_size",
                                         "work_mem",
                                         "hash_mem_multiplier",
                                         "join_collapse_limit",
                                         "from_collapse_limit",
                                         "geqo",
                                         "geqo_threshold",
                                         "constraint_exclusion",
                                         "cursor_tuple_fraction",
                                         "enable_async_append",
                                         "enable_bitmapscan",
                                         "enable_gathermerge",
                                         "enable_hashagg",
                                         "enable_hashjoin",
                                         "enable_incremental_sort",
                                         "enable_indexonlyscan",
                                         "enable_indexscan",
                                         "enable_material",
                                         "enable_memoize",
                                         "enable_mergejoin",
                                         "enable_nestloop",
                                         "enable_parallel_append",
                                         "enable_parallel_hash",
                                         "enable_partition_pruning",
                                         "enable_partitionwise_aggregate",
                                         "enable_partitionwise_join",
                                         "enable_seqscan",
                                         "enable_sort",
                                         "enable_tidscan",
                                         "jit",
                                         "jit_above_cost",
                                         "jit_inline_above_cost",
                                         "jit_optimize_above_cost",
                                         "default_statistics_target",
                                         "plan_cache_mode",
                                         "DateStyle",
                                         "IntervalStyle",
                                         "TimeZone",
                                         "standard_conforming_strings",
                                         "backslash_quote",
                                         "array_nulls",
                                         "lc_monetary",
                                         "xmloption",
                                         "row_security"};
    std::string out;
    for (const char* name : kNames) {
        const char* v = pg_call([&] { return GetConfigOption(name, true, false); });
        out += v != nullptr ? v : "";
        out += '\n';
    }
    return out;
}

// The memory a kept plan holds: its statement's analysed and rewritten trees and its generic plan
// (made at its first execution, made again after an invalidation). Plain C.
std::size_t plan_memory(SPIPlanPtr plan) {
    std::size_t total = 0;
    ListCell* lc;
    foreach (lc, SPI_plan_get_plan_sources(plan)) {
        auto* source = static_cast<CachedPlanSource*>(lfirst(lc));
        total += MemoryContextMemAllocated(source->context, true);
        if (source->gplan != nullptr)
            total += MemoryContextMemAllocated(source->gplan->context, true);
    }
    return total;
}

// Frees the least recently used kept plans that are not running (never the most recent one)
// while they hold more than kKeptPlanMemory or number more than kReusedPlans.
void evict_kept_plans() {
    std::size_t total = 0;
    for (const auto& p : reused)
        total += p.memory;
    for (auto it = std::prev(reused.end());
         (total > kKeptPlanMemory || reused.size() > kReusedPlans) && it != reused.begin();) {
        auto victim = it--;
        if (victim->running > 0)
            continue;
        total -= victim->memory;
        SPIPlanPtr old = victim->plan;
        reused_index.erase(victim->key);
        reused.erase(victim);
        pg_call([&] { SPI_freeplan(old); });
    }
}

// Counts an execution of a kept plan for as long as it runs (an error included): a plan is not
// freed while it runs.
class Running {
  public:
    explicit Running(KeptPlan& p) : p_(p) { ++p_.running; }
    ~Running() { --p_.running; }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

  private:
    KeptPlan& p_;
};

}  // namespace

QueryResult Spi::execute_reused(const std::string& sql, const std::vector<Value>& params,
                                const std::string& context) {
    const std::string key = planner_settings() + context + "\n" + sql;
    evict_kept_plans();  // (the bound, after a failed execution)
    const Args a = text_args(params);
    const int nargs = a.n;
    Oid* types = a.types;
    Datum* values = a.values;
    char* nulls = a.nulls;
    if (auto it = reused_index.find(key); it != reused_index.end()) {
        reused.splice(reused.begin(), reused, it->second);
        pg_call([] { elog(DEBUG2, "pg_trickle: statement plan reused"); });
    } else {
        pg_call([] { elog(DEBUG2, "pg_trickle: statement plan kept"); });
        const char* query = sql.c_str();
        // Generic from the start: the parameters are the frontier, which the statement reads
        // under CASE (an opaque condition to the planner) and once per execution (initplans),
        // so a plan for the values at hand would be this same plan.
        SPIPlanPtr made = pg_call([&] {
            SPIPlanPtr p = SPI_prepare_cursor(query, nargs, types, CURSOR_OPT_GENERIC_PLAN);
            if (p == nullptr)
                elog(ERROR, "pg_trickle: SPI_prepare failed: %s",
                     SPI_result_code_string(SPI_result));
            SPI_keepplan(p);
            return p;
        });
        reused.push_front(KeptPlan{key, made, 0, 0});
        reused_index[key] = reused.begin();
    }
    KeptPlan& kept = reused.front();
    int rc = 0;
    {
        Running running(kept);
        SPIPlanPtr plan = kept.plan;
        Snapshot snapshot = snapshot_;
        OwnStatement own;
        try {
            rc = pg_call([&] {
                return snapshot != nullptr ? SPI_execute_snapshot(plan, values, nulls, snapshot,
                                                                  InvalidSnapshot, false, true, 0)
                                           : SPI_execute_plan(plan, values, nulls, false, 0);
            });
        } catch (...) {
            // (A failed execution may have made its plan: counted, and bounded at the next
            // call. plan_memory reads contexts and raises nothing.)
            kept.memory = plan_memory(plan);
            throw;
        }
        kept.memory = plan_memory(plan);
    }
    // (After the execution, which may have kept plans of its own: a statement that refreshed
    // another stream table.)
    evict_kept_plans();
    return copy_result(sql, rc);
}

SPIPlanPtr Spi::prepare_kept(const std::string& sql) {
    const char* query = sql.c_str();
    return pg_call([&] {
        SPIPlanPtr p = SPI_prepare(query, 0, nullptr);
        if (p == nullptr)
            elog(ERROR, "pg_trickle: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
        SPI_keepplan(p);
        return p;
    });
}

QueryResult Spi::execute_plan(SPIPlanPtr plan, const std::string& sql) {
    OwnStatement own;
    int rc = pg_call([&] { return SPI_execute_plan(plan, nullptr, nullptr, false, 0); });
    return copy_result(sql, rc);
}

void Spi::free_kept(SPIPlanPtr plan) {
    pg_call([&] { SPI_freeplan(plan); });
}

QueryResult Spi::copy_result(const std::string& sql, int rc) {
    if (rc < 0)
        throw std::runtime_error("SPI failed (" + std::to_string(rc) + ") running: " + sql);

    QueryResult result;
    result.processed = SPI_processed;
    SPITupleTable* table = SPI_tuptable;
    if (table == nullptr)
        return result;
    TupleDesc desc = table->tupdesc;
    for (int c = 1; c <= desc->natts; ++c) {
        result.columns.emplace_back(NameStr(TupleDescAttr(desc, c - 1)->attname));
    }
    result.rows.reserve(SPI_processed);
    for (std::uint64_t r = 0; r < SPI_processed; ++r) {
        HeapTuple tuple = table->vals[r];
        Row row;
        row.reserve(desc->natts);
        for (int c = 1; c <= desc->natts; ++c) {
            char* text = pg_call([&] { return SPI_getvalue(tuple, desc, c); });
            if (text == nullptr) {
                row.emplace_back(std::nullopt);
            } else {
                row.emplace_back(std::string(text));
                pfree(text);
            }
        }
        result.rows.push_back(std::move(row));
    }
    pg_call([&] { SPI_freetuptable(table); });
    return result;
}

RegisteredSnapshot::RegisteredSnapshot(bool latest) {
    snapshot_ = pg_call(
        [&] { return RegisterSnapshot(latest ? GetLatestSnapshot() : GetTransactionSnapshot()); });
}

RegisteredSnapshot::~RegisteredSnapshot() {
    // After an error the resource owner releases it with the transaction.
    if (std::uncaught_exceptions() == 0)
        UnregisterSnapshot(snapshot_);
}

std::uint64_t Spi::run(const std::string& sql, const std::vector<Value>& params) {
    return execute(sql, params).processed;
}

}  // namespace pgtrickle::pg
