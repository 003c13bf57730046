// A small C++ face for SPI: run SQL with text parameters and copy results into C++ values.
//
// Results are copied out of SPI's memory at once (SPI memory vanishes at SPI_finish), so callers
// deal only in std::string. Parameters are always passed as text and cast in the SQL ($1::bigint)
// so that user data never becomes part of a statement's text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

using Value = std::optional<std::string>;  // SQL NULL = nullopt
using Row = std::vector<Value>;

struct QueryResult {
    std::vector<std::string> columns;
    std::vector<Row> rows;
    std::uint64_t processed = 0;  // SPI_processed: rows returned or affected

    bool empty() const { return rows.empty(); }
    // The single value of a one-row, one-column result (nullopt if no row or NULL).
    Value scalar() const { return rows.empty() || rows[0].empty() ? Value{} : rows[0][0]; }
};

// Whether the statement executing now is one pg_trickle runs through Spi (exactly one statement
// level below where it was started; levels as statement_depth.hpp counts them): an
// event trigger fired then was fired by pg_trickle's own DDL (as alter_stream_table's on its
// way from one definition to the next). DDL that a trigger runs, fired by such a statement, is
// deeper: the user's.
bool running_own_statement();

// One SPI connection for the lifetime of the object. finish() must be called on the success
// path; after an error the transaction abort cleans SPI up, so the destructor does nothing.
class Spi {
  public:
    Spi();
    ~Spi() = default;
    Spi(const Spi&) = delete;
    Spi& operator=(const Spi&) = delete;

    // Always read-write mode: SPI's read-only mode would not see this transaction's own DDL.
    QueryResult execute(const std::string& sql, const std::vector<Value>& params = {},
                        long max_rows = 0);
    // The same, with a plan prepared once per backend and kept (for statements a worker runs
    // over and over; PostgreSQL replans it when the objects it uses change). Every text run this
    // way is kept for the life of the backend: only for texts of which there are few (fixed
    // ones, or one per source table), never for texts holding values.
    QueryResult execute_cached(const std::string& sql, const std::vector<Value>& params = {});
    std::uint64_t run_cached(const std::string& sql, const std::vector<Value>& params = {});
    // As execute (with this connection's snapshot), the generic plan kept per backend for the
    // last few dozen statements run this way: a refresh's delta statement, whose text is the same
    // from one refresh to the next (its frontier in parameters), can take longer to plan than to
    // run (a join of many relations, a term per changed one).
    // `context`: what else the plan was made for (the sizes of the tables it reads, as the
    // caller sees them), so that a plan is not reused for other data.
    QueryResult execute_reused(const std::string& sql, const std::vector<Value>& params,
                               const std::string& context = "");
    // A parameterless statement prepared and kept beyond this connection (the caller owns it:
    // free_kept), run by execute_plan; `sql` is only for error messages.
    SPIPlanPtr prepare_kept(const std::string& sql);
    QueryResult execute_plan(SPIPlanPtr plan, const std::string& sql);
    static void free_kept(SPIPlanPtr plan);
    // Runs a statement that returns nothing of interest; returns SPI_processed.
    std::uint64_t run(const std::string& sql, const std::vector<Value>& params = {});
    // Makes `rows` (laid out like relation `relid`) readable as `name` in this connection's
    // statements: IMMEDIATE maintenance reads transition tables this way.
    void register_tuplestore(const std::string& name, Oid relid, Tuplestorestate* rows);
    void finish();

    // From now on, run every statement with `snapshot` (its command id advanced, so statements
    // still see this transaction's earlier writes): a refresh reads change buffers and source
    // tables as of one single moment even under READ COMMITTED. nullptr = back to normal.
    void use_snapshot(Snapshot snapshot) { snapshot_ = snapshot; }

  private:
    QueryResult copy_result(const std::string& sql, int rc);
    bool connected_ = false;
    Snapshot snapshot_ = nullptr;
};

// A snapshot registered for the lifetime of the object.
class RegisteredSnapshot {
  public:
    // The current transaction snapshot, or (`latest`) one taken now whatever the isolation.
    explicit RegisteredSnapshot(bool latest = false);
    ~RegisteredSnapshot();
    RegisteredSnapshot(const RegisteredSnapshot&) = delete;
    RegisteredSnapshot& operator=(const RegisteredSnapshot&) = delete;
    Snapshot get() const { return snapshot_; }

  private:
    Snapshot snapshot_;
};

}  // namespace pgtrickle::pg
