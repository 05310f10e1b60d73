#include "common/util/log.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

namespace tandem {
namespace {
std::string g_program = "tandem";
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mu;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "?";
}
}  // namespace

void SetLogProgramName(const std::string& name) { g_program = name; }
void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

void LogLine(LogLevel level, const std::string& line) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "%s: %s: %s\n", g_program.c_str(), LevelName(level), line.c_str());
  std::fflush(stderr);
}

struct LogLimiter::State {
  std::mutex mu;
  double tokens;
  int burst;
  double interval_s;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  uint64_t suppressed = 0;
};

LogLimiter::LogLimiter(int burst, double interval_s) : state_(std::make_shared<State>()) {
  state_->tokens = burst;
  state_->burst = burst;
  state_->interval_s = interval_s;
}

bool LogLimiter::Allow(uint64_t* suppressed) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  const auto now = std::chrono::steady_clock::now();
  s.tokens = std::min<double>(s.burst, s.tokens + std::chrono::duration<double>(now - s.last).count() / s.interval_s);
  s.last = now;
  if (s.tokens < 1) {
    ++s.suppressed;
    return false;
  }
  s.tokens -= 1;
  *suppressed = s.suppressed;
  s.suppressed = 0;
  return true;
}

struct KindLogLimiter::State {
  std::mutex mu;
  size_t max_kinds;
  int burst;
  double interval_s;
  std::map<std::string, LogLimiter> kinds;
  LogLimiter rest;
};

KindLogLimiter::KindLogLimiter(size_t max_kinds, int burst, double interval_s) : state_(std::make_shared<State>()) {
  state_->max_kinds = max_kinds;
  state_->burst = burst;
  state_->interval_s = interval_s;
  state_->rest = LogLimiter(burst, interval_s);
}

bool KindLogLimiter::Allow(const std::string& kind, uint64_t* suppressed) {
  State& s = *state_;
  LogLimiter limit;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.kinds.find(kind);
    if (it == s.kinds.end() && s.kinds.size() < s.max_kinds)
      it = s.kinds.emplace(kind, LogLimiter(s.burst, s.interval_s)).first;
    limit = it == s.kinds.end() ? s.rest : it->second;  // shares the state
  }
  return limit.Allow(suppressed);
}

std::string Printable(const std::string& text, size_t max_len) {
  std::string out;
  for (unsigned char c : text) {
    if (out.size() >= max_len) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace tandem
