// The Streamer against a fake pipeline that answers out of order, twice, and
// with stale versions: results reach the sink in input order, exactly once.
#include "dispatcher/streamer.h"

#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "common/net/activation.h"
#include "common/net/curve_keys.h"
#include "common/net/protocol.h"
#include "common/net/zap.h"

namespace tandem {
namespace {

// Runs the streamer and keeps every delivery, in the order the sink got them.
Result<StreamReport> RunCollecting(Streamer& streamer, InputSource& inputs, Director& director, const StreamOptions& o,
                                   const std::atomic<bool>& stop, std::vector<Delivery>* got) {
  return streamer.Run(
      inputs, director, o,
      [got](const Delivery& d) {
        got->push_back(d);
        return Status::OK();
      },
      stop, nullptr);
}

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
  SyntheticInputs inputs(n, {InputSpec{DType::kFloat32, {2, 3}}});

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
        auto ah = DecodeActivationHeader(r);
        auto p = DecodeActivationPayload(r, ah.value(), 1 << 20);
        batch.emplace_back(h->id, p.value().tensors.at(0));
      }
      seen += static_cast<int>(batch.size());
      std::shuffle(batch.begin(), batch.end(), rng);
      for (auto& [id, t] : batch) {
        for (uint32_t v : {version - 1, version, version}) {  // stale, then the answer twice
          // The "model" negates its input, so each answer is recognisable.
          HostTensor neg = t;
          for (int64_t i = 0; i < neg.numel(); ++i) neg.f32()[i] = -neg.f32()[i];
          auto msg = EncodeActivation(id, ActivationHeader{v, 1}, {neg}, CodecSpec{Codec::kRaw}, {});
          REQUIRE(msg.ok());
          out.send(zmq::buffer(msg.value()), zmq::send_flags::none);
        }
      }
    }
  });

  StreamOptions o;
  o.window = 7;
  o.result_timeout_s = 20;
  Route route;
  route.version = version;
  route.first_hop = first_hop;
  route.codec = CodecSpec{Codec::kRaw};
  StaticDirector director(route);
  std::vector<int> order;
  auto sink = [&](const Delivery& d) -> Status {
    order.push_back(d.index);
    REQUIRE(d.ok);
    auto x = inputs.Get(d.index).value().at(0);
    REQUIRE(d.outputs.size() == 1);
    for (int64_t k = 0; k < x.numel(); ++k) REQUIRE(d.outputs[0].f32()[k] == -x.f32()[k]);
    return Status::OK();
  };
  std::atomic<bool> stop{false};
  auto rep = streamer.Run(inputs, director, o, sink, stop, nullptr);
  fake.join();
  REQUIRE(rep.ok());
  CHECK(rep->completed == n);
  CHECK(rep->failed == 0);
  REQUIRE(order.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) CHECK(order[i] == i);
  CHECK(rep->latencies_s.size() == static_cast<size_t>(n));
  CHECK(rep->duplicates >= n);  // the second answer to each, at least
}

TEST_CASE("a pipeline that never answers fails each request after its attempts, without hanging", "[stream]") {
  zmq::context_t ctx(1);
  zmq::socket_t sink_hole(ctx, zmq::socket_type::pull);
  sink_hole.set(zmq::sockopt::linger, 0);
  sink_hole.bind("tcp://127.0.0.1:*");
  Streamer streamer(ctx);
  REQUIRE(streamer.Bind("tcp://127.0.0.1:*").ok());
  SyntheticInputs inputs(5, {InputSpec{DType::kFloat32, {4}}});
  StreamOptions o;
  o.result_timeout_s = 0.3;
  o.max_attempts = 2;
  Route route;
  route.version = 9;
  route.first_hop = sink_hole.get(zmq::sockopt::last_endpoint);
  StaticDirector director(route);
  std::atomic<bool> stop{false};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Delivery> got;
  auto rep = RunCollecting(streamer, inputs, director, o, stop, &got);
  REQUIRE(rep.ok());
  CHECK(rep->failed == 5);
  CHECK(rep->replayed == 5);
  REQUIRE(got.size() == 5u);
  for (int i = 0; i < 5; ++i) {
    CHECK(got[i].index == i);
    CHECK_FALSE(got[i].ok);
    CHECK(got[i].error.find("no result after 2 sends") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

// A director that moves the pipeline after `switch_after` requests reached
// the first fake stage, which never answers; the second answers everything.
class SwitchingDirector : public Director {
 public:
  SwitchingDirector(Route a, Route b, const std::atomic<int>* seen_by_a, int switch_after)
      : a_(std::move(a)), b_(std::move(b)), seen_by_a_(seen_by_a), switch_after_(switch_after) {}
  Status Tick(const std::map<uint32_t, size_t>&) override {
    if (!switched_ && *seen_by_a_ >= switch_after_) switched_ = true;
    return Status::OK();
  }
  const Route* route() const override { return switched_ ? &b_ : &a_; }
  bool Live(uint32_t v) const override { return v == (switched_ ? b_.version : a_.version); }

 private:
  Route a_, b_;
  const std::atomic<int>* seen_by_a_;
  int switch_after_;
  bool switched_ = false;
};

TEST_CASE("requests in flight when the pipeline changes are sent again, answered once, in order", "[stream]") {
  zmq::context_t ctx(1);
  Streamer streamer(ctx);
  REQUIRE(streamer.Bind("tcp://127.0.0.1:*").ok());
  zmq::socket_t a_in(ctx, zmq::socket_type::pull), b_in(ctx, zmq::socket_type::pull);
  for (auto* s : {&a_in, &b_in}) {
    s->set(zmq::sockopt::linger, 0);
    s->bind("tcp://127.0.0.1:*");
  }
  Route a, b;
  a.version = 100;
  a.first_hop = a_in.get(zmq::sockopt::last_endpoint);
  a.pipeline = 1;
  b.version = 101;
  b.first_hop = b_in.get(zmq::sockopt::last_endpoint);
  b.pipeline = 2;
  const int n = 30;
  SyntheticInputs inputs(n, {InputSpec{DType::kFloat32, {3}}});
  std::atomic<int> seen_by_a{0};
  std::atomic<bool> done{false};
  std::vector<uint64_t> a_ids;
  // Pipeline A swallows what it gets, then (after the switch) answers it
  // late, as an old pipeline that was not quite dead would; B answers.
  std::thread fake([&] {
    zmq::socket_t out(ctx, zmq::socket_type::push);
    out.set(zmq::sockopt::linger, 1000);
    out.connect(streamer.bound_endpoint());
    zmq::pollitem_t items[] = {{static_cast<void*>(a_in), 0, ZMQ_POLLIN, 0},
                               {static_cast<void*>(b_in), 0, ZMQ_POLLIN, 0}};
    auto answer = [&](uint64_t id, uint32_t version, const HostTensor& t) {
      auto msg = EncodeActivation(id, ActivationHeader{version, 1}, {t}, CodecSpec{Codec::kRaw}, {});
      REQUIRE(msg.ok());
      out.send(zmq::buffer(msg.value()), zmq::send_flags::none);
    };
    bool answered_late = false;
    while (!done) {
      if (zmq::poll(items, 2, std::chrono::milliseconds(50)) <= 0) continue;
      for (int k = 0; k < 2; ++k) {
        if (!(items[k].revents & ZMQ_POLLIN)) continue;
        zmq::message_t m;
        (void)(k == 0 ? a_in : b_in).recv(m);
        auto h = DecodeHeader(m.data(), m.size());
        Reader r(static_cast<const uint8_t*>(m.data()) + kHeaderSize, m.size() - kHeaderSize);
        auto ah = DecodeActivationHeader(r);
        auto p = DecodeActivationPayload(r, ah.value(), 1 << 20);
        auto t = Result<HostTensor>(p.value().tensors.at(0));
        if (k == 0) {
          CHECK(ah->model_version == a.version);
          a_ids.push_back(h->id);
          ++seen_by_a;
        } else {
          CHECK(ah->model_version == b.version);
          answer(h->id, b.version, t.value());
          if (!answered_late) {  // A's late answers, after B's first
            answered_late = true;
            for (uint64_t id : a_ids) answer(id, a.version, HostTensor::Zeros(DType::kFloat32, {3}));
          }
        }
      }
    }
  });
  SwitchingDirector director(a, b, &seen_by_a, 4);
  StreamOptions o;
  o.window = 6;
  o.result_timeout_s = 30;
  std::vector<Delivery> got;
  std::atomic<bool> stop{false};
  auto rep = RunCollecting(streamer, inputs, director, o, stop, &got);
  done = true;
  fake.join();
  REQUIRE(rep.ok());
  CHECK(rep->completed == n);
  CHECK(rep->replayed >= 4);
  CHECK(rep->duplicates >= 4);  // A's late answers
  REQUIRE(got.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    CHECK(got[i].index == i);
    REQUIRE(got[i].ok);
    CHECK(got[i].pipeline == 2);  // A's zeros never got through
    auto x = inputs.Get(i).value().at(0);
    auto diff = CompareTensors(got[i].outputs[0], x);
    REQUIRE(diff.ok());
    CHECK(diff->max_abs_diff == 0);
  }
}

// Sends `msg` from a CurveZMQ client with `keys` to the results socket.
void SendResult(zmq::context_t& ctx, const std::string& endpoint, const CurveKeyPair& keys,
                const std::string& server_key, const std::string& msg) {
  zmq::socket_t s(ctx, zmq::socket_type::push);
  s.set(zmq::sockopt::linger, 2000);
  REQUIRE(SecureClientSocket(s, keys, server_key).ok());
  s.connect(endpoint);
  s.send(zmq::buffer(msg), zmq::send_flags::none);
}

TEST_CASE("with keys, only the route's last stage answers: forged results and failures are dropped", "[stream]") {
  const CurveKeyPair dispatcher = GenerateCurveKeyPair().value(), first = GenerateCurveKeyPair().value(),
                     last = GenerateCurveKeyPair().value(), other = GenerateCurveKeyPair().value();
  zmq::context_t ctx(1);
  // The dispatcher's ZAP policy: the cluster's workers may connect (last and
  // other); which of them may answer is the Streamer's business.
  ZapAuthenticator zap(ctx, [&](const std::string& domain, const std::string& key) {
    const bool worker = domain == kResultsDomain && (key == last.public_key || key == other.public_key);
    return worker ? ResultsUserId(key) : std::string();
  });
  REQUIRE(zap.Start().ok());
  Streamer streamer(ctx, dispatcher);
  REQUIRE(streamer.Bind("tcp://127.0.0.1:*").ok());

  // The fake stage 0, in a context of its own (no ZAP handler there).
  zmq::context_t fake_ctx(1);
  zmq::socket_t stage0(fake_ctx, zmq::socket_type::pull);
  stage0.set(zmq::sockopt::linger, 0);
  REQUIRE(SecureServerSocket(stage0, first, "data").ok());
  stage0.bind("tcp://127.0.0.1:*");
  const int n = 6;
  const uint32_t version = 3;
  SyntheticInputs inputs(n, {InputSpec{DType::kFloat32, {4}}});
  std::thread fake([&] {
    std::vector<std::pair<uint64_t, HostTensor>> got;
    zmq::pollitem_t item{static_cast<void*>(stage0), 0, ZMQ_POLLIN, 0};
    const auto t0 = std::chrono::steady_clock::now();
    while (got.size() < static_cast<size_t>(n) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
      zmq::message_t m;
      (void)stage0.recv(m);
      auto h = DecodeHeader(m.data(), m.size());
      Reader r(static_cast<const uint8_t*>(m.data()) + kHeaderSize, m.size() - kHeaderSize);
      auto ah = DecodeActivationHeader(r);
      got.emplace_back(h->id, DecodeActivationPayload(r, ah.value(), 1 << 20).value().tensors.at(0));
    }
    // First the forgeries, from a worker of the cluster that is not the last
    // stage: a wrong result for half the requests, a failure for the rest.
    for (size_t i = 0; i < got.size(); ++i) {
      const uint64_t id = got[i].first;
      std::string forged;
      if (i % 2 == 0) {
        HostTensor zeros = HostTensor::Zeros(DType::kFloat32, {4});
        forged = EncodeActivation(id, ActivationHeader{version, 1}, {zeros}, CodecSpec{Codec::kRaw}, {}).value();
      } else {
        RequestFailedBody f;
        f.model_version = version;
        f.message = "forged";
        forged = EncodeMessage(MessageType::kRequestFailed, id, f.Encode());
      }
      SendResult(fake_ctx, streamer.bound_endpoint(), other, dispatcher.public_key, forged);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // Then the answers, from the last stage: the input, negated.
    for (auto& [id, t] : got) {
      HostTensor neg = t;
      for (int64_t i = 0; i < neg.numel(); ++i) neg.f32()[i] = -neg.f32()[i];
      SendResult(fake_ctx, streamer.bound_endpoint(), last, dispatcher.public_key,
                 EncodeActivation(id, ActivationHeader{version, 1}, {neg}, CodecSpec{Codec::kRaw}, {}).value());
    }
  });

  StreamOptions o;
  o.window = n;
  o.result_timeout_s = 20;
  Route route;
  route.version = version;
  route.first_hop = stage0.get(zmq::sockopt::last_endpoint);
  route.first_hop_key = first.public_key;
  route.last_key = last.public_key;
  route.codec = CodecSpec{Codec::kRaw};
  StaticDirector director(route);
  std::vector<Delivery> got;
  std::atomic<bool> stop{false};
  auto rep = RunCollecting(streamer, inputs, director, o, stop, &got);
  fake.join();
  REQUIRE(rep.ok());
  CHECK(rep->completed == n);
  CHECK(rep->failed == 0);
  CHECK(rep->duplicates >= n);  // the forgeries, dropped
  REQUIRE(got.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    INFO("request " << i);
    REQUIRE(got[i].ok);
    const HostTensor x = inputs.Get(i).value().at(0);
    for (int64_t k = 0; k < x.numel(); ++k) CHECK(got[i].outputs.at(0).f32()[k] == -x.f32()[k]);
  }
}

}  // namespace
}  // namespace tandem
