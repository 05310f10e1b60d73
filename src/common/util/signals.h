// Stop signals for the daemons and the CLI: SIGTERM and SIGINT only set a
// flag (async-signal-safe); loops check it on their poll timeouts. SIGPIPE is
// ignored so a vanished peer is an error return, not a kill.
#pragma once

#include <atomic>

namespace tandem {

// Installs the handlers (once; later calls return the same flag).
const std::atomic<bool>& InstallStopSignals();

}  // namespace tandem
