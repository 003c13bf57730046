// The relation references of a defining query's text, as the delta rules need them: where each
// one is in the text, which source table it reads, whether the query is linear in it, how the
// references combine into a sum (UNION ALL) of products (joins), and for the references the
// query is not linear in, a restricted form of the query that reads only the rows a change can
// reach (see core::RestrictedText).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

struct ReferenceAnalysis {
    std::vector<core::RelationRef> refs;
    core::Products products;
    std::vector<core::RestrictedText> restrictions;
};

// `tree` is a parse-analyzed query and `text` its deparsed form; `table_index` maps every
// source table's OID to its index in DeltaPlan::tables. Throws std::runtime_error when the text
// does not line up with the tree (the caller reports the query as unsupported).
// `cte`: the name of a CTE the text reads unqualified (a recursive term's reference to its own
// query), whose references are not relations of the query.
ReferenceAnalysis analyze_references(Query* tree, const std::string& text,
                                     const std::map<Oid, std::size_t>& table_index,
                                     const std::string& cte = "");

// The one unqualified reference of `text` named `cte`; nullopt when there is none, more than
// one, or it renames columns.
std::optional<core::RelationRef> cte_reference(const std::string& text, const std::string& cte);

// The subquery expressions (SubLinks) of `node` that belong to its own query level: those
// nested in another SubLink's subquery are not included.
std::vector<SubLink*> sublinks_of(Node* node);

// The SubLinks of one query level (its expressions, not its subqueries in FROM).
std::vector<SubLink*> level_sublinks(Query* q);

// The query's SQL text, every name schema-qualified.
std::string deparse(Query* q);
// An expression without Vars (constants, parameters, operators, function calls), printed the
// way deparse() prints.
std::string deparse_expression(Node* e);

}  // namespace pgtrickle::pg
