#include "common/util/signals.h"

#include <signal.h>

namespace tandem {
namespace {
std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop = true; }
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

}  // namespace tandem
