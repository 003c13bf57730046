// The SQL-callable entry points of the pgtrickle schema. Each one only reads its arguments and
// hands over to C++ through pg_guard; the logic lives in the lifecycle and core code.
#include <fmt/format.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/duration.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/hash.hpp"
#include "pg_trickle/pg/args.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/lifecycle.hpp"
#include "pg_trickle/pg/version.hpp"

using namespace pgtrickle;
using namespace pgtrickle::pg;

namespace {

// Arguments 0..15 are shared by the three create functions.
CreateRequest create_request(FunctionCallInfo fcinfo, bool has_sink_args) {
    CreateRequest r;
    r.name = text_arg(fcinfo, 0);
    r.query = text_arg(fcinfo, 1);
    r.schedule = text_arg(fcinfo, 2);
    r.refresh_mode = text_arg(fcinfo, 3);
    r.initialize = bool_arg(fcinfo, 4).value_or(true);
    auto& o = r.options;
    o.diamond_consistency = text_arg(fcinfo, 5);
    o.diamond_schedule_policy = text_arg(fcinfo, 6);
    o.cdc_mode = text_arg(fcinfo, 7);
    o.append_only = bool_arg(fcinfo, 8).value_or(false);
    o.pooler_compatibility_mode = bool_arg(fcinfo, 9).value_or(false);
    o.partition_by = text_arg(fcinfo, 10);
    o.max_differential_joins = int32_arg(fcinfo, 11);
    o.max_delta_fraction = float8_arg(fcinfo, 12);
    o.output_distribution_column = text_arg(fcinfo, 13);
    o.temporal = bool_arg(fcinfo, 14).value_or(false);
    o.storage_backend = text_arg(fcinfo, 15);
    if (has_sink_args) {
        o.sink = text_arg(fcinfo, 16);
        o.ducklake_sink_path = text_arg(fcinfo, 17);
        o.ducklake_sink_table_id = int64_arg(fcinfo, 18);
    }
    return r;
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(pgt_create_stream_table);
Datum pgt_create_stream_table(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        create_stream_table(create_request(fcinfo, true), OnExisting::Error);
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(pgt_create_stream_table_if_not_exists);
Datum pgt_create_stream_table_if_not_exists(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        create_stream_table(create_request(fcinfo, true), OnExisting::Skip);
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(pgt_create_or_replace_stream_table);
Datum pgt_create_or_replace_stream_table(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        create_stream_table(create_request(fcinfo, false), OnExisting::Replace);
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(pgt_alter_stream_table);
Datum pgt_alter_stream_table(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        AlterRequest r;
        auto name = text_arg(fcinfo, 0);
        if (!name)
            throw core::invalid_argument("name must not be NULL");
        r.name = *name;
        r.query = text_arg(fcinfo, 1);
        r.schedule = text_arg(fcinfo, 2);
        r.refresh_mode = text_arg(fcinfo, 3);
        r.status = text_arg(fcinfo, 4);
        r.diamond_consistency = text_arg(fcinfo, 5);
        r.diamond_schedule_policy = text_arg(fcinfo, 6);
        r.cdc_mode = text_arg(fcinfo, 7);
        r.append_only = bool_arg(fcinfo, 8);
        r.pooler_compatibility_mode = bool_arg(fcinfo, 9);
        r.tier = text_arg(fcinfo, 10);
        r.fuse = text_arg(fcinfo, 11);
        r.fuse_ceiling = int64_arg(fcinfo, 12);
        r.fuse_sensitivity = int32_arg(fcinfo, 13);
        r.partition_by = text_arg(fcinfo, 14);
        r.max_differential_joins = int32_arg(fcinfo, 15);
        r.max_delta_fraction = float8_arg(fcinfo, 16);
        r.post_refresh_action = text_arg(fcinfo, 17);
        r.reindex_drift_threshold = float8_arg(fcinfo, 18);
        r.sink = text_arg(fcinfo, 19);
        r.ducklake_sink_path = text_arg(fcinfo, 20);
        r.ducklake_sink_table_id = int64_arg(fcinfo, 21);
        alter_stream_table(r);
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(pgt_drop_stream_table);
Datum pgt_drop_stream_table(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        drop_stream_table(*text_arg(fcinfo, 0), *bool_arg(fcinfo, 1));
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(pgt_refresh_stream_table);
Datum pgt_refresh_stream_table(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        refresh_stream_table(*text_arg(fcinfo, 0));
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(pgt_resume_stream_table);
Datum pgt_resume_stream_table(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        resume_stream_table(*text_arg(fcinfo, 0));
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(pgt_repair_stream_table);
Datum pgt_repair_stream_table(PG_FUNCTION_ARGS) {
    return pg_guard([&] { return text_datum(repair_stream_table(*text_arg(fcinfo, 0))); });
}

PG_FUNCTION_INFO_V1(pgt_rebuild_cdc_triggers);
Datum pgt_rebuild_cdc_triggers(PG_FUNCTION_ARGS) {
    return pg_guard([&] { return text_datum(rebuild_cdc_triggers()); });
}

PG_FUNCTION_INFO_V1(pgt_explain_diff_sql);
Datum pgt_explain_diff_sql(PG_FUNCTION_ARGS) {
    return pg_guard([&] { return text_datum(explain_diff_sql(*text_arg(fcinfo, 0))); });
}

PG_FUNCTION_INFO_V1(pgt_explain_st);
Datum pgt_explain_st(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        auto pairs = explain_stream_table(*text_arg(fcinfo, 0));
        std::vector<Datum> items;
        for (const auto& [property, value] : pairs) {
            items.push_back(text_datum(property));
            items.push_back(text_datum(value));
        }
        Datum* data = items.data();
        int n = static_cast<int>(items.size());
        ArrayType* array =
            pg_call([&] { return construct_array(data, n, TEXTOID, -1, false, TYPALIGN_INT); });
        PG_RETURN_ARRAYTYPE_P(array);
    });
}

PG_FUNCTION_INFO_V1(pgt_validate_query);
Datum pgt_validate_query(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        auto rows = validate_query(*text_arg(fcinfo, 0));
        std::vector<Datum> items;
        for (const auto& r : rows) {
            items.push_back(text_datum(r.check_name));
            items.push_back(text_datum(r.result));
            items.push_back(text_datum(r.severity));
        }
        Datum* data = items.data();
        int n = static_cast<int>(items.size());
        ArrayType* array =
            pg_call([&] { return construct_array(data, n, TEXTOID, -1, false, TYPALIGN_INT); });
        PG_RETURN_ARRAYTYPE_P(array);
    });
}

PG_FUNCTION_INFO_V1(pgt_unconsumed_predicate);
Datum pgt_unconsumed_predicate(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        Datum arg = PG_GETARG_DATUM(0);
        char* json = pg_call([&] { return DatumGetCString(DirectFunctionCall1(jsonb_out, arg)); });
        auto frontier = core::Frontier::from_json(json);
        if (!frontier)
            throw core::invalid_argument("not a pg_trickle frontier");
        return text_datum(core::unconsumed_predicate(*frontier, "b"));
    });
}

PG_FUNCTION_INFO_V1(pgt_lookup_id);
Datum pgt_lookup_id(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        Spi spi;
        std::int64_t id = catalog::get(spi, *text_arg(fcinfo, 0)).pgt_id;
        spi.finish();
        PG_RETURN_INT64(id);
    });
}

PG_FUNCTION_INFO_V1(pgt_version);
Datum pgt_version(PG_FUNCTION_ARGS) {
    return pg_guard([&] { return text_datum(kVersion); });
}

PG_FUNCTION_INFO_V1(pgt_parse_duration_seconds);
Datum pgt_parse_duration_seconds(PG_FUNCTION_ARGS) {
    return pg_guard([&] { PG_RETURN_INT64(core::parse_duration_seconds(*text_arg(fcinfo, 0))); });
}

PG_FUNCTION_INFO_V1(pgt_hash);
Datum pgt_hash(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        auto input = text_arg(fcinfo, 0);
        PG_RETURN_INT64(input ? core::hash_text(*input) : core::hash_text(std::nullopt));
    });
}

PG_FUNCTION_INFO_V1(pgt_hash_multi);
Datum pgt_hash_multi(PG_FUNCTION_ARGS) {
    return pg_guard([&] {
        Datum arg = PG_GETARG_DATUM(0);
        ArrayType* array = pg_call([&] { return DatumGetArrayTypeP(arg); });
        Datum* elems = nullptr;
        bool* nulls = nullptr;
        int count = 0;
        pg_call([&] {
            deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
        });
        std::vector<std::string> texts(count);
        std::vector<std::optional<std::string_view>> inputs(count);
        for (int i = 0; i < count; ++i) {
            if (nulls[i])
                continue;
            Datum d = elems[i];
            text* t = pg_call([&] { return DatumGetTextPP(d); });
            texts[i].assign(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
            inputs[i] = texts[i];
        }
        PG_RETURN_INT64(core::hash_multi(inputs));
    });
}

// Called for every summed numeric value of every change an aggregate's delta reads. `x = 'NaN'`
// detoasts both operands, and PG_DETOAST_DATUM copies every short-header value (most stored
// numerics); a NaN is found from the first two bytes of its digits instead. 0xC000 is
// NUMERIC_NAN, numeric.c's on-disk header of a NaN (as stable as the format pg_upgrade keeps).
// Plain C, no guard (none of it throws; a detoast error is PostgreSQL's own, raised as from any
// C function): a guard's setjmp would be paid per value.
PG_FUNCTION_INFO_V1(pgt_is_nan);
Datum pgt_is_nan(PG_FUNCTION_ARGS) {
    constexpr uint16 numeric_nan_header = 0xC000;
    struct varlena* value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
    uint16 header = 0;
    if (VARSIZE_ANY_EXHDR(value) >= sizeof header)
        memcpy(&header, VARDATA_ANY(value), sizeof header);
    PG_RETURN_BOOL(header == numeric_nan_header);
}

// Raised from inside an upsert (core::algebraic_relative and keyed linear plans: IMMEDIATE and
// refreshes) when a group's or key's row id is held by a stored row of another. Never returns.
PG_FUNCTION_INFO_V1(pgt_row_id_collision);
Datum pgt_row_id_collision(PG_FUNCTION_ARGS) {
    return pg_guard([&]() -> Datum {
        throw core::Error(
            "XX000",
            fmt::format("row id collision in stream table {}", text_arg(fcinfo, 0).value_or("?")),
            "The row stored under a row id holds another group's or key's values: the storage "
            "table was changed by hand, or two groups or keys hash alike.",
            "Recompute it: SET pg_trickle.refresh_strategy = 'full', then call "
            "pgtrickle.refresh_stream_table().");
    });
}

}  // extern "C"
