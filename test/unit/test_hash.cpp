#include <gtest/gtest.h>

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
