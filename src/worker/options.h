// tandem-worker's options: defaults here, a JSON file (--config) over them,
// command-line flags over both.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

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
  // LibTorch intra-op threads; 0: one per core.
  int threads = 0;
  // Memory budget for a deployed stage (weights plus activation buffers), MiB;
  // a deployment over it is refused. 0: no budget.
  uint64_t memory_mb = 0;
  // Largest control message accepted (a stage's weights travel in it), MiB.
  uint64_t max_message_mb = 2048;
  // Largest activation message accepted, MiB.
  uint64_t max_activation_mb = 512;
  // Requests buffered between receive, compute and send (each queue).
  // Small keeps memory bounded and back-pressure quick.
  int queue_depth = 2;
  // Log debug detail.
  bool verbose = false;
};

void from_json(const nlohmann::json& j, WorkerOptions& o);
// Reads a worker config file; unknown fields and bad values are errors that
// name the file and the field.
Result<WorkerOptions> LoadWorkerOptions(const std::string& path, WorkerOptions base = WorkerOptions());
// Fills derived defaults (data_listen, name) and checks values.
Status FinalizeWorkerOptions(WorkerOptions* o);

}  // namespace tandem
