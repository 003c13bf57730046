// Partitioned sources under concurrency: a partition detached concurrently (DETACH PARTITION
// ... CONCURRENTLY, interrupted while it waits for older snapshots), and DDL on the partition
// tree while a refresh holds its lock. The single-session cases are in regression 24.
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pg_connection.hpp"

using pgtrickle::test::Connection;
using pgtrickle::test::QueryError;
using pgtrickle::test::ScratchDatabase;

namespace {

class PartitionedSource : public ::testing::Test {
  protected:
    ScratchDatabase db{"it_partitions"};
    Connection c = db.connect();
    Connection other = db.connect();

    void SetUp() override {
        c.exec(
            "CREATE TABLE sales (id int, region text, amount int, PRIMARY KEY (id, region))"
            " PARTITION BY LIST (region)");
        c.exec("CREATE TABLE sales_us PARTITION OF sales FOR VALUES IN ('us')");
        c.exec("CREATE TABLE sales_eu PARTITION OF sales FOR VALUES IN ('eu')");
        c.exec("CREATE TABLE sales_apac PARTITION OF sales FOR VALUES IN ('apac')");
        c.exec(
            "INSERT INTO sales SELECT g, (ARRAY['us', 'eu', 'apac'])[1 + g % 3], g"
            " FROM generate_series(1, 300) g");
        c.exec(
            "SELECT pgtrickle.create_stream_table('by_region', 'SELECT region, count(*) AS n,"
            " sum(amount) AS total FROM sales GROUP BY region', refresh_mode => 'DIFFERENTIAL',"
            " schedule => '1h')");
    }

    std::string mismatches() {
        return c.scalar(
            "SELECT count(*) FROM ((SELECT region, n, total FROM by_region EXCEPT ALL"
            " SELECT region, count(*), sum(amount) FROM sales GROUP BY region) UNION ALL"
            " (SELECT region, count(*), sum(amount) FROM sales GROUP BY region EXCEPT ALL"
            " SELECT region, n, total FROM by_region)) d");
    }
    std::string refresh() {
        c.exec("SELECT pgtrickle.refresh_stream_table('by_region')");
        return c.scalar("SELECT action FROM pgtrickle.get_refresh_history('by_region', 1)");
    }
};

// DETACH PARTITION ... CONCURRENTLY commits the partition as "detach pending" and then waits for
// every older snapshot; interrupted there, it stays pending, no DDL event is fired, and the
// partitioned table's queries no longer show its rows. Writes to the partition go on working (its
// rows are no longer the source's: not captured), and refreshes are FULL, so the stream table
// follows the query, until FINALIZE takes the partition's triggers away.
TEST_F(PartitionedSource, InterruptedConcurrentDetachIsFollowed) {
    other.exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
    other.exec("SELECT count(*) FROM sales");  // (an older snapshot the detach waits for)
    c.exec("SET statement_timeout = '1s'");
    try {
        c.exec("ALTER TABLE sales DETACH PARTITION sales_eu CONCURRENTLY");
        ADD_FAILURE() << "the detach did not wait for the older snapshot";
    } catch (const QueryError& e) {
        EXPECT_EQ(e.sqlstate, "57014") << e.what();
    }
    c.exec("RESET statement_timeout");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_inherits WHERE inhdetachpending"), "1");
    c.exec("INSERT INTO sales_eu VALUES (1000, 'eu', 5)");
    c.exec("INSERT INTO sales_us VALUES (1001, 'us', 6)");
    EXPECT_EQ(refresh(), "FULL");
    EXPECT_EQ(mismatches(), "0");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM by_region WHERE region = 'eu'"), "0");
    c.exec("UPDATE sales_eu SET amount = amount + 1");
    EXPECT_EQ(refresh(), "FULL");
    EXPECT_EQ(mismatches(), "0");
    other.exec("COMMIT");
    c.exec("ALTER TABLE sales DETACH PARTITION sales_eu FINALIZE");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'sales_eu'::regclass"
                       " AND tgname LIKE 'pg\\_trickle\\_%'"),
              "0");
    c.exec("INSERT INTO sales_eu VALUES (1002, 'eu', 7)");
    c.exec("INSERT INTO sales_us VALUES (1003, 'us', 8)");
    refresh();
    EXPECT_EQ(mismatches(), "0");
    c.exec("INSERT INTO sales_us VALUES (1004, 'us', 9)");
    EXPECT_EQ(refresh(), "DIFFERENTIAL");
    EXPECT_EQ(mismatches(), "0");
}

// DETACH and DROP of a partition hold the partitioned table's lock until they commit. A refresh
// takes its own lock first and then reads the source: the DDL must not wait for that lock (it
// did, to reset the readers' frontiers, and the two deadlocked). The refresh's lock is taken by
// hand here, as a refresh would hold it before reading.
TEST_F(PartitionedSource, PartitionDdlDoesNotWaitForARefreshInProgress) {
    const std::string id =
        c.scalar("SELECT pgt_id FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'by_region'");
    other.exec("BEGIN");
    other.exec(fmt::format("SELECT pg_advisory_xact_lock(1885828210, {})", id));
    c.exec("SET lock_timeout = '3s'");
    c.exec("ALTER TABLE sales DETACH PARTITION sales_apac");  // (with rows)
    c.exec("DROP TABLE sales_eu");
    c.exec("CREATE TABLE sales_latam PARTITION OF sales FOR VALUES IN ('latam')");
    c.exec("RESET lock_timeout");
    EXPECT_EQ(other.scalar("SELECT count(*) FROM sales"), "100");
    other.exec("COMMIT");
    c.exec("INSERT INTO sales_latam VALUES (2000, 'latam', 1)");
    EXPECT_EQ(refresh(), "FULL");
    EXPECT_EQ(mismatches(), "0");
    c.exec("INSERT INTO sales_latam VALUES (2001, 'latam', 1)");
    EXPECT_EQ(refresh(), "DIFFERENTIAL");
    EXPECT_EQ(mismatches(), "0");
}

// ATTACH and DETACH in a REPEATABLE READ transaction whose snapshot is older than the rows of
// the partition: whether the partition brings or takes rows is judged by what is committed now,
// not by that snapshot (which saw it empty, and no FULL refresh followed).
TEST_F(PartitionedSource, AttachAndDetachUnderRepeatableReadSeeEveryRow) {
    c.exec("CREATE TABLE sales_latam (id int NOT NULL, region text NOT NULL, amount int)");
    other.exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
    other.exec("SELECT 1");  // (its snapshot: sales_latam empty)
    c.exec("INSERT INTO sales_latam VALUES (500, 'latam', 5)");
    other.exec("ALTER TABLE sales ATTACH PARTITION sales_latam FOR VALUES IN ('latam')");
    other.exec("COMMIT");
    EXPECT_EQ(refresh(), "FULL");
    EXPECT_EQ(mismatches(), "0");

    other.exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
    other.exec("SELECT 1");
    c.exec("INSERT INTO sales VALUES (501, 'latam', 6)");  // (captured, through the root)
    EXPECT_EQ(refresh(), "DIFFERENTIAL");
    other.exec("ALTER TABLE sales DETACH PARTITION sales_latam");
    other.exec("COMMIT");
    EXPECT_EQ(refresh(), "FULL");
    EXPECT_EQ(mismatches(), "0");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM by_region WHERE region = 'latam'"), "0");
}

}  // namespace
