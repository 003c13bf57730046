// The boundary guards: turning C++ exceptions back into PostgreSQL errors.
#include "pg_trickle/pg/guard.hpp"

#include <new>

#include "pg_trickle/core/error.hpp"

namespace pgtrickle::pg {
namespace detail {

namespace {
char* copy_or_null(const std::string& s) {
    return s.empty() ? nullptr : pstrdup(s.c_str());
}

int sqlstate_code(const std::string& s) {
    if (s.size() != 5)
        return ERRCODE_INTERNAL_ERROR;
    return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}
}  // namespace

void capture_current_exception(ErrorReport& report) noexcept {
    // pstrdup could itself longjmp on out-of-memory; that is the one case we accept, as
    // PostgreSQL's own C code does.
    try {
        throw;
    } catch (const PgException& e) {
        report.pg_error = e.edata();
    } catch (const core::Error& e) {
        report.sqlerrcode = sqlstate_code(e.sqlstate());
        report.message = pstrdup(e.what());
        report.detail = copy_or_null(e.detail());
        report.hint = copy_or_null(e.hint());
    } catch (const std::bad_alloc&) {
        report.sqlerrcode = ERRCODE_OUT_OF_MEMORY;
        report.message = pstrdup("out of memory in pg_trickle");
    } catch (const std::exception& e) {
        report.sqlerrcode = ERRCODE_INTERNAL_ERROR;
        report.message = psprintf("pg_trickle internal error: %s", e.what());
    } catch (...) {
        report.sqlerrcode = ERRCODE_INTERNAL_ERROR;
        report.message = pstrdup("pg_trickle internal error: unknown exception");
    }
}

void raise(const ErrorReport& report) {
    if (report.pg_error != nullptr)
        ReThrowError(report.pg_error);
    ereport(ERROR, (errcode(report.sqlerrcode), errmsg_internal("%s", report.message),
                    report.detail ? errdetail_internal("%s", report.detail) : 0,
                    report.hint ? errhint("%s", report.hint) : 0));
    pg_unreachable();
}

}  // namespace detail

namespace {
void report(int level, const std::string& message, const std::string& detail,
            const std::string& hint) {
    const char* m = message.c_str();
    const char* d = detail.empty() ? nullptr : detail.c_str();
    const char* h = hint.empty() ? nullptr : hint.c_str();
    pg_call([&] {
        ereport(level, (errmsg_internal("%s", m), d ? errdetail_internal("%s", d) : 0,
                        h ? errhint("%s", h) : 0));
    });
}
}  // namespace

void notice(const std::string& message, const std::string& detail, const std::string& hint) {
    report(NOTICE, message, detail, hint);
}
void warning(const std::string& message, const std::string& detail, const std::string& hint) {
    report(WARNING, message, detail, hint);
}
void info(const std::string& message) {
    report(INFO, message, {}, {});
}
void debug(const std::string& message) {
    report(DEBUG1, message, {}, {});
}

}  // namespace pgtrickle::pg
