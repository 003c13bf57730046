// SPI wrapper: every SPI call goes through pg_call so a PostgreSQL ERROR becomes a PgException.
#include "pg_trickle/pg/spi.hpp"

#include <map>

#include <exception>
#include <stdexcept>

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
    int rc = pg_call([&] { return SPI_execute_plan(plan, values, nulls, false, 0); });
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

RegisteredSnapshot::RegisteredSnapshot() {
    snapshot_ = pg_call([] { return RegisterSnapshot(GetTransactionSnapshot()); });
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
