// xxHash-based row identity hashes.
#include "pg_trickle/core/hash.hpp"

#include <bit>
#include <memory>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace pgtrickle::core {

namespace {
constexpr std::string_view kNullMarker{"\0NULL\0", 6};
constexpr char kSeparator = 0x1E;

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
        std::string_view bytes = in.value_or(kNullMarker);
        XXH3_64bits_update(state.get(), bytes.data(), bytes.size());
    }
    return std::bit_cast<std::int64_t>(XXH3_64bits_digest(state.get()));
}

}  // namespace pgtrickle::core
