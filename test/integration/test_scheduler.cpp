// The background scheduler against a real cluster: stream tables refresh themselves on their
// schedules, chains propagate, failures suspend, pg_trickle.enabled pauses, schedulers survive
// being killed, and every database with the extension gets its own scheduler.
//
// Everything that waits for the scheduler polls with a generous deadline; nothing asserts that
// something happened within a fixed sleep.
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pg_connection.hpp"

using pgtrickle::test::Connection;
using pgtrickle::test::ScratchDatabase;
using namespace std::chrono_literals;

namespace {

constexpr auto kConverge = 20s;  // a 1 s schedule has this long to catch up

// Polls `condition` every 100 ms until it holds or `timeout` passes. Query errors count as "not
// yet" (the server may be restarting).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        try {
            if (condition())
                return true;
        } catch (const std::exception&) {
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(100ms);
    }
}

// A connection that LISTENs on a channel and collects notification payloads.
class Listener {
  public:
    Listener(const std::string& dbname, const std::string& channel)
        : conn_(PQconnectdb(pgtrickle::test::test_conninfo(dbname).c_str()), &PQfinish) {
        if (PQstatus(conn_.get()) != CONNECTION_OK)
            throw std::runtime_error(PQerrorMessage(conn_.get()));
        PQclear(PQexec(conn_.get(), ("LISTEN " + channel).c_str()));
    }
    std::vector<std::string> payloads() {
        PQconsumeInput(conn_.get());
        while (PGnotify* n = PQnotifies(conn_.get())) {
            received_.emplace_back(n->extra);
            PQfreemem(n);
        }
        return received_;
    }

  private:
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
    std::vector<std::string> received_;
};

// Sets a server setting with ALTER SYSTEM for the scope, and resets it at the end even when the
// test fails.
class SystemSetting {
  public:
    SystemSetting(std::string name, const std::string& value) : name_(std::move(name)) {
        Connection admin;
        admin.exec(fmt::format("ALTER SYSTEM SET {} = '{}'", name_, value));
        admin.exec("SELECT pg_reload_conf()");
    }
    ~SystemSetting() {
        try {
            Connection admin;
            admin.exec(fmt::format("ALTER SYSTEM RESET {}", name_));
            admin.exec("SELECT pg_reload_conf()");
        } catch (...) {
        }
    }

  private:
    std::string name_;
};

std::optional<int> scheduler_pid(Connection& c, const std::string& dbname) {
    auto rows = c.query(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_trickle scheduler'"
        " AND datname = '" +
        dbname + "'");
    if (rows.empty() || !rows[0][0])
        return std::nullopt;
    return std::stoi(*rows[0][0]);
}

// The pids of this database's pool workers, in order.
// Every background process of the cluster with its database and state: printed when a test
// waited in vain for workers to appear or go.
std::string background_processes(Connection& c) {
    std::string out;
    for (const auto& r :
         c.query("SELECT backend_type || ' pid=' || pid || ' db=' || coalesce(datname, '-') ||"
                 " ' ' || coalesce(state, '') || ' ' || left(coalesce(query, ''), 60)"
                 " FROM pg_stat_activity WHERE backend_type <> 'client backend' ORDER BY 1"))
        out += "\n  " + (r[0] ? *r[0] : std::string("?"));
    return out;
}

std::vector<int> pool_pids(Connection& c, const std::string& dbname) {
    std::vector<int> out;
    for (const auto& r : c.query("SELECT pid FROM pg_stat_activity WHERE backend_type ="
                                 " 'pg_trickle pool worker' AND datname = '" +
                                 dbname + "' ORDER BY pid"))
        out.push_back(std::stoi(*r[0]));
    return out;
}

// How many pairs of scheduled refreshes of different stream tables overlapped in time (only
// completed ones with `completed_only`).
std::string overlapping_scheduled_refreshes(Connection& c, bool completed_only) {
    return c.scalar(
        std::string(R"sql(
        SELECT count(*) FROM pgtrickle.pgt_refresh_history a
        JOIN pgtrickle.pgt_refresh_history b
          ON a.pgt_id < b.pgt_id AND a.start_time < b.end_time AND b.start_time < a.end_time
        WHERE a.initiated_by = 'SCHEDULER' AND b.initiated_by = 'SCHEDULER')sql") +
        (completed_only ? " AND a.status = 'COMPLETED' AND b.status = 'COMPLETED'" : ""));
}

// The change buffer of source table `table`.
std::string buffer_of(Connection& c, const std::string& table) {
    return "pgtrickle_changes.changes_" + c.scalar("SELECT '" + table + "'::regclass::oid::text");
}

std::string scheduler_activity(Connection& c, const std::string& dbname) {
    auto rows = c.query(
        "SELECT coalesce(query, '') FROM pg_stat_activity WHERE backend_type ="
        " 'pg_trickle scheduler' AND datname = '" +
        dbname + "'");
    return rows.empty() || !rows[0][0] ? "" : *rows[0][0];
}

class Scheduler : public ::testing::Test {
  protected:
    // Connections are opened per use: some tests restart the whole server.
    Connection connect() { return db_.connect(); }
    std::string scalar(const std::string& sql) { return connect().scalar(sql); }
    bool converges(const std::string& sql, const std::string& expected,
                   std::chrono::milliseconds timeout = kConverge) {
        return eventually([&] { return scalar(sql) == expected; }, timeout);
    }

    // One database per test, named after it (lower case, within PostgreSQL's 63 characters).
    static std::string database_name() {
        std::string name = std::string("it_sched_") +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name();
        for (char& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return name.substr(0, 40);
    }

    // After a crash restart: a connection made before the postmaster noticed the crash would
    // succeed and then be dropped; a new scheduler only appears once recovery is over.
    bool scheduler_replaced(int killed) {
        return eventually(
            [&] {
                auto probe = connect();
                auto now = scheduler_pid(probe, dbname_);
                return now && *now != killed;
            },
            60s);
    }

    std::string dbname_ = database_name();
    ScratchDatabase db_{dbname_};
};

TEST_F(Scheduler, OneSecondStreamTableConvergesWithoutManualRefresh) {
    auto c = connect();
    c.exec("CREATE TABLE src (id int PRIMARY KEY, v int)");
    c.exec("INSERT INTO src SELECT g, g FROM generate_series(1, 10) g");
    c.exec(
        "SELECT pgtrickle.create_stream_table('totals', 'SELECT count(*) AS n, sum(v) AS s FROM "
        "src', schedule => '1s', refresh_mode => 'FULL')");
    c.exec("INSERT INTO src SELECT g, g FROM generate_series(11, 20) g");
    EXPECT_TRUE(converges("SELECT n || '/' || s FROM totals", "20/210"));
    c.exec("DELETE FROM src WHERE id > 5");
    EXPECT_TRUE(converges("SELECT n || '/' || s FROM totals", "5/15"));
    EXPECT_NE(c.scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history"
                       " WHERE initiated_by = 'SCHEDULER' AND status = 'COMPLETED'"),
              "0");
    EXPECT_EQ(c.scalar("SELECT status FROM pgtrickle.pgt_stream_tables"), "ACTIVE");
}

TEST_F(Scheduler, DifferentialStreamTableIsMaintainedOnSchedule) {
    auto c = connect();
    c.exec("CREATE TABLE src (id int PRIMARY KEY, grp int, v int)");
    c.exec("INSERT INTO src SELECT g, g % 3, g FROM generate_series(1, 30) g");
    const std::string query = "SELECT grp, count(*) AS n, sum(v) AS s FROM src GROUP BY grp";
    c.exec("SELECT pgtrickle.create_stream_table('by_grp', '" + query +
           "', schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
    const std::string differs = "SELECT count(*) FROM ((SELECT grp, n, s FROM by_grp EXCEPT " +
                                query + ") UNION ALL (" + query +
                                " EXCEPT SELECT grp, n, s FROM by_grp)) d";
    c.exec("INSERT INTO src SELECT g, g % 4, g FROM generate_series(31, 40) g");
    c.exec("UPDATE src SET v = v * 2 WHERE id % 5 = 0");
    c.exec("DELETE FROM src WHERE grp = 1");
    EXPECT_TRUE(converges(differs, "0"));
    EXPECT_NE(c.scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history"
                       " WHERE initiated_by = 'SCHEDULER' AND action = 'DIFFERENTIAL'"),
              "0");
}

TEST_F(Scheduler, CronAndCalculatedSchedulesRefreshToo) {
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec("INSERT INTO src VALUES (1)");
    // Every second (six-field cron); a calculated stream table read by a 1 s one.
    c.exec(
        "SELECT pgtrickle.create_stream_table('by_cron', 'SELECT sum(v) AS s FROM src',"
        " schedule => '* * * * * *', refresh_mode => 'FULL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('calc', 'SELECT sum(v) AS s FROM src',"
        " refresh_mode => 'FULL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('reads_calc', 'SELECT s FROM calc',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec("INSERT INTO src VALUES (41)");
    EXPECT_TRUE(converges("SELECT s FROM by_cron", "42"));
    EXPECT_TRUE(converges("SELECT s FROM reads_calc", "42"));
}

TEST_F(Scheduler, InitializeFalseIsPopulatedByTheScheduler) {
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec("INSERT INTO src VALUES (7)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('lazy', 'SELECT v FROM src', schedule => '1h',"
        " refresh_mode => 'FULL', initialize => false)");
    EXPECT_TRUE(converges("SELECT is_populated::text FROM pgtrickle.pgt_stream_tables", "true"));
    EXPECT_EQ(c.scalar("SELECT v FROM lazy"), "7");
    EXPECT_EQ(c.scalar("SELECT status FROM pgtrickle.pgt_stream_tables"), "ACTIVE");
}

TEST_F(Scheduler, ChainOfThreeStreamTablesPropagatesInOneTick) {
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec("INSERT INTO src VALUES (1)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st1', 'SELECT sum(v) AS s FROM src',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st2', 'SELECT s * 10 AS s FROM st1',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st3', 'SELECT s + 1 AS s FROM st2',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec("INSERT INTO src VALUES (2)");
    EXPECT_TRUE(converges("SELECT s FROM st3", "31"));
    EXPECT_EQ(c.scalar("SELECT s FROM st2"), "30");

    // Upstream first: in the scheduler's history, every refresh of st3 that saw the new data
    // comes after a refresh of st1 and of st2 in the same pass.
    auto order = c.query(R"sql(
        SELECT string_agg(st.pgt_name, ',' ORDER BY h.refresh_id)
        FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
        WHERE h.initiated_by = 'SCHEDULER' AND h.status = 'COMPLETED')sql");
    ASSERT_TRUE(order[0][0]);
    const std::string seq = *order[0][0];
    EXPECT_NE(seq.find("st1,st2,st3"), std::string::npos) << seq;
}

TEST_F(Scheduler, FailingStreamTableIsSuspendedWhileAHealthyOneKeepsRefreshing) {
    auto c = connect();
    Listener alerts(dbname_, "pg_trickle_alert");
    c.exec("CREATE TABLE divisor (d int)");
    c.exec("INSERT INTO divisor VALUES (1)");
    c.exec("CREATE TABLE src (v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('fragile', 'SELECT 100 / d AS q FROM divisor',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('healthy', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec("UPDATE divisor SET d = 0");

    EXPECT_TRUE(converges(
        "SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'fragile'", "SUSPENDED"));
    auto row = c.query(
        "SELECT consecutive_errors, last_error_message, last_error_at IS NOT NULL"
        " FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'fragile'");
    EXPECT_EQ(row[0][0], "3");  // pg_trickle.max_consecutive_errors
    EXPECT_EQ(row[0][1], "division by zero");
    EXPECT_EQ(row[0][2], "t");
    auto history = c.query(R"sql(
        SELECT count(*), min(error_message), bool_and(initiated_by = 'SCHEDULER'),
               bool_and(end_time >= start_time)
        FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
        WHERE st.pgt_name = 'fragile' AND h.status = 'FAILED')sql");
    EXPECT_EQ(history[0][0], "3");
    EXPECT_EQ(history[0][1], "division by zero (SQLSTATE 22012)");
    EXPECT_EQ(history[0][2], "t");
    EXPECT_EQ(history[0][3], "t");

    // Two refresh_failed alerts, then one auto_suspended, each naming the stream table.
    EXPECT_TRUE(eventually([&] { return alerts.payloads().size() >= 3; }, 5s));
    auto payloads = alerts.payloads();
    ASSERT_EQ(payloads.size(), 3u);
    EXPECT_NE(payloads[0].find(R"("event": "refresh_failed")"), std::string::npos) << payloads[0];
    EXPECT_NE(payloads[0].find(R"("consecutive_errors": 1)"), std::string::npos) << payloads[0];
    EXPECT_NE(payloads[1].find(R"("event": "refresh_failed")"), std::string::npos) << payloads[1];
    EXPECT_NE(payloads[2].find(R"("event": "auto_suspended")"), std::string::npos) << payloads[2];
    EXPECT_NE(payloads[2].find(R"("pgt_name": "fragile")"), std::string::npos) << payloads[2];
    EXPECT_NE(payloads[2].find(R"("pgt_schema": "public")"), std::string::npos) << payloads[2];

    // The healthy one keeps refreshing.
    c.exec("INSERT INTO src SELECT generate_series(1, 5)");
    EXPECT_TRUE(converges("SELECT n FROM healthy", "5"));
    c.exec("INSERT INTO src SELECT generate_series(1, 5)");
    EXPECT_TRUE(converges("SELECT n FROM healthy", "10"));

    // Suspended means no more attempts.
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history h"
                       " JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)"
                       " WHERE st.pgt_name = 'fragile' AND h.status = 'FAILED'"),
              "3");
    auto health =
        c.query("SELECT severity FROM pgtrickle.health_check() WHERE check_name = 'error_tables'");
    EXPECT_EQ(health[0][0], "ERROR");
    EXPECT_EQ(c.scalar("SELECT status FROM pgtrickle.quick_health"), "CRITICAL");

    // Fixed and resumed, it is refreshed again and the error count starts over.
    c.exec("UPDATE divisor SET d = 4");
    c.exec("SELECT pgtrickle.resume_stream_table('fragile')");
    EXPECT_TRUE(converges("SELECT q FROM fragile", "25"));
    EXPECT_EQ(c.scalar("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables"
                       " WHERE pgt_name = 'fragile'"),
              "0");
}

TEST_F(Scheduler, FailuresBelowTheLimitCountAndASuccessResetsThem) {
    SystemSetting limit("pg_trickle.max_consecutive_errors", "100");
    auto c = connect();
    c.exec("CREATE TABLE divisor (d int)");
    c.exec("INSERT INTO divisor VALUES (1)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('fragile', 'SELECT 100 / d AS q FROM divisor',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec("UPDATE divisor SET d = 0");
    EXPECT_TRUE(eventually(
        [&] {
            return std::stoi(
                       scalar("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables")) >= 2;
        },
        kConverge));
    EXPECT_EQ(c.scalar("SELECT status FROM pgtrickle.pgt_stream_tables"), "ACTIVE");
    EXPECT_EQ(c.scalar("SELECT severity FROM pgtrickle.health_check()"
                       " WHERE check_name = 'consecutive_errors'"),
              "WARN");
    c.exec("UPDATE divisor SET d = 50");
    EXPECT_TRUE(converges("SELECT q FROM fragile", "2"));
    EXPECT_TRUE(converges("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables", "0"));
}

TEST_F(Scheduler, AFailedRefreshIsTriedAgainOncePerPeriod) {
    // A '10s' stream table whose refresh fails is not retried at every tick (which had it
    // SUSPENDED about a second after its first failure): its next attempt is a period later.
    auto c = connect();
    c.exec("CREATE TABLE divisor (d int)");
    c.exec("INSERT INTO divisor VALUES (1)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('fragile', 'SELECT 100 / d AS q FROM divisor',"
        " schedule => '10s', refresh_mode => 'FULL')");
    c.exec("UPDATE divisor SET d = 0");
    EXPECT_TRUE(eventually(
        [&] { return scalar("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables") == "1"; },
        kConverge));
    std::this_thread::sleep_for(4s);
    EXPECT_EQ(c.scalar("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables"), "1");
    EXPECT_EQ(c.scalar("SELECT status FROM pgtrickle.pgt_stream_tables"), "ACTIVE");
    // Fixed, it is refreshed at its next attempt and the count starts over.
    c.exec("UPDATE divisor SET d = 50");
    EXPECT_TRUE(converges("SELECT q FROM fragile", "2"));
    EXPECT_EQ(c.scalar("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables"), "0");
}

TEST_F(Scheduler, ReplacedFunctionIsFollowedByTheNextScheduledRefresh) {
    // A function the query calls replaced: the stored rows are of the old body, and no source
    // changed. The next scheduled refresh recomputes the stream table (FULL), instead of finding
    // nothing to do.
    auto c = connect();
    c.exec("CREATE TABLE items (id int PRIMARY KEY, v int)");
    c.exec("INSERT INTO items SELECT i, i FROM generate_series(1, 10) i");
    c.exec("CREATE FUNCTION weight(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2'");
    c.exec(
        "SELECT pgtrickle.create_stream_table('weighted', 'SELECT sum(weight(v)) AS w FROM items',"
        " schedule => '2s', refresh_mode => 'DIFFERENTIAL')");
    EXPECT_EQ(c.scalar("SELECT w FROM weighted"), "110");
    c.exec(
        "CREATE OR REPLACE FUNCTION weight(int) RETURNS int IMMUTABLE LANGUAGE sql"
        " AS 'SELECT $1 * 3'");
    EXPECT_TRUE(converges("SELECT w FROM weighted", "165"));
    EXPECT_EQ(c.scalar("SELECT needs_reinit FROM pgtrickle.pgt_stream_tables"), "f");
    EXPECT_EQ(c.scalar("SELECT action FROM pgtrickle.get_refresh_history('weighted', 1)"), "FULL");
}

TEST_F(Scheduler, ReadOnlyDatabaseDefaultDoesNotStopRefreshes) {
    // default_transaction_read_only = on for the database is a default for sessions: the
    // scheduler and its workers refresh anyway (before, every refresh failed, and so did
    // recording the failure, and the stream table was tried again at once, in a loop).
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
    std::optional<int> first;
    ASSERT_TRUE(eventually([&] { return (first = scheduler_pid(c, dbname_)).has_value(); }, 10s));
    c.exec(fmt::format("ALTER DATABASE {} SET default_transaction_read_only = on", dbname_));
    c.exec(fmt::format("SELECT pg_terminate_backend({})", *first));
    ASSERT_TRUE(eventually(
        [&] {
            auto pid = scheduler_pid(c, dbname_);
            return pid && *pid != *first;
        },
        15s));
    auto w = connect();  // (read-only by default now)
    w.exec("SET default_transaction_read_only = off");
    w.exec("INSERT INTO src SELECT generate_series(1, 4)");
    EXPECT_TRUE(converges("SELECT n FROM st", "4"));
    EXPECT_EQ(w.scalar("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables"), "0");
    w.exec(fmt::format("ALTER DATABASE {} RESET default_transaction_read_only", dbname_));
}

TEST_F(Scheduler, LockTimeoutsAreRetriedWithoutCounting) {
    auto c = connect();
    auto locker = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec("INSERT INTO src SELECT generate_series(1, 3)");
    // The scheduler cannot read src while this transaction holds it: its refreshes give up
    // waiting for the lock (55P03) and are retried, neither counted nor written to the history.
    locker.exec("BEGIN");
    locker.exec("LOCK TABLE src IN ACCESS EXCLUSIVE MODE");
    EXPECT_FALSE(eventually([&] { return scalar("SELECT n FROM st") != "0"; }, 4s));
    EXPECT_EQ(c.scalar("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables"), "0");
    EXPECT_EQ(c.scalar("SELECT status FROM pgtrickle.pgt_stream_tables"), "ACTIVE");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE status ="
                       " 'FAILED'"),
              "0");
    locker.exec("COMMIT");
    EXPECT_TRUE(converges("SELECT n FROM st", "3"));
}

TEST_F(Scheduler, EnabledOffPausesRefreshesAndOnResumesThem) {
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'FULL')");
    {
        SystemSetting off("pg_trickle.enabled", "off");
        // The scheduler has read the new setting once it says so.
        ASSERT_TRUE(eventually(
            [&] { return scheduler_activity(c, dbname_) == "pg_trickle.enabled is off"; }, 10s));
        c.exec("INSERT INTO src SELECT generate_series(1, 3)");
        // For several ticks nothing happens (a slow machine only makes this check weaker).
        EXPECT_FALSE(eventually([&] { return scalar("SELECT n FROM st") != "0"; }, 3s));
        // Manual refreshes still work.
        c.exec("SELECT pgtrickle.refresh_stream_table('st')");
        EXPECT_EQ(c.scalar("SELECT n FROM st"), "3");
        c.exec("INSERT INTO src SELECT generate_series(1, 3)");
        EXPECT_FALSE(eventually([&] { return scalar("SELECT n FROM st") != "3"; }, 3s));
        EXPECT_EQ(c.scalar("SELECT severity FROM pgtrickle.health_check()"
                           " WHERE check_name = 'scheduler_running'"),
                  "WARN");
    }
    EXPECT_TRUE(converges("SELECT n FROM st", "6"));
}

TEST_F(Scheduler, TerminatedSchedulerIsRestartedByTheLauncher) {
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'FULL')");
    std::optional<int> first;
    ASSERT_TRUE(eventually([&] { return (first = scheduler_pid(c, dbname_)).has_value(); }, 10s));
    c.exec(fmt::format("SELECT pg_terminate_backend({})", *first));
    c.exec("INSERT INTO src SELECT generate_series(1, 4)");
    EXPECT_TRUE(eventually(
        [&] {
            auto pid = scheduler_pid(c, dbname_);
            return pid && *pid != *first;
        },
        15s));
    EXPECT_TRUE(converges("SELECT n FROM st", "4"));
}

TEST_F(Scheduler, KilledSchedulerMidRefreshStillConverges) {
    int killed = 0;
    {
        auto c = connect();
        c.exec("CREATE TABLE src (v int)");
        // Each refresh takes a while, so that the kill lands in the middle of one.
        c.exec(
            "SELECT pgtrickle.create_stream_table('slow', 'SELECT count(*)"
            " + (SELECT 0 FROM pg_sleep(0.5)) AS n FROM src', schedule => '1s',"
            " refresh_mode => 'FULL')");
        c.exec("INSERT INTO src SELECT generate_series(1, 2)");
        ASSERT_TRUE(eventually(
            [&] { return scheduler_activity(c, dbname_) == "refreshing public.slow"; }, 15s));
        auto pid = scheduler_pid(c, dbname_);
        ASSERT_TRUE(pid);
        // SIGKILL: the postmaster treats it as a crash and restarts every backend, this
        // connection included.
        ASSERT_EQ(::kill(*pid, SIGKILL), 0);
        killed = *pid;
    }
    ASSERT_TRUE(scheduler_replaced(killed));
    auto c = connect();
    c.exec("INSERT INTO src SELECT generate_series(1, 5)");
    EXPECT_TRUE(converges("SELECT n FROM slow", "7", 30s));
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE status ="
                       " 'RUNNING'"),
              "0");
}

// pg_trickle.unlogged_buffers: a crash empties the UNLOGGED buffer, changes captured before it
// included; the next refresh must be FULL (not "no change"), then DIFFERENTIAL again. A prepared
// transaction survives the crash but its captured rows do not: the refresh after its COMMIT
// PREPARED must be FULL too.
TEST_F(Scheduler, UnloggedBuffersEmptiedByACrashRefreshFull) {
    const std::string query = "SELECT grp, count(*) AS n, sum(v) AS s FROM src GROUP BY grp";
    const std::string differs = "SELECT count(*) FROM ((SELECT grp, n, s FROM by_grp EXCEPT ALL " +
                                query + ") UNION ALL (" + query +
                                " EXCEPT ALL SELECT grp, n, s FROM by_grp)) d";
    std::string buffer, before_crash;
    int killed = 0;
    {
        auto c = connect();
        // (The test cluster commits asynchronously: what this session commits must survive.)
        c.exec("SET synchronous_commit = on");
        c.exec("CREATE TABLE src (id int PRIMARY KEY, grp int, v int)");
        c.exec("INSERT INTO src SELECT g, g % 3, g FROM generate_series(1, 30) g");
        c.exec("SET pg_trickle.unlogged_buffers = on");
        c.exec("SELECT pgtrickle.create_stream_table('by_grp', '" + query +
               "', schedule => '1h', refresh_mode => 'DIFFERENTIAL')");
        buffer = c.scalar("SELECT 'pgtrickle_changes.changes_' || 'src'::regclass::oid");
        ASSERT_EQ(
            c.scalar("SELECT relpersistence FROM pg_class WHERE oid = '" + buffer + "'::regclass"),
            "u");
        c.exec("INSERT INTO src VALUES (31, 1, 1000)");
        c.exec("DELETE FROM src WHERE id = 2");
        ASSERT_EQ(c.scalar("SELECT count(*) FROM " + buffer), "2");
        auto p = connect();
        p.exec("BEGIN");
        p.exec("INSERT INTO src VALUES (40, 2, 5000)");
        p.exec("PREPARE TRANSACTION 'pgt_unlogged_survivor'");
        ASSERT_EQ(c.scalar("SELECT count(*) FROM " + buffer), "2");
        before_crash = c.scalar(
            "SELECT coalesce(max(refresh_id), 0) FROM "
            "pgtrickle.pgt_refresh_history");
        auto pid = scheduler_pid(c, dbname_);
        ASSERT_TRUE(pid);
        // SIGKILL: the postmaster treats it as a crash; recovery empties UNLOGGED tables.
        ASSERT_EQ(::kill(*pid, SIGKILL), 0);
        killed = *pid;
    }
    ASSERT_TRUE(scheduler_replaced(killed));
    auto c = connect();
    EXPECT_EQ(c.scalar("SELECT count(*) FROM " + buffer), "0");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pgtrickle_changes.buffer_epoch"), "0");
    c.exec("SELECT pgtrickle.refresh_stream_table('by_grp')");
    EXPECT_EQ(c.scalar(differs), "0");
    EXPECT_EQ(c.scalar("SELECT action || ' ' || was_full_fallback FROM "
                       "pgtrickle.pgt_refresh_history WHERE refresh_id > " +
                       before_crash + " ORDER BY refresh_id LIMIT 1"),
              "FULL true");
    const std::string last_action =
        "SELECT action FROM pgtrickle.pgt_refresh_history ORDER BY refresh_id DESC LIMIT 1";
    // The prepared transaction's row was in progress for that refresh, and its capture is gone.
    c.exec("COMMIT PREPARED 'pgt_unlogged_survivor'");
    c.exec("SELECT pgtrickle.refresh_stream_table('by_grp')");
    EXPECT_EQ(c.scalar(differs), "0");
    EXPECT_EQ(c.scalar(last_action), "FULL");
    c.exec("UPDATE src SET grp = 0 WHERE id = 31");
    c.exec("SELECT pgtrickle.refresh_stream_table('by_grp')");
    EXPECT_EQ(c.scalar(differs), "0");
    EXPECT_EQ(c.scalar(last_action), "DIFFERENTIAL");
}

// pg_trickle.history_retention_days: the scheduler deletes refresh-history rows older than that,
// keeping each stream table's latest one; 0 keeps everything.
TEST_F(Scheduler, RefreshHistoryOlderThanTheRetentionIsPruned) {
    SystemSetting interval("pg_trickle.history_prune_interval_seconds", "1");
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec("CREATE TABLE other (v int)");
    for (const char* st : {"kept", "quiet"})
        c.exec(
            fmt::format("SELECT pgtrickle.create_stream_table('{}', 'SELECT count(*) AS n FROM "
                        "{}', schedule => '1h', refresh_mode => 'FULL')",
                        st, std::string(st) == "kept" ? "src" : "other"));
    // Backdated rows of `kept`: three of 120 days ago, two of 40, one of 10, then a refresh of
    // today; `quiet` last refreshed 150 days ago (its creation's row, backdated).
    const std::string backdated =
        "INSERT INTO pgtrickle.pgt_refresh_history (pgt_id, data_timestamp, start_time, "
        "end_time, action, status, initiated_by) SELECT pgt_id, now() - interval '{0} days', "
        "now() - interval '{0} days', now() - interval '{0} days', 'FULL', 'COMPLETED', "
        "'MANUAL' FROM pgtrickle.pgt_stream_tables, generate_series(1, {1}) WHERE pgt_name = "
        "'kept'";
    c.exec(fmt::format(fmt::runtime(backdated), 120, 3));
    c.exec(fmt::format(fmt::runtime(backdated), 40, 2));
    c.exec(fmt::format(fmt::runtime(backdated), 10, 1));
    c.exec("SELECT pgtrickle.refresh_stream_table('kept')");
    c.exec(
        "UPDATE pgtrickle.pgt_refresh_history SET start_time = now() - interval '150 days' "
        "WHERE pgt_id = (SELECT pgt_id FROM pgtrickle.pgt_stream_tables WHERE pgt_name = "
        "'quiet')");
    const std::string ages =
        "SELECT string_agg(st.pgt_name || ':' || round(extract(epoch FROM now() - h.start_time)"
        " / 86400), ',' ORDER BY st.pgt_name, h.start_time) FROM pgtrickle.pgt_refresh_history h"
        " JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)";
    const std::string all =
        "kept:120,kept:120,kept:120,kept:40,kept:40,kept:10,kept:0,kept:0,"
        "quiet:150";
    ASSERT_EQ(scalar(ages), all);
    const std::string tick = "SELECT last_scheduler_tick_unix FROM pgtrickle.worker_pool_status()";
    {
        // 0 keeps everything, also what the default 90 would delete: unchanged after ticks of
        // the scheduler seconds apart, each of which would have pruned.
        SystemSetting keep("pg_trickle.history_retention_days", "0");
        const long long from = std::stoll(scalar(tick));
        ASSERT_TRUE(eventually([&] { return std::stoll(scalar(tick)) >= from + 3; }, 20s));
        EXPECT_EQ(scalar(ages), all);
    }
    {
        SystemSetting retention("pg_trickle.history_retention_days", "30");
        EXPECT_TRUE(converges(ages, "kept:10,kept:0,kept:0,quiet:150", 20s)) << scalar(ages);
    }
}

TEST_F(Scheduler, EachDatabaseWithTheExtensionGetsItsOwnScheduler) {
    ScratchDatabase other("it_sched_other_db");
    Connection admin;
    const std::string sql =
        "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity"
        " WHERE backend_type = 'pg_trickle scheduler' AND datname IN ('" +
        dbname_ + "', 'it_sched_other_db')";
    EXPECT_TRUE(eventually(
        [&] {
            auto v = admin.query(sql)[0][0];
            return v && *v == std::min(dbname_, std::string("it_sched_other_db")) + "," +
                                  std::max(dbname_, std::string("it_sched_other_db"));
        },
        10s));
    EXPECT_EQ(admin.scalar("SELECT count(*) FROM pg_stat_activity"
                           " WHERE backend_type = 'pg_trickle launcher'"),
              "1");
    // `postgres` has no pg_trickle, so no scheduler stays there.
    EXPECT_TRUE(eventually(
        [&] {
            return admin.scalar(
                       "SELECT count(*) FROM pg_stat_activity WHERE backend_type ="
                       " 'pg_trickle scheduler' AND datname = 'postgres'") == "0";
        },
        10s));

    // Each refreshes its own stream tables.
    for (const auto& name : {dbname_, std::string("it_sched_other_db")}) {
        Connection c(name);
        c.exec("CREATE TABLE src (v int)");
        c.exec("INSERT INTO src VALUES (1), (2)");
        c.exec(
            "SELECT pgtrickle.create_stream_table('st', 'SELECT count(*) AS n FROM src',"
            " schedule => '1s', refresh_mode => 'FULL')");
        c.exec("INSERT INTO src VALUES (3)");
    }
    for (const auto& name : {dbname_, std::string("it_sched_other_db")}) {
        EXPECT_TRUE(eventually([&] { return Connection(name).scalar("SELECT n FROM st") == "3"; },
                               kConverge))
            << name;
    }
}

TEST_F(Scheduler, DropAndCreateExtensionStopAndStartTheScheduler) {
    Connection admin;
    ASSERT_TRUE(eventually([&] { return scheduler_pid(admin, dbname_).has_value(); }, 10s));
    connect().exec("DROP EXTENSION pg_trickle");
    EXPECT_TRUE(eventually([&] { return !scheduler_pid(admin, dbname_).has_value(); }, 10s));
    // Back within seconds, although the launcher would otherwise wait 10 s before looking here
    // again: CREATE EXTENSION wakes it at commit.
    connect().exec("CREATE EXTENSION pg_trickle");
    EXPECT_TRUE(eventually([&] { return scheduler_pid(admin, dbname_).has_value(); }, 5s));
}

TEST(SchedulerDatabases, RenameAndDropDatabaseDoNotNeedForce) {
    // Pool workers are sessions of the database too.
    SystemSetting pool("pg_trickle.worker_pool_size", "2");
    Connection admin;
    admin.exec("DROP DATABASE IF EXISTS it_sched_drop WITH (FORCE)");
    admin.exec("DROP DATABASE IF EXISTS it_sched_renamed WITH (FORCE)");
    admin.exec("CREATE DATABASE it_sched_drop");
    Connection("it_sched_drop").exec("CREATE EXTENSION pg_trickle");
    ASSERT_TRUE(eventually([&] { return scheduler_pid(admin, "it_sched_drop").has_value(); }, 10s));
    ASSERT_TRUE(eventually([&] { return pool_pids(admin, "it_sched_drop").size() == 2; }, 10s));
    // PostgreSQL refuses both while another session is connected ("database is being accessed by
    // other users"); the scheduler and its pool step aside, and come back afterwards.
    EXPECT_NO_THROW(admin.exec("ALTER DATABASE it_sched_drop RENAME TO it_sched_renamed"));
    EXPECT_TRUE(
        eventually([&] { return scheduler_pid(admin, "it_sched_renamed").has_value(); }, 30s));
    EXPECT_TRUE(eventually([&] { return pool_pids(admin, "it_sched_renamed").size() == 2; }, 10s));
    EXPECT_NO_THROW(admin.exec("DROP DATABASE it_sched_renamed"));
    admin.exec("DROP DATABASE IF EXISTS it_sched_drop WITH (FORCE)");
    admin.exec("DROP DATABASE IF EXISTS it_sched_renamed WITH (FORCE)");
}

}  // namespace

TEST_F(Scheduler, CommittedChangeWakesTheSchedulerBeforeItsNextTick) {
    // Ticks every 10 s: a change visible in about a second can only come from the commit
    // waking the scheduler.
    SystemSetting interval("pg_trickle.scheduler_interval_ms", "10000");
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
    // Let a couple of ticks pass so the stream table is idle and not due for a while.
    std::this_thread::sleep_for(2s);
    for (int round = 1; round <= 3; ++round) {
        c.exec("INSERT INTO src VALUES (1)");
        const auto start = std::chrono::steady_clock::now();
        ASSERT_TRUE(converges("SELECT n FROM st", std::to_string(round), 9s));
        const auto waited = std::chrono::steady_clock::now() - start;
        EXPECT_LT(waited, 3s) << "round " << round;
        std::this_thread::sleep_for(1500ms);  // past the 1 s schedule again
    }
}

TEST_F(Scheduler, IdleStreamTablesAreNotRefreshedButStayFresh) {
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec("INSERT INTO src VALUES (1)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
    // The first look after creation is a real one (NO_DATA); after it, looks are skipped.
    ASSERT_TRUE(eventually(
        [&] {
            return scalar(
                       "SELECT pgtrickle._pgt_checked_at(pgt_id) IS NOT NULL FROM "
                       "pgtrickle.pgt_stream_tables WHERE pgt_name = 'st'") == "t";
        },
        kConverge));
    const std::string before =
        scalar("SELECT last_refresh_at FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'st'");
    std::this_thread::sleep_for(3s);
    // No catalog write for three idle seconds, yet looked at and not stale.
    EXPECT_EQ(scalar("SELECT last_refresh_at FROM pgtrickle.pgt_stream_tables WHERE pgt_name = "
                     "'st'"),
              before);
    EXPECT_EQ(scalar("SELECT now() - pgtrickle._pgt_checked_at(pgt_id) < interval '2 s' FROM "
                     "pgtrickle.pgt_stream_tables WHERE pgt_name = 'st'"),
              "t");
    EXPECT_EQ(scalar("SELECT stale FROM pgtrickle.stream_tables_info WHERE pgt_name = 'st'"), "f");
    // A change is still picked up.
    c.exec("INSERT INTO src VALUES (2)");
    EXPECT_TRUE(converges("SELECT n FROM st", "2"));
}

// A query that reads the clock changes as time passes, without any write: the scheduler never
// skips it as idle and its refreshes always run (DIFFERENTIAL recomputes it, FULL reloads it).
TEST_F(Scheduler, TimeDependentStreamTablesFollowTheClockWithoutWrites) {
    auto c = connect();
    c.exec("CREATE TABLE due (id int PRIMARY KEY, due_at timestamptz NOT NULL)");
    c.exec(
        "INSERT INTO due VALUES (1, now() - interval '1 hour'),"
        " (2, clock_timestamp() + interval '3 seconds'), (3, now() + interval '1 day')");
    for (const char* mode : {"DIFFERENTIAL", "FULL"})
        c.exec(fmt::format(
            "SELECT pgtrickle.create_stream_table('due_{}', 'SELECT id FROM due WHERE due_at <= "
            "now()', schedule => '1s', refresh_mode => '{}')",
            mode == std::string("FULL") ? "full" : "diff", mode));
    EXPECT_EQ(scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM due_diff"), "1");
    // No write to `due` from here on; row 2 falls due after three seconds.
    EXPECT_TRUE(
        converges("SELECT string_agg(id::text, ',' ORDER BY id) FROM due_diff", "1,2", 20s));
    EXPECT_TRUE(
        converges("SELECT string_agg(id::text, ',' ORDER BY id) FROM due_full", "1,2", 20s));
    EXPECT_EQ(scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history h JOIN "
                     "pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = 'due_diff' "
                     "AND h.action = 'DIFFERENTIAL'") != "0",
              true);
}

TEST_F(Scheduler, IndependentStreamTablesRefreshInParallelWorkers) {
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec("INSERT INTO src VALUES (1)");
    // Each refresh takes at least a second (pg_sleep: FULL only).
    for (const char* name : {"slow_a", "slow_b", "slow_c"})
        c.exec(fmt::format(
            "SELECT pgtrickle.create_stream_table('{}', 'SELECT count(*) AS n FROM src WHERE "
            "pg_sleep(1) IS NOT NULL', schedule => '1s', refresh_mode => 'FULL')",
            name));
    c.exec("INSERT INTO src VALUES (2)");
    ASSERT_TRUE(
        converges("SELECT min(n) FROM (SELECT n FROM slow_a UNION ALL SELECT n FROM slow_b"
                  " UNION ALL SELECT n FROM slow_c) x",
                  "2", 30s));
    // Refresh workers ran, and two refreshes of different stream tables overlapped in time.
    EXPECT_NE(overlapping_scheduled_refreshes(c, true), "0");
}

TEST_F(Scheduler, ScheduledRefreshesReportTheirTableStatistics) {
    // The change buffer's rows are written by the writers' sessions and deleted by the
    // scheduler's refreshes: autovacuum hears of those deletions only if the long-lived
    // scheduler publishes its statistics (a background worker does so itself). Deleted, that
    // is: an emptied buffer can also be truncated, which counts no row.
    SystemSetting no_truncate("pg_trickle.cleanup_use_truncate", "off");
    auto c = connect();
    c.exec("CREATE TABLE src (id int PRIMARY KEY, v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT id, v FROM src', schedule => '1s',"
        " refresh_mode => 'DIFFERENTIAL')");
    const std::string buffer = buffer_of(c, "src");
    for (int i = 1; i <= 3; ++i) {
        c.exec(fmt::format("INSERT INTO src SELECT g, g FROM generate_series({}, {}) g", i * 100,
                           i * 100 + 49));
        ASSERT_TRUE(converges("SELECT count(*) FROM st", std::to_string(i * 50)));
    }
    EXPECT_TRUE(eventually(
        [&] {
            return scalar("SELECT n_tup_del FROM pg_stat_user_tables WHERE relid = '" + buffer +
                          "'::regclass") == "150";
        },
        20s));
}

TEST_F(Scheduler, ScheduledRefreshTruncatesAConsumedBufferButNotALockedOne) {
    auto c = connect();
    c.exec("CREATE TABLE src (id int PRIMARY KEY, v int, pad text)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT id, v, pad FROM src',"
        " schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
    const std::string buffer = buffer_of(c, "src");
    const std::string file = "SELECT pg_relation_filenode('" + buffer + "')::text";
    const std::string rows = "SELECT count(*) FROM " + buffer;
    // Big enough to be truncated (a small buffer is deleted from, row by row).
    auto insert = [&](Connection& conn, int from) {
        conn.exec(fmt::format(
            "INSERT INTO src SELECT g, g, repeat('x', 100) FROM generate_series({}, {}) g", from,
            from + 9999));
    };
    std::string f0 = c.scalar(file);
    insert(c, 1);
    ASSERT_TRUE(converges("SELECT count(*) FROM st", "10000"));
    EXPECT_TRUE(eventually([&] { return scalar(file) != f0 && scalar(rows) == "0"; }, 20s));

    // A writer in progress holds the buffer locked. Every row the refresh can see is consumed
    // then, but the writer's own rows are in the buffer too: the refresh deletes, and does not
    // truncate, and the writer's rows, committed later, reach the stream table.
    auto writer = db_.connect();
    const std::string f1 = c.scalar(file);
    {
        SystemSetting paused("pg_trickle.enabled", "off");
        ASSERT_TRUE(eventually(
            [&] {
                auto probe = connect();
                return scheduler_activity(probe, dbname_) == "pg_trickle.enabled is off";
            },
            20s));
        insert(c, 20001);  // committed before the writer begins
        writer.exec("BEGIN");
        insert(writer, 100001);
    }
    ASSERT_TRUE(converges("SELECT count(*) FROM st", "20000"));
    EXPECT_TRUE(eventually([&] { return scalar(rows) == "0"; }, 20s));
    EXPECT_EQ(c.scalar(file), f1);
    writer.exec("COMMIT");
    ASSERT_TRUE(converges("SELECT count(*) FROM st", "30000"));
    EXPECT_TRUE(eventually([&] { return scalar(file) != f1 && scalar(rows) == "0"; }, 20s));

    // Off: deleted, row by row.
    SystemSetting off("pg_trickle.cleanup_use_truncate", "off");
    const std::string f2 = c.scalar(file);
    insert(c, 40001);
    ASSERT_TRUE(converges("SELECT count(*) FROM st", "40000"));
    EXPECT_TRUE(eventually([&] { return scalar(rows) == "0"; }, 20s));
    EXPECT_EQ(c.scalar(file), f2);
}

TEST_F(Scheduler, PoolWorkersRefreshInParallelAndStayConnected) {
    SystemSetting pool("pg_trickle.worker_pool_size", "2");
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec("INSERT INTO src VALUES (1)");
    // The pool is the scheduler's: first the scheduler of this new database, which the launcher
    // may hold back for some seconds (a scheduler that found no pg_trickle yet, or died soon
    // after starting, is retried after a pause). (This test also caught a scheduler started just
    // as the setting was reloaded, which lost the reload and kept no pool: see scheduler.cpp.)
    ASSERT_TRUE(eventually([&] { return scheduler_pid(c, dbname_).has_value(); }, 60s))
        << "no scheduler; background processes:" << background_processes(c);
    std::vector<int> pids;
    ASSERT_TRUE(eventually(
        [&] {
            pids = pool_pids(c, dbname_);
            return pids.size() == 2;
        },
        20s))
        << pids.size() << " pool workers; background processes:" << background_processes(c);
    // worker_pool_status() counts them (idle, in every database) and this scheduler's ticks.
    EXPECT_TRUE(eventually(
        [&] {
            return std::stoi(scalar("SELECT idle_workers FROM pgtrickle.worker_pool_status()")) >=
                   2;
        },
        10s));
    EXPECT_EQ(scalar("SELECT last_scheduler_tick_unix > extract(epoch FROM now()) - 60"
                     " FROM pgtrickle.worker_pool_status()"),
              "t");
    for (const char* name : {"slow_a", "slow_b", "slow_c"})
        c.exec(fmt::format(
            "SELECT pgtrickle.create_stream_table('{}', 'SELECT count(*) AS n FROM src WHERE "
            "pg_sleep(1) IS NOT NULL', schedule => '1s', refresh_mode => 'FULL')",
            name));
    const std::string all_n =
        "SELECT min(n) FROM (SELECT n FROM slow_a UNION ALL SELECT n FROM slow_b"
        " UNION ALL SELECT n FROM slow_c) x";
    int refresh_workers_seen = 0;
    auto sample_refresh_workers = [&] {
        refresh_workers_seen +=
            std::stoi(c.scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type ="
                               " 'pg_trickle refresh worker' AND datname = '" +
                               dbname_ + "'"));
    };
    for (int round = 2; round <= 3; ++round) {
        c.exec(fmt::format("INSERT INTO src VALUES ({})", round));
        // The pool workers are the ones refreshing (each refresh takes a second).
        EXPECT_TRUE(eventually(
            [&] {
                sample_refresh_workers();
                return c.scalar(
                           "SELECT count(*) FROM pg_stat_activity WHERE backend_type ="
                           " 'pg_trickle pool worker' AND datname = '" +
                           dbname_ + "' AND query LIKE 'refreshing%'") != "0";
            },
            20s));
        ASSERT_TRUE(eventually(
            [&] {
                sample_refresh_workers();
                return scalar(all_n) == std::to_string(round);
            },
            30s));
    }
    // No refresh worker was started for them, and the same two workers are still there.
    EXPECT_EQ(refresh_workers_seen, 0);
    EXPECT_EQ(pool_pids(c, dbname_), pids);
    EXPECT_NE(overlapping_scheduled_refreshes(c, true), "0");
}

TEST_F(Scheduler, PoolFollowsItsSizeAndReplacesAKilledWorker) {
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('a', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('b', 'SELECT sum(v) AS s FROM src',"
        " schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
    {
        SystemSetting pool("pg_trickle.worker_pool_size", "3");
        std::vector<int> pids;
        ASSERT_TRUE(eventually(
            [&] {
                pids = pool_pids(c, dbname_);
                return pids.size() == 3;
            },
            20s));
        // A worker that is terminated is replaced; refreshes go on.
        ASSERT_EQ(::kill(pids[0], SIGTERM), 0);
        EXPECT_TRUE(eventually(
            [&] {
                auto now = pool_pids(c, dbname_);
                return now.size() == 3 && std::find(now.begin(), now.end(), pids[0]) == now.end();
            },
            20s));
        c.exec("INSERT INTO src SELECT generate_series(1, 4)");
        EXPECT_TRUE(converges("SELECT n FROM a", "4"));
        EXPECT_TRUE(converges("SELECT s FROM b", "10"));
        {
            SystemSetting smaller("pg_trickle.worker_pool_size", "1");
            EXPECT_TRUE(eventually([&] { return pool_pids(c, dbname_).size() == 1; }, 20s));
        }
        // Growing again, slots of workers that just left may be taken again.
        SystemSetting again("pg_trickle.worker_pool_size", "3");
        EXPECT_TRUE(eventually([&] { return pool_pids(c, dbname_).size() == 3; }, 20s));
        c.exec("INSERT INTO src VALUES (10)");
        EXPECT_TRUE(converges("SELECT s FROM b", "20"));
    }
    // Back to the default 0: no pool worker stays, and the scheduler refreshes as before.
    EXPECT_TRUE(eventually([&] { return pool_pids(c, dbname_).empty(); }, 20s));
    c.exec("INSERT INTO src VALUES (5)");
    EXPECT_TRUE(converges("SELECT s FROM b", "25"));
}

TEST_F(Scheduler, PoolLeavesWithItsSchedulerAndTheNextOneStartsItsOwn) {
    SystemSetting pool("pg_trickle.worker_pool_size", "2");
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('st', 'SELECT count(*) AS n FROM src',"
        " schedule => '1s', refresh_mode => 'FULL')");
    std::vector<int> before;
    ASSERT_TRUE(eventually([&] { return (before = pool_pids(c, dbname_)).size() == 2; }, 20s));
    auto scheduler = scheduler_pid(c, dbname_);
    ASSERT_TRUE(scheduler);
    c.exec(fmt::format("SELECT pg_terminate_backend({})", *scheduler));
    // The launcher starts a new scheduler, which starts a new pool; none of the old workers
    // stays (they leave with the scheduler that started them).
    EXPECT_TRUE(eventually(
        [&] {
            auto now = pool_pids(c, dbname_);
            return now.size() == 2 && std::find(now.begin(), now.end(), before[0]) == now.end() &&
                   std::find(now.begin(), now.end(), before[1]) == now.end();
        },
        30s));
    c.exec("INSERT INTO src SELECT generate_series(1, 3)");
    EXPECT_TRUE(converges("SELECT n FROM st", "3"));
}

TEST_F(Scheduler, ParallelRefreshModeOffRefreshesOneAtATime) {
    SystemSetting mode("pg_trickle.parallel_refresh_mode", "off");
    auto c = connect();
    c.exec("CREATE TABLE src (v int)");
    c.exec("INSERT INTO src VALUES (1)");
    for (const char* name : {"slow_a", "slow_b"})
        c.exec(fmt::format(
            "SELECT pgtrickle.create_stream_table('{}', 'SELECT count(*) AS n FROM src WHERE "
            "pg_sleep(0.5) IS NOT NULL', schedule => '1s', refresh_mode => 'FULL')",
            name));
    c.exec("INSERT INTO src VALUES (2)");
    ASSERT_TRUE(converges(
        "SELECT min(n) FROM (SELECT n FROM slow_a UNION ALL SELECT n FROM slow_b) x", "2", 30s));
    EXPECT_EQ(overlapping_scheduled_refreshes(c, false), "0");
}

TEST_F(Scheduler, DiamondNeverCombinesANewBranchWithAnOldOne) {
    // A -> B, A -> C, B + C -> D. While B fails, D is not refreshed: it keeps the state of its
    // last refresh, where B and C agree, instead of pairing a new C with an old B.
    auto c = connect();
    c.exec("CREATE TABLE a (v int)");
    c.exec("CREATE TABLE divisor (d int)");
    c.exec("INSERT INTO a VALUES (1)");
    c.exec("INSERT INTO divisor VALUES (1)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('b', 'SELECT sum(v) / min(d) AS s FROM a, divisor',"
        " schedule => '1s', refresh_mode => 'FULL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('c', 'SELECT sum(v) AS s FROM a',"
        " schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('d', 'SELECT b.s AS bs, c.s AS cs FROM b, c',"
        " refresh_mode => 'FULL')");
    ASSERT_TRUE(converges("SELECT bs || '/' || cs FROM d", "1/1"));
    c.exec("UPDATE divisor SET d = 0");  // b's refreshes fail from now on
    c.exec("INSERT INTO a VALUES (5)");
    ASSERT_TRUE(converges("SELECT s FROM c", "6"));
    // Several ticks with c new and b failing: d must still show the old pair.
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(scalar("SELECT bs || '/' || cs FROM d"), "1/1");
    // b recovers (resume it if it was suspended): d catches up with both.
    c.exec("UPDATE divisor SET d = 1");
    c.exec(
        "SELECT pgtrickle.resume_stream_table('b') FROM pgtrickle.pgt_stream_tables"
        " WHERE pgt_name = 'b' AND status = 'SUSPENDED'");
    EXPECT_TRUE(converges("SELECT bs || '/' || cs FROM d", "6/6"));
}

TEST_F(Scheduler, KilledRefreshWorkerMidRefreshStillConverges) {
    int killed = 0;
    {
        auto c = connect();
        c.exec("CREATE TABLE src (v int)");
        // The test cluster commits asynchronously; what the crash must not lose is flushed.
        c.exec("SET synchronous_commit = on");
        c.exec("INSERT INTO src SELECT generate_series(1, 2)");
        // Two slow stream tables, unpopulated, so both are ready at the same tick: one of them
        // goes to a refresh worker.
        c.exec("BEGIN");
        for (const char* name : {"slow_a", "slow_b"})
            c.exec(
                fmt::format("SELECT pgtrickle.create_stream_table('{}', 'SELECT count(*)"
                            " + (SELECT 0 FROM pg_sleep(2)) AS n FROM src', schedule => '1s',"
                            " refresh_mode => 'FULL', initialize => false)",
                            name));
        c.exec("COMMIT");
        std::optional<int> worker;
        ASSERT_TRUE(eventually(
            [&] {
                auto rows = c.query(
                    "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_trickle refresh "
                    "worker' AND datname = '" +
                    dbname_ + "' AND query LIKE 'refreshing%'");
                if (rows.empty() || !rows[0][0])
                    return false;
                worker = std::stoi(*rows[0][0]);
                return true;
            },
            15s));
        // (Read before the kill: the crash restart ends this connection too.)
        auto scheduler = scheduler_pid(c, dbname_);
        ASSERT_TRUE(scheduler);
        killed = *scheduler;
        ASSERT_EQ(::kill(*worker, SIGKILL), 0);
    }
    ASSERT_TRUE(scheduler_replaced(killed));
    auto c = connect();
    c.exec("INSERT INTO src SELECT generate_series(1, 5)");
    EXPECT_TRUE(converges("SELECT n FROM slow_a", "7", 30s));
    EXPECT_TRUE(converges("SELECT n FROM slow_b", "7", 30s));
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE status ="
                       " 'RUNNING'"),
              "0");
}

TEST_F(Scheduler, DiamondBranchesWithDifferentSchedulesRefreshTogether) {
    // b refreshes every second, c only hourly: when b is due, c is refreshed with it, so d never
    // pairs a new b with an old c.
    auto c = connect();
    c.exec("CREATE TABLE a (v int)");
    c.exec("INSERT INTO a VALUES (1)");
    c.exec(
        "SELECT pgtrickle.create_stream_table('b', 'SELECT sum(v) AS s FROM a',"
        " schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('c', 'SELECT count(*) AS n, sum(v) AS s FROM a',"
        " schedule => '1h', refresh_mode => 'DIFFERENTIAL')");
    c.exec(
        "SELECT pgtrickle.create_stream_table('d', 'SELECT b.s AS bs, c.s AS cs FROM b, c',"
        " schedule => '1s', refresh_mode => 'FULL')");
    ASSERT_TRUE(converges("SELECT bs || '/' || cs FROM d", "1/1"));
    c.exec("INSERT INTO a VALUES (5)");
    EXPECT_TRUE(converges("SELECT bs || '/' || cs FROM d", "6/6"));
    EXPECT_EQ(scalar("SELECT s FROM c"), "6");
}
