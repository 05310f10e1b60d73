// Signals for the daemons and the CLI: SIGTERM and SIGINT (stop) and SIGHUP
// (reload) only set a flag (async-signal-safe); loops check it on their poll
// timeouts. SIGPIPE is
// ignored so a vanished peer is an error return, not a kill.
#pragma once

#include <atomic>

namespace tandem {

// Installs the handlers (once; later calls return the same flag).
const std::atomic<bool>& InstallStopSignals();
// SIGHUP sets the returned flag (a daemon reloads its files and clears it).
std::atomic<bool>& InstallReloadSignal();

}  // namespace tandem
