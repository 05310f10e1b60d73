#include "common/config/measured_links.h"

#include <map>
#include <nlohmann/json.hpp>

#include "common/util/files.h"
#include "common/util/json.h"

namespace tandem {

using nlohmann::json;

namespace {
constexpr const char* kFormat = "tandem-links";
constexpr int kVersion = 1;
constexpr size_t kMaxLinks = 1u << 20;
}  // namespace

std::string MeasuredLinksToJson(const MeasuredLinks& m) {
  json links = json::array();
  for (const auto& l : m.links)
    links.push_back(
        {{"from", l.from}, {"to", l.to}, {"bandwidth_mbps", l.bandwidth_mbps}, {"latency_ms", l.latency_ms}});
  json j = {{"format", kFormat},  {"version", kVersion}, {"measured_at", m.measured_at}, {"probe_bytes", m.probe_bytes},
            {"rounds", m.rounds}, {"links", links}};
  return j.dump(1) + "\n";
}

Status ReadJson(const JsonField& e, MeasuredLink* l) {
  if (!e.is_object()) return e.Error("must be a JSON object");
  constexpr const char* kEnd = "a worker name or \"dispatcher\"";
  TANDEM_RETURN_IF_ERROR(e.Require("from", &l->from, kEnd));
  TANDEM_RETURN_IF_ERROR(e.Require("to", &l->to, kEnd));
  if (l->from.empty()) return e["from"].Error(std::string("must be ") + kEnd);
  if (l->to.empty()) return e["to"].Error(std::string("must be ") + kEnd);
  if (l->from == l->to) return e.Error("a link joins two different ends ('" + l->from + "' twice)");
  TANDEM_RETURN_IF_ERROR(e.Require("bandwidth_mbps", &l->bandwidth_mbps, "a number of Mbit/s"));
  TANDEM_RETURN_IF_ERROR(e.Require("latency_ms", &l->latency_ms, "a number of milliseconds"));
  if (!(l->bandwidth_mbps > 0)) return e["bandwidth_mbps"].Error("must be a positive number of Mbit/s");
  if (!(l->latency_ms >= 0)) return e["latency_ms"].Error("must be a number of milliseconds >= 0");
  return Status::OK();
}

Result<MeasuredLinks> ParseMeasuredLinks(const std::string& text, const std::string& source) {
  TANDEM_ASSIGN_OR_RETURN(JsonDocument doc, JsonDocument::Parse(text, source));
  const JsonField j = doc.root();
  if (!j.is_object()) return j.Error("must be a JSON object");
  std::string format;
  int version = 0;
  if (!j.Get("format", &format).ok() || format != kFormat)
    return j["format"].Error(std::string("must be \"") + kFormat + "\" (a file written by measure-links)");
  if (!j.Get("version", &version).ok() || version != kVersion)
    return j["version"].Error("must be " + std::to_string(kVersion));
  MeasuredLinks m;
  TANDEM_RETURN_IF_ERROR(j.Get("measured_at", &m.measured_at));
  TANDEM_RETURN_IF_ERROR(j.Get("probe_bytes", &m.probe_bytes));
  TANDEM_RETURN_IF_ERROR(j.Get("rounds", &m.rounds));
  if (!j.Has("links")) return j["links"].Error("required: a list of measured links");
  TANDEM_RETURN_IF_ERROR(j["links"].CheckArray(kMaxLinks));
  TANDEM_RETURN_IF_ERROR(j["links"].Read(&m.links));
  return m;
}

Result<MeasuredLinks> LoadMeasuredLinks(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 64 << 20));
  return ParseMeasuredLinks(text, path);
}

size_t ApplyMeasuredLinks(const MeasuredLinks& m, ClusterConfig* c) {
  const size_t n = c->workers.size() + 1;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < c->workers.size(); ++i) index[c->workers[i].name] = i;
  index[kDispatcherLinkName] = n - 1;
  auto& net = c->network;
  if (net.measured_bandwidth_mbps.size() != n) {
    net.measured_bandwidth_mbps.assign(n, std::vector<double>(n, -1));
    net.measured_latency_ms.assign(n, std::vector<double>(n, -1));
  }
  for (const auto& l : m.links) {
    auto a = index.find(l.from), b = index.find(l.to);
    if (a == index.end() || b == index.end()) continue;
    net.measured_bandwidth_mbps[a->second][b->second] = l.bandwidth_mbps;
    net.measured_latency_ms[a->second][b->second] = l.latency_ms;
  }
  size_t measured = 0;  // distinct links (a file may repeat one: the last wins)
  for (const auto& row : net.measured_bandwidth_mbps)
    for (double v : row) measured += v > 0;
  return measured;
}

}  // namespace tandem
