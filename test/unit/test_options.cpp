#include <gtest/gtest.h>

#include "pg_trickle/core/error.hpp"
#include "pg_trickle/core/options.hpp"

using namespace pgtrickle::core;

static std::string sqlstate_of(auto&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.sqlstate();
    }
    return "none";
}

TEST(Options, RefreshModeIsCaseInsensitiveWithAlias) {
    EXPECT_EQ(parse_refresh_mode("auto"), RequestedMode::Auto);
    EXPECT_EQ(parse_refresh_mode(" Full "), RequestedMode::Full);
    EXPECT_EQ(parse_refresh_mode("INCREMENTAL"), RequestedMode::Differential);
    EXPECT_EQ(parse_refresh_mode("immediate"), RequestedMode::Immediate);
    EXPECT_EQ(sqlstate_of([] { parse_refresh_mode("sometimes"); }), "22023");
}

TEST(Options, RefreshModeErrorNamesTheChoices) {
    try {
        parse_refresh_mode("bogus");
        FAIL();
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(),
                     "unknown refresh mode: bogus. Must be 'AUTO', 'FULL', 'DIFFERENTIAL', or "
                     "'IMMEDIATE'");
    }
}

TEST(Options, AutoResolvesToDifferentialWhenSupported) {
    auto r = resolve_refresh_mode(RequestedMode::Auto, "");
    EXPECT_EQ(r.mode, RefreshMode::Differential);
    EXPECT_EQ(r.downgrade_reason, "");
    EXPECT_EQ(resolve_refresh_mode(RequestedMode::Differential, "").mode,
              RefreshMode::Differential);
}

TEST(Options, AutoFallsBackToFullWithTheReason) {
    auto r = resolve_refresh_mode(RequestedMode::Auto, "window functions");
    EXPECT_EQ(r.mode, RefreshMode::Full);
    EXPECT_NE(r.downgrade_reason.find("window functions"), std::string::npos);
    EXPECT_EQ(resolve_refresh_mode(RequestedMode::Full, "").mode, RefreshMode::Full);
}

TEST(Options, DifferentialOrImmediateOnUnsupportedQueryAre0A000) {
    EXPECT_EQ(sqlstate_of([] { resolve_refresh_mode(RequestedMode::Differential, "outer joins"); }),
              "0A000");
    try {
        resolve_refresh_mode(RequestedMode::Differential, "outer joins");
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "unsupported operator for DIFFERENTIAL mode: outer joins");
    }
    // IMMEDIATE runs the differential engine inside the writing statement: the same queries.
    EXPECT_EQ(resolve_refresh_mode(RequestedMode::Immediate, "").mode, RefreshMode::Immediate);
    EXPECT_EQ(
        sqlstate_of([] { resolve_refresh_mode(RequestedMode::Immediate, "window functions"); }),
        "0A000");
    try {
        resolve_refresh_mode(RequestedMode::Immediate, "window functions");
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "unsupported operator for IMMEDIATE mode: window functions");
    }
}

TEST(Options, ChoicesAreNormalised) {
    EXPECT_EQ(parse_choice("tier", "HOT", {"hot", "cold"}), "hot");
    EXPECT_EQ(sqlstate_of([] { parse_choice("tier", "lukewarm", {"hot", "cold"}); }), "22023");
    EXPECT_EQ(parse_status("active"), "ACTIVE");
    EXPECT_EQ(sqlstate_of([] { parse_status("paused"); }), "22023");
}

TEST(Options, DefaultsValidate) {
    StreamTableOptions o;
    EXPECT_NO_THROW(validate_options(o, RefreshMode::Full));
    o.diamond_consistency = "ATOMIC";
    o.cdc_mode = "Trigger";
    o.storage_backend = "heap";
    EXPECT_NO_THROW(validate_options(o, RefreshMode::Full));
    EXPECT_EQ(*o.diamond_consistency, "atomic");
    EXPECT_EQ(*o.cdc_mode, "trigger");
}

TEST(Options, BadValuesAre22023AndMissingFeaturesAre0A000) {
    auto with = [](auto set) {
        return sqlstate_of([&] {
            StreamTableOptions o;
            set(o);
            validate_options(o, RefreshMode::Full);
        });
    };
    EXPECT_EQ(with([](auto& o) { o.diamond_consistency = "maybe"; }), "22023");
    EXPECT_EQ(with([](auto& o) { o.cdc_mode = "logical"; }), "22023");
    EXPECT_EQ(with([](auto& o) { o.append_only = true; }), "22023");
    EXPECT_EQ(with([](auto& o) { o.max_delta_fraction = 2.0; }), "22023");
    EXPECT_EQ(with([](auto& o) { o.output_distribution_column = "id"; }), "22023");
    EXPECT_EQ(with([](auto& o) {
                  o.diamond_consistency = "none";
                  o.diamond_schedule_policy = "slowest";
              }),
              "22023");
    EXPECT_EQ(with([](auto& o) { o.cdc_mode = "wal"; }), "0A000");
    EXPECT_EQ(with([](auto& o) { o.partition_by = "id"; }), "0A000");
    EXPECT_EQ(with([](auto& o) { o.temporal = true; }), "0A000");
    EXPECT_EQ(with([](auto& o) { o.storage_backend = "citus"; }), "0A000");
    EXPECT_EQ(with([](auto& o) { o.sink = "x"; }), "0A000");
}

TEST(Options, StoredModeIsAskedForAgainAsItself) {
    using pgtrickle::core::RequestedMode;
    EXPECT_EQ(pgtrickle::core::requested_from_catalog("FULL"), RequestedMode::Full);
    EXPECT_EQ(pgtrickle::core::requested_from_catalog("IMMEDIATE"), RequestedMode::Immediate);
    EXPECT_EQ(pgtrickle::core::requested_from_catalog("DIFFERENTIAL"), RequestedMode::Differential);
}
