// Delta SQL of recursive queries (WITH RECURSIVE): the derivations a change removes and adds,
// iterated to a fixed point (see include/pg_trickle/core/delta.hpp, DeltaPlan::recursion).
#include <fmt/format.h>

#include "delta_internal.hpp"
#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core::detail {

namespace {

// `text` with the reference `self` replaced by `replacement` (its name kept as alias), and
// `refs` moved to where they are in the result.
std::pair<std::string, std::vector<RelationRef>> replace_reference(
    const std::string& text, const std::vector<RelationRef>& refs, const RelationRef& self,
    const std::string& replacement) {
    std::string r = replacement;
    if (!self.has_alias)
        r += " " + quote_ident(self.refname);
    std::string out = text;
    out.replace(self.location, self.length, r);
    std::vector<RelationRef> moved = refs;
    for (auto& ref : moved) {
        if (ref.location > self.location)
            ref.location = ref.location + r.size() - self.length;
        // (Spans are not moved: these texts are never split, see substitute_split.)
        ref.split_begin = ref.split_end = 0;
        ref.split_op = 0;
        ref.split_del.clear();
    }
    return {out, moved};
}

// Whether the row `alias`.(cols) is not in `rel` (columns cols), a NULL equal to a NULL as in
// UNION: an anti join on plain equalities (which the planner can hash) for every row, and for a
// row holding a NULL a NOT DISTINCT probe as well.
std::string not_in_set(const std::vector<std::string>& cols, std::string_view alias,
                       std::string_view rel) {
    std::vector<std::string> eq, same, null;
    for (const auto& c : cols) {
        eq.push_back(fmt::format("__pgt_m.{0} = {1}.{0}", c, alias));
        same.push_back(fmt::format("__pgt_m.{0} IS NOT DISTINCT FROM {1}.{0}", c, alias));
        null.push_back(fmt::format("{}.{} IS NULL", alias, c));
    }
    return fmt::format(
        "NOT EXISTS (SELECT 1 FROM {rel} __pgt_m WHERE {eq})\n"
        "  AND NOT (({null}) AND EXISTS (SELECT 1 FROM {rel} __pgt_m WHERE {same}))",
        fmt::arg("rel", rel), fmt::arg("eq", join(eq, " AND ")),
        fmt::arg("null", join(null, " OR ")), fmt::arg("same", join(same, " AND ")));
}

// `select` (a query over `alias`) kept to the rows that are in `rel` (columns cols), NULLs
// equal: a semi join on plain equalities for rows without a NULL, UNION ALL a NOT DISTINCT
// probe for rows with one (evaluated only when `rel` holds such a row).
std::string in_set(const std::string& select, const std::vector<std::string>& cols,
                   std::string_view alias, std::string_view rel) {
    std::vector<std::string> eq, same, not_null, null, rel_null;
    for (const auto& c : cols) {
        eq.push_back(fmt::format("__pgt_m.{0} = {1}.{0}", c, alias));
        same.push_back(fmt::format("__pgt_m.{0} IS NOT DISTINCT FROM {1}.{0}", c, alias));
        not_null.push_back(fmt::format("{}.{} IS NOT NULL", alias, c));
        null.push_back(fmt::format("{}.{} IS NULL", alias, c));
        rel_null.push_back(fmt::format("__pgt_m.{} IS NULL", c));
    }
    return fmt::format(
        "{select} WHERE {not_null} AND EXISTS (SELECT 1 FROM {rel} __pgt_m WHERE {eq})\n"
        "UNION ALL\n"
        "{select} WHERE EXISTS (SELECT 1 FROM {rel} __pgt_m WHERE {rel_null}) AND ({null})\n"
        "  AND EXISTS (SELECT 1 FROM {rel} __pgt_m WHERE {same})",
        fmt::arg("select", select), fmt::arg("rel", rel), fmt::arg("eq", join(eq, " AND ")),
        fmt::arg("not_null", join(not_null, " AND ")), fmt::arg("null", join(null, " OR ")),
        fmt::arg("rel_null", join(rel_null, " OR ")), fmt::arg("same", join(same, " AND ")));
}

// `text` with every reference read as of `state`: "old" (the table before the change) or ""
// (the table now).
std::string every_reference(const std::string& text, const std::vector<RelationRef>& refs,
                            const std::vector<DeltaTable>& tables, std::string_view state) {
    std::vector<std::string> repl(refs.size());
    for (std::size_t j = 0; j < refs.size(); ++j)
        if (!state.empty() && tables[refs[j].table].changed)
            repl[j] = fmt::format("__pgt_{}_{}", state, refs[j].table);
    return substitute(text, refs, repl);
}

// One query per reference of a changed table: `text` (its columns named `col_list`) with that
// reference reading only its table's `changed` rows ("ins" or "del") and the others as of
// `others` (see every_reference): their union is every derivation through at least one such
// row. With `first`, the references before it read the rows kept (there before and after), so
// that each derivation is counted once, at the first changed row it meets in reference order.
std::vector<std::string> through_changed_rows(const std::string& text,
                                              const std::vector<RelationRef>& refs,
                                              const std::vector<DeltaTable>& tables,
                                              std::string_view changed, std::string_view others,
                                              const std::string& col_list, bool first = false) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < refs.size(); ++i) {
        if (!tables[refs[i].table].changed)
            continue;
        std::vector<std::string> repl(refs.size());
        for (std::size_t j = 0; j < refs.size(); ++j) {
            if (!tables[refs[j].table].changed)
                continue;
            if (j == i)
                repl[j] = fmt::format("__pgt_{}_{}", changed, refs[j].table);
            else if (first && j < i)
                repl[j] = fmt::format("__pgt_kept_{}", refs[j].table);
            else if (!others.empty())
                repl[j] = fmt::format("__pgt_{}_{}", others, refs[j].table);
        }
        out.push_back(
            fmt::format("SELECT * FROM (\n{}\n) q({})", substitute(text, refs, repl), col_list));
    }
    return out;
}

// The pieces of text both recursive strategies build their statement from.
struct RecursiveText {
    const DeltaPlan& plan;
    const Recursion& rec;
    std::vector<std::string> cols, out_cols, renamed;
    std::string col_list;
    std::string stored;  // the stored columns named as r's
    std::string typed;   // no rows, the stored columns' types: every union below selects it too
    std::string storage;

    RecursiveText(const DeltaPlan& p, const std::string& st)
        : plan(p), rec(*p.recursion), storage(st) {
        std::vector<std::string> stored_as;
        for (std::size_t i = 0; i < rec.columns.size(); ++i) {
            const std::string c = quote_ident(rec.columns[i]);
            const std::string o = quote_ident(plan.output_columns[i]);
            cols.push_back(c);
            out_cols.push_back(o);
            stored_as.push_back(fmt::format("s.{} AS {}", o, c));
            renamed.push_back(fmt::format("r.{} AS {}", c, o));
        }
        col_list = join(cols, ", ");
        stored = join(stored_as, ", ");
        typed = fmt::format("SELECT {} FROM {} s WHERE false", stored, st);
    }
    // The statement's head: the source CTEs, then __pgt_stored (the stored rows as r's columns).
    std::string head(const std::string& table_ctes) const {
        return fmt::format(
            "WITH RECURSIVE {},\n__pgt_stored({}) AS NOT MATERIALIZED (SELECT {} FROM {} s)",
            table_ctes, col_list, stored, storage);
    }
    // The step with r read from `r_rel`.
    std::pair<std::string, std::vector<RelationRef>> step_over(const std::string& r_rel) const {
        return replace_reference(rec.step, rec.step_refs, rec.self, r_rel);
    }
    // The derivations through a changed row (through_changed_rows) of the base and of the step
    // over `r_rel`, and `typed`.
    std::vector<std::string> through_changes(std::string_view changed, std::string_view others,
                                             const std::string& r_rel, bool first) const {
        auto out = through_changed_rows(rec.base, rec.base_refs, plan.tables, changed, others,
                                        col_list, first);
        const auto [text, refs] = step_over(r_rel);
        for (auto& t :
             through_changed_rows(text, refs, plan.tables, changed, others, col_list, first))
            out.push_back(std::move(t));
        out.push_back(typed);
        return out;
    }
};

}  // namespace

// Delete and rederive for a recursive query's stored rows (DeltaPlan::recursion; the steps are
// numbered as there). All sets compare rows as UNION does (NULLs equal, by equality).
std::string recursive_apply(const DeltaPlan& plan, const std::string& table_ctes,
                            const std::string& st) {
    const RecursiveText r(plan, st);
    const auto& cols = r.cols;

    // 1. Over-delete seeds: derivations in the old state through a deleted source row.
    const auto doomed = r.through_changes("del", "old", "__pgt_stored", false);
    const auto [od_step, od_refs] = r.step_over("__pgt_od");
    const std::string od_iterated = every_reference(od_step, od_refs, plan.tables, "old");

    // 3. Seeds: derivations through an inserted source row, and over-deleted rows derived
    // again, both from the rows that stay.
    auto seeds = r.through_changes("ins", "", "__pgt_stay", false);
    const auto [stay_step, stay_refs] = r.step_over("__pgt_stay");
    const std::string rederived_base =
        in_set(fmt::format("SELECT q.* FROM (\n{}\n) q({})", r.rec.base, r.col_list), cols, "q",
               "__pgt_odm");
    const std::string rederived_step =
        in_set(fmt::format("SELECT q.* FROM (\n{}\n) q({})",
                           every_reference(stay_step, stay_refs, plan.tables, ""), r.col_list),
               cols, "q", "__pgt_odm");
    seeds.push_back(fmt::format(
        "SELECT * FROM (\n{}\nUNION ALL\n{}\n) q WHERE EXISTS (SELECT 1 FROM __pgt_odm)",
        rederived_base, rederived_step));

    // 4. The step iterated from the seeds, never past a row that stays: one found in the
    // stored rows through the row-id index (a row stored with another text of an equal value is
    // not found, and is only followed further) and not over-deleted. (An anti join with the rows
    // that stay would be planned again at every iteration.)
    std::vector<std::string> q_cols, same_stored, odm_eq, odm_same, q_null;
    for (std::size_t i = 0; i < cols.size(); ++i) {
        q_cols.push_back("q." + cols[i]);
        same_stored.push_back(
            fmt::format("s.{} IS NOT DISTINCT FROM q.{}", r.out_cols[i], cols[i]));
        odm_eq.push_back(fmt::format("m.{0} = q.{0}", cols[i]));
        odm_same.push_back(fmt::format("m.{0} IS NOT DISTINCT FROM q.{0}", cols[i]));
        q_null.push_back(fmt::format("q.{} IS NULL", cols[i]));
    }
    const std::string iterated = fmt::format(
        "SELECT q.* FROM (\n{step}\n) q({cols})\n"
        "WHERE NOT EXISTS (SELECT 1 FROM {st} s WHERE s.__pgt_row_id = {rid} AND {same})\n"
        "   OR EXISTS (SELECT 1 FROM __pgt_odm m WHERE {eq})\n"
        "   OR (({null}) AND EXISTS (SELECT 1 FROM __pgt_odm m WHERE {nd}))",
        fmt::arg("step", r.step_over("__pgt_rec").first), fmt::arg("cols", r.col_list),
        fmt::arg("st", st), fmt::arg("rid", hash_of(q_cols)),
        fmt::arg("same", join(same_stored, " AND ")), fmt::arg("eq", join(odm_eq, " AND ")),
        fmt::arg("null", join(q_null, " OR ")), fmt::arg("nd", join(odm_same, " AND ")));
    // The planner estimates a recursive CTE at many times its seeds, and hashing a relation
    // estimated that large takes thousands of batches however small it turns out: the
    // over-deleted rows are read through DISTINCT (estimated at most a few hundred rows per
    // column; a hash join grows when it meets more), and the rows that stay are computed once.
    return fmt::format(
        "{head},\n"
        "__pgt_doomed({cols}) AS MATERIALIZED (\n{doomed}\n),\n"
        "__pgt_od({cols}) AS (\n"
        "  SELECT {cols} FROM __pgt_doomed\n"
        "  UNION\n{od_iterated}\n),\n"
        "__pgt_odm({cols}) AS MATERIALIZED (SELECT DISTINCT {cols} FROM __pgt_od),\n"
        "__pgt_stay({cols}) AS MATERIALIZED (\n"
        "  SELECT {cols} FROM __pgt_stored s WHERE {not_od}),\n"
        "__pgt_seed({cols}) AS MATERIALIZED (\n{seeds}\n),\n"
        "__pgt_rec({cols}) AS (\n"
        "  SELECT {cols} FROM __pgt_seed s WHERE {not_stay}\n"
        "  UNION\n{iterated}\n),\n"
        "__pgt_new({cols}) AS MATERIALIZED (SELECT DISTINCT {cols} FROM __pgt_rec),\n"
        "__pgt_gone({cols}) AS MATERIALIZED (\n"
        "  SELECT {cols} FROM __pgt_odm EXCEPT SELECT {cols} FROM __pgt_new),\n"
        "__pgt_gone_rows AS MATERIALIZED (\n{gone_rows}\n),\n"
        "__pgt_apply_del AS (\n"
        "  DELETE FROM {st} s USING __pgt_gone_rows g WHERE s.ctid = g.ctid RETURNING 1),\n"
        "__pgt_apply_ins AS (\n"
        "  INSERT INTO {st} (__pgt_row_id, {out})\n"
        "  SELECT {rid}, {ncols} FROM (SELECT {renamed} FROM __pgt_new r WHERE {r_new}) n\n"
        "  RETURNING 1)\n"
        "SELECT (SELECT pg_catalog.count(*) FROM __pgt_apply_ins),"
        " (SELECT pg_catalog.count(*) FROM __pgt_apply_del), 0::bigint",
        fmt::arg("head", r.head(table_ctes)), fmt::arg("cols", r.col_list), fmt::arg("st", st),
        fmt::arg("doomed", join(doomed, "\nUNION ALL\n")), fmt::arg("od_iterated", od_iterated),
        fmt::arg("not_od", not_in_set(cols, "s", "__pgt_odm")),
        fmt::arg("seeds", join(seeds, "\nUNION ALL\n")),
        fmt::arg("not_stay", not_in_set(cols, "s", "__pgt_stay")), fmt::arg("iterated", iterated),
        fmt::arg(
            "gone_rows",
            in_set(fmt::format("SELECT s.ctid FROM (SELECT s.ctid, {} FROM {} s) s", r.stored, st),
                   cols, "s", "__pgt_gone")),
        fmt::arg("out", join(r.out_cols, ", ")), fmt::arg("rid", row_id_expression(plan, "n")),
        fmt::arg("ncols", prefixed(plan, "n")), fmt::arg("renamed", join(r.renamed, ", ")),
        fmt::arg("r_new", not_in_set(cols, "r", "__pgt_stored")));
}

// Counting for a recursive UNION ALL query (DeltaPlan::recursion with `all`): the stored rows
// minus the old paths through a deleted row (__pgt_gone) plus the new paths through an
// inserted row (__pgt_born).
std::string counting_apply(const DeltaPlan& plan, const std::string& table_ctes,
                           const std::string& st) {
    const RecursiveText r(plan, st);
    // Old paths through a deleted row: where one first meets one (a base row, or a step from
    // any old path), then continued through kept rows only.
    const auto gone_seeds = r.through_changes("del", "old", "__pgt_stored", true);
    const auto [gone_step, gone_refs] = r.step_over("__pgt_gone");
    // New paths through an inserted row: where one first meets one (a base row, or a step from
    // a path that stays), then continued through any rows now.
    const auto born_seeds = r.through_changes("ins", "", "__pgt_stay", true);
    const auto [born_step, born_refs] = r.step_over("__pgt_born");
    // The stored rows minus the gone ones. Where equal values can print differently
    // (DeltaPlan::output_groupable false: 'abc' = 'ABC' under a nondeterministic collation),
    // EXCEPT ALL alone could keep a stored 'ABC' for a gone 'abc' and drop the 'abc': the rows'
    // text decides too.
    const std::string kept =
        plan.output_groupable
            ? fmt::format(
                  "(SELECT {0} FROM __pgt_stored WHERE EXISTS (SELECT 1 FROM __pgt_gone_m)\n"
                  "   EXCEPT ALL SELECT {0} FROM __pgt_gone_m)",
                  r.col_list)
            : fmt::format(
                  "(SELECT {0} FROM (SELECT {0}, ROW({0})::text COLLATE \"C\" AS __pgt_k "
                  "FROM __pgt_stored WHERE EXISTS (SELECT 1 FROM __pgt_gone_m)\n"
                  "   EXCEPT ALL SELECT {0}, ROW({0})::text COLLATE \"C\" FROM "
                  "__pgt_gone_m) x)",
                  r.col_list);

    const std::string with = fmt::format(
        "{head},\n"
        "__pgt_gone_seed({cols}) AS MATERIALIZED (\n{gone_seeds}\n),\n"
        "__pgt_gone({cols}) AS (\n"
        "  SELECT {cols} FROM __pgt_gone_seed\n"
        "  UNION ALL\n{gone_step}\n),\n"
        "__pgt_gone_m({cols}) AS MATERIALIZED (SELECT {cols} FROM __pgt_gone),\n"
        "__pgt_stay({cols}) AS NOT MATERIALIZED (\n"
        "  SELECT {cols} FROM __pgt_stored WHERE NOT EXISTS (SELECT 1 FROM __pgt_gone_m)\n"
        "  UNION ALL\n"
        "  {kept}),\n"
        "__pgt_born_seed({cols}) AS MATERIALIZED (\n{born_seeds}\n),\n"
        "__pgt_born({cols}) AS (\n"
        "  SELECT {cols} FROM __pgt_born_seed\n"
        "  UNION ALL\n{born_step}\n)",
        fmt::arg("head", r.head(table_ctes)), fmt::arg("cols", r.col_list), fmt::arg("kept", kept),
        fmt::arg("gone_seeds", join(gone_seeds, "\nUNION ALL\n")),
        fmt::arg("gone_step", every_reference(gone_step, gone_refs, plan.tables, "kept")),
        fmt::arg("born_seeds", join(born_seeds, "\nUNION ALL\n")),
        fmt::arg("born_step", every_reference(born_step, born_refs, plan.tables, "")));
    const std::vector<std::string> terms{
        fmt::format("SELECT {}, 1 AS __pgt_w FROM __pgt_born r", join(r.renamed, ", ")),
        fmt::format("SELECT {}, -1 AS __pgt_w FROM __pgt_gone_m r", join(r.renamed, ", "))};
    return content_apply(plan, with, terms, st);
}

}  // namespace pgtrickle::core::detail
