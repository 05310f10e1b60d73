#include "dispatcher/hop_sampler.h"

#include <catch2/catch.hpp>

namespace tandem {
namespace {

// A request through stages 0 and 1: sent at `t0` (µs), each hop taking
// `hop` µs and each stage `compute` µs, nothing queued.
struct Trip {
  std::vector<StageTiming> timings;
  RequestClock clock;
};
Trip Through(uint64_t t0, uint64_t hop, uint64_t compute) {
  Trip t;
  t.clock.sent_unix_us = t0;
  t.clock.sent_bytes = 100;
  uint64_t now = t0;
  for (uint16_t s = 0; s < 2; ++s) {
    StageTiming st;
    st.stage = s;
    now += hop;
    st.recv_unix_us = now;
    st.compute_us = static_cast<uint32_t>(compute);
    now += compute;
    st.send_unix_us = now;
    st.bytes_out = 1000u * (s + 1);
    t.timings.push_back(st);
  }
  t.clock.received_unix_us = now + hop;
  return t;
}

TEST_CASE("hop sampler: each hop's time and bytes from the senders' and receivers' clocks", "[adapt]") {
  HopSampler s(2);
  const auto samples = s.Take(Through(1'000'000, 2000, 50'000).timings, Through(1'000'000, 2000, 50'000).clock);
  REQUIRE(samples.size() == 3);
  const uint64_t bytes[] = {100, 1000, 2000};
  for (size_t h = 0; h < 3; ++h) {
    CHECK(samples[h].hop == h);
    CHECK(samples[h].bytes == bytes[h]);
    CHECK(samples[h].seconds == Approx(0.002));
  }
}

TEST_CASE("hop sampler: a message waits for the one ahead of it on its link; that wait is not the link's", "[adapt]") {
  HopSampler s(2);
  Trip a = Through(1'000'000, 10'000, 1000);
  REQUIRE(s.Take(a.timings, a.clock).size() == 3);
  // Sent 2 ms after the first, while the first still crossed hop 0 (10 ms):
  // it starts crossing when that one arrived, at 1.010 s, and arrives at
  // 1.020 s: 10 ms of service, not 18.
  Trip b = Through(1'002'000, 18'000, 1000);
  b.timings[0].recv_unix_us = 1'020'000;
  b.timings[0].send_unix_us = 1'021'000;
  b.timings[1].recv_unix_us = 1'031'000;  // hop 1: 10 ms after its send (the first arrived at 1.021)
  b.timings[1].send_unix_us = 1'032'000;
  b.clock.received_unix_us = 1'042'000;
  const auto samples = s.Take(b.timings, b.clock);
  REQUIRE(samples.size() == 3);
  for (const auto& h : samples) CHECK(h.seconds == Approx(0.010));
}

TEST_CASE("hop sampler: no sample from a held-up receiver, from clocks that disagree, or from a partial trailer",
          "[adapt]") {
  {
    HopSampler s(2);
    Trip t = Through(1'000'000, 2000, 50'000);
    t.timings[1].queue_us = 40'000;  // stage 1 was busy: hop 1 may have waited for it
    const auto samples = s.Take(t.timings, t.clock);
    REQUIRE(samples.size() == 2);
    CHECK(samples[0].hop == 0);
    CHECK(samples[1].hop == 2);
  }
  {
    HopSampler s(2);
    Trip t = Through(1'000'000, 2000, 50'000);
    t.timings[1].queue_us = 4000;  // under a tenth of its compute: as good as idle
    CHECK(s.Take(t.timings, t.clock).size() == 3);
  }
  {
    HopSampler s(2);
    Trip t = Through(1'000'000, 2000, 50'000);
    t.timings[1].recv_unix_us = t.timings[0].send_unix_us - 500;  // stage 1's clock is behind
    t.clock.sent_unix_us = 0;                                     // unknown
    const auto samples = s.Take(t.timings, t.clock);
    REQUIRE(samples.size() == 1);
    CHECK(samples[0].hop == 2);
  }
  {
    HopSampler s(2);
    Trip t = Through(1'000'000, 2000, 50'000);
    t.timings.pop_back();  // a trailer without the last stage
    CHECK(s.Take(t.timings, t.clock).empty());
    t = Through(1'000'000, 2000, 50'000);
    std::swap(t.timings[0], t.timings[1]);
    CHECK(s.Take(t.timings, t.clock).empty());
  }
}

}  // namespace
}  // namespace tandem
