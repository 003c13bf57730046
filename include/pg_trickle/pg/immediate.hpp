// IMMEDIATE maintenance: stream tables kept exact inside the writing transaction (see
// src/pg/immediate/ivm.cpp for how).
#pragma once

#include <cstdint>

#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

// Installs the IMMEDIATE maintenance triggers on `relid` when an IMMEDIATE stream table reads
// it, and removes them when none does. A source IMMEDIATE cannot serve (a partitioned or
// inherited table, a foreign table) is refused with 0A000.
void sync_immediate_triggers(Spi& spi, Oid relid);

// Registers the relcache callback that keeps the per-backend cache of IMMEDIATE maintenance
// honest (from _PG_init).
void immediate_register_callbacks();

// Whether this backend is inside a statement that changed a table IMMEDIATE stream tables
// read, before or while their maintenance runs (kept rows not yet applied).
bool immediate_changes_pending();
// Whether this backend is maintaining IMMEDIATE stream tables (a user's trigger on a stream
// table runs inside it).
bool immediate_maintenance_running();

// While alive, IMMEDIATE maintenance leaves stream table `pgt_id` alone: a refresh empties it
// to recompute it, and the recomputation reads the sources as the triggers that the emptying
// fired (of stream tables reading it) have left them.
class SkipMaintenance {
  public:
    explicit SkipMaintenance(std::int64_t pgt_id);
    ~SkipMaintenance();
    SkipMaintenance(const SkipMaintenance&) = delete;
    SkipMaintenance& operator=(const SkipMaintenance&) = delete;

  private:
    std::int64_t pgt_id_;
};

// Transaction events (registered by _PG_init): the kept transition rows and the count of
// statements in flight follow the transaction and its subtransactions.
void immediate_xact_event(XactEvent event);
void immediate_subxact_event(SubXactEvent event);

}  // namespace pgtrickle::pg
