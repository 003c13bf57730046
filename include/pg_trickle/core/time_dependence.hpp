// Queries whose result changes with the clock or the session, not only with their sources' rows.
//
// The rule: such a query (now(), CURRENT_DATE, current_setting(), CURRENT_USER, ...) is evaluated
// as of each refresh. Every scheduled refresh runs, changes or not (a refresh never ends NO_DATA
// for it and the scheduler never skips it as idle); DIFFERENTIAL recomputes it and writes only the
// rows that differ; IMMEDIATE refuses it (a result maintained by writing statements cannot follow
// the clock).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgtrickle::core {

// The functions (as functions_used names them: pg_catalog functions unqualified, SQL value
// functions by their keyword in lower case) whose value depends on time or session.
const std::vector<std::string_view>& time_dependent_functions();

// Whether any of `functions_used` is one of them.
bool is_time_dependent(const std::vector<std::string>& functions_used);

// ARRAY['now', ...]::text[] of time_dependent_functions(), for SQL that tests a catalog row's
// functions_used (`functions_used && <this>`).
std::string time_dependent_functions_array();

}  // namespace pgtrickle::core
