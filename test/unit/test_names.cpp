// Unit tests of qualified-name parsing and SQL quoting.
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core {
namespace {

using namespace std::string_literals;

Error name_error(std::string_view text) {
    try {
        parse_qualified_name(text);
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "expected an Error for " << text;
    return Error("", "");
}

QualifiedName q(std::optional<std::string> schema, std::string name) {
    return {std::move(schema), std::move(name)};
}

TEST(NamesTest, UnquotedNames) {
    EXPECT_EQ(parse_qualified_name("orders"), q(std::nullopt, "orders"));
    EXPECT_EQ(parse_qualified_name("Orders"), q(std::nullopt, "orders"));
    EXPECT_EQ(parse_qualified_name("public.Orders"), q("public", "orders"));
    EXPECT_EQ(parse_qualified_name("SALES.ORDERS_2024"), q("sales", "orders_2024"));
    EXPECT_EQ(parse_qualified_name("_x$1"), q(std::nullopt, "_x$1"));
    EXPECT_EQ(parse_qualified_name("  public . foo  "), q("public", "foo"));
    EXPECT_EQ(parse_qualified_name("\tfoo\n"), q(std::nullopt, "foo"));
}

TEST(NamesTest, NonAsciiIsKeptAndNotFolded) {
    EXPECT_EQ(parse_qualified_name("café"), q(std::nullopt, "café"));
    EXPECT_EQ(parse_qualified_name("CAFÉ"), q(std::nullopt, "cafÉ"));
    EXPECT_EQ(parse_qualified_name("ÉTÉ.x"), q("ÉtÉ", "x"));
}

TEST(NamesTest, QuotedNames) {
    EXPECT_EQ(parse_qualified_name("\"Orders\""), q(std::nullopt, "Orders"));
    EXPECT_EQ(parse_qualified_name("\"My Schema\".\"My.Table\""), q("My Schema", "My.Table"));
    EXPECT_EQ(parse_qualified_name("public.\"Orders\""), q("public", "Orders"));
    EXPECT_EQ(parse_qualified_name("\"Sales\".orders"), q("Sales", "orders"));
    EXPECT_EQ(parse_qualified_name("\"a\"\"b\""), q(std::nullopt, "a\"b"));
    EXPECT_EQ(parse_qualified_name("\"\"\"\""), q(std::nullopt, "\""));
    EXPECT_EQ(parse_qualified_name("\"a.b.c\""), q(std::nullopt, "a.b.c"));
    EXPECT_EQ(parse_qualified_name("\" padded \""), q(std::nullopt, " padded "));
    EXPECT_EQ(parse_qualified_name("\"1st\""), q(std::nullopt, "1st"));
    EXPECT_EQ(parse_qualified_name(" \"s\" . \"t\" "), q("s", "t"));
}

TEST(NamesTest, TooManyPartsMessageAndHint) {
    const Error e = name_error("a.b.c");
    EXPECT_STREQ(e.what(), "invalid stream table name \"a.b.c\": too many dotted parts");
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_EQ(e.hint(),
              "Use name or schema.name; double-quote parts that contain upper case, spaces or "
              "dots.");
}

TEST(NamesTest, RejectsBadNames) {
    struct Case {
        std::string input;
        std::string problem;
    };
    const Case cases[] = {
        {"", "empty name"},
        {"   ", "empty name"},
        {"db.public.orders", "too many dotted parts"},
        {"\"a\".\"b\".\"c\"", "too many dotted parts"},
        {"a.", "empty name part after \".\""},
        {"a. ", "empty name part after \".\""},
        {".a", "empty name part before \".\""},
        {"a..b", "empty name part before \".\""},
        {"\"abc", "unterminated quoted identifier"},
        {"a.\"b\"\"", "unterminated quoted identifier"},
        {"\"a\"b", "unexpected text after closing quote"},
        {"\"a\"\"", "unterminated quoted identifier"},
        {"\"\"", "zero-length quoted identifier"},
        {"s.\"\"", "zero-length quoted identifier"},
        {"1abc", "an unquoted identifier must not start with a digit or \"$\""},
        {"$a", "an unquoted identifier must not start with a digit or \"$\""},
        {"a b", "unexpected character \"b\""},
        {"my table", "unexpected character \"t\""},
        {"a-b", "unexpected character \"-\""},
        {"a \xc3\xa9", "unexpected character \"\xc3\xa9\""},
        {"a;drop", "unexpected character \";\""},
        {"orders; DROP TABLE x", "unexpected character \";\""},
        {"a\"b\"", "unexpected quote inside an unquoted identifier"},
        {"(a)", "unexpected character \"(\""},
        {"\"a\" \"b\"", "unexpected character \"\"\""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.input);
        const Error e = name_error(c.input);
        EXPECT_EQ(std::string(e.what()),
                  "invalid stream table name \"" + c.input + "\": " + c.problem);
        EXPECT_EQ(e.sqlstate(), sqlstate::kInvalidParameterValue);
        EXPECT_FALSE(e.hint().empty());
    }
}

TEST(NamesTest, ZeroByteInName) {
    for (const std::string& bad : {"\"a\0b\""s, "a\0b"s, "\0"s}) {
        const Error e = name_error(bad);
        EXPECT_STREQ(e.what(), "invalid stream table name: contains a zero byte");
        EXPECT_EQ(e.sqlstate(), "22023");
    }
}

TEST(NamesTest, IdentifierLength) {
    const std::string max(63, 'a');
    const std::string too_long(64, 'a');
    EXPECT_EQ(parse_qualified_name(max).name, max);
    EXPECT_EQ(parse_qualified_name(max + "." + max), q(max, max));
    EXPECT_EQ(parse_qualified_name("\"" + std::string(63, 'A') + "\"").name, std::string(63, 'A'));

    EXPECT_EQ(std::string(name_error(too_long).what()), "invalid stream table name \"" + too_long +
                                                            "\": identifier \"" + too_long +
                                                            "\" is too long (max 63 bytes)");
    EXPECT_EQ(std::string(name_error("s." + too_long).what()),
              "invalid stream table name \"s." + too_long + "\": identifier \"" + too_long +
                  "\" is too long (max 63 bytes)");
    const std::string quoted_long(64, 'Q');
    EXPECT_EQ(name_error("\"" + quoted_long + "\"").sqlstate(), "22023");
    // The limit is in bytes, not characters: 32 two-byte characters are 64 bytes.
    std::string wide;
    for (int i = 0; i < 32; ++i) {
        wide += "é";
    }
    EXPECT_EQ(name_error(wide).sqlstate(), "22023");
}

TEST(NamesTest, QuoteIdent) {
    EXPECT_EQ(quote_ident("foo"), "\"foo\"");
    EXPECT_EQ(quote_ident("Foo"), "\"Foo\"");
    EXPECT_EQ(quote_ident("select"), "\"select\"");
    EXPECT_EQ(quote_ident("a\"b"), "\"a\"\"b\"");
    EXPECT_EQ(quote_ident("\""), "\"\"\"\"");
    EXPECT_EQ(quote_ident(""), "\"\"");
    EXPECT_EQ(quote_ident("a.b"), "\"a.b\"");
    EXPECT_EQ(quote_ident("x\"; DROP TABLE y; --"), "\"x\"\"; DROP TABLE y; --\"");
}

TEST(NamesTest, InjectionLookingNamesRoundTrip) {
    const std::string names[] = {
        "x\"; DROP TABLE y; --",
        "Robert'); DROP TABLE students;--",
        "a.b",
        "\"",
        "\"\"",
        " spaced ",
        "MixedCase",
        "back\\slash",
        "semi;colon",
        "new\nline",
    };
    for (const std::string& name : names) {
        SCOPED_TRACE(name);
        EXPECT_EQ(parse_qualified_name(quote_ident(name)), q(std::nullopt, name));
        for (const std::string& schema : names) {
            const QualifiedName original = q(schema, name);
            EXPECT_EQ(parse_qualified_name(qualified(original)), original);
        }
    }
}

TEST(NamesTest, QuoteLiteral) {
    EXPECT_EQ(quote_literal("abc"), "'abc'");
    EXPECT_EQ(quote_literal(""), "''");
    EXPECT_EQ(quote_literal("it's"), "'it''s'");
    EXPECT_EQ(quote_literal("''"), "''''''");
    EXPECT_EQ(quote_literal("a\\b"), "E'a\\\\b'");
    EXPECT_EQ(quote_literal("\\'"), "E'\\\\'''");
    EXPECT_EQ(quote_literal("'; DROP TABLE x; --"), "'''; DROP TABLE x; --'");
    EXPECT_EQ(quote_literal("x\"y"), "'x\"y'");
}

TEST(NamesTest, ZeroBytesAreRejectedWhenQuoting) {
    for (const std::string& bad : {"a\0b"s, "\0"s}) {
        try {
            quote_ident(bad);
            ADD_FAILURE() << "quote_ident accepted a zero byte";
        } catch (const Error& e) {
            EXPECT_EQ(e.sqlstate(), "22023");
            EXPECT_STREQ(e.what(), "identifier must not contain a zero byte");
        }
        try {
            quote_literal(bad);
            ADD_FAILURE() << "quote_literal accepted a zero byte";
        } catch (const Error& e) {
            EXPECT_EQ(e.sqlstate(), "22023");
            EXPECT_STREQ(e.what(), "string literal must not contain a zero byte");
        }
    }
}

TEST(NamesTest, Qualified) {
    EXPECT_EQ(qualified(q(std::nullopt, "orders")), "\"orders\"");
    EXPECT_EQ(qualified(q("public", "orders")), "\"public\".\"orders\"");
    EXPECT_EQ(qualified(q("My Schema", "My.Table")), "\"My Schema\".\"My.Table\"");
    EXPECT_EQ(qualified(parse_qualified_name("Public.Orders")), "\"public\".\"orders\"");
}

}  // namespace
}  // namespace pgtrickle::core

#include "pg_trickle/core/time_dependence.hpp"

TEST(TimeDependenceTest, ClockAndSessionFunctionsAreTimeDependent) {
    using pgtrickle::core::is_time_dependent;
    EXPECT_TRUE(is_time_dependent({"sum", "now"}));
    EXPECT_TRUE(is_time_dependent({"current_date"}));
    EXPECT_TRUE(is_time_dependent({"current_setting"}));
    EXPECT_FALSE(is_time_dependent({"sum", "count", "lower"}));
    EXPECT_FALSE(is_time_dependent({}));
    // Qualified names are other schemas' functions, not pg_catalog's.
    EXPECT_FALSE(is_time_dependent({"myschema.now"}));
}

TEST(TimeDependenceTest, SqlArrayListsEveryName) {
    const std::string a = pgtrickle::core::time_dependent_functions_array();
    EXPECT_EQ(a.rfind("ARRAY['now', ", 0), 0u) << a;
    EXPECT_NE(a.find("'current_date'"), std::string::npos);
    EXPECT_TRUE(a.ends_with("]::pg_catalog.text[]")) << a;
}

// A buffer stores a source column under its own name, a reserved one (xid, seq, ...) with a
// __usr_ prefix; the way back keeps a source column whose own name starts with __usr_. (A
// table with both xid and __usr_xid would map both to one buffer column: not handled.)
TEST(BufferColumnTest, RoundTrips) {
    for (const char* name : {"id", "xid", "seq", "action", "pk_hash", "__usr_x"}) {
        SCOPED_TRACE(name);
        EXPECT_EQ(pgtrickle::core::source_column(pgtrickle::core::buffer_column(name)), name);
    }
    EXPECT_EQ(pgtrickle::core::buffer_column("xid"), "__usr_xid");
    EXPECT_EQ(pgtrickle::core::buffer_column("__usr_x"), "__usr_x");
}
