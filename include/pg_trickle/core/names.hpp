// SQL names: parsing a possibly schema-qualified name the way PostgreSQL reads an identifier, and
// quoting identifiers and literals for generated SQL.
//
// Generated SQL always goes through quote_ident/quote_literal, so user text never reaches SQL
// unquoted. quote_ident always quotes, unlike PostgreSQL's quote_identifier, which keeps the core
// free of a keyword list and gives the same meaning.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pgtrickle::core {

// PostgreSQL's NAMEDATALEN - 1.
inline constexpr std::size_t kMaxIdentifierBytes = 63;

struct QualifiedName {
    std::optional<std::string> schema;
    std::string name;

    bool operator==(const QualifiedName&) const = default;
};

// Parses "name" or "schema.name". Unquoted parts are trimmed and ASCII-lower-cased and must be
// made of letters, digits, '_', '$' and non-ASCII bytes, not starting with a digit or '$'.
// Double-quoted parts keep their case and may contain anything ("" is an escaped quote). Throws
// invalid_argument for empty input or parts, more than two parts, unterminated quotes, junk after
// a closing quote and parts longer than kMaxIdentifierBytes.
QualifiedName parse_qualified_name(std::string_view text);

// "ident" with embedded double quotes doubled. Always quotes.
std::string quote_ident(std::string_view ident);

// 'text' with embedded single quotes doubled; if the text has a backslash, E'...' with backslashes
// doubled too, so the result means the same whatever standard_conforming_strings says.
std::string quote_literal(std::string_view text);

// quote_ident(schema).quote_ident(name), or quote_ident(name) without a schema.
std::string qualified(const QualifiedName& name);

// The first character of `text`, its whole UTF-8 sequence (one byte of a multi-byte character
// would make a message invalid UTF-8), for messages that quote it. Empty for empty text.
std::string_view first_character(std::string_view text);

}  // namespace pgtrickle::core
