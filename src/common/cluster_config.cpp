#include "common/cluster_config.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <set>

#include "common/file_util.h"
#include "common/measured_links.h"
#include "common/transport.h"

namespace tandem {

using nlohmann::json;

namespace {

// Validation helper: errors carry "<source>: <field path>: <problem>".
class Fields {
 public:
  explicit Fields(std::string source) : source_(std::move(source)) {}
  Status Error(const std::string& path, const std::string& what) const {
    return Status::InvalidArgument(source_ + ": " + path + ": " + what);
  }
  Status OnlyKnown(const json& obj, const std::string& path, const std::set<std::string>& known) const {
    if (!obj.is_object()) return Error(path.empty() ? "(top level)" : path, "must be a JSON object");
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (!known.count(it.key())) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        return Error(Join(path, it.key()), "unknown field (known: " + list + ")");
      }
    }
    return Status::OK();
  }
  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  template <typename T>
  Status Get(const json& obj, const std::string& path, const std::string& key, T* out) const {
    if (!obj.contains(key)) return Status::OK();
    if (std::is_unsigned<T>::value && !obj.at(key).is_number_unsigned())
      return Error(Join(path, key), "must be a non-negative integer");
    try {
      obj.at(key).get_to(*out);
    } catch (const json::exception&) {
      return Error(Join(path, key), std::string("must be a ") + TypeName<T>());
    }
    return Status::OK();
  }

 private:
  template <typename T>
  static const char* TypeName() {
    if (std::is_same<T, std::string>::value) return "string";
    if (std::is_floating_point<T>::value) return "number";
    return "non-negative integer";
  }
  std::string source_;
};

// A relative path in a config names a file beside the config.
std::string ResolveAgainst(const std::string& source, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const size_t slash = source.find_last_of('/');
  return slash == std::string::npos ? path : source.substr(0, slash + 1) + path;
}

Status CheckTimeout(const Fields& f, const std::string& path, double v) {
  if (!(v > 0 && v <= 86400)) return f.Error(path, "must be a number of seconds in (0, 86400]");
  return Status::OK();
}

}  // namespace

Result<ClusterConfig> ParseClusterConfig(const std::string& text, const std::string& source) {
  ClusterConfig c;
  c.source = source;
  Fields f(source);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(source + ": not valid JSON: " + e.what());
  }
  TANDEM_RETURN_IF_ERROR(f.OnlyKnown(j, "", {"dispatcher", "codec", "timeouts", "network", "workers"}));
  if (j.contains("dispatcher")) {
    const json& d = j["dispatcher"];
    TANDEM_RETURN_IF_ERROR(f.OnlyKnown(d, "dispatcher", {"results_bind", "results_advertise"}));
    TANDEM_RETURN_IF_ERROR(f.Get(d, "dispatcher", "results_bind", &c.results_bind));
    TANDEM_RETURN_IF_ERROR(f.Get(d, "dispatcher", "results_advertise", &c.results_advertise));
    auto e = ParseTcpEndpoint(c.results_bind);
    if (!e.ok()) return f.Error("dispatcher.results_bind", e.status().message());
    if (!c.results_advertise.empty()) {
      auto a = ParseTcpEndpoint(c.results_advertise);
      if (!a.ok() || a->port == "*" || a->host == "*" || a->host == "0.0.0.0")
        return f.Error("dispatcher.results_advertise", "'" + c.results_advertise +
                                                           "' must be an address workers can connect to, tcp://HOST:PORT");
    }
  }
  if (j.contains("codec")) {
    std::string codec;
    TANDEM_RETURN_IF_ERROR(f.Get(j, "", "codec", &codec));
    auto spec = ParseCodec(codec);
    if (!spec.ok()) return f.Error("codec", spec.status().message());
    c.codec = spec.value();
  }
  if (j.contains("timeouts")) {
    const json& t = j["timeouts"];
    TANDEM_RETURN_IF_ERROR(f.OnlyKnown(t, "timeouts", {"connect_s", "deploy_s", "result_s"}));
    TANDEM_RETURN_IF_ERROR(f.Get(t, "timeouts", "connect_s", &c.connect_timeout_s));
    TANDEM_RETURN_IF_ERROR(f.Get(t, "timeouts", "deploy_s", &c.deploy_timeout_s));
    TANDEM_RETURN_IF_ERROR(f.Get(t, "timeouts", "result_s", &c.result_timeout_s));
    TANDEM_RETURN_IF_ERROR(CheckTimeout(f, "timeouts.connect_s", c.connect_timeout_s));
    TANDEM_RETURN_IF_ERROR(CheckTimeout(f, "timeouts.deploy_s", c.deploy_timeout_s));
    TANDEM_RETURN_IF_ERROR(CheckTimeout(f, "timeouts.result_s", c.result_timeout_s));
  }
  if (j.contains("network")) {
    const json& n = j["network"];
    auto& net = c.network;
    TANDEM_RETURN_IF_ERROR(f.OnlyKnown(n, "network", {"bandwidth_mbps", "latency_ms", "dispatcher_bandwidth_mbps",
                                                      "dispatcher_latency_ms", "bandwidth_matrix_mbps",
                                                      "latency_matrix_ms", "links"}));
    TANDEM_RETURN_IF_ERROR(f.Get(n, "network", "bandwidth_mbps", &net.bandwidth_mbps));
    TANDEM_RETURN_IF_ERROR(f.Get(n, "network", "latency_ms", &net.latency_ms));
    TANDEM_RETURN_IF_ERROR(f.Get(n, "network", "dispatcher_bandwidth_mbps", &net.dispatcher_bandwidth_mbps));
    TANDEM_RETURN_IF_ERROR(f.Get(n, "network", "dispatcher_latency_ms", &net.dispatcher_latency_ms));
    TANDEM_RETURN_IF_ERROR(f.Get(n, "network", "bandwidth_matrix_mbps", &net.bandwidth_matrix_mbps));
    TANDEM_RETURN_IF_ERROR(f.Get(n, "network", "latency_matrix_ms", &net.latency_matrix_ms));
    TANDEM_RETURN_IF_ERROR(f.Get(n, "network", "links", &net.links));
    if (n.contains("links") && net.links.empty())
      return f.Error("network.links", "must name a file written by measure-links");
    net.links = ResolveAgainst(source, net.links);
    if (!(net.bandwidth_mbps > 0 && std::isfinite(net.bandwidth_mbps)))
      return f.Error("network.bandwidth_mbps", "must be a positive number of Mbit/s");
    if (!(net.latency_ms >= 0 && std::isfinite(net.latency_ms)))
      return f.Error("network.latency_ms", "must be a number of milliseconds >= 0");
    if (n.contains("dispatcher_bandwidth_mbps") && !(net.dispatcher_bandwidth_mbps > 0))
      return f.Error("network.dispatcher_bandwidth_mbps", "must be a positive number of Mbit/s");
    if (n.contains("dispatcher_latency_ms") && !(net.dispatcher_latency_ms >= 0))
      return f.Error("network.dispatcher_latency_ms", "must be a number of milliseconds >= 0");
  }
  if (!j.contains("workers")) return f.Error("workers", "required: the list of workers");
  const json& ws = j["workers"];
  if (!ws.is_array()) return f.Error("workers", "must be a list");
  if (ws.empty()) return f.Error("workers", "the list is empty: a cluster needs at least one worker");
  std::set<std::string> names, endpoints;
  for (size_t i = 0; i < ws.size(); ++i) {
    const std::string path = "workers[" + std::to_string(i) + "]";
    const json& w = ws[i];
    TANDEM_RETURN_IF_ERROR(
        f.OnlyKnown(w, path, {"name", "endpoint", "memory_mb", "speed", "codec", "bandwidth_mbps", "latency_ms",
                              "profile"}));
    WorkerEntry e;
    if (!w.contains("name")) return f.Error(path + ".name", "required");
    if (!w.contains("endpoint")) return f.Error(path + ".endpoint", "required: the worker's control endpoint, tcp://HOST:PORT");
    TANDEM_RETURN_IF_ERROR(f.Get(w, path, "name", &e.name));
    TANDEM_RETURN_IF_ERROR(f.Get(w, path, "endpoint", &e.endpoint));
    TANDEM_RETURN_IF_ERROR(f.Get(w, path, "memory_mb", &e.memory_mb));
    TANDEM_RETURN_IF_ERROR(f.Get(w, path, "speed", &e.speed));
    TANDEM_RETURN_IF_ERROR(f.Get(w, path, "bandwidth_mbps", &e.bandwidth_mbps));
    TANDEM_RETURN_IF_ERROR(f.Get(w, path, "profile", &e.profile));
    e.profile = ResolveAgainst(source, e.profile);
    TANDEM_RETURN_IF_ERROR(f.Get(w, path, "latency_ms", &e.latency_ms));
    if (e.memory_mb >= (uint64_t{1} << 30))
      return f.Error(path + ".memory_mb", "must be below 1073741824 MiB (1 PiB); 0 means no limit");
    if (w.contains("bandwidth_mbps") && !(e.bandwidth_mbps > 0 && std::isfinite(e.bandwidth_mbps)))
      return f.Error(path + ".bandwidth_mbps", "must be a positive number of Mbit/s");
    if (w.contains("latency_ms") && !(e.latency_ms >= 0 && std::isfinite(e.latency_ms)))
      return f.Error(path + ".latency_ms", "must be a number of milliseconds >= 0");
    if (e.name.empty() || e.name.size() > kMaxWorkerNameLen)
      return f.Error(path + ".name", "must be 1.." + std::to_string(kMaxWorkerNameLen) + " characters");
    if (e.name == kDispatcherLinkName)
      return f.Error(path + ".name", std::string("'") + kDispatcherLinkName +
                                         "' names the dispatcher's end of a link; choose another name");
    if (!names.insert(e.name).second) return f.Error(path + ".name", "'" + e.name + "' is used by another worker");
    auto ep = ParseTcpEndpoint(e.endpoint);
    if (!ep.ok()) return f.Error(path + ".endpoint", ep.status().message());
    if (ep->port == "*" || ep->host == "*")
      return f.Error(path + ".endpoint", "'" + e.endpoint + "' must name a host and port the dispatcher can connect to");
    if (!endpoints.insert(e.endpoint).second)
      return f.Error(path + ".endpoint", "'" + e.endpoint + "' is used by another worker");
    if (!(e.speed > 0 && e.speed < 1e6 && std::isfinite(e.speed)))
      return f.Error(path + ".speed", "must be a positive number (1.0 = as fast as the profiling machine)");
    if (w.contains("codec")) {
      std::string codec;
      TANDEM_RETURN_IF_ERROR(f.Get(w, path, "codec", &codec));
      auto spec = ParseCodec(codec);
      if (!spec.ok()) return f.Error(path + ".codec", spec.status().message());
      e.codec = spec.value();
    }
    c.workers.push_back(std::move(e));
  }
  // Matrices, once the worker count is known.
  const size_t n = c.workers.size() + 1;
  auto check_matrix = [&](const std::vector<std::vector<double>>& m, const char* field, bool positive) -> Status {
    if (m.empty()) return Status::OK();
    if (m.size() != n)
      return f.Error(std::string("network.") + field, "must have " + std::to_string(n) +
                                                           " rows (one per worker, then the dispatcher)");
    for (size_t r = 0; r < n; ++r) {
      if (m[r].size() != n)
        return f.Error(std::string("network.") + field + "[" + std::to_string(r) + "]",
                       "must have " + std::to_string(n) + " entries");
      for (size_t k = 0; k < n; ++k)
        if (r != k && !(positive ? m[r][k] > 0 : m[r][k] >= 0))
          return f.Error(std::string("network.") + field + "[" + std::to_string(r) + "][" + std::to_string(k) + "]",
                         positive ? "must be positive" : "must be >= 0");
    }
    return Status::OK();
  };
  TANDEM_RETURN_IF_ERROR(check_matrix(c.network.bandwidth_matrix_mbps, "bandwidth_matrix_mbps", true));
  TANDEM_RETURN_IF_ERROR(check_matrix(c.network.latency_matrix_ms, "latency_matrix_ms", false));
  return c;
}

double ClusterConfig::LinkBandwidth(size_t a, size_t b) const {
  if (!network.measured_bandwidth_mbps.empty() && network.measured_bandwidth_mbps[a][b] > 0)
    return network.measured_bandwidth_mbps[a][b] * 1e6 / 8;
  if (!network.bandwidth_matrix_mbps.empty()) return network.bandwidth_matrix_mbps[a][b] * 1e6 / 8;
  auto own = [&](size_t i) {
    if (i == workers.size())
      return network.dispatcher_bandwidth_mbps > 0 ? network.dispatcher_bandwidth_mbps : network.bandwidth_mbps;
    return workers[i].bandwidth_mbps > 0 ? workers[i].bandwidth_mbps : network.bandwidth_mbps;
  };
  return std::min(own(a), own(b)) * 1e6 / 8;
}

double ClusterConfig::LinkLatency(size_t a, size_t b) const {
  if (!network.measured_latency_ms.empty() && network.measured_latency_ms[a][b] >= 0)
    return network.measured_latency_ms[a][b] * 1e-3;
  if (!network.latency_matrix_ms.empty()) return network.latency_matrix_ms[a][b] * 1e-3;
  auto own = [&](size_t i) {
    if (i == workers.size())
      return network.dispatcher_latency_ms >= 0 ? network.dispatcher_latency_ms : network.latency_ms;
    return workers[i].latency_ms >= 0 ? workers[i].latency_ms : network.latency_ms;
  };
  return (own(a) + own(b)) * 1e-3;
}

Result<ClusterConfig> LoadClusterConfig(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 16 << 20));
  TANDEM_ASSIGN_OR_RETURN(ClusterConfig c, ParseClusterConfig(text, path));
  if (!c.network.links.empty()) {
    auto m = LoadMeasuredLinks(c.network.links);
    if (!m.ok()) return m.status().WithContext(path + ": network.links");
    c.network.measured_links = ApplyMeasuredLinks(m.value(), &c);
  }
  return c;
}

std::string DefaultClusterConfigJson() {
  return R"({
  "dispatcher": {"results_bind": "tcp://127.0.0.1:*"},
  "codec": "zfp+lz4",
  "workers": [
    {"name": "local-0", "endpoint": "tcp://127.0.0.1:5550"},
    {"name": "local-1", "endpoint": "tcp://127.0.0.1:5560"},
    {"name": "local-2", "endpoint": "tcp://127.0.0.1:5570"}
  ]
})";
}

ClusterConfig DefaultClusterConfig() {
  return ParseClusterConfig(DefaultClusterConfigJson(), "<embedded default>").value();
}

}  // namespace tandem
