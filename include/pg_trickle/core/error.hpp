// Errors raised by the pure C++ core.
//
// The core knows nothing about PostgreSQL, but every error it raises ends up as an ERROR with a
// SQLSTATE in front of a user. Each core error therefore carries the SQLSTATE it means (five
// characters, e.g. "22023") plus optional detail and hint, and the PostgreSQL boundary guard
// reports it verbatim.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace pgtrickle::core {

namespace sqlstate {
inline constexpr const char* kInvalidParameterValue = "22023";
inline constexpr const char* kFeatureNotSupported = "0A000";
inline constexpr const char* kSyntaxError = "42601";
inline constexpr const char* kDuplicateTable = "42P07";
inline constexpr const char* kUndefinedTable = "42P01";
inline constexpr const char* kInsufficientPrivilege = "42501";
inline constexpr const char* kInvalidRecursion = "3F000";  // upstream's CycleDetected
inline constexpr const char* kObjectNotInPrerequisiteState = "55000";
inline constexpr const char* kProgramLimitExceeded = "54000";
inline constexpr const char* kStatementTooComplex = "54001";
inline constexpr const char* kInternalError = "XX000";
}  // namespace sqlstate

class Error : public std::runtime_error {
  public:
    Error(std::string sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : std::runtime_error(std::move(message)),
          sqlstate_(std::move(sqlstate)),
          detail_(std::move(detail)),
          hint_(std::move(hint)) {}

    const std::string& sqlstate() const noexcept { return sqlstate_; }
    const std::string& detail() const noexcept { return detail_; }
    const std::string& hint() const noexcept { return hint_; }

  private:
    std::string sqlstate_;
    std::string detail_;
    std::string hint_;
};

// 22023: a parameter value the user passed is not acceptable.
inline Error invalid_argument(std::string message, std::string detail = {}, std::string hint = {}) {
    return Error(sqlstate::kInvalidParameterValue, std::move(message), std::move(detail),
                 std::move(hint));
}

// 0A000: valid input asking for something we do not (yet) do.
inline Error unsupported(std::string message, std::string detail = {}, std::string hint = {}) {
    return Error(sqlstate::kFeatureNotSupported, std::move(message), std::move(detail),
                 std::move(hint));
}

}  // namespace pgtrickle::core
