#include "common/util/log.h"

#include <atomic>
#include <cstdio>
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

}  // namespace tandem
