// Reading SQL function arguments into C++ values (NULL = std::nullopt).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

inline std::optional<std::string> text_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n))
        return std::nullopt;
    Datum d = PG_GETARG_DATUM(n);
    char* s = pg_call([&] { return text_to_cstring(DatumGetTextPP(d)); });
    std::string out(s);
    pfree(s);
    return out;
}

inline std::optional<bool> bool_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n))
        return std::nullopt;
    return PG_GETARG_BOOL(n);
}

inline std::optional<std::int32_t> int32_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n))
        return std::nullopt;
    return PG_GETARG_INT32(n);
}

inline std::optional<std::int64_t> int64_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n))
        return std::nullopt;
    return PG_GETARG_INT64(n);
}

inline std::optional<double> float8_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n))
        return std::nullopt;
    return PG_GETARG_FLOAT8(n);
}

inline Datum text_datum(const std::string& s) {
    const char* c = s.c_str();
    return pg_call([&] { return CStringGetTextDatum(c); });
}

}  // namespace pgtrickle::pg
