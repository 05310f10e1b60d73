#include "common/measured_links.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "common/file_util.h"

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
    links.push_back({{"from", l.from}, {"to", l.to}, {"bandwidth_mbps", l.bandwidth_mbps}, {"latency_ms", l.latency_ms}});
  json j = {{"format", kFormat},           {"version", kVersion}, {"measured_at", m.measured_at},
            {"probe_bytes", m.probe_bytes}, {"rounds", m.rounds},  {"links", links}};
  return j.dump(1) + "\n";
}

Result<MeasuredLinks> ParseMeasuredLinks(const std::string& text, const std::string& source) {
  auto error = [&](const std::string& field, const std::string& what) {
    return Status::InvalidArgument(source + ": " + field + ": " + what);
  };
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(source + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return error("(top level)", "must be a JSON object");
  if (!j.contains("format") || j["format"] != kFormat)
    return error("format", std::string("must be \"") + kFormat + "\" (a file written by measure-links)");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != kVersion)
    return error("version", "must be " + std::to_string(kVersion));
  MeasuredLinks m;
  try {
    if (j.contains("measured_at")) m.measured_at = j["measured_at"].get<std::string>();
    if (j.contains("probe_bytes")) m.probe_bytes = j["probe_bytes"].get<uint32_t>();
    if (j.contains("rounds")) m.rounds = j["rounds"].get<uint32_t>();
  } catch (const json::exception& e) {
    return error("(top level)", std::string("measured_at, probe_bytes or rounds has the wrong type: ") + e.what());
  }
  if (!j.contains("links") || !j["links"].is_array()) return error("links", "required: a list of measured links");
  if (j["links"].size() > kMaxLinks) return error("links", "more than " + std::to_string(kMaxLinks) + " entries");
  for (size_t i = 0; i < j["links"].size(); ++i) {
    const json& e = j["links"][i];
    const std::string path = "links[" + std::to_string(i) + "]";
    if (!e.is_object()) return error(path, "must be a JSON object");
    MeasuredLink l;
    for (const char* key : {"from", "to"}) {
      if (!e.contains(key) || !e[key].is_string() || e[key].get<std::string>().empty())
        return error(path + "." + key, "required: a worker name or \"dispatcher\"");
    }
    l.from = e["from"].get<std::string>();
    l.to = e["to"].get<std::string>();
    if (l.from == l.to) return error(path, "a link joins two different ends ('" + l.from + "' twice)");
    if (!e.contains("bandwidth_mbps") || !e["bandwidth_mbps"].is_number())
      return error(path + ".bandwidth_mbps", "required: a number of Mbit/s");
    if (!e.contains("latency_ms") || !e["latency_ms"].is_number())
      return error(path + ".latency_ms", "required: a number of milliseconds");
    l.bandwidth_mbps = e["bandwidth_mbps"].get<double>();
    l.latency_ms = e["latency_ms"].get<double>();
    if (!(l.bandwidth_mbps > 0 && std::isfinite(l.bandwidth_mbps)))
      return error(path + ".bandwidth_mbps", "must be a positive number of Mbit/s");
    if (!(l.latency_ms >= 0 && std::isfinite(l.latency_ms)))
      return error(path + ".latency_ms", "must be a number of milliseconds >= 0");
    m.links.push_back(std::move(l));
  }
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
