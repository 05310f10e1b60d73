// The cluster config: which workers the dispatcher uses and how to reach them.
// A JSON file users edit; documented field by field in docs/cluster-config.md.
// Validated once at load: every error names the file and the field
// ("cluster.json: workers[1].endpoint: ...").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/codec.h"
#include "common/status.h"

namespace tandem {


constexpr size_t kMaxWorkerNameLen = 64;

struct WorkerEntry {
  std::string name;        // unique; used in logs and plans
  std::string endpoint;    // the worker's control endpoint, tcp://HOST:PORT
  uint64_t memory_mb = 0;  // memory budget for its stage; 0: unknown (no limit)
  double speed = 1.0;      // relative compute speed (1.0: the profiling machine)
  std::optional<CodecSpec> codec;  // codec for this worker's outgoing hop
};

struct ClusterConfig {
  std::string source;  // file name, or "<embedded default>"
  // Where the dispatcher receives results (it binds this). Port "*" picks a
  // free port. Default tcp://127.0.0.1:*.
  std::string results_bind = "tcp://127.0.0.1:*";
  // The address workers use to reach results_bind; default: results_bind
  // (with the port that was picked). Set it when binding 0.0.0.0.
  std::string results_advertise;
  CodecSpec codec;                 // default codec for every hop: zfp+lz4
  double connect_timeout_s = 5;    // HELLO must be answered within this
  double deploy_timeout_s = 120;   // DEPLOY must be answered within this
  double result_timeout_s = 60;    // no result for this long while requests are in flight: error
  std::vector<WorkerEntry> workers;

  // The codec for the hop out of stage `stage` run by `worker`.
  const CodecSpec& HopCodec(const WorkerEntry& worker) const { return worker.codec ? *worker.codec : codec; }
};

Result<ClusterConfig> ParseClusterConfig(const std::string& text, const std::string& source);
Result<ClusterConfig> LoadClusterConfig(const std::string& path);

// Three workers on loopback (tcp://127.0.0.1:5550, :5560, :5570), the
// cluster that scripts/local-cluster.sh starts.
ClusterConfig DefaultClusterConfig();
std::string DefaultClusterConfigJson();

}  // namespace tandem
