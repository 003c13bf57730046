// Pieces of delta SQL generation shared by the files of src/core/delta.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core::detail {

std::string join(const std::vector<std::string>& parts, std::string_view sep);

template <typename F>
std::vector<std::string> map_columns(const std::vector<std::string>& names, F f) {
    std::vector<std::string> out;
    for (const auto& n : names)
        out.push_back(f(quote_ident(n)));
    return out;
}

// The statements of recursive queries (recursive.cpp): derivations deleted and re-derived
// (recursive_apply), or counted (counting_apply, WITH RECURSIVE ... UNION ALL).
std::string recursive_apply(const DeltaPlan& plan, const std::string& table_ctes,
                            const std::string& st);
std::string counting_apply(const DeltaPlan& plan, const std::string& table_ctes,
                           const std::string& st);
// ROW(alias.c1, ...)::text: a type-independent identity for a row's content.
std::string row_text(const std::vector<std::string>& columns, std::string_view alias);
// pgtrickle.pg_trickle_hash_multi(ARRAY[e1::text, ...]).
std::string hash_of(const std::vector<std::string>& exprs);
// The per-table CTEs (__pgt_net_t, __pgt_ins_t, __pgt_del_t, __pgt_old_t, __pgt_any_t) of every
// source; a source whose `consolidate` entry is false gets only __pgt_ins_t / __pgt_del_t read
// straight from its buffer (empty vector = all consolidated), its __pgt_sgn_t materialized when
// its `shared_sgn` entry is true (several terms read it).
std::string all_table_ctes(const DeltaPlan& plan, const Frontier& prev,
                           const std::vector<bool>& consolidate = {},
                           const std::vector<bool>& shared_sgn = {});
// The 2n substituted copies of `text`, each "SELECT q.*, <sign> AS __pgt_w FROM (...) q"; with
// `weighted` (DeltaPlan::key_weighted) one copy per linear reference, its weight from the
// table's signed changes.
std::vector<std::string> signed_terms(const std::string& text, const std::vector<RelationRef>& refs,
                                      const Products& products,
                                      const std::vector<RestrictedText>& restrictions,
                                      const std::vector<DeltaTable>& tables, bool weighted = false);
// `products`, or when empty the single product of all refs.
Products all_products(const std::vector<RelationRef>& refs, const Products& products);
std::string insert_columns(const DeltaPlan& plan);
// Null-safe equality of the group columns of `alias` (a stored or evaluated row) with
// __pgt_g1..k of `keys_alias`; "true" without a group key.
std::string group_key_match(const DeltaPlan& plan, std::string_view alias,
                            std::string_view keys_alias);
// The groups a grouped plan's change touches, evaluated again: the CTEs __pgt_affected (each
// touched group's row id and keys __pgt_g1..k) and __pgt_new (per touched group its row id and
// keys, then __pgt_present, true with the output columns when the group is in the query's
// result now, NULL when it is not).
std::string touched_groups(const DeltaPlan& plan);
// Applies `terms` (rows of the output columns with a weight __pgt_w) to `st`, rows identified
// by their content; `with` holds the CTEs the terms read ("WITH ...").
std::string content_apply(const DeltaPlan& plan, const std::string& with,
                          const std::vector<std::string>& terms, const std::string& st);
// A top-K plan's statement (DeltaPlan::top_k).
std::string top_k_apply(const DeltaPlan& plan, const std::string& table_ctes,
                        const std::string& st);
std::string prefixed(const DeltaPlan& plan, std::string_view alias);

std::string algebraic_apply(const DeltaPlan& plan, const std::string& table_ctes,
                            const std::string& storage);
std::string algebraic_full_insert(const DeltaPlan& plan, const std::string& storage);
// A grouped algebraic plan recomputed (DeltaPlan::recompute, set by the refresh when
// recompute_cheaper): every group's state evaluated from the sources, as algebraic_full_insert
// does, and only the groups whose row differs written; groups gone deleted.
std::string algebraic_recompute(const DeltaPlan& plan, const std::string& table_ctes,
                                const std::string& storage);
std::string algebraic_relative(const DeltaPlan& plan, const std::string& table_ctes,
                               const std::string& storage);

}  // namespace pgtrickle::core::detail
