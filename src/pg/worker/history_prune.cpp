// Pruning of the refresh history (see history_prune.hpp).
#include "history_prune.hpp"

#include <string>

namespace pgtrickle::pg::worker {

std::int64_t prune_refresh_history(Spi& spi, int retention_days) {
    // The candidates are the oldest rows by refresh_id, read from its index: a pruning step with
    // nothing to delete reads one batch of index entries, not the whole history. (A row is
    // inserted when its refresh ends, with the time it started: refresh_id follows start_time
    // up to the length of a refresh, which only lets a step leave a row for the next.) Rows
    // locked by another transaction (a DROP of their stream table in progress) are skipped.
    return static_cast<std::int64_t>(spi.run(
        "WITH oldest AS (\n"
        "  SELECT h.refresh_id, h.pgt_id, h.start_time FROM pgtrickle.pgt_refresh_history h\n"
        "  ORDER BY h.refresh_id LIMIT $2::bigint FOR UPDATE SKIP LOCKED)\n"
        "DELETE FROM pgtrickle.pgt_refresh_history d USING oldest o\n"
        "WHERE d.refresh_id = o.refresh_id\n"
        "  AND o.start_time < pg_catalog.now() - pg_catalog.make_interval(days => $1::integer)\n"
        "  AND EXISTS (SELECT 1 FROM pgtrickle.pgt_refresh_history n\n"
        "              WHERE n.pgt_id = o.pgt_id AND n.refresh_id > o.refresh_id)",
        {std::to_string(retention_days), std::to_string(kHistoryPruneBatch)}));
}

}  // namespace pgtrickle::pg::worker
