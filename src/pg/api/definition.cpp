// Definition checks shared by create_stream_table and alter_stream_table.
#include "definition.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

#include "pg_trickle/core/dag.hpp"
#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/differential.hpp"
#include "pg_trickle/pg/guard.hpp"

namespace pgtrickle::pg {

Definition prepare_definition(Spi& spi, const std::string& query, std::int64_t self) {
    Definition def;
    def.search_path = pg_call([] { return GetConfigOption("search_path", false, false); });
    def.query = analyze_query(query);
    AnalyzedQuery& q = def.query;
    check_can_read(spi, q);
    if (q.order_by_without_limit) {
        warning("ORDER BY without LIMIT has no effect on a stream table",
                "A table has no row order; the stream table keeps all rows.",
                "Order the rows when you query the stream table.");
    }

    // Which sources are stream tables, and the graph between stream tables.
    std::map<Oid, StreamTable> by_relid;
    core::Dag dag;
    for (auto& st : catalog::all(spi)) {
        dag.add_node(st.pgt_id);
        by_relid.emplace(st.relid, st);
    }
    for (const auto& [relid, st] : by_relid) {
        for (const auto& dep : catalog::dependencies(spi, st.pgt_id)) {
            auto up = by_relid.find(dep.source_relid);
            if (up != by_relid.end())
                dag.add_edge(up->second.pgt_id, st.pgt_id);
        }
    }
    std::set<core::Dag::Node> upstream_sts;
    for (auto& src : q.sources) {
        auto it = by_relid.find(src.source_relid);
        if (it == by_relid.end())
            continue;
        src.source_type = "STREAM_TABLE";
        upstream_sts.insert(it->second.pgt_id);
    }
    if (self != 0) {
        if (auto cycle = dag.cycle_if_reads(self, upstream_sts)) {
            std::string path;
            std::map<std::int64_t, std::string> names;
            for (const auto& [relid, st] : by_relid)
                names[st.pgt_id] = st.display_name();
            for (auto n : *cycle)
                path += (path.empty() ? "" : " -> ") + names[n];
            throw core::Error(core::sqlstate::kInvalidRecursion,
                              fmt::format("cycle detected in stream table dependencies: {}", path),
                              {},
                              "A stream table may not read itself, directly or through "
                              "other stream tables.");
        }
    }

    if (!q.functions_used.empty()) {
        // (Names joined by chr(31), as the catalog stores them: no function name holds it.)
        std::string names;
        for (const auto& f : q.functions_used)
            names += (names.empty() ? "" : "\x1f") + f;
        def.stable_functions =
            spi.execute(
                   "SELECT pg_catalog.string_agg(DISTINCT p.oid::pg_catalog.regprocedure::text, ', "
                   "')"
                   " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n"
                   "   ON n.oid = p.pronamespace"
                   " WHERE n.nspname <> 'pg_catalog' AND p.provolatile = 's'"
                   "   AND pg_catalog.quote_ident(n.nspname) || '.' ||"
                   "       pg_catalog.quote_ident(p.proname) = ANY ("
                   "         pg_catalog.string_to_array($1, pg_catalog.chr(31)))",
                   {names})
                .scalar()
                .value_or("");
    }
    DifferentialAnalysis diff = analyze_differential(spi, q.deparsed, /*check_limits=*/true);
    def.plan = std::move(diff.plan);
    def.why_not_differential = def.plan ? "" : diff.reason;
    def.why_not_immediate = def.why_not_differential;
    if (def.plan && def.plan->time_dependent)
        def.why_not_immediate =
            "functions whose value changes with time or session (now(), CURRENT_DATE, "
            "current_setting(), ...): a result maintained by writing statements cannot follow "
            "the clock";
    return def;
}

core::RefreshMode choose_mode(const Definition& def, core::RequestedMode requested,
                              const std::string& display_name) {
    // A query maintained differentially only by recomputing it (DeltaPlan::recompute): AUTO
    // takes FULL, which costs the same; DIFFERENTIAL and IMMEDIATE, asked for, recompute and
    // write the difference.
    if (requested == core::RequestedMode::Auto && def.plan && def.plan->time_dependent) {
        notice(
            fmt::format("stream table {} uses refresh mode FULL: its defining query reads the "
                        "clock or the session, so every refresh evaluates it whole",
                        display_name));
        return core::RefreshMode::Full;
    }
    if (requested == core::RequestedMode::Auto && def.plan && def.plan->recompute) {
        notice(
            fmt::format("stream table {} uses refresh mode FULL: DIFFERENTIAL and IMMEDIATE "
                        "would maintain its defining query only by recomputing it ({})",
                        display_name, def.plan->recompute_reason));
        return core::RefreshMode::Full;
    }
    auto resolved = core::resolve_refresh_mode(
        requested, requested == core::RequestedMode::Immediate ? def.why_not_immediate
                                                               : def.why_not_differential);
    if (!resolved.downgrade_reason.empty()) {
        notice(fmt::format("stream table {} uses refresh mode FULL: {}", display_name,
                           resolved.downgrade_reason));
    }
    if (core::maintained_by_delta(resolved.mode) && !def.stable_functions.empty())
        warning(fmt::format("stream table {} calls STABLE function(s) {}", display_name,
                            def.stable_functions),
                "Its maintenance follows the changes of the query's sources only: if such a "
                "function reads other tables, their changes do not reach the stream table.",
                "Mark a function that reads no tables IMMUTABLE, or use refresh_mode => "
                "'FULL' for a query whose functions read other tables.");
    return resolved.mode;
}

std::vector<Dependency> dependencies_of(const Definition& def, core::RefreshMode mode) {
    std::vector<Dependency> deps = def.query.sources;
    if (core::maintained_by_delta(mode) && def.plan) {
        for (auto& d : deps) {
            for (const auto& t : def.plan->tables) {
                if (t.relid != d.source_relid)
                    continue;
                for (const auto& c : t.columns)
                    d.columns_used.push_back(c.name);
            }
        }
    }
    return deps;
}

bool unique_row_ids(const Definition& def, core::RefreshMode mode) {
    return !(core::maintained_by_delta(mode) && def.plan && !core::unique_row_ids(*def.plan));
}

std::vector<OutputColumn> storage_columns(const Definition& def, core::RefreshMode mode) {
    std::vector<OutputColumn> cols = def.query.columns;
    if (!core::maintained_by_delta(mode) || !def.plan)
        return cols;
    for (const auto& c : core::state_columns(*def.plan)) {
        bool sum = c.type_sql.rfind("numeric", 0) == 0;
        cols.push_back(
            {c.name, c.type_sql, static_cast<Oid>(sum ? NUMERICOID : INT8OID), -1, InvalidOid});
    }
    return cols;
}

void check_immediate_triggers_allowed(const std::vector<Dependency>& deps, Oid owner) {
    for (const auto& d : deps) {
        if (d.source_type == "VIEW")
            continue;  // (its tables are sources of their own)
        const Oid relid = d.source_relid;
        // (A write to a partition fires the partition's statement triggers only, with rows of
        // its own row type: IMMEDIATE maintenance is made for the tables it names.)
        if (pg_call([&] { return get_rel_relkind(relid); }) == RELKIND_PARTITIONED_TABLE)
            throw core::unsupported(
                fmt::format("IMMEDIATE mode cannot maintain a stream table over partitioned "
                            "table {}",
                            qualified_relation_name(relid)),
                "Writes to its partitions fire only the partitions' own statement triggers.",
                "Use refresh_mode => 'DIFFERENTIAL' (its changes are captured from every "
                "partition) or 'FULL'.");
        // (Rows a subscription applies fire no statement trigger; a crash empties an UNLOGGED
        // table without one, and an IMMEDIATE stream table has no refresh to catch up.)
        Spi spi;
        auto unseen = spi.execute(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_subscription_rel r"
            "                         WHERE r.srrelid = $1::oid) THEN 'subscription'"
            "            WHEN c.relpersistence = 'u' THEN 'unlogged' END"
            " FROM pg_catalog.pg_class c WHERE c.oid = $1::oid",
            {std::to_string(relid)});
        spi.finish();
        if (auto why = unseen.scalar())
            throw core::unsupported(
                fmt::format("IMMEDIATE mode cannot maintain a stream table over {} table {}",
                            *why == "unlogged" ? "UNLOGGED" : "logically replicated",
                            qualified_relation_name(relid)),
                *why == "unlogged" ? "A crash empties an UNLOGGED table without firing any trigger."
                                   : "A subscription's apply worker fires no statement trigger.",
                "Use refresh_mode => 'DIFFERENTIAL' (which refreshes FULL when it cannot know "
                "what changed) or 'FULL'.");
        if (pg_call([&] { return pg_class_aclcheck(relid, owner, ACL_TRIGGER); }) == ACLCHECK_OK)
            continue;
        const std::string table = qualified_relation_name(relid);
        const char* role = pg_call([&] { return GetUserNameFromId(owner, false); });
        throw core::Error(core::sqlstate::kInsufficientPrivilege,
                          fmt::format("permission denied to maintain an IMMEDIATE stream table "
                                      "from table {}",
                                      table),
                          fmt::format("IMMEDIATE maintenance runs inside every write to {}; it "
                                      "needs the TRIGGER privilege on it, which {} lacks.",
                                      table, role),
                          fmt::format("GRANT TRIGGER ON {} TO {}, or use refresh_mode => "
                                      "'DIFFERENTIAL'.",
                                      table, pg_call([&] { return quote_identifier(role); })));
    }
}

void install_dependencies(Spi& spi, std::int64_t pgt_id, const std::vector<Dependency>& deps) {
    std::set<Oid> affected;
    for (const auto& d : catalog::dependencies(spi, pgt_id))
        affected.insert(d.source_relid);
    for (const auto& d : deps)
        affected.insert(d.source_relid);
    catalog::replace_dependencies(spi, pgt_id, deps);
    for (Oid relid : affected)
        sync_capture(spi, relid);
}

void ensure_owner(const StreamTable& st) {
    Oid relid = st.relid;
    bool owner = pg_call([&] { return pg_class_ownercheck(relid, GetUserId()); });
    if (!owner) {
        throw core::Error(core::sqlstate::kInsufficientPrivilege,
                          fmt::format("must be owner of stream table {}", st.display_name()));
    }
}

}  // namespace pgtrickle::pg
