// Result<T>: a value or an error with a code from a fixed set and a message
// for humans. Used at every module boundary; exceptions never cross one.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace rogatory {

// Error codes in the spirit of Abseil's canonical codes.
enum class Code {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong
  kUnauthenticated,     // a signature, tag or key check failed
  kPermissionDenied,    // authenticated, but not allowed
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // the system is not in a state to do this
  kUnavailable,         // transient: retry may help
  kDeadlineExceeded,    // no answer in time: the outcome is unknown
  kDataLoss,            // stored data is corrupt
  kInternal,            // a bug
};

struct Error {
  Code code = Code::kInternal;
  std::string message;  // one line, says what is wrong
  std::string hint;     // optional: what to do about it
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

inline Error MakeError(Code code, std::string message, std::string hint = {}) {
  return Error{code, std::move(message), std::move(hint)};
}

}  // namespace rogatory

// Propagates an error from an expression returning Result<T> or Status.
#define ROG_RETURN_IF_ERROR(expr)              \
  do {                                         \
    auto rog_status_ = (expr);                 \
    if (!rog_status_.ok()) return rog_status_.error(); \
  } while (0)

#define ROG_CONCAT_INNER(a, b) a##b
#define ROG_CONCAT(a, b) ROG_CONCAT_INNER(a, b)
// ROG_ASSIGN_OR_RETURN(auto x, Foo()) : binds the value or returns the error.
#define ROG_ASSIGN_OR_RETURN(lhs, expr) \
  ROG_ASSIGN_OR_RETURN_IMPL(ROG_CONCAT(rog_result_, __LINE__), lhs, expr)
#define ROG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.error();              \
  lhs = std::move(tmp).value()
