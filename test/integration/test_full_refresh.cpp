// FULL refresh seen from a second session: readers never see an empty or partial stream table,
// and never wait for a refresh in progress.
#include <gtest/gtest.h>

#include "pg_connection.hpp"

using pgtrickle::test::Connection;
using pgtrickle::test::ScratchDatabase;

class FullRefresh : public ::testing::Test {
  protected:
    ScratchDatabase db{"it_full_refresh"};
    Connection writer = db.connect();
    Connection reader = db.connect();

    void SetUp() override {
        writer.exec("CREATE TABLE src (id int PRIMARY KEY, v int)");
        writer.exec("INSERT INTO src SELECT g, g FROM generate_series(1, 1000) g");
        writer.exec(
            "SELECT pgtrickle.create_stream_table('st', 'SELECT id, v FROM src', "
            "refresh_mode => 'FULL')");
    }
};

TEST_F(FullRefresh, ReaderSeesOldRowsUntilCommitThenNewRows) {
    writer.exec("INSERT INTO src SELECT g, g FROM generate_series(1001, 1500) g");
    writer.exec("BEGIN");
    writer.exec("SELECT pgtrickle.refresh_stream_table('st')");
    // The refresh has deleted and re-inserted every row but not committed: a reader sees the
    // old contents, without blocking.
    reader.exec("SET lock_timeout = '2s'");
    EXPECT_EQ(reader.scalar("SELECT count(*) FROM st"), "1000");
    writer.exec("COMMIT");
    EXPECT_EQ(reader.scalar("SELECT count(*) FROM st"), "1500");
}

TEST_F(FullRefresh, RepeatableReadSnapshotKeepsItsView) {
    // A REPEATABLE READ transaction whose snapshot predates the refresh must keep seeing the old
    // rows (TRUNCATE would show it an empty table).
    reader.exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
    EXPECT_EQ(reader.scalar("SELECT count(*) FROM src"), "1000");  // takes the snapshot
    writer.exec("DELETE FROM src WHERE id > 10");
    writer.exec("SELECT pgtrickle.refresh_stream_table('st')");
    EXPECT_EQ(reader.scalar("SELECT count(*) FROM st"), "1000");
    reader.exec("COMMIT");
    EXPECT_EQ(reader.scalar("SELECT count(*) FROM st"), "10");
}

TEST_F(FullRefresh, ConcurrentManualRefreshIsSkippedWithNotice) {
    writer.exec("BEGIN");
    writer.exec("SELECT pgtrickle.refresh_stream_table('st')");
    // A second refresh while the first is open neither blocks nor fails.
    reader.exec("SET lock_timeout = '2s'");
    EXPECT_NO_THROW(reader.exec("SELECT pgtrickle.refresh_stream_table('st')"));
    writer.exec("COMMIT");
    // Only the committed refresh was recorded, plus the initial one.
    EXPECT_EQ(reader.scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history"), "2");
}
