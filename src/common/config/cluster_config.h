// The cluster config: which workers the dispatcher uses and how to reach them.
// A JSON file users edit; documented field by field in docs/cluster-config.md.
// Validated once at load: every error names the file and the field
// ("cluster.json: workers[1].endpoint: ...").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/net/codec.h"
#include "common/net/zap.h"
#include "common/util/status.h"

namespace tandem {

constexpr size_t kMaxWorkerNameLen = 64;
constexpr size_t kMaxWorkers = 4096;  // workers one cluster config may list

struct WorkerEntry {
  std::string name;                // unique; used in logs and plans
  std::string endpoint;            // the worker's control endpoint, tcp://HOST:PORT
  uint64_t memory_mb = 0;          // memory budget for its stage; 0: unknown (no limit)
  double speed = 1.0;              // relative compute speed (1.0: the profiling machine)
  bool speed_given = false;        // the config gives speed (else planning may derive it)
  std::optional<CodecSpec> codec;  // codec for this worker's outgoing hop
  // This worker's link, for planning: a link between two endpoints has the
  // smaller of their bandwidths and the sum of their latencies. 0: the
  // network default.
  double bandwidth_mbps = 0;
  double latency_ms = -1;  // < 0: the network default
  // Optional: a profile measured on this worker (`profile --out` run there);
  // its segment times replace speed. Resolved against the config's folder.
  std::string profile;
  // Its CurveZMQ public key (40 Z85 characters, or a file holding it,
  // resolved against the config's folder; LoadClusterConfig reads it).
  // Required with dispatcher.secret_key: the dispatcher refuses a worker
  // presenting another key.
  std::string public_key;
  // Where the worker tells its key (its key_listen); empty: its control host
  // with the control port + 2.
  std::string key_endpoint;
};

// Link speeds the planner uses. A full matrix, when given, wins over
// per-worker and default values.
struct NetworkConfig {
  double bandwidth_mbps = 1000;          // default link bandwidth, Mbit/s
  double latency_ms = 0.2;               // default one-way latency per endpoint, ms
  double dispatcher_bandwidth_mbps = 0;  // the dispatcher's own link; 0: the default
  double dispatcher_latency_ms = -1;     // < 0: the default
  // Optional (workers+1)^2 matrices in worker order, the dispatcher last.
  std::vector<std::vector<double>> bandwidth_matrix_mbps;
  std::vector<std::vector<double>> latency_matrix_ms;
  // Optional: a file written by `tandem-dispatcher measure-links`, resolved
  // against the config's folder. Its measurements win over every configured
  // value, link by link; links it does not hold keep the configured ones.
  std::string links;
  // Filled from `links` by LoadClusterConfig (measured_links.h): (workers+1)^2
  // in the matrices' order, < 0 where a link was not measured.
  std::vector<std::vector<double>> measured_bandwidth_mbps;
  std::vector<std::vector<double>> measured_latency_ms;
  size_t measured_links = 0;  // how many links the file gave
};

struct ClusterConfig {
  std::string source;  // file name, or "<embedded default>"
  // Where the dispatcher receives results (it binds this). Port "*" picks a
  // free port. Default tcp://127.0.0.1:*.
  std::string results_bind = "tcp://127.0.0.1:*";
  // The address workers use to reach results_bind; default: results_bind
  // (with the port that was picked). Set it when binding 0.0.0.0.
  std::string results_advertise;
  // CurveZMQ: the dispatcher's secret key file (`tandem-dispatcher keygen`
  // writes it; resolved against the config's folder). With it every link is
  // encrypted and authenticated, and every worker needs its public_key.
  std::string secret_key;
  // Without keys, every endpoint must be this machine's loopback unless this
  // is true (anyone on the network could then read and inject data).
  bool insecure = false;
  // Filled by LoadClusterConfig from secret_key: the dispatcher's key pair.
  LinkKeys keys;
  CodecSpec codec;                // default codec for every hop: zfp+lz4
  double connect_timeout_s = 5;   // HELLO must be answered within this
  double deploy_timeout_s = 120;  // DEPLOY must be answered within this
  double result_timeout_s = 60;   // a request without a result this long after its send is sent again
  NetworkConfig network;
  std::vector<WorkerEntry> workers;

  // Bandwidth (bytes/s) and latency (s) between endpoints a and b, where
  // index workers.size() is the dispatcher.
  double LinkBandwidth(size_t a, size_t b) const;
  double LinkLatency(size_t a, size_t b) const;

  // The workers' public keys, in order (empty strings without keys).
  std::vector<std::string> WorkerKeys() const;

  // The codec for the hop out of stage `stage` run by `worker`.
  const CodecSpec& HopCodec(const WorkerEntry& worker) const { return worker.codec ? *worker.codec : codec; }
};

// Parses and validates; does not read the files the config names.
Result<ClusterConfig> ParseClusterConfig(const std::string& text, const std::string& source);
// Reads, parses and loads network.links when it is set (errors name the
// config, the field and the links file).
Result<ClusterConfig> LoadClusterConfig(const std::string& path);

// Three workers on loopback (tcp://127.0.0.1:5550, :5560, :5570), the
// cluster that scripts/local-cluster.sh starts.
ClusterConfig DefaultClusterConfig();
std::string DefaultClusterConfigJson();

}  // namespace tandem
