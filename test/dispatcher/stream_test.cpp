// The Streamer against a fake pipeline that answers out of order, twice, and
// with stale versions: results reach the sink in input order, exactly once.
#include "dispatcher/stream.h"

#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "common/protocol.h"

namespace tandem {
namespace {

TEST_CASE("results are delivered in input order, each exactly once", "[stream]") {
  zmq::context_t ctx(1);
  zmq::socket_t fake_stage0(ctx, zmq::socket_type::pull);
  fake_stage0.set(zmq::sockopt::linger, 0);
  fake_stage0.bind("tcp://127.0.0.1:*");
  const std::string first_hop = fake_stage0.get(zmq::sockopt::last_endpoint);

  Streamer streamer(ctx);
  REQUIRE(streamer.Bind("tcp://127.0.0.1:*").ok());
  const int n = 40;
  const uint32_t version = 5;
  SyntheticInputs inputs(n, {2, 3});

  // The fake pipeline: collects requests in batches, answers each batch in a
  // shuffled order, sends some answers twice and some from an old version.
  std::thread fake([&] {
    zmq::socket_t out(ctx, zmq::socket_type::push);
    out.set(zmq::sockopt::linger, 1000);
    out.connect(streamer.bound_endpoint());
    std::mt19937 rng(1);
    int seen = 0;
    while (seen < n) {
      std::vector<std::pair<uint64_t, HostTensor>> batch;
      zmq::pollitem_t item{static_cast<void*>(fake_stage0), 0, ZMQ_POLLIN, 0};
      while (zmq::poll(&item, 1, std::chrono::milliseconds(200)) > 0) {
        zmq::message_t m;
        (void)fake_stage0.recv(m);
        auto h = DecodeHeader(m.data(), m.size());
        Reader r(static_cast<const uint8_t*>(m.data()) + kHeaderSize, m.size() - kHeaderSize);
        uint32_t k = 0;
        auto ah = DecodeActivationPrefix(r, &k);
        auto t = DecodeTensor(&r, DecodeLimits());
        batch.emplace_back(h->id, t.value());
      }
      seen += static_cast<int>(batch.size());
      std::shuffle(batch.begin(), batch.end(), rng);
      for (auto& [id, t] : batch) {
        for (uint32_t v : {version - 1, version, version}) {  // stale, then the answer twice
          std::string body = EncodeActivationPrefix(ActivationHeader{v, 1}, 1);
          // The "model" negates its input, so each answer is recognisable.
          HostTensor neg = t;
          for (int64_t i = 0; i < neg.numel(); ++i) neg.f32()[i] = -neg.f32()[i];
          REQUIRE(EncodeTensor(neg, CodecSpec{Codec::kRaw}, &body).ok());
          EncodeTimings({}, &body);
          out.send(zmq::buffer(EncodeMessage(MessageType::kActivation, id, body)), zmq::send_flags::none);
        }
      }
    }
  });

  StreamOptions o;
  o.window = 7;
  o.model_version = version;
  o.num_stages = 1;
  o.first_hop = first_hop;
  o.result_timeout_s = 20;
  std::vector<int> order;
  auto sink = [&](int i, const std::vector<HostTensor>& outs) -> Status {
    order.push_back(i);
    auto x = inputs.Get(i).value();
    REQUIRE(outs.size() == 1);
    for (int64_t k = 0; k < x.numel(); ++k) REQUIRE(outs[0].f32()[k] == -x.f32()[k]);
    return Status::OK();
  };
  std::atomic<bool> stop{false};
  auto rep = streamer.Run(inputs, o, sink, stop, nullptr);
  fake.join();
  REQUIRE(rep.ok());
  CHECK(rep->completed == n);
  CHECK(rep->failed == 0);
  REQUIRE(order.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) CHECK(order[i] == i);
  CHECK(rep->latencies_s.size() == static_cast<size_t>(n));
}

TEST_CASE("a pipeline that never answers ends in a timeout, not a hang", "[stream]") {
  zmq::context_t ctx(1);
  zmq::socket_t sink_hole(ctx, zmq::socket_type::pull);
  sink_hole.set(zmq::sockopt::linger, 0);
  sink_hole.bind("tcp://127.0.0.1:*");
  Streamer streamer(ctx);
  REQUIRE(streamer.Bind("tcp://127.0.0.1:*").ok());
  SyntheticInputs inputs(5, {4});
  StreamOptions o;
  o.first_hop = sink_hole.get(zmq::sockopt::last_endpoint);
  o.result_timeout_s = 1;
  std::atomic<bool> stop{false};
  auto t0 = std::chrono::steady_clock::now();
  auto rep = streamer.Run(inputs, o, [](int, const std::vector<HostTensor>&) { return Status::OK(); }, stop, nullptr);
  REQUIRE_FALSE(rep.ok());
  CHECK(rep.status().code() == Status::Code::kTimeout);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

}  // namespace
}  // namespace tandem
