// ProbeLink against a stand-in peer whose answers take a known time per
// byte: the estimates must recover those rates, and every failure must end
// in a clear error within the timeout.
#include "common/net/link_probe.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "common/net/protocol.h"
#include "common/net/transport.h"
#include "support.h"

namespace tandem {
namespace {

enum class Answer { kTimed, kWrongSize, kRefuse, kSilent };

// Answers PROBEs on a ROUTER socket after base_s + payload / in_rate +
// reply / out_rate seconds (the peer's view: it receives at in_rate).
class FakePeer {
 public:
  FakePeer(Answer answer, double base_s, double in_rate, double out_rate) : socket_(ctx_, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = LastEndpoint(socket_);
    thread_ = std::thread([this, answer, base_s, in_rate, out_rate] { Serve(answer, base_s, in_rate, out_rate); });
  }
  ~FakePeer() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  int probes() const { return probes_; }

 private:
  void Serve(Answer answer, double base_s, double in_rate, double out_rate) {
    zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    while (!stop_) {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(20)) <= 0) continue;
      zmq::message_t id, msg;
      if (!socket_.recv(id) || !socket_.recv(msg)) continue;
      auto h = DecodeHeader(msg.data(), msg.size());
      if (!h.ok() || h->type != MessageType::kProbe) continue;
      ++probes_;
      Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
      const uint32_t reply_bytes = DecodeProbe(r).value();
      const size_t payload = h->body_len - 4;
      std::string reply;
      switch (answer) {
        case Answer::kSilent: continue;
        case Answer::kRefuse:
          reply = EncodeMessage(MessageType::kError, h->id, ErrorBody{Status::Code::kUnavailable, "busy"}.Encode());
          break;
        case Answer::kWrongSize: reply = EncodeMessage(MessageType::kProbeReply, h->id, std::string(3, '\0')); break;
        case Answer::kTimed:
          std::this_thread::sleep_for(
              std::chrono::duration<double>(base_s + payload / in_rate + reply_bytes / out_rate));
          reply = EncodeMessage(MessageType::kProbeReply, h->id, std::string(reply_bytes, '\0'));
          break;
      }
      socket_.send(id, zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(reply), zmq::send_flags::none);
    }
  }

  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<int> probes_{0};
  std::thread thread_;
};

TEST_CASE("ProbeLink recovers a link's round trip and its rate each way", "[links]") {
  // 20 ms round trip; the payload reaches the peer at 20 MB/s, its answer
  // comes back at 10 MB/s.
  FakePeer peer(Answer::kTimed, 0.020, 20e6, 10e6);
  zmq::context_t ctx(1);
  ProbeOptions o;
  o.probe_bytes = 1000000;
  o.rounds = 2;
  o.timeout_s = 5;
  auto e = ProbeLink(ctx, peer.endpoint(), o);
  REQUIRE(e.ok());
  CHECK(e->rtt_s >= 0.020);
  CHECK(e->rtt_s < 0.030);
  CHECK(e->latency_s() == Approx(e->rtt_s / 2));
  CHECK(e->out_bytes_per_s == Approx(20e6).epsilon(0.15));
  CHECK(e->in_bytes_per_s == Approx(10e6).epsilon(0.15));
  CHECK(peer.probes() == 3 * (1 + 2));  // one untimed and `rounds` timed of each kind
}

TEST_CASE("ProbeLink failures are clear and bounded", "[links]") {
  zmq::context_t ctx(1);
  ProbeOptions o;
  o.probe_bytes = 1000;
  o.rounds = 1;
  o.timeout_s = 0.3;
  auto timed = [&](const std::string& endpoint, const std::atomic<bool>* stop = nullptr) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = ProbeLink(ctx, endpoint, o, stop);
    CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 2.0);
    REQUIRE_FALSE(r.ok());
    return r.status();
  };
  {
    const std::string nobody = "tcp://127.0.0.1:" + std::to_string(test::FreePort());
    Status st = timed(nobody);
    CHECK(st.code() == Status::Code::kTimeout);
    CHECK_THAT(st.message(), Catch::Contains(nobody));
  }
  {
    FakePeer silent(Answer::kSilent, 0, 1, 1);
    Status st = timed(silent.endpoint());
    CHECK(st.code() == Status::Code::kTimeout);
    CHECK_THAT(st.message(), Catch::Contains("did not answer a probe"));
  }
  {
    FakePeer refusing(Answer::kRefuse, 0, 1, 1);
    Status st = timed(refusing.endpoint());
    CHECK(st.code() == Status::Code::kUnavailable);
    CHECK_THAT(st.message(), Catch::Contains("refused a probe"));
    CHECK_THAT(st.message(), Catch::Contains("busy"));
  }
  {
    FakePeer wrong(Answer::kWrongSize, 0, 1, 1);
    CHECK(timed(wrong.endpoint()).code() == Status::Code::kCorruption);
  }
  {
    FakePeer slow(Answer::kTimed, 5.0, 1e9, 1e9);
    std::atomic<bool> stop{true};
    CHECK(timed(slow.endpoint(), &stop).code() == Status::Code::kUnavailable);
  }
  o.probe_bytes = 0;
  CHECK(ProbeLink(ctx, "tcp://127.0.0.1:1", o).status().code() == Status::Code::kInvalidArgument);
  o.probe_bytes = 10;
  CHECK(ProbeLink(ctx, "udp://x", o).status().code() == Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace tandem
