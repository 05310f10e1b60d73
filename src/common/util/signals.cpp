#include "common/util/signals.h"

#include <signal.h>

namespace tandem {
namespace {
std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
void OnStopSignal(int) { g_stop = true; }
void OnReloadSignal(int) { g_reload = true; }
}  // namespace

const std::atomic<bool>& InstallStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return g_stop;
}

std::atomic<bool>& InstallReloadSignal() {
  struct sigaction sa {};
  sa.sa_handler = OnReloadSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGHUP, &sa, nullptr);
  return g_reload;
}

}  // namespace tandem
