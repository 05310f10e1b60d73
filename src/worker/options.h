// tandem-worker's options: defaults here, a JSON file (--config) over them,
// command-line flags over both.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common/plan/worker_memory.h"
#include "common/util/status.h"

namespace tandem {

struct WorkerOptions {
  // Control endpoint (ROUTER) the dispatcher connects to. Default loopback:
  // set the device's LAN address to serve a cluster; never every interface
  // by accident.
  std::string listen = "tcp://127.0.0.1:5550";
  // Data endpoint (PULL) the previous stage pushes to. Empty: the listen host
  // with the listen port + 1 (or "*" when listen's port is "*").
  std::string data_listen;
  // Name in logs and status; empty: the host name.
  std::string name;
  // LibTorch intra-op threads; 0: one per core this process may use (its
  // CPU affinity and cgroup quota: ApplyDeviceDefaults).
  int threads = 0;
  // Memory budget for the deployed stages (weights plus activation buffers),
  // MiB; a deployment over it is refused. -1: 80% of the memory available
  // at start (MemAvailable, or the cgroup's limit if lower); 0: no budget.
  int64_t memory_mb = -1;
  // Largest control message accepted, MiB: a link probe is up to 16 MiB, and a
  // stage arrives in 1 MiB pieces (DEPLOY_CHUNK), so 17..4096.
  uint64_t max_message_mb = 32;
  // Largest activation message accepted, MiB.
  uint64_t max_activation_mb = 512;
  // Requests buffered between receive, compute and send (each queue).
  // Small keeps memory bounded and back-pressure quick.
  int queue_depth = kDefaultWorkerQueueDepth;
  // Log debug detail.
  bool verbose = false;
  // CurveZMQ (docs/security.md). secret_key: this worker's secret key file
  // (`tandem-worker keygen` writes it; mode 0600). authorized_keys: the
  // public keys of the dispatchers it obeys, one per line (reloaded on
  // SIGHUP). Both, or neither: without keys the worker serves loopback only,
  // unless `insecure`.
  std::string secret_key;
  std::string authorized_keys;
  // Serve a non-loopback address without keys: anyone who can reach the
  // port can deploy code to this worker. Logged at every start.
  bool insecure = false;
  // With keys: where the worker tells anyone who asks its public key (a
  // plain socket that answers KEY_REQUEST and nothing else), so that a
  // dispatcher pinning another key can say which key it found. Empty: the
  // listen host with the listen port + 2; "none": no such socket.
  std::string key_listen;
  // Where /proc and /sys are read for cores, memory, temperature and
  // throttling: "" is this machine (tests give a directory of fake files).
  std::string device_root;
};

// Binds a flag to every field (help shows the defaults above).
void AddWorkerFlags(CLI::App& app, WorkerOptions* options);

class JsonField;
Status ReadJson(const JsonField& f, WorkerOptions* out);
// Reads a worker config file over *options: fields it gives replace those
// values, the others stay. Unknown fields and bad values are errors that name
// the file and the field; *options may then be partly updated.
Status LoadWorkerOptions(const std::string& path, WorkerOptions* options);
// Fills derived defaults (data_listen, name) and checks values.
Status FinalizeWorkerOptions(WorkerOptions* o);
// Fills the defaults that come from the device: threads (0: UsableCores) and
// memory_mb (-1: 80% of AvailableMemory, or 0 when the device does not say).
void ApplyDeviceDefaults(WorkerOptions* o);

}  // namespace tandem
