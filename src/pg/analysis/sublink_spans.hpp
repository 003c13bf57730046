// Subquery expressions (EXISTS, IN, ANY, ALL) in a deparsed query text: where each relation
// reference's innermost one starts and ends, and, for a correlated EXISTS, the same test over
// other rows as an uncorrelated IN (core::RelationRef::split_begin, split_end, split_del).
// Read from the text's raw parse tree and its characters: the deparser's forms only.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "pg_trickle/core/delta.hpp"
#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

struct RawRef {
    RangeVar* var;
    SubLink* sublink;      // innermost subquery expression around it (raw parse tree), or nullptr
    int sublink_start;     // where that expression starts in the text, or -1
    bool in_aliased_join;  // inside `(... JOIN ...) AS alias` at its own query level
};

// The relation references of a query text, in text order.
std::vector<RawRef> raw_refs(const std::string& text);

// The end (one past its closing parenthesis) of the parenthesized subquery that starts at the
// first '(' at or after `from`, when that parenthesis opens `( SELECT` and the reference at `ref`
// lies inside; std::nullopt otherwise.
std::optional<std::size_t> subquery_end(const std::string& text, std::size_t from, std::size_t ref);

// Whether text[begin, end) has as many '(' as ')' outside quotes, never more ')' than '('.
bool balanced(const std::string& text, std::size_t begin, std::size_t end);

// For a correlated EXISTS (text[begin, end), `ref` its only relation): its test over another
// set of rows as an uncorrelated IN with "\x01" where the relation goes; empty when the subquery
// is not correlated; std::nullopt when it cannot be written so.
std::optional<std::string> exists_as_in(const std::string& text, SubLink* sub, std::size_t begin,
                                        std::size_t end, const core::RelationRef& ref);

}  // namespace pgtrickle::pg
