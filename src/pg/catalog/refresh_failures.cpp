// Catalog bookkeeping of failed refreshes: history, error counters, auto-suspension, and the
// clean-up of refreshes a crash interrupted.
#include <fmt/format.h>

#include "pg_trickle/pg/catalog.hpp"

namespace pgtrickle::pg::catalog {

FailureOutcome record_refresh_failure(Spi& spi, std::int64_t pgt_id, std::string_view action,
                                      std::string_view initiated_by,
                                      const std::string& error_message, const std::string& sqlstate,
                                      double duration_ms, int max_consecutive_errors) {
    AsCatalogOwner owner;
    const std::string id = std::to_string(pgt_id);
    FailureOutcome outcome;
    // data_timestamp is NOT NULL; a failed refresh wrote no data, so it gets the attempt's start.
    spi.run(R"sql(
INSERT INTO pgtrickle.pgt_refresh_history
    (pgt_id, data_timestamp, start_time, end_time, action, status, error_message, initiated_by)
SELECT $1::bigint, s.t, s.t, clock_timestamp(), $2, 'FAILED', $4, $5
FROM (SELECT clock_timestamp() - make_interval(secs => $3::double precision / 1000) AS t) s
WHERE EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint))sql",
            {id, std::string(action), fmt::format("{}", duration_ms),
             sqlstate.empty() ? error_message
                              : fmt::format("{} (SQLSTATE {})", error_message, sqlstate),
             std::string(initiated_by)});

    auto res = spi.execute(R"sql(
UPDATE pgtrickle.pgt_stream_tables st SET
    consecutive_errors = st.consecutive_errors + 1,
    last_error_message = $2, last_error_at = now(), updated_at = now(),
    status = CASE WHEN st.consecutive_errors + 1 >= $3::integer
                       AND st.status IN ('ACTIVE', 'INITIALIZING')
                  THEN 'SUSPENDED' ELSE st.status END
FROM (SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint FOR UPDATE) old
WHERE st.pgt_id = $1::bigint
RETURNING st.consecutive_errors, st.status, old.status, st.pooler_compatibility_mode)sql",
                           {id, error_message, std::to_string(max_consecutive_errors)});
    if (res.rows.empty())
        return outcome;
    const Row& r = res.rows[0];
    outcome.consecutive_errors = std::stoi(*r[0]);
    outcome.suspended = *r[1] == "SUSPENDED" && *r[2] != "SUSPENDED";
    const bool pooler_mode = r[3] && *r[3] == "t";
    // Alerts are suppressed for pooler-compatible stream tables, as upstream does (their
    // listeners sit behind a pooler that may not deliver them). Each failure short of the limit
    // is a refresh_failed; the one that suspends is an auto_suspended.
    if (!pooler_mode) {
        spi.run(R"sql(
SELECT pg_catalog.pg_notify('pg_trickle_alert', pg_catalog.jsonb_build_object(
    'event', $4, 'pgt_schema', n.nspname, 'pgt_name', c.relname,
    'consecutive_errors', $2::integer, 'last_error', $3)::text)
FROM pgtrickle.pgt_stream_tables st
JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE st.pgt_id = $1::bigint)sql",
                {id, std::to_string(outcome.consecutive_errors), error_message,
                 outcome.suspended ? "auto_suspended" : "refresh_failed"});
    }
    return outcome;
}

std::uint64_t fail_interrupted_refreshes(Spi& spi) {
    AsCatalogOwner owner;
    // A refresh under way holds its stream table's catalog row lock (try_lock_for_refresh), so
    // SKIP LOCKED leaves its rows alone.
    return spi.run(R"sql(
UPDATE pgtrickle.pgt_refresh_history h SET
    status = 'FAILED', end_time = coalesce(h.end_time, now()),
    error_message = coalesce(h.error_message,
                             'interrupted: the refresh never finished (server crash or restart)')
WHERE h.status = 'RUNNING'
  AND h.pgt_id IN (SELECT st.pgt_id FROM pgtrickle.pgt_stream_tables st
                   WHERE st.pgt_id IN (SELECT pgt_id FROM pgtrickle.pgt_refresh_history
                                       WHERE status = 'RUNNING')
                   FOR UPDATE SKIP LOCKED))sql");
}

}  // namespace pgtrickle::pg::catalog
