#include "common/net/transport.h"

#include <catch2/catch.hpp>

namespace tandem {
namespace {

TEST_CASE("tcp endpoints: host and port split, anything else refused", "[transport]") {
  auto e = ParseTcpEndpoint("tcp://10.0.0.7:5555");
  REQUIRE(e.ok());
  CHECK(e->host == "10.0.0.7");
  CHECK(e->port == "5555");
  CHECK(ParseTcpEndpoint("tcp://[::1]:80").value().host == "[::1]");
  CHECK(ParseTcpEndpoint("tcp://*:*").value().port == "*");
  for (const char* bad : {"ipc:///tmp/sock", "inproc://x", "udp://1.2.3.4:5", "tcp://1.2.3.4", "tcp://:5",
                          "tcp://1.2.3.4:", "tcp://1.2.3.4:0", "tcp://1.2.3.4:65536", "tcp://1.2.3.4:123456",
                          "tcp://1.2.3.4:-1", "tcp://1.2.3.4:5x", "TCP://1.2.3.4:5", ""}) {
    INFO(bad);
    auto r = ParseTcpEndpoint(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("tcp://HOST:PORT") != std::string::npos);
  }
}

TEST_CASE("numeric and loopback hosts: what a worker connects to and binds without keys", "[transport]") {
  // Workers connect only to numeric addresses, so a DEPLOY or MEASURE_LINKS
  // cannot make them look names up or reach a source-address form.
  for (const char* yes : {"10.0.0.7", "127.0.0.1", "[::1]", "[fe80::1]", "0.0.0.0"}) {
    INFO(yes);
    CHECK(IsNumericHost(yes));
  }
  for (const char* no :
       {"localhost", "pi-3", "::1", "[]", "[pi]", "10.0.0", "10.0.0.7;10.0.0.8", "1.2.3.4:5", "eth0", "*", ""}) {
    INFO(no);
    CHECK_FALSE(IsNumericHost(no));
  }
  for (const char* yes : {"127.0.0.1", "127.200.1.9", "localhost", "[::1]"}) {
    INFO(yes);
    CHECK(IsLoopbackHost(yes));
  }
  for (const char* no : {"0.0.0.0", "*", "10.0.0.7", "128.0.0.1", "lo", "[::]", "127.0.0.1;10.0.0.1", ""}) {
    INFO(no);
    CHECK_FALSE(IsLoopbackHost(no));
  }
}

TEST_CASE("resolving an endpoint: numeric ones unchanged, names to an address, errors name the endpoint",
          "[transport]") {
  CHECK(ResolveTcpEndpoint("tcp://10.1.2.3:7000").value() == "tcp://10.1.2.3:7000");
  CHECK(ResolveTcpEndpoint("tcp://localhost:7000").value().find("tcp://127.") == 0);
  CHECK(ResolveTcpEndpoint("tcp://[::1]:7000").value() == "tcp://[::1]:7000");
  // (No lookup of a name that does not exist: without a resolver it may wait for DNS timeouts.)
  auto bad = ResolveTcpEndpoint("ipc:///tmp/x");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("ipc:///tmp/x") != std::string::npos);
}

}  // namespace
}  // namespace tandem
