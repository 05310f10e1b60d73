#include "dispatcher/cluster_reload.h"

#include <map>

namespace tandem {
namespace {

bool SameCodec(const std::optional<CodecSpec>& a, const std::optional<CodecSpec>& b) {
  if (!a || !b) return !a && !b;
  return a->ToString() == b->ToString();
}

// The planning fields of `to` that differ from `from`, named as in the file.
std::string PlanningFieldsChanged(const WorkerEntry& from, const WorkerEntry& to) {
  std::string out;
  auto add = [&](bool differs, const char* name) {
    if (differs) out += (out.empty() ? "" : ", ") + std::string(name);
  };
  add(from.memory_mb != to.memory_mb, "memory_mb");
  add(from.speed != to.speed || from.speed_given != to.speed_given, "speed");
  add(!SameCodec(from.codec, to.codec), "codec");
  add(from.bandwidth_mbps != to.bandwidth_mbps, "bandwidth_mbps");
  add(from.latency_ms != to.latency_ms, "latency_ms");
  add(from.profile != to.profile, "profile");
  return out;
}

// `m` ((fresh workers + 1)^2, the dispatcher last) in the merged order:
// source[i] is merged worker i's index in the fresh config (-1: none, then
// `fill`); the dispatcher maps to the dispatcher.
std::vector<std::vector<double>> Reindex(const std::vector<std::vector<double>>& m, const std::vector<int>& source,
                                         size_t fresh_workers, double fill) {
  if (m.empty()) return m;
  const size_t n = source.size() + 1;
  auto from = [&](size_t i) -> int { return i + 1 == n ? static_cast<int>(fresh_workers) : source[i]; };
  std::vector<std::vector<double>> out(n, std::vector<double>(n, fill));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      const int a = from(i), b = from(j);
      if (a >= 0 && b >= 0 && static_cast<size_t>(a) < m.size() && static_cast<size_t>(b) < m[a].size())
        out[i][j] = m[a][b];
    }
  return out;
}

}  // namespace

Result<ClusterChange> MergeClusterConfig(const ClusterConfig& running, const std::vector<bool>& present,
                                         const ClusterConfig& fresh) {
  if (present.size() != running.workers.size())
    return Status::Internal("MergeClusterConfig: " + std::to_string(present.size()) + " flags for " +
                            std::to_string(running.workers.size()) + " workers");
  if (running.keys.has_value() != fresh.keys.has_value() ||
      (running.keys && running.keys->public_key != fresh.keys->public_key))
    return Status::InvalidArgument(fresh.source +
                                   ": dispatcher.secret_key: the dispatcher's keys (or running without "
                                   "them) change only with a restart");
  ClusterChange c;
  c.merged = running;
  // Running workers still present, by name.
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < running.workers.size(); ++i)
    if (present[i]) by_name[running.workers[i].name] = i;
  std::vector<int> source(running.workers.size(), -1);
  std::vector<bool> kept(running.workers.size(), false);
  for (size_t f = 0; f < fresh.workers.size(); ++f) {
    const WorkerEntry& w = fresh.workers[f];
    auto it = by_name.find(w.name);
    if (it != by_name.end()) {
      const WorkerEntry& old = running.workers[it->second];
      if (old.endpoint == w.endpoint && old.public_key == w.public_key && old.key_endpoint == w.key_endpoint) {
        const std::string fields = PlanningFieldsChanged(old, w);
        if (!fields.empty()) {
          c.changed.push_back(it->second);
          c.changed_fields.push_back(fields);
        }
        c.merged.workers[it->second] = w;
        source[it->second] = static_cast<int>(f);
        kept[it->second] = true;
        continue;
      }
    }
    c.added.push_back(c.merged.workers.size());
    c.merged.workers.push_back(w);
    source.push_back(static_cast<int>(f));
  }
  for (size_t i = 0; i < running.workers.size(); ++i)
    if (present[i] && !kept[i]) c.removed.push_back(i);

  NetworkConfig& n = c.merged.network;
  n = fresh.network;
  const size_t fw = fresh.workers.size();
  n.bandwidth_matrix_mbps = Reindex(fresh.network.bandwidth_matrix_mbps, source, fw, fresh.network.bandwidth_mbps);
  n.latency_matrix_ms = Reindex(fresh.network.latency_matrix_ms, source, fw, 2 * fresh.network.latency_ms);
  n.measured_bandwidth_mbps = Reindex(fresh.network.measured_bandwidth_mbps, source, fw, -1);
  n.measured_latency_ms = Reindex(fresh.network.measured_latency_ms, source, fw, -1);

  c.merged.connect_timeout_s = fresh.connect_timeout_s;
  c.merged.deploy_timeout_s = fresh.deploy_timeout_s;
  auto ignore = [&](bool differs, const char* field) {
    if (differs) c.ignored.push_back(field);
  };
  ignore(running.results_bind != fresh.results_bind, "dispatcher.results_bind");
  ignore(running.results_advertise != fresh.results_advertise, "dispatcher.results_advertise");
  ignore(running.secret_key != fresh.secret_key, "dispatcher.secret_key");  // the same key from another file
  ignore(running.insecure != fresh.insecure, "insecure");
  ignore(running.codec.ToString() != fresh.codec.ToString(), "codec");
  ignore(running.result_timeout_s != fresh.result_timeout_s, "timeouts.result_s");
  return c;
}

std::string DescribeClusterChange(const ClusterChange& c) {
  std::string out;
  auto names = [&](const std::vector<size_t>& idx, const char* what) {
    if (idx.empty()) return;
    out += (out.empty() ? "" : "; ") + std::string(what);
    for (size_t k = 0; k < idx.size(); ++k) out += (k ? ", " : " ") + c.merged.workers[idx[k]].name;
  };
  names(c.added, "added");
  names(c.removed, "removed");
  if (!c.changed.empty()) {
    out += (out.empty() ? "" : "; ") + std::string("changed");
    for (size_t k = 0; k < c.changed.size(); ++k)
      out += (k ? ", " : " ") + c.merged.workers[c.changed[k]].name + " (" + c.changed_fields[k] + ")";
  }
  if (out.empty()) out = "no worker changed";
  if (!c.ignored.empty()) {
    out += "; kept until a restart:";
    for (size_t k = 0; k < c.ignored.size(); ++k) out += (k ? ", " : " ") + c.ignored[k];
  }
  return out;
}

}  // namespace tandem
