// Plain leveled log lines on stderr ("tandem-worker: warning: ..."); under
// systemd, journald adds the time. Thread-safe: each line is written whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>

namespace tandem {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Process-wide settings; call once at start-up, before threads start.
void SetLogProgramName(const std::string& name);
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

void LogLine(LogLevel level, const std::string& line);

// Bounds how often one kind of event is logged: at most `burst` lines, then
// one more per `interval_s`; the lines left out are counted and said with
// the next line that is written ("(3 more like this not logged)"). For events
// a peer can cause at will (refused connections, malformed messages), so it
// cannot flood the log. Thread-safe.
class LogLimiter {
 public:
  explicit LogLimiter(int burst = 10, double interval_s = 10);
  // Whether to log now; when it says yes, *suppressed gets how many were
  // left out since the last line written.
  bool Allow(uint64_t* suppressed);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// A LogLimiter per kind of event ("refused a connection to the data
// socket"), so a flood of one kind does not hide the first line of another.
// Kinds past the first `max_kinds` share one limiter, so a peer that makes up
// kinds cannot grow it. Thread-safe.
class KindLogLimiter {
 public:
  explicit KindLogLimiter(size_t max_kinds = 32, int burst = 10, double interval_s = 10);
  // LogLimiter::Allow for the limiter of `kind`.
  bool Allow(const std::string& kind, uint64_t* suppressed);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// `text` made safe for one log line: control characters and bytes that are
// not printable ASCII as \xNN, cut to `max_len` characters ("..." after). For
// strings a peer chose (names, messages).
std::string Printable(const std::string& text, size_t max_len = 200);

namespace detail {
class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { LogLine(level_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};
}  // namespace detail

}  // namespace tandem

namespace tandem::detail {
// Turns the stream expression into void so both arms of ?: agree.
struct Voidify {
  void operator&(std::ostream&) {}
};
}  // namespace tandem::detail

// TANDEM_LOG(kInfo) << "loaded " << n << " stages";  (safe inside if/else)
#define TANDEM_LOG(level)                                 \
  !(::tandem::LogLevel::level >= ::tandem::GetLogLevel()) \
      ? (void)0                                           \
      : ::tandem::detail::Voidify() & ::tandem::detail::LogMessage(::tandem::LogLevel::level).stream()
