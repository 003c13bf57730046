// IMMEDIATE mode: the stream table reflects each statement when it returns, inside the writing
// transaction; rollbacks, savepoints, nested and multi-table statements, TRUNCATE, mode
// switches, DROP, and concurrent writers under each isolation level keep it exact.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "pg_connection.hpp"

using pgtrickle::test::Connection;
using pgtrickle::test::QueryError;
using pgtrickle::test::ScratchDatabase;

namespace {

class Immediate : public ::testing::Test {
  protected:
    ScratchDatabase db{"it_immediate"};
    Connection c = db.connect();

    void SetUp() override {
        c.exec("SET DateStyle = ISO");
        c.exec("SET extra_float_digits = 1");
        c.exec("SET lock_timeout = '20s'");
        c.exec("CREATE TABLE t (id int PRIMARY KEY, grp int, v numeric)");
        c.exec("CREATE TABLE u (grp int PRIMARY KEY, name text)");
        c.exec("CREATE TABLE bag (grp int, v int)");  // no key: duplicates
        c.exec("INSERT INTO t SELECT i, i % 5, i FROM generate_series(1, 50) i");
        c.exec("INSERT INTO u SELECT g, 'g' || g FROM generate_series(0, 4) g");
        c.exec("INSERT INTO bag SELECT i % 3, i % 2 FROM generate_series(1, 12) i");
    }

    void create(const std::string& name, const std::string& query) {
        c.exec(fmt::format(
            "SELECT pgtrickle.create_stream_table('{}', $q${}$q$, refresh_mode => 'IMMEDIATE')",
            name, query));
    }

    // Rows of the stream table that its query does not return, and the reverse (multisets),
    // as seen by `conn`: "" when they are equal.
    std::string diff(const std::string& name, Connection* conn = nullptr) {
        Connection& cc = conn ? *conn : c;
        const std::string query = cc.scalar(fmt::format(
            "SELECT defining_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = '{}'", name));
        const std::string cols = cc.scalar(fmt::format(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
            "WHERE attrelid = '{}'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT "
            "LIKE '\\_\\_pgt\\_%'",
            name));
        return cc.scalar(fmt::format(
            "SELECT coalesce(string_agg(k || ' ' || r, '; ' ORDER BY k, r), '') FROM ("
            " SELECT 'extra' AS k, x::text AS r FROM (SELECT {c} FROM {n} EXCEPT ALL ({q})) x"
            " UNION ALL"
            " SELECT 'missing', x::text FROM (({q}) EXCEPT ALL SELECT {c} FROM {n}) x) d",
            fmt::arg("c", cols), fmt::arg("n", name), fmt::arg("q", query)));
    }
};

const char* kAgg =
    "SELECT grp, count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi FROM t GROUP BY grp";
const char* kJoin = "SELECT t.id, u.name, t.v FROM t JOIN u USING (grp)";
const char* kLeft = "SELECT u.grp, u.name, t.id FROM u LEFT JOIN t ON t.grp = u.grp AND t.v > 45";
const char* kExists =
    "SELECT u.name FROM u WHERE EXISTS (SELECT 1 FROM t WHERE t.grp = u.grp AND t.v > 40)";
const char* kBag = "SELECT grp, v FROM bag";
const char* kDistinct = "SELECT DISTINCT grp FROM bag";

}  // namespace

TEST_F(Immediate, EveryStatementIsVisibleWhenItReturns) {
    for (auto [name, q] : {std::pair{"agg", kAgg},
                           {"j", kJoin},
                           {"lj", kLeft},
                           {"ex", kExists},
                           {"b", kBag},
                           {"d", kDistinct}})
        create(name, q);
    const char* statements[] = {
        "INSERT INTO t VALUES (100, 1, 1000), (101, 7, 3)",
        "UPDATE t SET grp = 2 WHERE id <= 5",
        "UPDATE t SET v = v + 1 WHERE grp = 3",
        "DELETE FROM t WHERE id > 45",
        "UPDATE u SET name = 'renamed' WHERE grp = 2",
        "INSERT INTO u VALUES (7, 'seven')",
        "DELETE FROM u WHERE grp = 0",
        "INSERT INTO bag VALUES (1, 1), (1, 1), (9, 0)",
        "DELETE FROM bag WHERE ctid IN (SELECT ctid FROM bag WHERE grp = 1 AND v = 1 LIMIT 1)",
        "UPDATE bag SET v = 5 WHERE grp = 2",
        "INSERT INTO t VALUES (5, 1, 1) ON CONFLICT (id) DO UPDATE SET v = excluded.v + 100",
        "INSERT INTO t VALUES (102, 4, 2) ON CONFLICT (id) DO NOTHING",
        "MERGE INTO t USING (VALUES (6, 9), (200, 9)) s(id, v) ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, 0, s.v)",
        "DELETE FROM t WHERE grp = 4",
    };
    for (const char* sql : statements) {
        SCOPED_TRACE(sql);
        c.exec(sql);
        for (const char* st : {"agg", "j", "lj", "ex", "b", "d"})
            EXPECT_EQ(diff(st), "") << st;
    }
    // No change buffer and no capture trigger: IMMEDIATE reads transition tables directly.
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_class WHERE relnamespace = "
                       "'pgtrickle_changes'::regnamespace AND relkind = 'r'"
                       " AND relname LIKE 'changes\\_%'"),
              "0");
}

// Found by the property test: a single-table aggregate maintained by increments, whose group
// had only NULLs in a summed column when it was created, must add to the stored sum (NULL,
// kept for "no non-NULL value") as if it were 0.
TEST_F(Immediate, IncrementsAddToASumOverOnlyNulls) {
    c.exec("CREATE TABLE n (k int, g text, v int)");
    c.exec("INSERT INTO n VALUES (1, 'a', NULL), (2, 'a', NULL), (3, 'b', 5)");
    create("sums", "SELECT g, sum(v) AS s, count(v) AS c, count(*) AS n FROM n GROUP BY g");
    c.exec("INSERT INTO n VALUES (4, 'a', -1)");
    EXPECT_EQ(diff("sums"), "");
    EXPECT_EQ(c.scalar("SELECT s FROM sums WHERE g = 'a'"), "-1");
    c.exec("DELETE FROM n WHERE v IS NOT NULL AND g = 'a'");
    EXPECT_EQ(diff("sums"), "");
    c.exec("DELETE FROM n WHERE g = 'a'");
    EXPECT_EQ(diff("sums"), "");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM sums"), "1");
}

TEST_F(Immediate, RollbackAndSavepointsLeaveItAsBefore) {
    create("agg", kAgg);
    create("j", kJoin);
    const std::string before = c.scalar("SELECT string_agg(x::text, ',' ORDER BY grp) FROM agg x");
    c.exec("BEGIN");
    c.exec("INSERT INTO t VALUES (100, 1, 1000)");
    EXPECT_EQ(diff("agg"), "");
    c.exec("SAVEPOINT a");
    c.exec("DELETE FROM t WHERE grp = 2");
    c.exec("UPDATE u SET name = 'x' WHERE grp = 1");
    EXPECT_EQ(diff("agg"), "");
    EXPECT_EQ(diff("j"), "");
    c.exec("ROLLBACK TO SAVEPOINT a");
    EXPECT_EQ(diff("agg"), "");
    EXPECT_EQ(diff("j"), "");
    c.exec("UPDATE t SET v = 0 WHERE id = 100");
    c.exec("ROLLBACK");
    EXPECT_EQ(c.scalar("SELECT string_agg(x::text, ',' ORDER BY grp) FROM agg x"), before);
    EXPECT_EQ(diff("j"), "");
}

TEST_F(Immediate, StatementsNestedInOneStatementAreMaintainedTogether) {
    create("j", kJoin);
    create("agg", kAgg);
    // Two sources of one stream table in one statement.
    c.exec(
        "WITH a AS (INSERT INTO u VALUES (8, 'eight') RETURNING grp) "
        "INSERT INTO t SELECT 300, grp, 5 FROM a");
    EXPECT_EQ(diff("j"), "");
    c.exec("WITH a AS (DELETE FROM u WHERE grp = 8 RETURNING grp) DELETE FROM t WHERE id = 300");
    EXPECT_EQ(diff("j"), "");
    // A user trigger on one source writes another, inside the statement.
    c.exec(
        "CREATE FUNCTION add_group() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO u VALUES (NEW.grp, 'auto' || NEW.grp) ON CONFLICT DO NOTHING; RETURN NEW; "
        "END $$");
    c.exec("CREATE TRIGGER add_group BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION add_group()");
    c.exec("INSERT INTO t VALUES (400, 40, 1), (401, 41, 2), (402, 1, 3)");
    EXPECT_EQ(diff("j"), "");
    EXPECT_EQ(diff("agg"), "");
    // A subtransaction that fails inside the statement: its writes and their rows are gone.
    c.exec(
        "CREATE FUNCTION try_insert(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
        "BEGIN INSERT INTO u VALUES (i, 'tmp'); INSERT INTO t VALUES (i, i, 1 / 0); "
        "EXCEPTION WHEN division_by_zero THEN NULL; END; RETURN i; END $$");
    c.exec("UPDATE t SET v = try_insert(500) WHERE id = 1");
    EXPECT_EQ(diff("j"), "");
    EXPECT_EQ(diff("agg"), "");
}

TEST_F(Immediate, StreamTablesOnImmediateStreamTablesCascadeInTheSameStatement) {
    create("j", kJoin);
    create("by_name", "SELECT name, count(*) AS n, sum(v) AS s FROM j GROUP BY name");
    // Reads both a base table and the stream table on it: both change in one statement.
    create("mixed", "SELECT j.name, t.grp FROM j JOIN t ON t.id = j.id WHERE t.v > 10");
    c.exec("BEGIN");
    c.exec("UPDATE t SET v = v + 20 WHERE grp = 2");
    c.exec("UPDATE u SET name = 'two' WHERE grp = 2");
    for (const char* st : {"j", "by_name", "mixed"})
        EXPECT_EQ(diff(st), "") << st;
    c.exec("DELETE FROM t WHERE id % 7 = 0");
    for (const char* st : {"j", "by_name", "mixed"})
        EXPECT_EQ(diff(st), "") << st;
    c.exec("COMMIT");
    for (const char* st : {"j", "by_name", "mixed"})
        EXPECT_EQ(diff(st), "") << st;
}

TEST_F(Immediate, ImmediateOverADifferentialStreamTableFollowsItsRefreshes) {
    c.exec(
        "SELECT pgtrickle.create_stream_table('per_grp', 'SELECT grp, sum(v) AS s FROM t GROUP BY "
        "grp', refresh_mode => 'DIFFERENTIAL', schedule => '24h')");
    create("overall", "SELECT count(*) AS n, sum(s) AS total FROM per_grp");
    c.exec("INSERT INTO t VALUES (100, 9, 1000)");
    EXPECT_EQ(c.scalar("SELECT n FROM overall"), "5");  // per_grp not refreshed yet
    // The refresh writes per_grp's storage; its triggers maintain overall in the same statement.
    c.exec("SELECT pgtrickle.refresh_stream_table('per_grp')");
    EXPECT_EQ(diff("overall"), "");
    EXPECT_EQ(c.scalar("SELECT n FROM overall"), "6");
    c.exec("DELETE FROM t WHERE grp IN (1, 9)");
    c.exec("SELECT pgtrickle.refresh_stream_table('per_grp')");
    EXPECT_EQ(diff("overall"), "");
    EXPECT_EQ(c.scalar("SELECT total FROM overall"), c.scalar("SELECT sum(v) FROM t"));
}

TEST_F(Immediate, TruncateRecomputes) {
    create("agg", kAgg);
    create("j", kJoin);
    c.exec("BEGIN");
    c.exec("TRUNCATE t");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM agg"), "0");
    EXPECT_EQ(diff("j"), "");
    c.exec("INSERT INTO t VALUES (1, 1, 1)");
    EXPECT_EQ(diff("agg"), "");
    c.exec("ROLLBACK");
    EXPECT_EQ(diff("agg"), "");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM agg"), "5");
}

TEST_F(Immediate, SwitchingModesSwapsTriggersAndKeepsContents) {
    auto triggers = [&] {
        return c.scalar(
            "SELECT coalesce(string_agg(regexp_replace(tgname, '_[0-9]+$', ''), ',' ORDER BY "
            "tgname), '') FROM pg_trigger WHERE tgrelid = 't'::regclass AND NOT tgisinternal");
    };
    c.exec("SELECT pgtrickle.create_stream_table('agg', $q$" + std::string(kAgg) +
           "$q$, refresh_mode => 'DIFFERENTIAL', schedule => '24h')");
    EXPECT_EQ(triggers(),
              "pg_trickle_cdc_del,pg_trickle_cdc_ins,pg_trickle_cdc_trunc,pg_trickle_cdc_upd");
    c.exec("INSERT INTO t VALUES (100, 1, 5)");  // pending in the buffer
    c.exec("SELECT pgtrickle.alter_stream_table('agg', refresh_mode => 'IMMEDIATE')");
    EXPECT_EQ(triggers(),
              "pg_trickle_ivm_before,pg_trickle_ivm_del,pg_trickle_ivm_ins,pg_trickle_ivm_trunc,"
              "pg_trickle_ivm_upd");
    EXPECT_EQ(diff("agg"), "");
    c.exec("UPDATE t SET v = 0 WHERE grp = 1");
    EXPECT_EQ(diff("agg"), "");
    c.exec("SELECT pgtrickle.alter_stream_table('agg', refresh_mode => 'DIFFERENTIAL')");
    EXPECT_EQ(triggers(),
              "pg_trickle_cdc_del,pg_trickle_cdc_ins,pg_trickle_cdc_trunc,pg_trickle_cdc_upd");
    c.exec("DELETE FROM t WHERE grp = 1");
    c.exec("SELECT pgtrickle.refresh_stream_table('agg')");
    EXPECT_EQ(diff("agg"), "");
    c.exec("SELECT pgtrickle.alter_stream_table('agg', refresh_mode => 'IMMEDIATE')");
    c.exec("SELECT pgtrickle.drop_stream_table('agg')");
    EXPECT_EQ(triggers(), "");
    // A manual refresh of an IMMEDIATE stream table recomputes it.
    create("j", kJoin);
    EXPECT_NO_THROW(c.exec("SELECT pgtrickle.refresh_stream_table('j')"));
    EXPECT_EQ(diff("j"), "");
}

TEST_F(Immediate, UnsupportedQueriesAndSourcesAreRefused) {
    try {
        create("w", "SELECT id, now() AS seen_at FROM t");
        FAIL() << "a time-dependent query was accepted in IMMEDIATE mode";
    } catch (const QueryError& e) {
        EXPECT_EQ(e.sqlstate, "0A000");
        EXPECT_NE(std::string(e.what()).find("unsupported operator for IMMEDIATE mode"),
                  std::string::npos)
            << e.what();
    }
    c.exec("CREATE TABLE parted (id int, k int) PARTITION BY RANGE (id)");
    c.exec("CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100)");
    try {
        create("p", "SELECT k, count(*) AS n FROM parted GROUP BY k");
        FAIL() << "a partitioned source was accepted in IMMEDIATE mode";
    } catch (const QueryError& e) {
        EXPECT_EQ(e.sqlstate, "0A000") << e.what();
    }
    // Nothing was left behind.
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pgtrickle.pgt_stream_tables"), "0");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pg_trickle_ivm%'"), "0");
}

// Two writers on the same groups, each in its own transaction: under READ COMMITTED the second
// waits for the first and then applies its change on top of it; under REPEATABLE READ and
// SERIALIZABLE it fails with 40001 instead of writing a stale total.
class ImmediateConcurrency : public Immediate, public ::testing::WithParamInterface<const char*> {};

TEST_P(ImmediateConcurrency, TwoWritersOnTheSameGroup) {
    create("agg", kAgg);
    Connection w1 = db.connect(), w2 = db.connect();
    const std::string level = GetParam();
    w1.exec("BEGIN ISOLATION LEVEL " + level);
    w2.exec("BEGIN ISOLATION LEVEL " + level);
    w2.exec("SELECT 1");  // w2's snapshot predates w1's commit
    w1.exec("INSERT INTO t VALUES (100, 1, 1000)");
    w2.send("INSERT INTO t VALUES (101, 1, 2000)");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    w1.exec("COMMIT");
    if (level == "READ COMMITTED") {
        w2.finish_send();
        w2.exec("COMMIT");
        EXPECT_EQ(diff("agg"), "");
        EXPECT_EQ(c.scalar("SELECT s FROM agg WHERE grp = 1"),
                  c.scalar("SELECT sum(v) FROM t WHERE grp = 1"));
    } else {
        try {
            w2.finish_send();
            FAIL() << "the second writer wrote over a total it could not see";
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find("could not serialize"), std::string::npos)
                << e.what();
        }
        w2.exec("ROLLBACK");
        EXPECT_EQ(diff("agg"), "");
    }
}

INSTANTIATE_TEST_SUITE_P(Levels, ImmediateConcurrency,
                         ::testing::Values("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"),
                         [](const auto& info) {
                             std::string n = info.param;
                             n.erase(std::remove(n.begin(), n.end(), ' '), n.end());
                             return n;
                         });

TEST_F(Immediate, WriterWaitsForDropAndThenMaintainsNothing) {
    create("agg", kAgg);
    Connection dropper = db.connect(), writer = db.connect();
    dropper.exec("BEGIN");
    dropper.exec("SELECT pgtrickle.drop_stream_table('agg')");
    writer.send("INSERT INTO t VALUES (100, 1, 1000)");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    dropper.exec("COMMIT");
    EXPECT_NO_THROW(writer.finish_send());
    EXPECT_EQ(c.scalar("SELECT count(*) FROM t WHERE id = 100"), "1");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pg_trickle_ivm%'"), "0");
}
