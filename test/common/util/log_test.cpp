#include "common/util/log.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

namespace tandem {
namespace {

TEST_CASE("Printable: a peer's string fits on one log line, escaped and cut short", "[log]") {
  CHECK(Printable("pi-3 worker") == "pi-3 worker");
  CHECK(Printable("") == "");
  CHECK(Printable("a\nb\r\x1b[31m") == "a\\x0ab\\x0d\\x1b[31m");
  CHECK(Printable("back\\slash") == "back\\x5cslash");  // an escape cannot be forged
  CHECK(Printable(std::string("z\0z", 3)) == "z\\x00z");
  CHECK(Printable("\xff\xfe") == "\\xff\\xfe");
  CHECK(Printable(std::string(300, 'a'), 10) == std::string(10, 'a') + "...");
  CHECK(Printable(std::string(5000, '\n')).size() <= 200 + 4 + 3);
}

TEST_CASE("LogLimiter: a burst, then one line per interval with the count left out", "[log]") {
  uint64_t suppressed = 99;
  LogLimiter burst(3, 100);
  for (int i = 0; i < 3; ++i) {
    CHECK(burst.Allow(&suppressed));
    CHECK(suppressed == 0);
  }
  CHECK_FALSE(burst.Allow(&suppressed));

  const double interval = 0.2;
  LogLimiter lim(1, interval);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(lim.Allow(&suppressed));
  CHECK(suppressed == 0);
  uint64_t refused = 0;
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) {
    if (!lim.Allow(&suppressed)) {
      ++refused;
    } else {  // a token came back: the line says how many were left out
      ++allowed;
      CHECK(suppressed == refused);
      refused = 0;
    }
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(allowed <= 1 + static_cast<int>(elapsed / interval));
  CHECK(refused > 0);
  std::this_thread::sleep_for(std::chrono::duration<double>(interval * 1.5));
  REQUIRE(lim.Allow(&suppressed));
  CHECK(suppressed == refused);
}

TEST_CASE("KindLogLimiter: a flood of one kind hides no line of another; made-up kinds share one limiter", "[log]") {
  uint64_t suppressed = 0;
  KindLogLimiter limits(2, 3, 100);
  for (int i = 0; i < 3; ++i) CHECK(limits.Allow("control", &suppressed));
  for (int i = 0; i < 50; ++i) CHECK_FALSE(limits.Allow("control", &suppressed));
  CHECK(limits.Allow("data", &suppressed));  // its own burst
  CHECK(suppressed == 0);
  // Past two kinds, every new kind draws on one shared limiter.
  CHECK(limits.Allow("k1", &suppressed));
  CHECK(limits.Allow("k2", &suppressed));
  CHECK(limits.Allow("k3", &suppressed));
  CHECK_FALSE(limits.Allow("k4", &suppressed));
  CHECK_FALSE(limits.Allow("k1", &suppressed));
  CHECK(limits.Allow("data", &suppressed));  // the known kinds keep theirs
  CHECK_FALSE(limits.Allow("control", &suppressed));
}

}  // namespace
}  // namespace tandem
