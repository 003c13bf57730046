// Storage tables: the heap tables that hold a stream table's rows, and the guard that keeps
// everyone but the refresh engine from writing them.
#pragma once

#include <string>
#include <vector>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/query_analysis.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

// While an InternalWrite is alive (and no other made after it), this backend's refresh engine
// may write storage table `relid`. A transaction abort also clears it (see
// reset_internal_writes), so an error can never leave the guard open.
class InternalWrite {
  public:
    explicit InternalWrite(Oid relid);
    ~InternalWrite();
    InternalWrite(const InternalWrite&) = delete;
    InternalWrite& operator=(const InternalWrite&) = delete;
};
void reset_internal_writes();

bool internal_write_allowed(Oid relid);

// The guard triggers of storage table `table` (quoted name), made or made again, firing ALWAYS.
void install_storage_guards(Spi& spi, const std::string& table);

// CREATE TABLE schema.name (__pgt_row_id bigint NOT NULL, <columns>) as the current user, with
// the row-id index (unique or not) and the guard triggers. Returns the new table's OID.
Oid create_storage_table(Spi& spi, const std::string& schema, const std::string& name,
                         const std::vector<OutputColumn>& columns, bool unique_row_ids);

// Makes the row-id index of a storage table unique or not, rebuilding it if needed.
void ensure_row_id_index(Spi& spi, Oid relid, bool unique);

// Whether the rows of storage table `relid` (quoted name `table`) are identified as `plan`
// identifies them: its row-id index unique as the plan's row ids are, and a stored row holding
// the id the plan gives it (core::row_id_check). Not so after a primary key of a source was
// added, dropped or changed since they were written: then they must be written again.
bool row_identity_holds(Spi& spi, const core::DeltaPlan& plan, Oid relid, const std::string& table);

// True when the storage table's user columns are exactly `columns` (names, types, order).
bool storage_matches(Spi& spi, Oid relid, const std::vector<OutputColumn>& columns);

// The schema an unqualified new stream table goes to (first existing schema on search_path).
std::string creation_schema(Spi& spi);

}  // namespace pgtrickle::pg
