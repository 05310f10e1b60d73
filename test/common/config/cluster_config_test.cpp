#include "common/config/cluster_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <tuple>

#include "common/config/measured_links.h"
#include "common/net/curve_keys.h"
#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

// The cases below are about other fields: their LAN addresses need keys or
// "insecure" (the security checks have tests of their own).
std::string Insecure(std::string json) {
  if (json.size() > 2 && json[0] == '{') json.insert(1, "\"insecure\": true, ");
  return json;
}

std::string Error(const std::string& json) {
  auto c = ParseClusterConfig(Insecure(json), "cluster.json");
  REQUIRE_FALSE(c.ok());
  return c.status().message();
}

TEST_CASE("a full cluster config parses", "[config]") {
  auto c = ParseClusterConfig(R"({"insecure": true,
    "dispatcher": {"results_bind": "tcp://0.0.0.0:5600", "results_advertise": "tcp://192.168.1.5:5600"},
    "codec": "lz4",
    "timeouts": {"connect_s": 2, "deploy_s": 30, "result_s": 10},
    "workers": [
      {"name": "pi-1", "endpoint": "tcp://192.168.1.11:5550", "memory_mb": 3500, "speed": 1.0},
      {"name": "pi-2", "endpoint": "tcp://pi-2.local:5550", "codec": "zfp+lz4:rate=8"}
    ]})",
                              "cluster.json");
  REQUIRE(c.ok());
  CHECK(c->workers.size() == 2);
  CHECK(c->workers[0].memory_mb == 3500);
  CHECK(c->codec.codec == Codec::kLz4);
  CHECK(c->HopCodec(c->workers[0]).codec == Codec::kLz4);
  CHECK(c->HopCodec(c->workers[1]).ToString() == "zfp+lz4:rate=8");
  CHECK(c->connect_timeout_s == 2);
  CHECK(DefaultClusterConfig().workers.size() == 3);
  // Links: the slower endpoint's bandwidth, the sum of both latencies.
  auto n = ParseClusterConfig(R"({"insecure": true, "network": {"bandwidth_mbps": 80, "latency_ms": 1},
      "workers": [{"name": "a", "endpoint": "tcp://h:1", "bandwidth_mbps": 8},
                  {"name": "b", "endpoint": "tcp://h:2", "latency_ms": 3}]})",
                              "n.json");
  REQUIRE(n.ok());
  CHECK(n->LinkBandwidth(0, 1) == Approx(1e6));   // 8 Mbit/s = 1 MB/s
  CHECK(n->LinkBandwidth(1, 2) == Approx(10e6));  // 80 Mbit/s
  CHECK(n->LinkLatency(1, 2) == Approx(0.004));
  auto m = ParseClusterConfig(R"({"insecure": true, "network": {"bandwidth_matrix_mbps": [[0, 16], [8, 0]]},
      "workers": [{"name": "a", "endpoint": "tcp://h:1"}]})",
                              "m.json");
  REQUIRE(m.ok());
  CHECK(m->LinkBandwidth(0, 1) == Approx(2e6));
  CHECK(m->LinkBandwidth(1, 0) == Approx(1e6));
}

TEST_CASE("measured links win over configured values, link by link", "[config][links]") {
  test::TempDir dir;
  const std::string links = R"({"format": "tandem-links", "version": 1, "probe_bytes": 1000000, "rounds": 3,
    "links": [{"from": "dispatcher", "to": "a", "bandwidth_mbps": 400, "latency_ms": 0.5},
              {"from": "a", "to": "b", "bandwidth_mbps": 16, "latency_ms": 2},
              {"from": "a", "to": "gone", "bandwidth_mbps": 1, "latency_ms": 1}]})";
  REQUIRE(WriteFileAtomic(dir.path() + "/links.json", links).ok());
  const std::string cluster = dir.path() + "/cluster.json";
  REQUIRE(WriteFileAtomic(
              cluster, R"({"insecure": true, "network": {"bandwidth_mbps": 80, "latency_ms": 1, "links": "links.json"},
      "workers": [{"name": "a", "endpoint": "tcp://h:1"}, {"name": "b", "endpoint": "tcp://h:2"}]})")
              .ok());
  auto c = LoadClusterConfig(cluster);
  REQUIRE(c.ok());
  CHECK(c->network.links == dir.path() + "/links.json");
  CHECK(c->network.measured_links == 2);          // "gone" is not in the config
  CHECK(c->LinkBandwidth(2, 0) == Approx(50e6));  // dispatcher -> a: measured 400 Mbit/s
  CHECK(c->LinkLatency(2, 0) == Approx(0.0005));
  CHECK(c->LinkBandwidth(0, 1) == Approx(2e6));  // a -> b: measured 16 Mbit/s
  CHECK(c->LinkLatency(0, 1) == Approx(0.002));
  CHECK(c->LinkBandwidth(1, 0) == Approx(10e6));  // b -> a: not measured, the default 80 Mbit/s
  CHECK(c->LinkLatency(1, 0) == Approx(0.002));   // 1 ms per end
  CHECK(c->LinkBandwidth(0, 2) == Approx(10e6));

  // The file round-trips through its writer.
  auto parsed = ParseMeasuredLinks(links, "links.json");
  REQUIRE(parsed.ok());
  auto again = ParseMeasuredLinks(MeasuredLinksToJson(parsed.value()), "again.json");
  REQUIRE(again.ok());
  REQUIRE(again->links.size() == 3);
  CHECK(again->links[1].bandwidth_mbps == 16);
  CHECK(again->probe_bytes == 1000000);

  // Errors name the file and the field.
  auto bad = [&](const std::string& text, const std::vector<std::string>& want) {
    REQUIRE(WriteFileAtomic(dir.path() + "/links.json", text).ok());
    auto r = LoadClusterConfig(cluster);
    REQUIRE_FALSE(r.ok());
    for (const auto& w : want) CHECK_THAT(r.status().message(), Catch::Contains(w));
  };
  bad("{", {"cluster.json: network.links", "links.json: not valid JSON"});
  bad(R"({"format": "x", "version": 1, "links": []})", {"links.json: format"});
  bad(R"({"format": "tandem-links", "version": 2, "links": []})", {"links.json: version"});
  bad(R"({"format": "tandem-links", "version": 1})", {"links.json: links: required"});
  bad(R"({"format": "tandem-links", "version": 1, "links": [{"from": "a", "to": "b", "bandwidth_mbps": 0,
      "latency_ms": 1}]})",
      {"links[0].bandwidth_mbps"});
  bad(R"({"format": "tandem-links", "version": 1, "links": [{"from": "a", "to": "b", "bandwidth_mbps": 1,
      "latency_ms": -1}]})",
      {"links[0].latency_ms"});
  bad(R"({"format": "tandem-links", "version": 1, "links": [{"from": "a", "to": "a", "bandwidth_mbps": 1,
      "latency_ms": 1}]})",
      {"links[0]", "two different ends"});
  bad(R"({"format": "tandem-links", "version": 1, "links": [{"to": "a", "bandwidth_mbps": 1, "latency_ms": 1}]})",
      {"links[0].from"});
  REQUIRE(::unlink((dir.path() + "/links.json").c_str()) == 0);
  auto missing = LoadClusterConfig(cluster);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains("cluster.json: network.links"));
  CHECK_THAT(missing.status().message(), Catch::Contains("links.json"));
}

TEST_CASE("config errors name the file and the field", "[config]") {
  const std::string w = R"({"name": "a", "endpoint": "tcp://127.0.0.1:5550"})";
  struct Case {
    std::string json, field;
  };
  const std::vector<Case> cases = {
      {"{", "not valid JSON"},
      {"[]", "(top level)"},
      {"{}", "workers: required"},
      {R"({"workers": []})", "workers: the list is empty"},
      {R"({"workers": {}})", "workers: must be a list"},
      {R"({"workerz": []})", "workerz: unknown field"},
      {R"({"workers": [{"endpoint": "tcp://h:1"}]})", "workers[0].name: required"},
      {R"({"workers": [{"name": "a"}]})", "workers[0].endpoint: required"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp//h:1"}]})", "workers[0].endpoint"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:99999"}]})", "workers[0].endpoint"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:*"}]})", "workers[0].endpoint"},
      {R"({"workers": [{"name": 5, "endpoint": "tcp://h:1"}]})", "workers[0].name: must be a string"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:1", "memory_mb": -5}]})", "workers[0].memory_mb"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:1", "memory_mb": 18446744073709551615}]})",
       "workers[0].memory_mb: must be below"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:1", "speed": 0}]})", "workers[0].speed"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:1", "codec": "gzip"}]})", "workers[0].codec"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:1", "colour": "red"}]})", "workers[0].colour: unknown field"},
      {"{\"workers\": [" + w + ", " + w + "]}", "workers[1].name: 'a' is used by another worker"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:1"}, {"name": "b", "endpoint": "tcp://h:1"}]})",
       "workers[1].endpoint: 'tcp://h:1' is used by another worker"},
      {"{\"codec\": \"zfp:rate=0\", \"workers\": [" + w + "]}", "codec: codec 'zfp:rate=0'"},
      {"{\"timeouts\": {\"connect_s\": 0}, \"workers\": [" + w + "]}", "timeouts.connect_s"},
      {"{\"timeouts\": {\"connect\": 1}, \"workers\": [" + w + "]}", "timeouts.connect: unknown field"},
      {"{\"dispatcher\": {\"results_bind\": \"udp://x\"}, \"workers\": [" + w + "]}", "dispatcher.results_bind"},
      {"{\"network\": {\"bandwidth_mbps\": 0}, \"workers\": [" + w + "]}", "network.bandwidth_mbps"},
      {"{\"network\": {\"bandwidth_matrix_mbps\": [[0, 1], [1, 0], [1, 1]]}, \"workers\": [" + w + "]}",
       "network.bandwidth_matrix_mbps: must have 2 rows"},
      {"{\"network\": {\"latency_matrix_ms\": [[0, -1], [1, 0]]}, \"workers\": [" + w + "]}",
       "network.latency_matrix_ms[0][1]"},
      {R"({"workers": [{"name": "a", "endpoint": "tcp://h:1", "bandwidth_mbps": -3}]})", "workers[0].bandwidth_mbps"},
      {"{\"dispatcher\": {\"results_advertise\": \"tcp://0.0.0.0:1\"}, \"workers\": [" + w + "]}",
       "dispatcher.results_advertise"},
      {R"({"workers": [{"name": "dispatcher", "endpoint": "tcp://h:1"}]})", "workers[0].name: 'dispatcher' names"},
      {"{\"network\": {\"links\": \"\"}, \"workers\": [" + w + "]}", "network.links: must name a file"},
      {"{\"network\": {\"links\": 3}, \"workers\": [" + w + "]}", "network.links: must be a string"},
  };
  for (const auto& c : cases) {
    INFO(c.json);
    const std::string e = Error(c.json);
    INFO(e);
    CHECK(e.rfind("cluster.json: ", 0) == 0);
    CHECK(e.find(c.field) != std::string::npos);
  }
  auto missing = LoadClusterConfig("/nonexistent/cluster.json");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("/nonexistent/cluster.json") != std::string::npos);
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

TEST_CASE("without keys a cluster stays on loopback unless it says insecure", "[config][security]") {
  auto lan = ParseClusterConfig(R"({"workers": [{"name": "a", "endpoint": "tcp://127.0.0.1:1"},
                                                {"name": "b", "endpoint": "tcp://192.168.1.12:5550"}]})",
                                "cluster.json");
  REQUIRE_FALSE(lan.ok());
  CHECK_THAT(lan.status().message(), Catch::StartsWith("cluster.json: workers[1].endpoint: 'tcp://192.168.1.12:5550'"));
  CHECK_THAT(lan.status().message(), Catch::Contains("dispatcher.secret_key"));
  auto results = ParseClusterConfig(R"({"dispatcher": {"results_bind": "tcp://0.0.0.0:5600",
      "results_advertise": "tcp://192.168.1.5:5600"}, "workers": [{"name": "a", "endpoint": "tcp://127.0.0.1:1"}]})",
                                    "cluster.json");
  REQUIRE_FALSE(results.ok());
  CHECK_THAT(results.status().message(), Catch::StartsWith("cluster.json: dispatcher.results_bind"));
  // Both ends are checked: a loopback address advertised does not hide a
  // bind to every interface, nor the reverse.
  for (const auto& [bind, advertise, field] :
       {std::make_tuple("tcp://0.0.0.0:5600", "tcp://127.0.0.1:5600", "results_bind"),
        std::make_tuple("tcp://*:5600", "tcp://127.0.0.1:5600", "results_bind"),
        std::make_tuple("tcp://127.0.0.1:5600", "tcp://192.168.1.5:5600", "results_advertise")}) {
    INFO(bind << " " << advertise);
    auto r =
        ParseClusterConfig(std::string(R"({"dispatcher": {"results_bind": ")") + bind + R"(", "results_advertise": ")" +
                               advertise + R"("}, "workers": [{"name": "a", "endpoint": "tcp://127.0.0.1:1"}]})",
                           "cluster.json");
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::StartsWith(std::string("cluster.json: dispatcher.") + field));
  }
  CHECK(ParseClusterConfig(R"({"insecure": true, "workers": [{"name": "b", "endpoint": "tcp://192.168.1.12:5550"}]})",
                           "cluster.json")
            .ok());
  CHECK(DefaultClusterConfig().workers.size() == 3);  // loopback: no keys needed
}

TEST_CASE("with a dispatcher key every worker's key is pinned, read from text or files", "[config][security]") {
  test::TempDir dir;
  const std::string d = dir.path();
  auto dispatcher = GenerateCurveKeyPair().value();
  auto worker = GenerateCurveKeyPair().value();
  REQUIRE(WriteCurveKeyPair(dispatcher, d + "/dispatcher.key", d + "/dispatcher.key.pub").ok());
  REQUIRE(WriteCurveKeyPair(worker, d + "/w1.key", d + "/w1.pub").ok());
  const std::string cluster = d + "/cluster.json";
  REQUIRE(WriteFileAtomic(cluster, R"({"dispatcher": {"secret_key": "dispatcher.key"}, "workers": [
      {"name": "a", "endpoint": "tcp://192.168.1.11:5550", "public_key": ")" +
                                       worker.public_key + R"("},
      {"name": "b", "endpoint": "tcp://192.168.1.12:5550", "public_key": "w1.pub"}]})")
              .ok());
  auto c = LoadClusterConfig(cluster);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  REQUIRE(c->keys.has_value());
  CHECK(c->keys->public_key == dispatcher.public_key);
  CHECK(c->workers[0].public_key == worker.public_key);
  CHECK(c->workers[1].public_key == worker.public_key);  // read from w1.pub
  REQUIRE(WriteFileAtomic(cluster, R"({"dispatcher": {"secret_key": "dispatcher.key"}, "workers": [
      {"name": "a", "endpoint": "tcp://192.168.1.11:5550"}]})")
              .ok());
  CHECK_THAT(LoadClusterConfig(cluster).status().message(),
             Catch::StartsWith(cluster + ": workers[0].public_key: required with dispatcher.secret_key"));
  REQUIRE(WriteFileAtomic(cluster, R"({"dispatcher": {"secret_key": "dispatcher.key"}, "workers": [
      {"name": "a", "endpoint": "tcp://192.168.1.11:5550", "public_key": "missing.pub"}]})")
              .ok());
  CHECK_THAT(LoadClusterConfig(cluster).status().message(), Catch::Contains("workers[0].public_key"));
  CHECK_THAT(LoadClusterConfig(cluster).status().message(), Catch::Contains("missing.pub"));
  // A secret key others can read is refused.
  REQUIRE(::chmod((d + "/dispatcher.key").c_str(), 0644) == 0);
  REQUIRE(WriteFileAtomic(cluster, R"({"dispatcher": {"secret_key": "dispatcher.key"}, "workers": [
      {"name": "a", "endpoint": "tcp://192.168.1.11:5550", "public_key": "w1.pub"}]})")
              .ok());
  auto open = LoadClusterConfig(cluster);
  REQUIRE_FALSE(open.ok());
  CHECK_THAT(open.status().message(), Catch::Contains("dispatcher.secret_key"));
  CHECK_THAT(open.status().message(), Catch::Contains("mode is 0644"));
}

}  // namespace
}  // namespace tandem
