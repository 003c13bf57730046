#include <gtest/gtest.h>

#include <bit>
#include <string>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pg_trickle/core/hash.hpp"

using namespace pgtrickle::core;

TEST(Hash, TextHashIsStableAndSeeded) {
    // Same input, same hash; different input, different hash.
    EXPECT_EQ(hash_text("abc"), hash_text(std::string_view("abc")));
    EXPECT_NE(hash_text("abc"), hash_text("abd"));
    // NULL is not the empty string, nor the text "NULL".
    EXPECT_NE(hash_text(std::nullopt), hash_text(""));
    EXPECT_NE(hash_text(std::nullopt), hash_text("NULL"));
    EXPECT_EQ(hash_text(std::nullopt), hash_text(std::string_view("\0NULL\0", 6)));
}

TEST(Hash, MultiSeparatesElements) {
    // ["ab","c"] and ["a","bc"] must differ: the separator keeps element boundaries.
    EXPECT_NE(hash_multi({"ab", "c"}), hash_multi({"a", "bc"}));
    EXPECT_NE(hash_multi({std::nullopt}), hash_multi({""}));
    EXPECT_EQ(hash_multi({"x", std::nullopt}), hash_multi({"x", std::nullopt}));
    EXPECT_NE(hash_multi({"x"}), hash_multi({"x", ""}));
}

TEST(Hash, MultiElementsCannotForgeABoundary) {
    // An element holding the separator byte is not two elements, whichever side it is on.
    const std::string a = std::string("x") + '\x1E' + "y";
    const std::string b = std::string("y") + '\x1E' + "z";
    EXPECT_NE(hash_multi({a, "z"}), hash_multi({"x", b}));
    // Nor can the escape byte stand in for it.
    const std::string e1 = std::string("x") + '\x1D' + '\x01' + "y";
    EXPECT_NE(hash_multi({a, "z"}), hash_multi({e1, "z"}));
    const std::string e2 = std::string("x") + '\x1D';
    EXPECT_NE(hash_multi({e2, "z"}), hash_multi({"x", std::string(1, '\x1D') + "z"}));
    // Elements without either byte hash as before: xxh3 over the plain bytes and separators.
    const std::string plain = std::string("ab") + '\x1E' + "c";
    EXPECT_EQ(hash_multi({"ab", "c"}), std::bit_cast<std::int64_t>(XXH3_64bits_withSeed(
                                           plain.data(), plain.size(), kHashSeed)));
}
