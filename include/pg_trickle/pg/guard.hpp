// The two guards at the C++/PostgreSQL boundary (see shared CPP_IN_POSTGRES.md).
//
// PostgreSQL reports errors by longjmp (ereport), C++ by exceptions. Neither may cross the other:
//  - pg_call(fn): PostgreSQL -> C++. Runs fn, which must be plain C calls into PostgreSQL, inside
//    PG_TRY. An ERROR is copied out and rethrown as PgException, so C++ destructors run normally.
//  - pg_guard(fn): C++ -> PostgreSQL. Every SQL-callable function, trigger, hook and worker entry
//    runs its body through it. Any exception is turned back into an ERROR with its SQLSTATE, after
//    every C++ object of the body has been destroyed.
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// A PostgreSQL ERROR caught by pg_call. The ErrorData is palloc'd in the memory context that was
// current when pg_call was entered, so it outlives the exception object.
class PgException : public std::exception {
  public:
    explicit PgException(ErrorData* edata) : edata_(edata) {}
    ErrorData* edata() const noexcept { return edata_; }
    const char* what() const noexcept override {
        return edata_ && edata_->message ? edata_->message : "PostgreSQL error";
    }

  private:
    ErrorData* edata_;
};

// Runs fn (plain C calls only: objects created inside are skipped by the longjmp) under PG_TRY.
template <typename Fn>
auto pg_call(Fn&& fn) -> decltype(fn()) {
    using Result = decltype(fn());
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData* volatile edata = nullptr;
    if constexpr (std::is_void_v<Result>) {
        PG_TRY();
        { fn(); }
        PG_CATCH();
        {
            MemoryContextSwitchTo(caller_context);
            edata = CopyErrorData();
            FlushErrorState();
        }
        PG_END_TRY();
        if (edata != nullptr)
            throw PgException(edata);
    } else {
        static_assert(std::is_trivially_copyable_v<Result>,
                      "pg_call may only return plain values (pointers, Datums, integers)");
        volatile Result result{};
        PG_TRY();
        { result = fn(); }
        PG_CATCH();
        {
            MemoryContextSwitchTo(caller_context);
            edata = CopyErrorData();
            FlushErrorState();
        }
        PG_END_TRY();
        if (edata != nullptr)
            throw PgException(edata);
        return result;
    }
}

namespace detail {
// Plain (palloc'd) copy of a C++ exception's report, so it survives the catch block.
struct ErrorReport {
    ErrorData* pg_error = nullptr;  // set when the exception carried a PostgreSQL error
    int sqlerrcode = 0;
    char* message = nullptr;
    char* detail = nullptr;
    char* hint = nullptr;
};
void capture_current_exception(ErrorReport& report) noexcept;
[[noreturn]] void raise(const ErrorReport& report);
}  // namespace detail

// Runs the body of an SQL-callable entry point; converts any exception into an ereport(ERROR)
// raised only after the body's C++ frames are gone.
template <typename Fn>
auto pg_guard(Fn&& fn) -> decltype(fn()) {
    detail::ErrorReport report;
    try {
        return fn();
    } catch (...) {
        detail::capture_current_exception(report);
    }
    detail::raise(report);
}

// Non-ERROR messages. ereport below ERROR returns normally; pg_call still guards the rare
// longjmp (out of memory while building the message).
void notice(const std::string& message, const std::string& detail = {},
            const std::string& hint = {});
void warning(const std::string& message, const std::string& detail = {},
             const std::string& hint = {});
void info(const std::string& message);
void debug(const std::string& message);  // DEBUG1: the server log, with log_min_messages = debug1

}  // namespace pgtrickle::pg
