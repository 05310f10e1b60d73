// The C++ client library (include/tandem/client.h) against a fake server: a
// ROUTER socket answering as serve's ZeroMQ API does. Round trips, errors
// mapped to their statuses, pipelined requests whose answers overtake one
// another, a timeout and the late answer after it, and CurveZMQ.
#include "tandem/client.h"

#include <catch2/catch.hpp>
#include <thread>
#include <zmq.hpp>

#include "common/net/curve_keys.h"
#include "common/net/inference.h"
#include "common/net/protocol.h"
#include "common/net/zap.h"
#include "support.h"

namespace tandem {
namespace {

// Answers each INFER_REQUEST by what `answer` says, on a thread of its own,
// until destroyed. An empty answer: no reply (a server that hangs).
class FakeServer {
 public:
  using Answer = std::function<std::string(uint64_t id, const InferRequestBody& req)>;
  FakeServer(Answer answer, const LinkKeys& keys = std::nullopt, std::set<std::string> clients = {})
      : answer_(std::move(answer)) {
    if (keys) {
      zap_ = std::make_unique<ZapAuthenticator>(ctx_, [clients](const std::string&, const std::string& key) {
        return clients.count(key) ? std::string("client") : std::string();
      });
      REQUIRE(zap_->Start().ok());
    }
    router_.set(zmq::sockopt::linger, 0);
    REQUIRE(SecureServerSocket(router_, keys, "clients").ok());
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    if (zap_) zap_->Stop();
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  void Loop() {
    zmq::pollitem_t item{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0};
    while (!stop_) {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(20)) <= 0) continue;
      zmq::message_t who, msg;
      (void)router_.recv(who);
      (void)router_.recv(msg);
      auto h = DecodeHeader(msg.data(), msg.size());
      REQUIRE(h.ok());
      Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
      auto req = InferRequestBody::Decode(r, 1 << 20);
      REQUIRE(req.ok());
      const std::string reply = answer_(h->id, req.value());
      if (reply.empty()) continue;
      router_.send(who, zmq::send_flags::sndmore);
      router_.send(zmq::buffer(reply), zmq::send_flags::none);
    }
  }
  Answer answer_;
  zmq::context_t ctx_{1};
  std::unique_ptr<ZapAuthenticator> zap_;
  zmq::socket_t router_{ctx_, zmq::socket_type::router};
  std::string endpoint_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

// Negates the first input, as output "output".
std::string Negate(uint64_t id, const InferRequestBody& req) {
  HostTensor t = req.inputs.at(0);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = -t.f32()[i];
  return EncodeMessage(MessageType::kInferReply, id, InferReplyBody{7, {"output"}, {t}}.Encode().value());
}

std::string Fail(uint64_t id, Status::Code code, const std::string& why) {
  return EncodeMessage(MessageType::kError, id, ErrorBody{code, why}.Encode());
}

client::Options Opts(const std::string& endpoint, const std::string& server_key, const std::string& secret,
                     double timeout_s) {
  client::Options o;
  o.endpoint = endpoint;
  o.server_key = server_key;
  o.secret_key_file = secret;
  o.timeout_s = timeout_s;
  return o;
}

client::Tensor Floats(std::vector<float> v) {
  return client::Tensor::Float32({static_cast<int64_t>(v.size())}, v.data());
}

TEST_CASE("the client's request comes back as the server's answer, in its dtype and shape", "[client]") {
  FakeServer server(Negate);
  client::Client c(server.endpoint());
  auto out = c.Infer({Floats({1, -2, 3.5})});
  REQUIRE(out.size() == 1);
  CHECK(out[0].name == "output");
  CHECK(out[0].tensor.dtype == client::DType::kFloat32);
  CHECK(out[0].tensor.shape == std::vector<int64_t>{3});
  CHECK(out[0].tensor.floats()[0] == -1.0f);
  CHECK(out[0].tensor.floats()[2] == -3.5f);
  CHECK(c.outstanding() == 0);
  // The deadline travels with the request.
  uint32_t seen = 0;
  FakeServer timed([&](uint64_t id, const InferRequestBody& req) {
    seen = req.timeout_ms;
    return Negate(id, req);
  });
  client::Client t(Opts(timed.endpoint(), "", "", 2.5));
  t.Infer({Floats({1})});
  CHECK(seen == 2500);
}

TEST_CASE("the server's errors become the client's, with HTTP's statuses", "[client]") {
  const std::vector<std::pair<Status::Code, int>> cases = {{Status::Code::kInvalidArgument, 400},
                                                           {Status::Code::kUnavailable, 503},
                                                           {Status::Code::kTimeout, 504},
                                                           {Status::Code::kInternal, 500}};
  for (const auto& [code, status] : cases) {
    FakeServer server([code = code](uint64_t id, const InferRequestBody&) { return Fail(id, code, "because"); });
    client::Client c(server.endpoint());
    try {
      c.Infer({Floats({1})});
      FAIL("no error");
    } catch (const client::Error& e) {
      CHECK(e.status() == status);
      CHECK(e.retryable() == (status == 503));
      CHECK(std::string(e.what()) == "because");
    }
  }
  // Options and requests the client refuses itself.
  CHECK_THROWS_AS(client::Client("udp://nowhere"), client::Error);
  CHECK_THROWS_AS(client::Client(Opts("tcp://127.0.0.1:1", "some-key", "", 60)), client::Error);
  FakeServer server(Negate);
  client::Client c(server.endpoint());
  CHECK_THROWS_AS(c.Infer({}), client::Error);
  client::Tensor bad = Floats({1, 2});
  bad.data.pop_back();
  CHECK_THROWS_AS(c.Infer({bad}), client::Error);
  CHECK_THROWS_AS(c.Receive(), client::Error);  // nothing outstanding
}

TEST_CASE("pipelined requests: each answered once, a failure among them; a late answer is dropped", "[client]") {
  // Request 2 fails at once; the others are answered in order.
  FakeServer server([](uint64_t id, const InferRequestBody& req) {
    return id == 2 ? Fail(id, Status::Code::kInvalidArgument, "bad") : Negate(id, req);
  });
  client::Client c(server.endpoint());
  std::set<uint64_t> ids;
  for (int k = 0; k < 5; ++k) ids.insert(c.Send({Floats({static_cast<float>(k)})}));
  CHECK(c.outstanding() == 5);
  std::set<uint64_t> answered;
  int failed = 0;
  while (c.outstanding() > 0) {
    try {
      auto r = c.Receive();
      CHECK(r.model_generation == 7);
      CHECK(r.outputs.at(0).tensor.floats()[0] == -static_cast<float>(r.request_id - 1));
      CHECK(answered.insert(r.request_id).second);
    } catch (const client::Error& e) {
      CHECK(e.request_id() == 2);
      CHECK(answered.insert(e.request_id()).second);
      ++failed;
    }
  }
  CHECK(answered == ids);
  CHECK(failed == 1);

  // A server that answers its first request too late: the client gives up
  // (status 0) and drops that answer when it comes with the next one's.
  std::atomic<int> calls{0};
  FakeServer slow([&](uint64_t id, const InferRequestBody& req) {
    if (calls++ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return Negate(id, req);
  });
  client::Client s(Opts(slow.endpoint(), "", "", 0.2));
  try {
    s.Infer({Floats({1})});
    FAIL("no timeout");
  } catch (const client::Error& e) {
    CHECK(e.status() == 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the late answer arrives
  auto out = s.Infer({Floats({5})});
  CHECK(out.at(0).tensor.floats()[0] == -5.0f);
}

TEST_CASE("with CurveZMQ only a listed client key gets answers", "[client]") {
  test::TempDir dir;
  auto server_keys = GenerateCurveKeyPair().value();
  auto listed = GenerateCurveKeyPair().value();
  auto stranger = GenerateCurveKeyPair().value();
  REQUIRE(WriteCurveKeyPair(listed, dir.path() + "/listed.key", dir.path() + "/listed.key.pub").ok());
  REQUIRE(WriteCurveKeyPair(stranger, dir.path() + "/stranger.key", dir.path() + "/stranger.key.pub").ok());
  FakeServer server(Negate, server_keys, {listed.public_key});
  client::Client ok(Opts(server.endpoint(), server_keys.public_key, dir.path() + "/listed.key", 5));
  CHECK(ok.Infer({Floats({2})}).at(0).tensor.floats()[0] == -2.0f);
  client::Client refused(Opts(server.endpoint(), server_keys.public_key, dir.path() + "/stranger.key", 0.5));
  CHECK_THROWS_AS(refused.Infer({Floats({2})}), client::Error);
  client::Client plain(Opts(server.endpoint(), "", "", 0.5));
  CHECK_THROWS_AS(plain.Infer({Floats({2})}), client::Error);
}

}  // namespace
}  // namespace tandem
