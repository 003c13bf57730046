// Transactions for background work; see transaction.hpp.
#include "transaction.hpp"

#include <new>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/pg/guard.hpp"

extern "C" {
#include "pgstat.h"
#include "utils/backend_status.h"
}

namespace pgtrickle::pg::worker {

namespace {

// Copies the exception being handled into plain strings: no palloc, so it is safe in a catch
// block, and the copy outlives the transaction whose memory held the PostgreSQL error.
Failure describe_current_exception() noexcept {
    Failure f;
    try {
        throw;
    } catch (const PgException& e) {
        const ErrorData* ed = e.edata();
        f.sqlstate = unpack_sql_state(ed->sqlerrcode);
        f.message = ed->message ? ed->message : "PostgreSQL error";
        f.detail = ed->detail ? ed->detail : "";
    } catch (const core::Error& e) {
        f.sqlstate = e.sqlstate();
        f.message = e.what();
        f.detail = e.detail();
    } catch (const std::bad_alloc&) {
        f.sqlstate = "53200";
        f.message = "out of memory in pg_trickle";
    } catch (const std::exception& e) {
        f.sqlstate = "XX000";
        f.message = std::string("pg_trickle internal error: ") + e.what();
    } catch (...) {
        f.sqlstate = "XX000";
        f.message = "pg_trickle internal error: unknown exception";
    }
    return f;
}

}  // namespace

std::optional<Failure> in_transaction(const std::function<void(Spi&)>& work) {
    MemoryContext caller_context = CurrentMemoryContext;
    std::optional<Failure> failure;
    try {
        pg_call([] {
            SetCurrentStatementStartTimestamp();
            StartTransactionCommand();
            PushActiveSnapshot(GetTransactionSnapshot());
        });
        {
            Spi spi;
            work(spi);
            spi.finish();
        }
        pg_call([] {
            PopActiveSnapshot();
            CommitTransactionCommand();
        });
    } catch (...) {
        failure = describe_current_exception();
    }
    if (failure) {
        // Outside the catch block: aborting runs PostgreSQL's cleanup (locks, SPI, snapshots,
        // memory), which must not happen while an exception object is live.
        pg_call([] { AbortCurrentTransaction(); });
    }
    MemoryContextSwitchTo(caller_context);
    // A background worker publishes its table statistics itself (a backend does so when idle):
    // without this, autovacuum would not hear of the rows the refreshes of a long-lived worker
    // insert and delete (change buffers above all) until the worker exits. Rate-limited inside.
    pg_call([] {
        if (!IsTransactionOrTransactionBlock())
            (void)pgstat_report_stat(false);
    });
    return failure;
}

void log_message(const std::string& message) {
    const char* m = message.c_str();
    pg_call([&] { ereport(LOG, (errmsg_internal("%s", m))); });
}

void override_database_settings() {
    SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
    // The worker runs as a superuser: names its SQL leaves unqualified are looked up in
    // pg_catalog only, whatever search_path the database or a role sets (ALTER DATABASE ... SET
    // search_path = evil, pg_catalog would have run evil.now() as superuser). A session-level
    // setting, so that the scopes that pin settings for a refresh can still change it.
    SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
}

void report_activity(BackendState state, const std::string& activity) {
    const char* text = activity.empty() ? nullptr : activity.c_str();
    pg_call([&] { pgstat_report_activity(state, text); });
}

}  // namespace pgtrickle::pg::worker
