#include "common/config/cluster_config.h"

#include <algorithm>
#include <set>

#include "common/config/measured_links.h"
#include "common/net/curve_keys.h"
#include "common/net/transport.h"
#include "common/util/files.h"
#include "common/util/json.h"

namespace tandem {

namespace {

// A relative path in a config names a file beside the config.
std::string ResolveAgainst(const std::string& source, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const size_t slash = source.find_last_of('/');
  return slash == std::string::npos ? path : source.substr(0, slash + 1) + path;
}

Status ReadCodec(const JsonField& f, CodecSpec* out) {
  std::string text;
  TANDEM_RETURN_IF_ERROR(f.Read(&text));
  auto spec = ParseCodec(text);
  if (!spec.ok()) return f.Error(spec.status().message());
  *out = spec.value();
  return Status::OK();
}

Status ReadTimeout(const JsonField& t, const char* key, double* out) {
  TANDEM_RETURN_IF_ERROR(t.Get(key, out));
  if (!(*out > 0 && *out <= 86400)) return t[key].Error("must be a number of seconds in (0, 86400]");
  return Status::OK();
}

Status ReadDispatcher(const JsonField& d, ClusterConfig* c) {
  TANDEM_RETURN_IF_ERROR(d.CheckObject({"results_bind", "results_advertise", "secret_key"}));
  TANDEM_RETURN_IF_ERROR(d.Get("secret_key", &c->secret_key));
  if (d.Has("secret_key") && c->secret_key.empty()) return d["secret_key"].Error("must name a secret key file");
  c->secret_key = ResolveAgainst(c->source, c->secret_key);
  TANDEM_RETURN_IF_ERROR(d.Get("results_bind", &c->results_bind));
  TANDEM_RETURN_IF_ERROR(d.Get("results_advertise", &c->results_advertise));
  auto e = ParseTcpEndpoint(c->results_bind);
  if (!e.ok()) return d["results_bind"].Error(e.status().message());
  if (!c->results_advertise.empty()) {
    auto a = ParseTcpEndpoint(c->results_advertise);
    if (!a.ok() || a->port == "*" || a->host == "*" || a->host == "0.0.0.0")
      return d["results_advertise"].Error("'" + c->results_advertise +
                                          "' must be an address workers can connect to, tcp://HOST:PORT");
  }
  return Status::OK();
}

Status ReadTimeouts(const JsonField& t, ClusterConfig* c) {
  TANDEM_RETURN_IF_ERROR(t.CheckObject({"connect_s", "deploy_s", "result_s"}));
  TANDEM_RETURN_IF_ERROR(ReadTimeout(t, "connect_s", &c->connect_timeout_s));
  TANDEM_RETURN_IF_ERROR(ReadTimeout(t, "deploy_s", &c->deploy_timeout_s));
  return ReadTimeout(t, "result_s", &c->result_timeout_s);
}

Status ReadNetwork(const JsonField& n, const std::string& source, NetworkConfig* net) {
  TANDEM_RETURN_IF_ERROR(
      n.CheckObject({"bandwidth_mbps", "latency_ms", "dispatcher_bandwidth_mbps", "dispatcher_latency_ms",
                     "bandwidth_matrix_mbps", "latency_matrix_ms", "links"}));
  TANDEM_RETURN_IF_ERROR(n.Get("bandwidth_mbps", &net->bandwidth_mbps));
  TANDEM_RETURN_IF_ERROR(n.Get("latency_ms", &net->latency_ms));
  TANDEM_RETURN_IF_ERROR(n.Get("dispatcher_bandwidth_mbps", &net->dispatcher_bandwidth_mbps));
  TANDEM_RETURN_IF_ERROR(n.Get("dispatcher_latency_ms", &net->dispatcher_latency_ms));
  TANDEM_RETURN_IF_ERROR(n.Get("bandwidth_matrix_mbps", &net->bandwidth_matrix_mbps));
  TANDEM_RETURN_IF_ERROR(n.Get("latency_matrix_ms", &net->latency_matrix_ms));
  TANDEM_RETURN_IF_ERROR(n.Get("links", &net->links));
  if (n.Has("links") && net->links.empty()) return n["links"].Error("must name a file written by measure-links");
  net->links = ResolveAgainst(source, net->links);
  if (!(net->bandwidth_mbps > 0)) return n["bandwidth_mbps"].Error("must be a positive number of Mbit/s");
  if (!(net->latency_ms >= 0)) return n["latency_ms"].Error("must be a number of milliseconds >= 0");
  if (n.Has("dispatcher_bandwidth_mbps") && !(net->dispatcher_bandwidth_mbps > 0))
    return n["dispatcher_bandwidth_mbps"].Error("must be a positive number of Mbit/s");
  if (n.Has("dispatcher_latency_ms") && !(net->dispatcher_latency_ms >= 0))
    return n["dispatcher_latency_ms"].Error("must be a number of milliseconds >= 0");
  return Status::OK();
}

// One worker's fields; names and endpoints unique across the list are the caller's.
Status ReadWorker(const JsonField& w, const std::string& source, WorkerEntry* e) {
  TANDEM_RETURN_IF_ERROR(w.CheckObject({"name", "endpoint", "memory_mb", "speed", "codec", "bandwidth_mbps",
                                        "latency_ms", "profile", "public_key", "key_endpoint"}));
  TANDEM_RETURN_IF_ERROR(w.Get("public_key", &e->public_key));
  if (!e->public_key.empty() && !IsCurveKey(e->public_key)) e->public_key = ResolveAgainst(source, e->public_key);
  TANDEM_RETURN_IF_ERROR(w.Get("key_endpoint", &e->key_endpoint));
  if (!e->key_endpoint.empty()) {
    auto k = ParseTcpEndpoint(e->key_endpoint);
    if (!k.ok()) return w["key_endpoint"].Error(k.status().message());
  }
  TANDEM_RETURN_IF_ERROR(w.Require("name", &e->name));
  TANDEM_RETURN_IF_ERROR(w.Require("endpoint", &e->endpoint, "the worker's control endpoint, tcp://HOST:PORT"));
  TANDEM_RETURN_IF_ERROR(w.Get("memory_mb", &e->memory_mb));
  TANDEM_RETURN_IF_ERROR(w.Get("speed", &e->speed));
  e->speed_given = w.Has("speed");
  TANDEM_RETURN_IF_ERROR(w.Get("bandwidth_mbps", &e->bandwidth_mbps));
  TANDEM_RETURN_IF_ERROR(w.Get("latency_ms", &e->latency_ms));
  TANDEM_RETURN_IF_ERROR(w.Get("profile", &e->profile));
  e->profile = ResolveAgainst(source, e->profile);
  if (w.Has("codec")) {
    CodecSpec codec;
    TANDEM_RETURN_IF_ERROR(ReadCodec(w["codec"], &codec));
    e->codec = codec;
  }
  if (e->memory_mb >= (uint64_t{1} << 30))
    return w["memory_mb"].Error("must be below 1073741824 MiB (1 PiB); 0 means no limit");
  if (w.Has("bandwidth_mbps") && !(e->bandwidth_mbps > 0))
    return w["bandwidth_mbps"].Error("must be a positive number of Mbit/s");
  if (w.Has("latency_ms") && !(e->latency_ms >= 0))
    return w["latency_ms"].Error("must be a number of milliseconds >= 0");
  if (e->name.empty() || e->name.size() > kMaxWorkerNameLen)
    return w["name"].Error("must be 1.." + std::to_string(kMaxWorkerNameLen) + " characters");
  if (e->name == kDispatcherLinkName)
    return w["name"].Error(std::string("'") + kDispatcherLinkName +
                           "' names the dispatcher's end of a link; choose another name");
  auto ep = ParseTcpEndpoint(e->endpoint);
  if (!ep.ok()) return w["endpoint"].Error(ep.status().message());
  if (ep->port == "*" || ep->host == "*")
    return w["endpoint"].Error("'" + e->endpoint + "' must name a host and port the dispatcher can connect to");
  if (!(e->speed > 0 && e->speed < 1e6))
    return w["speed"].Error("must be a positive number (1.0 = as fast as the profiling machine)");
  return Status::OK();
}

// An optional n x n matrix of link values (positive, or >= 0), diagonal ignored.
Status CheckMatrix(const JsonField& network, const char* key, const std::vector<std::vector<double>>& m, size_t n,
                   bool positive) {
  if (m.empty()) return Status::OK();
  const JsonField f = network[key];
  if (m.size() != n) return f.Error("must have " + std::to_string(n) + " rows (one per worker, then the dispatcher)");
  for (size_t r = 0; r < n; ++r) {
    if (m[r].size() != n) return f[r].Error("must have " + std::to_string(n) + " entries");
    for (size_t k = 0; k < n; ++k)
      if (r != k && !(positive ? m[r][k] > 0 : m[r][k] >= 0))
        return f[r][k].Error(positive ? "must be positive" : "must be >= 0");
  }
  return Status::OK();
}

// With a dispatcher key every worker needs its key; without, every endpoint
// is loopback unless the config says "insecure".
Status CheckSecurity(const JsonField& j, const ClusterConfig& c) {
  const JsonField ws = j["workers"];
  if (!c.secret_key.empty()) {
    for (size_t i = 0; i < c.workers.size(); ++i)
      if (c.workers[i].public_key.empty())
        return ws[i]["public_key"].Error(
            "required with dispatcher.secret_key: the worker's public key "
            "(tandem-worker keygen prints it)");
    return Status::OK();
  }
  if (c.insecure) return Status::OK();
  auto not_local = [](const std::string& endpoint) {
    auto e = ParseTcpEndpoint(endpoint);
    return e.ok() && !IsLoopbackHost(e->host);
  };
  const std::string why =
      " is not this machine's loopback; give dispatcher.secret_key and each worker's public_key (docs/security.md), "
      "or set \"insecure\": true to let anyone on the network read and inject this cluster's data";
  for (size_t i = 0; i < c.workers.size(); ++i)
    if (not_local(c.workers[i].endpoint)) return ws[i]["endpoint"].Error("'" + c.workers[i].endpoint + "'" + why);
  // Both: what the dispatcher binds, and what it tells workers to reach.
  for (const char* field : {"results_bind", "results_advertise"}) {
    const std::string& results = std::string(field) == "results_bind" ? c.results_bind : c.results_advertise;
    if (!results.empty() && not_local(results)) return j["dispatcher"][field].Error("'" + results + "'" + why);
  }
  return Status::OK();
}

}  // namespace

std::vector<std::string> ClusterConfig::WorkerKeys() const {
  std::vector<std::string> keys;
  for (const auto& w : workers) keys.push_back(w.public_key);
  return keys;
}

Result<ClusterConfig> ParseClusterConfig(const std::string& text, const std::string& source) {
  TANDEM_ASSIGN_OR_RETURN(JsonDocument doc, JsonDocument::Parse(text, source));
  const JsonField j = doc.root();
  ClusterConfig c;
  c.source = source;
  TANDEM_RETURN_IF_ERROR(j.CheckObject({"dispatcher", "codec", "timeouts", "network", "workers", "insecure"}));
  TANDEM_RETURN_IF_ERROR(j.Get("insecure", &c.insecure));
  if (j.Has("dispatcher")) TANDEM_RETURN_IF_ERROR(ReadDispatcher(j["dispatcher"], &c));
  if (j.Has("codec")) TANDEM_RETURN_IF_ERROR(ReadCodec(j["codec"], &c.codec));
  if (j.Has("timeouts")) TANDEM_RETURN_IF_ERROR(ReadTimeouts(j["timeouts"], &c));
  if (j.Has("network")) TANDEM_RETURN_IF_ERROR(ReadNetwork(j["network"], source, &c.network));
  if (!j.Has("workers")) return j["workers"].Error("required: the list of workers");
  const JsonField ws = j["workers"];
  TANDEM_RETURN_IF_ERROR(ws.CheckArray(kMaxWorkers));
  if (ws.size() == 0) return ws.Error("the list is empty: a cluster needs at least one worker");
  std::set<std::string> names, endpoints;
  for (size_t i = 0; i < ws.size(); ++i) {
    WorkerEntry e;
    TANDEM_RETURN_IF_ERROR(ReadWorker(ws[i], source, &e));
    if (!names.insert(e.name).second) return ws[i]["name"].Error("'" + e.name + "' is used by another worker");
    if (!endpoints.insert(e.endpoint).second)
      return ws[i]["endpoint"].Error("'" + e.endpoint + "' is used by another worker");
    c.workers.push_back(std::move(e));
  }
  TANDEM_RETURN_IF_ERROR(CheckSecurity(j, c));
  const size_t n = c.workers.size() + 1;  // the matrices, once the worker count is known
  const JsonField net = j["network"];
  TANDEM_RETURN_IF_ERROR(CheckMatrix(net, "bandwidth_matrix_mbps", c.network.bandwidth_matrix_mbps, n, true));
  TANDEM_RETURN_IF_ERROR(CheckMatrix(net, "latency_matrix_ms", c.network.latency_matrix_ms, n, false));
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
  if (!c.secret_key.empty()) {
    auto keys = ReadSecretKey(c.secret_key);
    if (!keys.ok()) return keys.status().WithContext(path + ": dispatcher.secret_key");
    c.keys = keys.value();
    for (size_t i = 0; i < c.workers.size(); ++i) {
      auto key = ReadPublicKey(c.workers[i].public_key);
      if (!key.ok()) return key.status().WithContext(path + ": workers[" + std::to_string(i) + "].public_key");
      c.workers[i].public_key = key.value();
    }
  }
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
