// explain_st: what a stream table is and how pg_trickle maintains it.
#include <fmt/format.h>

#include "definition.hpp"
#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/lifecycle.hpp"

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

    DifferentialAnalysis diff = analyze_differential(spi, st.defining_query);
    add("dvm_supported", diff.plan ? "true" : "false");
    if (!diff.plan)
        add("dvm_error", diff.reason);
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
