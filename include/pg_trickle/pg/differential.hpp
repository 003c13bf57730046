// Deciding whether a defining query can be maintained differentially, and building the
// core::DeltaPlan that the delta rules turn into SQL.
#pragma once

#include <optional>
#include <string>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/spi.hpp"

namespace pgtrickle::pg {

struct DifferentialAnalysis {
    std::optional<core::DeltaPlan> plan;  // set when the query is supported
    std::string reason;                   // why not, when it is not
    bool volatile_functions = false;      // the reason is a volatile function
};

// `deparsed` is the stored defining query (schema-qualified, as analyze_query prints it).
// `check_limits`: also refuse queries past pg_trickle.max_parse_depth and
// max_grouping_set_branches. Only where the refresh mode is chosen (create, alter): a stream
// table's storage is laid out for its plan, so a query accepted then must keep its plan when
// a limit is lowered later.
DifferentialAnalysis analyze_differential(Spi& spi, const std::string& deparsed,
                                          bool check_limits = false);

// Primary key columns of a table (unquoted, in key order); empty when it has none.
std::vector<std::string> primary_key(Spi& spi, Oid relid);

}  // namespace pgtrickle::pg
