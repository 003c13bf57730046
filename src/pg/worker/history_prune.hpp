// Pruning of pgtrickle.pgt_refresh_history (pg_trickle.history_retention_days), run by each
// database's scheduler every pg_trickle.history_prune_interval_seconds.
#pragma once

#include <cstdint>

#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg::worker {

// Rows looked at by one pruning step at most: a step is one short transaction, and a backlog
// (the first pruning of a long history) is worked off by the next steps, one per scheduler tick
// while they delete something.
inline constexpr std::int64_t kHistoryPruneBatch = 10000;

// Deletes up to kHistoryPruneBatch of the oldest refresh-history rows that started more than
// `retention_days` days ago, keeping each stream table's latest row whatever its age (monitoring
// shows when a rarely refreshed stream table last refreshed). Returns how many it deleted.
std::int64_t prune_refresh_history(Spi& spi, int retention_days);

}  // namespace pgtrickle::pg::worker
