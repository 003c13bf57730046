// Recognising a recursive query maintained by delete and rederive or by counting paths
// (core::Recursion).
#pragma once

#include <map>
#include <optional>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// For `WITH RECURSIVE r(c1, ..., cn) AS (base UNION [ALL] step) SELECT c1, ..., cn FROM r` (every
// column of r once, in order, nothing else), where base and step are select-project-joins of
// inner joins over source tables and step reads r once: the terms' texts and references.
// nullopt for any other query (it is then recomputed whatever changed).
std::optional<core::Recursion> recursive_terms(Query* q,
                                               const std::map<Oid, std::size_t>& table_index);

}  // namespace pgtrickle::pg
