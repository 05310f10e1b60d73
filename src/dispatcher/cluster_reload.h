// Reading the cluster config again while a pipeline runs (--watch-cluster,
// SIGHUP): which workers came, went or changed. Plans and pipelines name
// workers by their index in the running config, so the running workers keep
// theirs: one taken out stays in the list (the caller drains and releases
// it), and new ones are appended.
#pragma once

#include <string>
#include <vector>

#include "common/config/cluster_config.h"
#include "common/util/status.h"

namespace tandem {

struct ClusterChange {
  // The running cluster with the re-read one applied, indexed as above.
  // Link matrices (configured and measured) are re-indexed to this order;
  // rows of workers taken out hold the network defaults (no plan uses them).
  ClusterConfig merged;
  std::vector<size_t> added;                // indices into merged.workers
  std::vector<size_t> removed;              // running workers the re-read config no longer lists
  std::vector<size_t> changed;              // same worker, other planning fields
  std::vector<std::string> changed_fields;  // per entry of `changed`: "speed, memory_mb"
  // Settings that take effect only at the next start, named as in the file
  // ("dispatcher.results_bind", "codec", ...); they keep their running values.
  std::vector<std::string> ignored;
  bool workers_changed() const { return !added.empty() || !removed.empty() || !changed.empty(); }
};

// `present[i]`: running.workers[i] is still in the cluster (false: an
// earlier reload took it out; it is never matched again, a worker of that
// name coming back is appended as a new one). A fresh worker is the same as
// a present running one when name, endpoint, public key and key endpoint
// are equal; its planning fields (memory_mb, speed, codec, bandwidth,
// latency, profile) then come from `fresh`. The same name with another
// endpoint or key is a new worker, and the old entry is removed.
// Timeouts for connecting and deploying apply at once.
// Errors: `present` does not match `running`; the dispatcher's key pair
// differs (or one runs with keys and the other without).
Result<ClusterChange> MergeClusterConfig(const ClusterConfig& running, const std::vector<bool>& present,
                                         const ClusterConfig& fresh);

// One line for the run's events: "added w4; removed w2; changed w1
// (speed, memory_mb)", or "no worker changed".
std::string DescribeClusterChange(const ClusterChange& change);

}  // namespace tandem
