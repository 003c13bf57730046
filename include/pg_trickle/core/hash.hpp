// Row-identity hashes, bit-compatible with upstream pg_trickle (xxHash, fixed seed) so that row
// ids and change-buffer names mean the same thing in both implementations.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pgtrickle::core {

inline constexpr std::uint64_t kHashSeed = 0x517cc1b727220a95ULL;

// xxh64 of the UTF-8 bytes with kHashSeed, as a signed 64-bit value; NULL hashes the marker
// "\0NULL\0". Backs pgtrickle.pg_trickle_hash(text).
std::int64_t hash_text(std::optional<std::string_view> input);

// xxh3-64 with kHashSeed over the elements separated by the byte 0x1E, NULL elements as
// "\0NULL\0"; inside an element the bytes 0x1E and 0x1D are escaped (0x1D 0x01, 0x1D 0x02), so
// that elements cannot forge a boundary. Backs pgtrickle.pg_trickle_hash_multi(text[]).
std::int64_t hash_multi(const std::vector<std::optional<std::string_view>>& inputs);

}  // namespace pgtrickle::core
