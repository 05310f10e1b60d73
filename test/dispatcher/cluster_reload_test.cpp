#include "dispatcher/cluster_reload.h"

#include <catch2/catch.hpp>

namespace tandem {
namespace {

ClusterConfig Parse(const std::string& workers, const std::string& extra = "") {
  auto c = ParseClusterConfig("{" + extra + "\"workers\": [" + workers + "]}", "cluster.json");
  INFO(c.status().message());
  REQUIRE(c.ok());
  return c.value();
}

const char* kW0 = R"({"name": "w0", "endpoint": "tcp://127.0.0.1:5550"})";
const char* kW1 = R"({"name": "w1", "endpoint": "tcp://127.0.0.1:5560"})";
const char* kW2 = R"({"name": "w2", "endpoint": "tcp://127.0.0.1:5570"})";

TEST_CASE("cluster reload: running workers keep their indices, new ones are appended", "[cluster]") {
  const ClusterConfig running = Parse(std::string(kW0) + "," + kW1 + "," + kW2);
  SECTION("the same config changes nothing") {
    auto c = MergeClusterConfig(running, {true, true, true}, running);
    REQUIRE(c.ok());
    CHECK_FALSE(c->workers_changed());
    CHECK(c->ignored.empty());
    CHECK(DescribeClusterChange(c.value()) == "no worker changed");
  }
  SECTION("one taken out, one added: the removed one stays in place") {
    const ClusterConfig fresh =
        Parse(std::string(kW2) + "," + kW0 + R"(, {"name": "w3", "endpoint": "tcp://127.0.0.1:5580"})");
    auto c = MergeClusterConfig(running, {true, true, true}, fresh);
    REQUIRE(c.ok());
    REQUIRE(c->merged.workers.size() == 4);
    CHECK(c->merged.workers[0].name == "w0");
    CHECK(c->merged.workers[1].name == "w1");
    CHECK(c->merged.workers[2].name == "w2");
    CHECK(c->merged.workers[3].name == "w3");
    CHECK(c->added == std::vector<size_t>{3});
    CHECK(c->removed == std::vector<size_t>{1});
    CHECK(c->changed.empty());
    CHECK(DescribeClusterChange(c.value()) == "added w3; removed w1");
  }
  SECTION("planning fields change in place") {
    const ClusterConfig fresh =
        Parse(std::string(kW0) + "," +
              R"({"name": "w1", "endpoint": "tcp://127.0.0.1:5560", "speed": 0.5, "memory_mb": 300})" + "," + kW2);
    auto c = MergeClusterConfig(running, {true, true, true}, fresh);
    REQUIRE(c.ok());
    CHECK(c->added.empty());
    CHECK(c->removed.empty());
    CHECK(c->changed == std::vector<size_t>{1});
    CHECK(c->merged.workers[1].speed == 0.5);
    CHECK(c->merged.workers[1].memory_mb == 300);
    CHECK(DescribeClusterChange(c.value()) == "changed w1 (memory_mb, speed)");
  }
  SECTION("another endpoint under the same name is another worker") {
    const ClusterConfig fresh =
        Parse(std::string(kW0) + "," + R"({"name": "w1", "endpoint": "tcp://127.0.0.2:5560"})" + "," + kW2);
    auto c = MergeClusterConfig(running, {true, true, true}, fresh);
    REQUIRE(c.ok());
    CHECK(c->removed == std::vector<size_t>{1});
    CHECK(c->added == std::vector<size_t>{3});
    CHECK(c->merged.workers[3].endpoint == "tcp://127.0.0.2:5560");
    CHECK(c->merged.workers[1].endpoint == "tcp://127.0.0.1:5560");
  }
  SECTION("a worker taken out earlier comes back as a new entry") {
    auto c = MergeClusterConfig(running, {true, false, true}, running);
    REQUIRE(c.ok());
    CHECK(c->added == std::vector<size_t>{3});
    CHECK(c->removed.empty());
    CHECK(c->merged.workers[3].name == "w1");
  }
  SECTION("settings that need a restart are named and keep their running values") {
    ClusterConfig fresh = Parse(std::string(kW0) + "," + kW1 + "," + kW2,
                                R"("codec": "lz4", "timeouts": {"connect_s": 9, "result_s": 7}, )");
    auto c = MergeClusterConfig(running, {true, true, true}, fresh);
    REQUIRE(c.ok());
    CHECK(c->ignored == std::vector<std::string>{"codec", "timeouts.result_s"});
    CHECK(c->merged.codec.ToString() == running.codec.ToString());
    CHECK(c->merged.result_timeout_s == running.result_timeout_s);
    CHECK(c->merged.connect_timeout_s == 9);  // applies at once
    CHECK(DescribeClusterChange(c.value()) == "no worker changed; kept until a restart: codec, timeouts.result_s");
  }
  SECTION("keys on or off, or another dispatcher key, need a restart") {
    ClusterConfig secured = running;
    secured.keys = CurveKeyPair{"public-a", "secret-a"};
    CHECK_FALSE(MergeClusterConfig(secured, {true, true, true}, running).ok());
    CHECK_FALSE(MergeClusterConfig(running, {true, true, true}, secured).ok());
    ClusterConfig other = secured;
    other.keys = CurveKeyPair{"public-b", "secret-b"};
    CHECK_FALSE(MergeClusterConfig(secured, {true, true, true}, other).ok());
    CHECK(MergeClusterConfig(secured, {true, true, true}, secured).ok());
  }
  SECTION("flags that do not match the workers are an error") {
    CHECK_FALSE(MergeClusterConfig(running, {true, true}, running).ok());
  }
}

TEST_CASE("cluster reload: link matrices follow the workers into the running order", "[cluster]") {
  const ClusterConfig running = Parse(std::string(kW0) + "," + kW1);
  // Fresh order: w1, w2, then the dispatcher; w0 is gone.
  const ClusterConfig fresh =
      Parse(std::string(kW1) + "," + kW2, R"("network": {"bandwidth_mbps": 100, "bandwidth_matrix_mbps": )"
                                          R"([[0, 12, 13], [21, 0, 23], [31, 32, 0]]}, )");
  auto c = MergeClusterConfig(running, {true, true}, fresh);
  REQUIRE(c.ok());
  // Merged: w0 (removed), w1, w2, dispatcher.
  CHECK(c->removed == std::vector<size_t>{0});
  CHECK(c->added == std::vector<size_t>{2});
  const auto& m = c->merged.network.bandwidth_matrix_mbps;
  REQUIRE(m.size() == 4);
  CHECK(m[1][2] == 12);  // w1 -> w2
  CHECK(m[2][1] == 21);
  CHECK(m[1][3] == 13);   // w1 -> dispatcher
  CHECK(m[3][2] == 32);   // dispatcher -> w2
  CHECK(m[0][1] == 100);  // the removed worker's row: the default
  CHECK(c->merged.LinkBandwidth(1, 2) == 12 * 1e6 / 8);
}

}  // namespace
}  // namespace tandem
