// Plain leveled log lines on stderr ("tandem-worker: warning: ..."); under
// systemd, journald adds the time. Thread-safe: each line is written whole.
#pragma once

#include <sstream>
#include <string>

namespace tandem {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Process-wide settings; call once at start-up, before threads start.
void SetLogProgramName(const std::string& name);
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

void LogLine(LogLevel level, const std::string& line);

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
