// Analysis of a defining query with PostgreSQL's own parser: what it is, what it reads, what it
// returns. Everything the rest of the engine knows about a query comes from here.
#pragma once

#include <string>
#include <vector>

#include "pg_trickle/pg/catalog.hpp"
#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

struct OutputColumn {
    std::string name;
    std::string type_sql;  // type with modifiers and COLLATE clause, ready for CREATE TABLE
    Oid type = InvalidOid;
    int32 typmod = -1;
    Oid collation = InvalidOid;
};

struct AnalyzedQuery {
    std::string statement;  // the user's statement text, without a trailing semicolon
    std::string deparsed;   // the analysed query printed back with every name schema-qualified
    std::vector<OutputColumn> columns;
    std::vector<Dependency> sources;  // every relation the query reads, views not expanded
    bool order_by_without_limit = false;
    // Functions the query calls (see functions_used_by); stored in the catalog's functions_used.
    std::vector<std::string> functions_used;
};

// Parses and analyses `query` as the current user. Raises the user's errors as PostgreSQL does
// (syntax 42601, unknown relation 42P01, unknown column 42703) and refuses what a stream table
// cannot be defined by (not a single SELECT, FOR UPDATE, TABLESAMPLE, LIMIT without ORDER BY,
// data-modifying CTEs, temporary relations, reserved __pgt_ column names).
AnalyzedQuery analyze_query(const std::string& query);

// The functions a query calls, at any depth, sorted and each once: pg_catalog functions by
// their name, others schema-qualified (quoted as SQL needs), SQL value functions (CURRENT_DATE,
// CURRENT_USER, ...) by their keyword in lower case. `tree` is a parse-analyzed query.
std::vector<std::string> functions_used(Query* tree);

// Runs the query with LIMIT 0 as the current user: proves SELECT privilege on every source.
void check_can_read(Spi& spi, const AnalyzedQuery& q);

}  // namespace pgtrickle::pg
