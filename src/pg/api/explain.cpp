// explain_st: what a stream table is and how pg_trickle maintains it.
#include <fmt/format.h>

#include "definition.hpp"
#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/lifecycle.hpp"
#include "pg_trickle/pg/refresh.hpp"
#include "refresh/scopes.hpp"

namespace pgtrickle::pg {

std::vector<std::pair<std::string, std::string>> explain_stream_table(const std::string& name) {
    Spi spi;
    StreamTable st = catalog::get(spi, name);
    std::vector<std::pair<std::string, std::string>> out;
    auto add = [&](std::string p, std::string v) { out.emplace_back(std::move(p), std::move(v)); };
    add("pgt_name", st.display_name());
    add("defining_query", st.defining_query);
    if (st.original_query)
        add("original_query", *st.original_query);
    add("refresh_mode", st.refresh_mode);
    if (st.effective_refresh_mode)
        add("effective_refresh_mode", *st.effective_refresh_mode);
    add("status", st.status);
    add("is_populated", st.is_populated ? "true" : "false");

    if (st.status == "ERROR") {
        const Value why = spi.execute(
                                 "SELECT last_error_message FROM pgtrickle.pgt_stream_tables"
                                 " WHERE pgt_id = $1::bigint",
                                 {std::to_string(st.pgt_id)})
                              .scalar();
        if (why)
            add("last_error_message", *why);
    }

    // (A stream table in ERROR may have a query that no longer analyses, its source dropped or
    // renamed: what the catalog knows is still shown, with the analysis' error.)
    DifferentialAnalysis diff;
    std::string analysis_error;
    {
        Subtransaction sub;
        try {
            diff = analyze_differential(spi, st.defining_query);
            if (diff.plan)
                choose_apply(spi, st.relid, *diff.plan);
            sub.commit();
        } catch (const PgException& e) {
            const std::string message = e.what();
            analysis_error = message.substr(0, message.find('\n'));
            diff = DifferentialAnalysis{};
        }
    }
    if (!analysis_error.empty()) {
        add("analysis_error", analysis_error);
    } else {
        add("dvm_supported", diff.plan ? "true" : "false");
        if (!diff.plan)
            add("dvm_error", diff.reason);
    }
    if (diff.plan) {
        add("operator_tree", core::describe_plan(*diff.plan));
        std::string cols;
        for (const auto& c : diff.plan->output_columns)
            cols += (cols.empty() ? "" : ", ") + c;
        add("output_columns", cols);
    }
    std::string oids;
    for (const auto& d : catalog::dependencies(spi, st.pgt_id))
        oids += (oids.empty() ? "" : ", ") + std::to_string(d.source_relid);
    add("source_oids", oids);
    // Partitioned sources: their partition key and how many partitions (direct ones) they have.
    // (Only when there is one.)
    auto partitioned = spi.execute(
        "SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
        "   'source', pg_catalog.quote_ident(n.nspname) || '.' || "
        "pg_catalog.quote_ident(c.relname),"
        "   'partition_key', pg_catalog.pg_get_partkeydef(c.oid),"
        "   'partitions', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_inherits i"
        "                  WHERE i.inhparent = c.oid)) ORDER BY c.oid)::text"
        " FROM pgtrickle.pgt_dependencies d JOIN pg_catalog.pg_class c ON c.oid = d.source_relid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE d.pgt_id = $1::bigint AND c.relkind = 'p'",
        {std::to_string(st.pgt_id)});
    if (auto json = partitioned.scalar())
        add("source_partitions", *json);
    if (st.frontier)
        add("frontier", *st.frontier);
    if (st.refresh_mode == "DIFFERENTIAL" && diff.plan) {
        auto frontier = st.frontier ? core::Frontier::from_json(*st.frontier) : std::nullopt;
        if (frontier)
            add("delta_query", core::apply_statement(*diff.plan, *frontier, st.qualified_name(),
                                                     core::Consolidation::Lean));
        else
            add("delta_query_error", "not refreshed yet: the first refresh is FULL");
    }
    spi.finish();
    return out;
}

}  // namespace pgtrickle::pg

namespace pgtrickle::pg {

std::vector<ValidationRow> validate_query(const std::string& query) {
    Spi spi;
    // As create_stream_table analyses it: an invalid query, or one the caller may not read,
    // fails here with the same error.
    Definition def = prepare_definition(spi, query, 0);
    std::vector<ValidationRow> out;
    auto add = [&](std::string check, std::string result, const char* severity) {
        out.push_back({std::move(check), std::move(result), severity});
    };
    const bool recompute = def.plan && def.plan->recompute;
    add("resolved_refresh_mode", def.plan && !recompute ? "DIFFERENTIAL" : "FULL", "INFO");
    if (!def.plan) {
        add("differential", "not supported: " + def.why_not_differential, "WARNING");
        add("immediate", "not supported: " + def.why_not_differential, "WARNING");
        if (def.why_not_differential == "volatile functions")
            add("volatility", "volatile functions: DIFFERENTIAL and IMMEDIATE refuse the query",
                "ERROR");
    } else {
        const std::string how = recompute
                                    ? "supported by recomputation (" + def.plan->recompute_reason +
                                          "): each refresh evaluates the whole query"
                                    : std::string("supported");
        add("differential", how, recompute ? "WARNING" : "INFO");
        std::string immediate =
            def.why_not_immediate.empty() ? how : "not supported: " + def.why_not_immediate;
        for (const auto& d : def.query.sources)
            if (d.source_type != "VIEW" && !capturable(spi, d.source_relid))
                immediate = "not supported: a source is not a plain table";
        // (Partitioned, UNLOGGED or logically replicated sources, the TRIGGER privilege: as
        // create_stream_table checks them.)
        if (immediate == how) {
            try {
                check_immediate_triggers_allowed(def.query.sources,
                                                 pg_call([] { return GetUserId(); }));
            } catch (const core::Error& e) {
                immediate = std::string("not supported: ") + e.what();
            }
        }
        add("immediate", immediate, immediate == "supported" ? "INFO" : "WARNING");
        const std::string tree = core::describe_plan(*def.plan);
        add("strategy", tree.substr(0, tree.find('\n')), "INFO");
        for (std::size_t i = 0; i < def.plan->algebraic.size(); ++i) {
            using Kind = core::AlgebraicColumn::Kind;
            const auto kind = def.plan->algebraic[i].kind;
            if (kind == Kind::Key)
                continue;
            add("aggregate",
                def.plan->output_columns[i] + ": " +
                    (kind == Kind::Min || kind == Kind::Max ? "SEMI_ALGEBRAIC"
                                                            : "ALGEBRAIC_VIA_AUX"),
                "INFO");
        }
        if (def.plan->kind == core::DeltaPlan::Kind::Grouped && def.plan->algebraic.empty() &&
            !recompute)
            add("aggregate", "GROUP_RESCAN: the groups a change touches are recomputed", "INFO");
    }
    for (const auto& d : def.query.sources) {
        Value name = spi.execute("SELECT $1::oid::regclass::text", {std::to_string(d.source_relid)})
                         .scalar();
        add("source", name.value_or("?") + " (" + d.source_type + ")", "INFO");
    }
    spi.finish();
    return out;
}

}  // namespace pgtrickle::pg
