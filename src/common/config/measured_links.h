// Measured links: the file `tandem-dispatcher measure-links` writes and a
// cluster config names (network.links), so the planner uses measured
// bandwidth and latency where it has them. Format in docs/formats.md.
#pragma once

#include <string>
#include <vector>

#include "common/config/cluster_config.h"
#include "common/util/status.h"

namespace tandem {

// The name that stands for the dispatcher's end of a link (no worker may
// take it).
constexpr const char* kDispatcherLinkName = "dispatcher";

struct MeasuredLink {
  std::string from, to;       // worker names, or kDispatcherLinkName
  double bandwidth_mbps = 0;  // from -> to, > 0
  double latency_ms = 0;      // one way, >= 0 (half the least round trip)
};

class JsonField;
Status ReadJson(const JsonField& f, MeasuredLink* out);

struct MeasuredLinks {
  std::string measured_at;  // UTC, ISO 8601 (informational)
  uint32_t probe_bytes = 0;
  uint32_t rounds = 0;
  std::vector<MeasuredLink> links;
};

std::string MeasuredLinksToJson(const MeasuredLinks& links);
// Errors name `source` and the field ("links.json: links[2].bandwidth_mbps: ...").
Result<MeasuredLinks> ParseMeasuredLinks(const std::string& text, const std::string& source);
Result<MeasuredLinks> LoadMeasuredLinks(const std::string& path);

// Records the measurements in config->network.measured_*, matched by name;
// a link naming a worker the config does not have is skipped (a later entry
// for the same link wins). Returns how many distinct links are measured.
size_t ApplyMeasuredLinks(const MeasuredLinks& links, ClusterConfig* config);

}  // namespace tandem
