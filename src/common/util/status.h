// Status and Result<T>: how recoverable errors travel inside tandem. Both are
// [[nodiscard]]: an error is handled or passed on, never dropped silently.
//
// A Status is either ok or carries a code and a one-line message meant for a
// person ("model.pt: not a TorchScript file"). Functions that can fail return
// Status, or Result<T> when they also produce a value. Exceptions thrown by
// third-party libraries (LibTorch, nlohmann::json, cppzmq, CLI11) are caught
// at the edge of the module that calls them and turned into a Status there.
//
// Thread safety: values; no shared state.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace tandem {

class [[nodiscard]] Status {
 public:
  enum class Code : int {
    kOk = 0,
    kInvalidArgument = 1,  // the caller (user, file, flag) asked for something wrong
    kNotFound = 2,         // a file, method or name does not exist
    kCorruption = 3,       // bytes that should follow a format do not
    kIOError = 4,          // the OS refused a read or write
    kUnavailable = 5,      // a peer or resource cannot be reached now
    kTimeout = 6,          // a bounded wait ran out
    kVersionMismatch = 7,  // a peer or file speaks another major version
    kUnsupported = 8,      // valid input tandem does not handle (yet)
    kInternal = 9,         // a bug in tandem: an invariant did not hold
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status Timeout(std::string msg) { return Status(Code::kTimeout, std::move(msg)); }
  static Status VersionMismatch(std::string msg) { return Status(Code::kVersionMismatch, std::move(msg)); }
  static Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid argument: <message>", or "ok".
  std::string ToString() const;
  static const char* CodeName(Code code);

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or a non-ok Status. Access value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status has no value");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tandem

// Returns early from the enclosing function when `expr` (a Status) is not ok.
#define TANDEM_RETURN_IF_ERROR(expr) \
  do {                               \
    ::tandem::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)

#define TANDEM_CONCAT_INNER(a, b) a##b
#define TANDEM_CONCAT(a, b) TANDEM_CONCAT_INNER(a, b)
// `TANDEM_ASSIGN_OR_RETURN(auto x, F())`: x = F().value(), or return its Status.
#define TANDEM_ASSIGN_OR_RETURN(lhs, rexpr) TANDEM_ASSIGN_OR_RETURN_IMPL(TANDEM_CONCAT(_res_, __LINE__), lhs, rexpr)
#define TANDEM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                 \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
