// Units of background work, each in its own transaction.
//
// A background worker has no client to report errors to and must keep going after one: a failed
// unit is rolled back and described, and the worker decides what to do next.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/spi.hpp"

extern "C" {
#include "utils/backend_status.h"
}

namespace pgtrickle::pg::worker {

// A failed unit of work, copied into plain strings before its transaction was rolled back.
struct Failure {
    std::string sqlstate;  // five characters
    std::string message;
    std::string detail;
};

// Runs `work` in a transaction of its own (StartTransactionCommand, SPI, an active snapshot) and
// commits. On any error, PostgreSQL's or C++'s, including at commit, rolls the transaction back
// and returns what went wrong. The caller's memory context is current again on return.
std::optional<Failure> in_transaction(const std::function<void(Spi&)>& work);

// Right after a worker connects to its database: settings of the database (ALTER DATABASE ...
// SET) that would keep it from doing its work are overridden. default_transaction_read_only =
// on made every refresh fail and, as the failure could not be recorded either, be tried again
// at once, in a loop.
void override_database_settings();

// Reports `state` and `activity` to pg_stat_activity (state, query columns).
void report_activity(BackendState state, const std::string& activity);

// A LOG message: the server log is a worker's only audience.
void log_message(const std::string& message);

}  // namespace pgtrickle::pg::worker
