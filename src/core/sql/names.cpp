// Parsing of qualified names and quoting of identifiers and literals; see names.hpp.
#include "pg_trickle/core/names.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "pg_trickle/core/error.hpp"

namespace pgtrickle::core {

namespace {

constexpr const char* kNameHint =
    "Use name or schema.name; double-quote parts that contain upper case, spaces or dots.";

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_ident_start(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || u >= 0x80;
}

bool is_ident_char(char c) {
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

char to_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// A zero byte would silently cut the generated SQL short when it crosses into C strings.
void check_no_zero_byte(std::string_view s, const char* what) {
    if (s.find('\0') != std::string_view::npos) {
        throw invalid_argument(fmt::format("{} must not contain a zero byte", what));
    }
}

class NameParser {
  public:
    explicit NameParser(std::string_view text) : text_(text) {}

    QualifiedName parse() {
        // Not echoed: a zero byte would cut the message short once it becomes a C string.
        if (text_.find('\0') != std::string_view::npos) {
            throw invalid_argument("invalid stream table name: contains a zero byte", {},
                                   kNameHint);
        }
        std::vector<std::string> parts;
        while (true) {
            skip_spaces();
            if (pos_ == text_.size()) {
                fail(parts.empty() ? "empty name" : "empty name part after \".\"");
            }
            parts.push_back(text_[pos_] == '"' ? quoted_part() : unquoted_part());
            if (parts.back().size() > kMaxIdentifierBytes) {
                fail(fmt::format("identifier \"{}\" is too long (max {} bytes)", parts.back(),
                                 kMaxIdentifierBytes));
            }
            skip_spaces();
            if (pos_ == text_.size()) {
                break;
            }
            if (text_[pos_] != '.') {
                fail(fmt::format("unexpected character \"{}\"",
                                 first_character(text_.substr(pos_))));
            }
            ++pos_;
        }
        if (parts.size() > 2) {
            fail("too many dotted parts");
        }
        if (parts.size() == 2) {
            return {std::move(parts[0]), std::move(parts[1])};
        }
        return {std::nullopt, std::move(parts[0])};
    }

  private:
    [[noreturn]] void fail(std::string_view problem) const {
        throw invalid_argument(fmt::format("invalid stream table name \"{}\": {}", text_, problem),
                               {}, kNameHint);
    }

    void skip_spaces() {
        while (pos_ < text_.size() && is_space(text_[pos_])) {
            ++pos_;
        }
    }

    std::string quoted_part() {
        ++pos_;  // opening quote
        std::string part;
        while (true) {
            if (pos_ == text_.size()) {
                fail("unterminated quoted identifier");
            }
            const char c = text_[pos_++];
            if (c == '"') {
                if (pos_ < text_.size() && text_[pos_] == '"') {
                    part += '"';
                    ++pos_;
                    continue;
                }
                break;
            }
            part += c;
        }
        if (part.empty()) {
            fail("zero-length quoted identifier");
        }
        if (pos_ < text_.size() && !is_space(text_[pos_]) && text_[pos_] != '.') {
            fail("unexpected text after closing quote");
        }
        return part;
    }

    std::string unquoted_part() {
        const char first = text_[pos_];
        if (first == '.') {
            fail("empty name part before \".\"");
        }
        if (!is_ident_char(first)) {
            fail(fmt::format("unexpected character \"{}\"", first_character(text_.substr(pos_))));
        }
        if (!is_ident_start(first)) {
            fail("an unquoted identifier must not start with a digit or \"$\"");
        }
        std::string part;
        while (pos_ < text_.size() && is_ident_char(text_[pos_])) {
            part += to_lower(text_[pos_++]);
        }
        if (pos_ < text_.size() && text_[pos_] == '"') {
            fail("unexpected quote inside an unquoted identifier");
        }
        return part;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

}  // namespace

QualifiedName parse_qualified_name(std::string_view text) {
    return NameParser(text).parse();
}

std::string quote_ident(std::string_view ident) {
    check_no_zero_byte(ident, "identifier");
    std::string out;
    out.reserve(ident.size() + 2);
    out += '"';
    for (char c : ident) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

std::string quote_literal(std::string_view text) {
    check_no_zero_byte(text, "string literal");
    std::string out;
    out.reserve(text.size() + 3);
    if (text.find('\\') != std::string_view::npos) {
        out += 'E';
    }
    out += '\'';
    for (char c : text) {
        if (c == '\'' || c == '\\') {
            out += c;
        }
        out += c;
    }
    out += '\'';
    return out;
}

std::string qualified(const QualifiedName& name) {
    if (name.schema) {
        return quote_ident(*name.schema) + "." + quote_ident(name.name);
    }
    return quote_ident(name.name);
}

std::string_view first_character(std::string_view text) {
    if (text.empty())
        return text;
    const auto lead = static_cast<unsigned char>(text.front());
    const std::size_t length = lead < 0x80    ? 1
                               : lead >= 0xF0 ? 4
                               : lead >= 0xE0 ? 3
                               : lead >= 0xC0 ? 2
                                              : 1;
    return text.substr(0, std::min(length, text.size()));
}

}  // namespace pgtrickle::core
