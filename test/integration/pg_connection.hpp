// A libpq connection for integration tests against the throwaway cluster (scripts/cluster.sh).
// Host (socket directory) and port are the ones CMake configured the cluster with, unless
// PGTRICKLE_TEST_HOST / PGTRICKLE_TEST_PORT say otherwise.
#pragma once

#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace pgtrickle::test {

struct QueryError : std::runtime_error {
    std::string sqlstate;
    QueryError(const std::string& message, std::string state)
        : std::runtime_error(message), sqlstate(std::move(state)) {}
};

// libpq connection string for dbname on the test cluster (PGTRICKLE_TEST_HOST/PORT override).
inline std::string test_conninfo(const std::string& dbname) {
    const char* host = std::getenv("PGTRICKLE_TEST_HOST");
    const char* port = std::getenv("PGTRICKLE_TEST_PORT");
    return fmt::format("host={} port={} user=postgres dbname={}",
                       host ? host : PGTRICKLE_TEST_HOST_DEFAULT,
                       port ? port : PGTRICKLE_TEST_PORT_DEFAULT, dbname);
}

class Connection {
  public:
    explicit Connection(const std::string& dbname = "postgres") {
        conn_.reset(PQconnectdb(test_conninfo(dbname).c_str()));
        if (PQstatus(conn_.get()) != CONNECTION_OK)
            throw std::runtime_error("connection failed: " +
                                     std::string(PQerrorMessage(conn_.get())));
        PQsetNoticeProcessor(
            conn_.get(), [](void*, const char*) {}, nullptr);
    }

    // Runs sql; returns all rows as text (NULL = nullopt). Throws QueryError with the SQLSTATE.
    std::vector<std::vector<std::optional<std::string>>> query(const std::string& sql) {
        std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn_.get(), sql.c_str()),
                                                          &PQclear);
        auto status = PQresultStatus(res.get());
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
            throw QueryError(PQresultErrorMessage(res.get()), state ? state : "");
        }
        std::vector<std::vector<std::optional<std::string>>> rows;
        for (int r = 0; r < PQntuples(res.get()); ++r) {
            auto& row = rows.emplace_back();
            for (int c = 0; c < PQnfields(res.get()); ++c) {
                if (PQgetisnull(res.get(), r, c))
                    row.emplace_back(std::nullopt);
                else
                    row.emplace_back(PQgetvalue(res.get(), r, c));
            }
        }
        return rows;
    }

    void exec(const std::string& sql) { query(sql); }

    std::string scalar(const std::string& sql) {
        auto rows = query(sql);
        if (rows.empty() || rows[0].empty() || !rows[0][0])
            throw std::runtime_error("no scalar result for: " + sql);
        return *rows[0][0];
    }

    // Sends sql without waiting for its result (for statements expected to block).
    void send(const std::string& sql) {
        if (!PQsendQuery(conn_.get(), sql.c_str()))
            throw std::runtime_error(PQerrorMessage(conn_.get()));
    }
    // Collects the results of a send(); throws on error.
    void finish_send() {
        std::string error;
        while (PGresult* r = PQgetResult(conn_.get())) {
            auto st = PQresultStatus(r);
            if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
                error = PQresultErrorMessage(r);
            PQclear(r);
        }
        if (!error.empty())
            throw std::runtime_error(error);
    }

  private:
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_{nullptr, &PQfinish};
};

// A fresh database with pg_trickle installed, dropped again at the end of the test.
class ScratchDatabase {
  public:
    explicit ScratchDatabase(std::string name) : name_(std::move(name)) {
        Connection admin;
        admin.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
        admin.exec("CREATE DATABASE " + name_);
        Connection(name_).exec("CREATE EXTENSION pg_trickle");
    }
    ~ScratchDatabase() {
        try {
            Connection admin;
            admin.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
        } catch (...) {
        }
    }
    Connection connect() const { return Connection(name_); }

  private:
    std::string name_;
};

}  // namespace pgtrickle::test
