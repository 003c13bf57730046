// TPC-H: the 22 queries of the TPC-H specification as stream tables, in DIFFERENTIAL, IMMEDIATE
// and FULL mode, maintained through rounds of the TPC-H refresh functions.
//
// The schema, the data generator, the refresh functions and the queries are SQL files under
// test/tpch/ (see docs/TPCH.md): schema.sql, generate.sql (tpch_generate(sf, seed), our own
// deterministic generator), refresh_functions.sql (RF1 new orders, RF2 deleted orders, and an
// update mix), queries/q01.sql .. q22.sql.
//
// The data is generated once per run at scale factor 0.01 into a template database. Each query
// is its own test case (TpchQuery/Tpch.*/q01 .. /q22) in a database copied from the template, so
// the cases are independent and any one can run alone. A case:
//   1. creates q<NN>_full (refresh_mode FULL), which must work for all 22 queries, and
//      q<NN>_diff (refresh_mode DIFFERENTIAL); a query in kNotYetIncremental must instead be
//      refused with SQLSTATE 0A000 (and the case fails if it is accepted: then it belongs off
//      the list); and q<NN>_imm (refresh_mode IMMEDIATE), refused for the same queries;
//   2. runs kRounds rounds of RF1 + RF2 + updates (about 0.1% of the orders each) plus a few
//      targeted updates of rows the selective queries read (tpch_rf_hot: without them a round
//      at SF 0.01 would leave the results of Q2, Q7, Q10, Q20, Q21 ... unchanged), refreshes
//      both stream tables after each round, and checks after creation and after every refresh
//      that each stream table holds exactly what its query returns (as a multiset of rows,
//      compared as row text, EXCEPT ALL both ways, over the visible columns) and that the
//      refresh was recorded with action DIFFERENTIAL resp. FULL; the IMMEDIATE one is checked
//      right after the round's writes and after the targeted updates, with no refresh at all.
//      All three equal to the query means DIFFERENTIAL, IMMEDIATE and FULL agree.
// pg_trickle.refresh_strategy = 'differential' (and differential_max_change_ratio = 0), so
// DIFFERENTIAL refreshes never fall back to FULL.
//
// TpchGenerator.* checks that the generator and the refresh functions are deterministic.
//
// Environment:
//   PGTRICKLE_TPCH_DIR     the test/tpch directory (default: found from this file's path)
//   PGTRICKLE_TPCH_SEED    seed of the generated data and of the rounds (default 1)
//   PGTRICKLE_TPCH_ROUNDS  number of rounds (default 3)
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pg_connection.hpp"

using pgtrickle::test::Connection;
using pgtrickle::test::QueryError;

namespace {

constexpr double kScaleFactor = 0.01;
constexpr int kDefaultSeed = 1;
constexpr int kDefaultRounds = 3;
constexpr const char* kTemplateDb = "it_tpch_template";

// The TPC-H queries that refresh_mode => 'DIFFERENTIAL' and 'IMMEDIATE' refuse today (0A000):
// the backlog of incremental maintenance for TPC-H. Their DIFFERENTIAL and IMMEDIATE cases assert
// the refusal; when the engine starts accepting one, that case fails until the query is taken off
// this list. Empty: Q11 (a subquery in a grouped HAVING) and the top-K queries whose inner query
// reads a relation nonlinearly (Q2, Q18, Q21) are accepted and maintained by recomputation
// (DeltaPlan::recompute), the others by deltas (Q3 and Q10 as top-K queries, from their inner
// queries' deltas).
const std::vector<int> kNotYetIncremental = {};

// The queries maintained by recomputing them (DeltaPlan::recompute: the query is evaluated whole
// and compared with the stored rows): a subquery in a grouped HAVING (Q11), and top-K queries
// whose query without ORDER BY and LIMIT reads a relation nonlinearly (Q2's correlated minimum,
// Q18's IN over a grouped subquery, Q21's EXISTS and NOT EXISTS; pg/analysis/differential.cpp
// top_k_plan). Every other query has delta rules (Q3 and Q10 those of their inner queries, and
// are evaluated whole by a refresh whose candidates cannot decide: DeltaPlan::top_k; Q13, Q15,
// Q20 and Q22 may still be recomputed by a refresh, under refresh_strategy 'auto', when a
// relation they do not read linearly changed: core::recompute_cheaper). A query that falls to
// recomputation (as Q7-Q9 did when their GROUP BY keys through a subquery were not seen to have
// one scale) fails its case.
const std::vector<int> kRecomputed = {2, 11, 18, 21};

int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}
// Seed of the data and of the rounds, and number of rounds (the defaults keep the test short).
const int kSeed = env_int("PGTRICKLE_TPCH_SEED", kDefaultSeed);
const int kRounds = env_int("PGTRICKLE_TPCH_ROUNDS", kDefaultRounds);

bool not_yet_incremental(int q) {
    return std::find(kNotYetIncremental.begin(), kNotYetIncremental.end(), q) !=
           kNotYetIncremental.end();
}

std::filesystem::path tpch_dir() {
    if (const char* d = std::getenv("PGTRICKLE_TPCH_DIR"); d != nullptr && *d != '\0')
        return d;
    // test/integration/test_tpch.cpp -> test/tpch
    return std::filesystem::path(__FILE__).parent_path().parent_path() / "tpch";
}

std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p);
    if (!in)
        throw std::runtime_error("cannot read " + p.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string query_name(int q) {
    return fmt::format("q{:02d}", q);
}

std::string query_text(int q) {
    return read_text(tpch_dir() / "queries" / (query_name(q) + ".sql"));
}

// Dollar-quotes sql for a function argument.
std::string dollar_quote(const std::string& sql) {
    std::string tag = "$tpch$";
    if (sql.find(tag) != std::string::npos)
        throw std::runtime_error("query text contains " + tag);
    return tag + sql + tag;
}

void drop_database(Connection& admin, const std::string& name) {
    admin.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

// Session settings for the test's own statements: stable row text, no JIT compile time.
void session_settings(Connection& c) {
    c.exec("SET search_path = tpch, public");
    c.exec("SET DateStyle = ISO");
    c.exec("SET extra_float_digits = 1");
    c.exec("SET TimeZone = 'UTC'");
    c.exec("SET jit = off");
    c.exec("SET statement_timeout = '120s'");
    c.exec("SET client_min_messages = warning");
    c.exec("SET pg_trickle.differential_max_change_ratio = 0");
    c.exec("SET pg_trickle.refresh_strategy = 'differential'");
}

// Loads schema, generator and refresh functions into schema tpch of the connected database.
void load_tpch(Connection& c, double sf, int seed) {
    c.exec("CREATE SCHEMA tpch");
    session_settings(c);
    c.exec(read_text(tpch_dir() / "schema.sql"));
    c.exec(read_text(tpch_dir() / "generate.sql"));
    c.exec(read_text(tpch_dir() / "refresh_functions.sql"));
    c.exec(fmt::format("SELECT tpch_generate({}, {})", sf, seed));
}

std::string show(const std::optional<std::string>& v) {
    return v ? *v : "NULL";
}

}  // namespace

class Tpch : public ::testing::TestWithParam<int> {
  public:
    // One template database with the generated data (and no pg_trickle, so no scheduler keeps
    // a connection to it); every case copies it.
    static void SetUpTestSuite() {
        try {
            const auto t0 = std::chrono::steady_clock::now();
            Connection admin;
            admin.exec(fmt::format(
                "DO $$BEGIN IF EXISTS (SELECT FROM pg_database WHERE datname = '{0}') THEN "
                "ALTER DATABASE {0} IS_TEMPLATE false; END IF; END$$",
                kTemplateDb));
            drop_database(admin, kTemplateDb);
            admin.exec(std::string("CREATE DATABASE ") + kTemplateDb);
            {
                Connection c(kTemplateDb);
                load_tpch(c, kScaleFactor, kSeed);
                c.exec("ANALYZE");
            }
            // Not listed by the pg_trickle launcher any more, and closed to new connections.
            admin.exec(fmt::format(
                "ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false", kTemplateDb));
            load_seconds_ =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } catch (const std::exception& e) {
            setup_error_ = e.what();
        }
    }

    static void TearDownTestSuite() {
        try {
            Connection admin;
            admin.exec(fmt::format("ALTER DATABASE {} WITH IS_TEMPLATE false", kTemplateDb));
            drop_database(admin, kTemplateDb);
        } catch (...) {
        }
    }

  protected:
    void SetUp() override {
        ASSERT_TRUE(setup_error_.empty()) << "loading TPC-H failed: " << setup_error_;
        RecordProperty("load_seconds", fmt::format("{:.2f}", load_seconds_));
        db_ = fmt::format("it_tpch_{}", query_name(GetParam()));
        Connection admin;
        drop_database(admin, db_);
        // The launcher may still be closing a scheduler that looked at the template before it
        // was marked: CREATE DATABASE waits a few seconds for it; retry once after that.
        try {
            admin.exec(fmt::format("CREATE DATABASE {} TEMPLATE {}", db_, kTemplateDb));
        } catch (const QueryError&) {
            admin.exec(fmt::format("CREATE DATABASE {} TEMPLATE {}", db_, kTemplateDb));
        }
        conn_.emplace(db_);
        conn_->exec("CREATE EXTENSION pg_trickle");
        session_settings(*conn_);
    }

    void TearDown() override {
        conn_.reset();
        if (!db_.empty()) {
            try {
                Connection admin;
                drop_database(admin, db_);
            } catch (...) {
            }
        }
    }

    Connection& c() { return *conn_; }

    std::vector<std::string> visible_columns(const std::string& st) {
        std::vector<std::string> cols;
        for (const auto& r : c().query(fmt::format(
                 "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = "
                 "'tpch.{}'::regclass"
                 " AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\\_\\_pgt%'"
                 " ORDER BY attnum",
                 st)))
            cols.push_back(*r[0]);
        return cols;
    }

    // Rows in which stream table st and the query differ (as row text, multisets): empty when
    // they are equal. Also returns the row counts in `counts`.
    std::vector<std::string> differences(const std::string& st, const std::string& query,
                                         std::string& counts) {
        std::string cols;
        for (const auto& col : visible_columns(st))
            cols += (cols.empty() ? "s." : ", s.") + col;
        const auto rows = c().query(fmt::format(
            "WITH q AS MATERIALIZED (SELECT x::text AS r FROM (\n{q}\n) x),\n"
            "     s AS MATERIALIZED (SELECT ROW({cols})::text AS r FROM tpch.{st} s)\n"
            "SELECT d.kind || ' ' || d.r, (SELECT count(*) FROM q) || ' query rows, ' ||\n"
            "       (SELECT count(*) FROM s) || ' stream table rows'\n"
            "FROM (SELECT 'missing' AS kind, r FROM (SELECT r FROM q EXCEPT ALL SELECT r FROM s) "
            "a\n"
            "      UNION ALL\n"
            "      SELECT 'extra', r FROM (SELECT r FROM s EXCEPT ALL SELECT r FROM q) b) d\n"
            "RIGHT JOIN (SELECT 1) one ON true ORDER BY 1 LIMIT 20",
            fmt::arg("q", query), fmt::arg("cols", cols), fmt::arg("st", st)));
        std::vector<std::string> out;
        for (const auto& r : rows) {
            counts = show(r[1]);
            if (r[0])
                out.push_back(*r[0]);
        }
        return out;
    }

    std::string last_action(const std::string& st) {
        const auto rows = c().query(fmt::format(
            "SELECT action, status FROM pgtrickle.get_refresh_history('tpch.{}', 1)", st));
        if (rows.empty())
            return "(no history)";
        return show(rows[0][0]) + (show(rows[0][1]) == "COMPLETED" ? "" : " " + show(rows[0][1]));
    }

    std::string history(const std::string& st) {
        std::string out;
        for (const auto& r : c().query(fmt::format(
                 "SELECT action, status, rows_inserted, rows_deleted, error_message FROM "
                 "pgtrickle.get_refresh_history('tpch.{}', 5)",
                 st)))
            out += fmt::format("    {} {} +{} -{} {}\n", show(r[0]), show(r[1]), show(r[2]),
                               show(r[3]), r[4] ? *r[4] : "");
        return out;
    }

    // The stream table equals its query; where: "after creation", "after round 2", ...
    void expect_equal(const std::string& st, const std::string& query, const std::string& where) {
        std::string counts;
        const auto diff = differences(st, query, counts);
        if (!diff.empty()) {
            std::string rows;
            for (const auto& d : diff)
                rows += "    " + d + "\n";
            ADD_FAILURE() << st << " differs from its query " << where << " (" << counts
                          << "); first differing rows:\n"
                          << rows << "  last refreshes:\n"
                          << history(st);
        }
    }

    std::string db_;
    std::optional<Connection> conn_;
    static inline std::string setup_error_;
    static inline double load_seconds_ = 0;
};

TEST_P(Tpch, StreamTablesMatchQueryThroughRefreshRounds) {
    const int q = GetParam();
    const std::string query = query_text(q);
    const std::string full = query_name(q) + "_full";
    const std::string diff = query_name(q) + "_diff";

    // The query itself runs and, on the default data, returns rows (for some other seeds the
    // most selective queries, Q18 for one, find nothing at SF 0.01).
    const std::string nrows = c().scalar("SELECT count(*) FROM (\n" + query + "\n) x");
    RecordProperty("query_rows", nrows);
    if (kSeed == kDefaultSeed)
        EXPECT_NE(nrows, "0") << query_name(q) << " returns no rows on the generated data";

    ASSERT_NO_THROW(c().exec(fmt::format(
        "SELECT pgtrickle.create_stream_table('{}', {}, refresh_mode => 'FULL', schedule => '1h')",
        full, dollar_quote(query))))
        << "FULL must work for every TPC-H query";

    std::vector<std::pair<std::string, std::string>> tables = {{full, "FULL"}};
    const std::string create_diff = fmt::format(
        "SELECT pgtrickle.create_stream_table('{}', {}, refresh_mode => 'DIFFERENTIAL', "
        "schedule => '1h')",
        diff, dollar_quote(query));
    if (not_yet_incremental(q)) {
        try {
            c().exec(create_diff);
            ADD_FAILURE() << query_name(q)
                          << " is now accepted in DIFFERENTIAL mode: take it off kNotYetIncremental"
                             " in test_tpch.cpp so that it is checked";
            tables.emplace_back(diff, "DIFFERENTIAL");
        } catch (const QueryError& e) {
            EXPECT_EQ(e.sqlstate, "0A000") << e.what();
            EXPECT_NE(std::string(e.what()).find("unsupported operator for DIFFERENTIAL mode"),
                      std::string::npos)
                << e.what();
            std::string msg = e.what();
            RecordProperty("differential_refused", msg.substr(0, msg.find('\n')));
        }
    } else {
        try {
            c().exec(create_diff);
        } catch (const QueryError& e) {
            FAIL() << query_name(q) << " refused in DIFFERENTIAL mode (SQLSTATE " << e.sqlstate
                   << "): " << e.what()
                   << "if this is a known limitation, add it to kNotYetIncremental";
        }
        tables.emplace_back(diff, "DIFFERENTIAL");
        const std::string tree = c().scalar(fmt::format(
            "SELECT value FROM pgtrickle.explain_st('{}') WHERE property = 'operator_tree'", diff));
        const bool recomputed = tree.starts_with("Recomputed");
        const bool expected =
            std::find(kRecomputed.begin(), kRecomputed.end(), q) != kRecomputed.end();
        EXPECT_EQ(recomputed, expected)
            << query_name(q) << (expected ? " should be recomputed" : " should have deltas")
            << " (kRecomputed in test_tpch.cpp); its operator tree:\n"
            << tree;
    }

    // IMMEDIATE: the same engine inside each writing statement, so the same queries; checked
    // right after the writes, without any refresh.
    const std::string imm = query_name(q) + "_imm";
    const std::string create_imm =
        fmt::format("SELECT pgtrickle.create_stream_table('{}', {}, refresh_mode => 'IMMEDIATE')",
                    imm, dollar_quote(query));
    bool immediate = false;
    if (not_yet_incremental(q)) {
        try {
            c().exec(create_imm);
            ADD_FAILURE() << query_name(q) << " is now accepted in IMMEDIATE mode: take it off "
                          << "kNotYetIncremental in test_tpch.cpp so that it is checked";
            immediate = true;
        } catch (const QueryError& e) {
            EXPECT_EQ(e.sqlstate, "0A000") << e.what();
            EXPECT_NE(std::string(e.what()).find("unsupported operator for IMMEDIATE mode"),
                      std::string::npos)
                << e.what();
        }
    } else {
        try {
            c().exec(create_imm);
            immediate = true;
        } catch (const QueryError& e) {
            FAIL() << query_name(q) << " refused in IMMEDIATE mode (SQLSTATE " << e.sqlstate
                   << "): " << e.what();
        }
    }

    for (const auto& [st, mode] : tables)
        expect_equal(st, query, "after creation");
    if (immediate)
        expect_equal(imm, query, "after creation");

    for (int round = 1; round <= kRounds; ++round) {
        const std::string what = c().scalar(fmt::format("SELECT tpch_round({}, {})", round, kSeed));
        if (immediate)
            expect_equal(imm, query, fmt::format("after RF1/RF2/updates of round {}", round));
        const std::string hot = c().scalar(fmt::format("SELECT tpch_rf_hot({}, {})", round, kSeed));
        RecordProperty(fmt::format("round_{}", round), what + ", " + hot + " targeted updates");
        if (immediate)
            expect_equal(imm, query, fmt::format("after the targeted updates of round {}", round));
        for (const auto& [st, mode] : tables) {
            ASSERT_NO_THROW(
                c().exec(fmt::format("SELECT pgtrickle.refresh_stream_table('{}')", st)))
                << st << " in round " << round;
            EXPECT_EQ(last_action(st), mode) << st << " in round " << round;
            expect_equal(st, query, fmt::format("after round {}", round));
        }
        if (HasFailure())
            break;  // the first round that goes wrong says it all
    }
}

INSTANTIATE_TEST_SUITE_P(TpchQuery, Tpch, ::testing::Range(1, 23),
                         [](const ::testing::TestParamInfo<int>& info) {
                             return query_name(info.param);
                         });

// The generator and the refresh functions are deterministic: the same (scale factor, seed) and
// rounds give the same tables, whatever else happened in the session; another seed gives other
// data. Small scale factor, two schemas in one scratch database.
TEST(TpchGenerator, DeterministicForSeedAndRound) {
    const std::string db = "it_tpch_generator";
    {
        Connection admin;
        drop_database(admin, db);
        admin.exec("CREATE DATABASE " + db);
    }
    std::string error;
    try {
        Connection c(db);
        const char* tables[] = {"region", "nation",   "supplier", "customer",
                                "part",   "partsupp", "orders",   "lineitem"};
        auto fingerprint = [&](const std::string& schema) {
            std::string fp;
            for (const char* t : tables)
                fp += c.scalar(fmt::format(
                          "SELECT count(*) || ':' || md5(string_agg(x::text, '|' ORDER BY x::text))"
                          " FROM {}.{} x",
                          schema, t)) +
                      " ";
            return fp;
        };
        for (const char* schema : {"a", "b", "c"}) {
            c.exec(fmt::format("CREATE SCHEMA {}", schema));
            c.exec(fmt::format("SET search_path = {}, public", schema));
            c.exec(read_text(tpch_dir() / "schema.sql"));
            c.exec(read_text(tpch_dir() / "generate.sql"));
            c.exec(read_text(tpch_dir() / "refresh_functions.sql"));
        }
        // a: seed 7 directly. b: seed 8 first, then seed 7 (the generator empties the tables).
        // c: seed 8.
        c.exec("SET search_path = a, public");
        c.exec("SELECT tpch_generate(0.002, 7)");
        c.exec("SET search_path = b, public");
        c.exec("SET max_parallel_workers_per_gather = 0");
        c.exec("SET enable_hashjoin = off");
        c.exec("SELECT tpch_generate(0.002, 8)");
        c.exec("SELECT tpch_generate(0.002, 7)");
        c.exec("RESET enable_hashjoin");
        c.exec("SET search_path = c, public");
        c.exec("SELECT tpch_generate(0.002, 8)");

        // The spec's row counts for SF 0.002.
        EXPECT_EQ(c.scalar("SELECT count(*) FROM a.supplier"), "20");
        EXPECT_EQ(c.scalar("SELECT count(*) FROM a.customer"), "300");
        EXPECT_EQ(c.scalar("SELECT count(*) FROM a.part"), "400");
        EXPECT_EQ(c.scalar("SELECT count(*) FROM a.partsupp"), "1600");
        EXPECT_EQ(c.scalar("SELECT count(*) FROM a.orders"), "3000");
        EXPECT_EQ(c.scalar("SELECT count(*) BETWEEN 3000 AND 21000 FROM a.lineitem"), "t");
        EXPECT_EQ(c.scalar("SELECT count(*) FROM a.lineitem l WHERE NOT EXISTS (SELECT FROM "
                           "a.partsupp WHERE ps_partkey = l_partkey AND ps_suppkey = l_suppkey)"),
                  "0");

        EXPECT_EQ(fingerprint("a"), fingerprint("b"));
        EXPECT_NE(fingerprint("a"), fingerprint("c"));

        for (const char* schema : {"a", "b"}) {
            c.exec(fmt::format("SET search_path = {}, public", schema));
            for (int round = 1; round <= 2; ++round)
                c.exec(fmt::format("SELECT tpch_round({}, 3)", round));
        }
        EXPECT_EQ(fingerprint("a"), fingerprint("b"));
        EXPECT_NE(c.scalar("SELECT count(*) FROM a.orders"), "3000");
    } catch (const std::exception& e) {
        error = e.what();
    }
    {
        Connection admin;
        drop_database(admin, db);
    }
    EXPECT_EQ(error, "");
}
