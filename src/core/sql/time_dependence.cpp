// Time- and session-dependent functions (see time_dependence.hpp).
#include "pg_trickle/core/time_dependence.hpp"

#include <algorithm>

#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core {

const std::vector<std::string_view>& time_dependent_functions() {
    static const std::vector<std::string_view> names = {
        // Functions of the clock (clock_timestamp and timeofday are volatile: refused by
        // DIFFERENTIAL, but a FULL stream table over them must still be refreshed).
        "now", "statement_timestamp", "transaction_timestamp", "clock_timestamp", "timeofday",
        // age(timestamp) counts from the current date; age(a, b) does not, and is listed with it
        // (a needless refresh costs time, never correctness).
        "age",
        // Session state.
        "current_setting", "current_schemas", "pg_backend_pid", "inet_client_addr",
        // SQL value functions.
        "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
        "current_role", "current_user", "user", "session_user", "current_catalog",
        "current_schema"};
    return names;
}

bool is_time_dependent(const std::vector<std::string>& functions_used) {
    const auto& names = time_dependent_functions();
    return std::any_of(functions_used.begin(), functions_used.end(), [&](const std::string& f) {
        return std::find(names.begin(), names.end(), f) != names.end();
    });
}

std::string time_dependent_functions_array() {
    std::string out = "ARRAY[";
    bool first = true;
    for (auto n : time_dependent_functions()) {
        out += (first ? "" : ", ") + quote_literal(n);
        first = false;
    }
    return out + "]::pg_catalog.text[]";
}

}  // namespace pgtrickle::core
