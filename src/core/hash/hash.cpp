// xxHash-based row identity hashes.
#include "pg_trickle/core/hash.hpp"

#include <bit>
#include <memory>
#include <string>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace pgtrickle::core {

namespace {
constexpr std::string_view kNullMarker{"\0NULL\0", 6};
constexpr char kSeparator = 0x1E;
// Inside an element, the separator is written as kEscape 0x01 and kEscape itself as kEscape 0x02,
// so that no element can forge a boundary (["x\x1Ey", "z"] and ["x", "y\x1Ez"] hashed alike).
// Elements without either byte, all but contrived ones, hash as they always did (and as
// upstream's).
constexpr char kEscape = 0x1D;

// Feeds `bytes` to `state`, escaped.
void update_escaped(XXH3_state_t* state, std::string_view bytes) {
    if (bytes.find_first_of(std::string_view("\x1D\x1E", 2)) == std::string_view::npos) {
        XXH3_64bits_update(state, bytes.data(), bytes.size());
        return;
    }
    std::string out;
    out.reserve(bytes.size() + 8);
    for (const char c : bytes) {
        if (c == kSeparator || c == kEscape) {
            out += kEscape;
            out += c == kSeparator ? '\x01' : '\x02';
        } else {
            out += c;
        }
    }
    XXH3_64bits_update(state, out.data(), out.size());
}

struct StateDeleter {
    void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};
}  // namespace

std::int64_t hash_text(std::optional<std::string_view> input) {
    std::string_view bytes = input.value_or(kNullMarker);
    return std::bit_cast<std::int64_t>(XXH64(bytes.data(), bytes.size(), kHashSeed));
}

std::int64_t hash_multi(const std::vector<std::optional<std::string_view>>& inputs) {
    std::unique_ptr<XXH3_state_t, StateDeleter> state(XXH3_createState());
    XXH3_64bits_reset_withSeed(state.get(), kHashSeed);
    bool first = true;
    for (const auto& in : inputs) {
        if (!first)
            XXH3_64bits_update(state.get(), &kSeparator, 1);
        first = false;
        if (in)
            update_escaped(state.get(), *in);
        else
            XXH3_64bits_update(state.get(), kNullMarker.data(), kNullMarker.size());
    }
    return std::bit_cast<std::int64_t>(XXH3_64bits_digest(state.get()));
}

}  // namespace pgtrickle::core
