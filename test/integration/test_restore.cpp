// A database using pg_trickle, dumped with pg_dump and restored into a new database (custom
// format with pg_restore, plain format with psql): the restored stream tables are found, their
// sources can be written, change capture and IMMEDIATE maintenance work, refreshes are exact,
// and nothing named for the dumped database's OIDs is left behind.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pg_connection.hpp"

using namespace pgtrickle::test;

namespace {

std::string bindir() {
    std::string out;
    if (FILE* p = popen("pg_config --bindir", "r")) {
        char buf[512];
        while (fgets(buf, sizeof(buf), p) != nullptr)
            out += buf;
        pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

std::string connection_options() {
    const char* host = std::getenv("PGTRICKLE_TEST_HOST");
    const char* port = std::getenv("PGTRICKLE_TEST_PORT");
    return fmt::format("-h '{}' -p {} -U postgres", host ? host : PGTRICKLE_TEST_HOST_DEFAULT,
                       port ? port : PGTRICKLE_TEST_PORT_DEFAULT);
}

// Rows of `table` (columns `cols`) not in `query`, plus rows of `query` not in `table`.
std::string mismatches(Connection& c, const std::string& table, const std::string& cols,
                       const std::string& query) {
    return c.scalar(fmt::format(
        "SELECT count(*) FROM ((SELECT {1} FROM {0} EXCEPT ALL {2}) UNION ALL ({2} EXCEPT ALL "
        "SELECT {1} FROM {0})) d",
        table, cols, query));
}

class Restore : public ::testing::TestWithParam<std::string> {};

TEST_P(Restore, RestoredDatabaseKeepsMaintainingItsStreamTables) {
    const bool custom = GetParam() == "custom";
    const std::string src_name = "it_restore_src_" + GetParam();
    const std::string dst_name = "it_restore_dst_" + GetParam();
    ScratchDatabase src(src_name);
    auto s = src.connect();
    s.exec("CREATE TABLE orders (id int PRIMARY KEY, region int, amount numeric(12,2))");
    s.exec("INSERT INTO orders SELECT i, i % 10, i FROM generate_series(1, 1000) i");
    s.exec("CREATE TABLE events (k int, v int)");  // (no key: rows identified by content)
    s.exec("INSERT INTO events SELECT i % 5, i FROM generate_series(1, 50) i");
    s.exec(
        "SELECT pgtrickle.create_stream_table('by_region', 'SELECT region, count(*) AS n,"
        " sum(amount) AS s FROM orders GROUP BY region', schedule => '1h',"
        " refresh_mode => 'DIFFERENTIAL')");
    s.exec(
        "SELECT pgtrickle.create_stream_table('big_regions', 'SELECT region, s FROM by_region"
        " WHERE s > 50000', schedule => '1h', refresh_mode => 'DIFFERENTIAL')");
    s.exec(
        "SELECT pgtrickle.create_stream_table('events_now', 'SELECT k, sum(v) AS total"
        " FROM events GROUP BY k', refresh_mode => 'IMMEDIATE')");
    s.exec("CREATE TABLE ratios (id int PRIMARY KEY, d int)");
    s.exec("INSERT INTO ratios VALUES (1, 5)");
    s.exec(
        "SELECT pgtrickle.create_stream_table('ratio', 'SELECT id, 100 / d AS r FROM ratios',"
        " schedule => '1h', refresh_mode => 'DIFFERENTIAL')");
    // A partitioned source: its partitions carry capture triggers named for it.
    s.exec(
        "CREATE TABLE sales (id int, region int, amount int, PRIMARY KEY (id, region))"
        " PARTITION BY LIST (region)");
    s.exec("CREATE TABLE sales_1 PARTITION OF sales FOR VALUES IN (1)");
    s.exec("CREATE TABLE sales_2 PARTITION OF sales FOR VALUES IN (2) PARTITION BY RANGE (id)");
    s.exec("CREATE TABLE sales_2_low PARTITION OF sales_2 FOR VALUES FROM (0) TO (1000)");
    s.exec("INSERT INTO sales SELECT i, 1 + i % 2, i FROM generate_series(1, 100) i");
    s.exec(
        "SELECT pgtrickle.create_stream_table('sales_by_region', 'SELECT region, count(*) AS n,"
        " sum(amount) AS s FROM sales GROUP BY region', schedule => '1h',"
        " refresh_mode => 'DIFFERENTIAL')");
    s.exec("UPDATE sales_2_low SET amount = amount + 1 WHERE id < 10");
    // Changes not yet refreshed when the dump is taken (one its stream table cannot compute).
    s.exec("UPDATE orders SET amount = amount + 1 WHERE id % 7 = 0");
    s.exec("INSERT INTO ratios VALUES (2, 0)");

    const std::string file = fmt::format("/tmp/pgtrickle_{}.dump", src_name);
    const std::string bin = bindir();
    ASSERT_EQ(std::system(fmt::format("'{}/pg_dump' {} {} -f '{}' {}", bin, connection_options(),
                                      custom ? "-Fc" : "-Fp", file, src_name)
                              .c_str()),
              0);
    {
        Connection admin;
        admin.exec("DROP DATABASE IF EXISTS " + dst_name + " WITH (FORCE)");
        admin.exec("CREATE DATABASE " + dst_name);
    }
    const std::string restore =
        custom ? fmt::format("'{}/pg_restore' {} --exit-on-error --jobs 2 -d {} '{}'", bin,
                             connection_options(), dst_name, file)
               : fmt::format("'{}/psql' {} -q -v ON_ERROR_STOP=1 -d {} -f '{}' >/dev/null", bin,
                             connection_options(), dst_name, file);
    ASSERT_EQ(std::system(restore.c_str()), 0);
    std::remove(file.c_str());

    {
        Connection d(dst_name);
        // The catalog names the restored relations.
        EXPECT_EQ(d.scalar("SELECT count(*) FROM pgtrickle.pgt_stream_tables"
                           " WHERE pgt_relid <> pg_catalog.to_regclass(pgt_schema || '.' ||"
                           " pgt_name)"),
                  "0");
        EXPECT_EQ(d.scalar("SELECT count(*) FROM pgtrickle.pgt_dependencies"
                           " WHERE source_relid <> pg_catalog.to_regclass(source_stable_name)"),
                  "0");
        // Held until restore_stream_tables(): the scheduler leaves them alone while the
        // restore may still be loading their rows.
        EXPECT_EQ(d.scalar("SELECT string_agg(name || ' ' || status, ',' ORDER BY name)"
                           " FROM pgtrickle.pgt_status()"),
                  "public.big_regions ERROR,public.by_region ERROR,public.events_now ERROR,"
                  "public.ratio ERROR,public.sales_by_region ERROR");
        // Writes to their sources fail until then, and say what to do.
        for (const char* write :
             {"INSERT INTO orders VALUES (100000, 1, 1)", "INSERT INTO events VALUES (3, 300)",
              "INSERT INTO sales_2_low VALUES (500, 2, 5)",
              "INSERT INTO sales VALUES (501, 1, 5)"}) {
            try {
                d.exec(write);
                ADD_FAILURE() << "a write to a source whose capture was not rewired succeeded";
            } catch (const QueryError& e) {
                EXPECT_NE(std::string(e.what()).find("restore_stream_tables"), std::string::npos)
                    << e.what();
            }
        }

        d.exec("SELECT pgtrickle.restore_stream_tables()");
        EXPECT_EQ(d.scalar("SELECT string_agg(name || ' ' || status, ',' ORDER BY name)"
                           " FROM pgtrickle.pgt_status()"),
                  "public.big_regions ACTIVE,public.by_region ACTIVE,public.events_now ACTIVE,"
                  "public.ratio ERROR,public.sales_by_region ACTIVE");
        // (The one whose query fails now stays held, and says why.)
        EXPECT_NE(d.scalar("SELECT last_error_message FROM pgtrickle.pgt_stream_tables"
                           " WHERE pgt_name = 'ratio'")
                      .find("division by zero"),
                  std::string::npos);
        // Nothing named for the dumped database's OIDs is left (a partition's are named for
        // its partitioned ancestor), and every member of the tree is captured again.
        EXPECT_EQ(d.scalar("SELECT count(*) FROM pg_trigger WHERE tgname ~ '^pg_trickle_'"
                           " AND substring(tgname FROM '_([0-9]+)$') NOT IN (SELECT"
                           " a.relid::oid::text FROM pg_partition_ancestors(tgrelid) a"
                           " UNION ALL SELECT tgrelid::text)"),
                  "0");
        EXPECT_EQ(d.scalar("SELECT count(*) FROM pg_trigger WHERE tgname = 'pg_trickle_cdc_ins_'"
                           " || 'sales'::regclass::oid"),
                  "4");
        const std::string sales_by_region =
            "SELECT region, count(*), sum(amount) FROM sales GROUP BY region";
        EXPECT_EQ(mismatches(d, "sales_by_region", "region, n, s", sales_by_region), "0");
        d.exec("INSERT INTO sales_2_low VALUES (500, 2, 5)");
        d.exec("UPDATE sales SET amount = amount * 2 WHERE id IN (3, 4)");
        d.exec("DELETE FROM sales_1 WHERE id = 2");
        d.exec("SELECT pgtrickle.refresh_stream_table('sales_by_region')");
        EXPECT_EQ(
            d.scalar("SELECT action FROM pgtrickle.get_refresh_history('sales_by_region', 1)"),
            "DIFFERENTIAL");
        EXPECT_EQ(mismatches(d, "sales_by_region", "region, n, s", sales_by_region), "0");
        // They were recomputed (FULL), exactly; from then on refreshes are differential.
        EXPECT_EQ(d.scalar("SELECT action FROM pgtrickle.get_refresh_history('by_region', 1)"),
                  "FULL");
        const std::string by_region =
            "SELECT region, count(*), sum(amount) FROM orders GROUP BY region";
        EXPECT_EQ(mismatches(d, "by_region", "region, n, s", by_region), "0");
        d.exec("INSERT INTO orders SELECT i, i % 10, i FROM generate_series(1001, 1010) i");
        d.exec("DELETE FROM orders WHERE id % 101 = 0");
        d.exec("UPDATE orders SET amount = amount * 2 WHERE id % 50 = 0");
        d.exec("DELETE FROM events WHERE v = 10");
        d.exec("SELECT pgtrickle.refresh_stream_table('by_region')");
        d.exec("SELECT pgtrickle.refresh_stream_table('big_regions')");
        EXPECT_EQ(d.scalar("SELECT action FROM pgtrickle.get_refresh_history('by_region', 1)"),
                  "DIFFERENTIAL");
        EXPECT_EQ(mismatches(d, "by_region", "region, n, s", by_region), "0");
        EXPECT_EQ(mismatches(d, "big_regions", "region, s",
                             "SELECT region, sum(amount) FROM orders GROUP BY region"
                             " HAVING sum(amount) > 50000"),
                  "0");
        EXPECT_EQ(
            mismatches(d, "events_now", "k, total", "SELECT k, sum(v) FROM events GROUP BY k"),
            "0");
        // New stream tables get new ids.
        d.exec(
            "SELECT pgtrickle.create_stream_table('order_count', 'SELECT count(*) AS n FROM"
            " orders', schedule => '1h')");
        EXPECT_EQ(d.scalar("SELECT n = (SELECT count(*) FROM orders) FROM order_count"), "t");
        // The buffers of the dumped database's OIDs are gone; a second call changes nothing.
        d.exec("SELECT pgtrickle.restore_stream_tables()");
        EXPECT_EQ(
            d.scalar(
                "SELECT coalesce(string_agg(relname, ','), '') FROM pg_class c WHERE "
                "c.relnamespace ="
                " 'pgtrickle_changes'::regnamespace AND c.relkind = 'r' AND c.relname ~ '^changes_'"
                " AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d"
                " WHERE 'changes_' || d.source_relid = c.relname)"),
            "");
        d.exec("INSERT INTO orders VALUES (5000, 1, 1)");
        d.exec("INSERT INTO events VALUES (2, 2)");
        d.exec("SELECT pgtrickle.refresh_stream_table('by_region')");
        EXPECT_EQ(mismatches(d, "by_region", "region, n, s", by_region), "0");
        EXPECT_EQ(
            mismatches(d, "events_now", "k, total", "SELECT k, sum(v) FROM events GROUP BY k"),
            "0");
    }
    Connection admin;
    admin.exec("DROP DATABASE IF EXISTS " + dst_name + " WITH (FORCE)");
}

INSTANTIATE_TEST_SUITE_P(Formats, Restore, ::testing::Values("custom", "plain"));

}  // namespace
