// Per-hop cost of tandem's wire path against a plain ZeroMQ push of the same
// bytes, over loopback TCP, for one activation (default 1 MiB of float32, half
// zeros as after a ReLU).
//
// "lockstep": one message at a time, the receiver acknowledges each (median
// round trip). "stream": back-to-back messages (time per message). The tandem
// path includes encoding (codec + header) before sending and decoding (header,
// checksum, codec) after receiving.
//
// With --curve every data hop is CurveZMQ (as tandem runs with keys): the
// cost of encryption is the difference to a run without it.
//
// Usage: hop_bench [--bytes N] [--messages M] [--curve]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/net/activation.h"
#include "common/net/codec.h"
#include "common/net/curve_keys.h"
#include "common/net/protocol.h"
#include "common/net/transport.h"
#include "common/net/zap.h"

using namespace tandem;
using Clock = std::chrono::steady_clock;

namespace {

HostTensor Activation(size_t bytes) {
  const int64_t n = static_cast<int64_t>(bytes / 4);
  HostTensor t = HostTensor::Zeros(DType::kFloat32, {1, n / 4096, 64, 64});
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = std::max(0.f, dist(rng));
  return t;
}

struct HopResult {
  double lockstep_us = 0;  // median round trip
  double stream_us = 0;    // per message
  size_t wire_bytes = 0;
};

// `make` builds the message to send; `consume` checks a received one.
// With `keys` the data hop is CURVE (the receiver's key pair; no ZAP handler,
// so any client key is taken).
template <typename Make, typename Consume>
HopResult Measure(int messages, const LinkKeys& keys, const Make& make, const Consume& consume) {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull), push(ctx, zmq::socket_type::push);
  zmq::socket_t ack_out(ctx, zmq::socket_type::push), ack_in(ctx, zmq::socket_type::pull);
  for (auto* s : {&pull, &push, &ack_out, &ack_in}) s->set(zmq::sockopt::linger, 0);
  if (!SecureServerSocket(pull, keys, "data").ok() ||
      !SecureClientSocket(push, keys, keys ? keys->public_key : std::string()).ok())
    std::abort();
  pull.bind("tcp://127.0.0.1:*");
  ack_in.bind("tcp://127.0.0.1:*");
  push.connect(pull.get(zmq::sockopt::last_endpoint));
  ack_out.connect(ack_in.get(zmq::sockopt::last_endpoint));
  HopResult r;
  std::thread receiver([&] {
    for (int i = 0; i < 2 * messages + 5; ++i) {
      zmq::message_t m;
      (void)pull.recv(m);
      consume(m);
      if (i < messages + 5) ack_out.send(zmq::str_buffer("k"), zmq::send_flags::none);
    }
    ack_out.send(zmq::str_buffer("done"), zmq::send_flags::none);
  });
  std::vector<double> rtt;
  for (int i = 0; i < messages + 5; ++i) {  // 5 warm-up
    auto t0 = Clock::now();
    std::string msg = make();
    r.wire_bytes = msg.size();
    zmq::message_t zm = OwnedMessage(std::move(msg));
    SendMessage(push, zm);
    zmq::message_t a;
    (void)ack_in.recv(a);
    if (i >= 5) rtt.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  auto t0 = Clock::now();
  for (int i = 0; i < messages; ++i) {
    zmq::message_t zm = OwnedMessage(make());
    SendMessage(push, zm);
  }
  zmq::message_t done;
  (void)ack_in.recv(done);
  r.stream_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / messages;
  receiver.join();
  std::sort(rtt.begin(), rtt.end());
  r.lockstep_us = rtt[rtt.size() / 2];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  size_t bytes = 1 << 20;
  int messages = 200;
  bool curve = false;
  CLI::App app{"hop_bench: one activation over loopback TCP, tandem's wire path against a plain ZeroMQ push"};
  app.add_option("--bytes", bytes, "activation size")
      ->capture_default_str()
      ->check(CLI::Range(size_t{65536}, size_t{1} << 30));
  app.add_option("--messages", messages, "messages per measurement")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_flag("--curve", curve, "encrypt every hop with CurveZMQ, as tandem does with keys");
  CLI11_PARSE(app, argc, argv);
  LinkKeys keys;
  if (curve) keys = GenerateCurveKeyPair().value();
  const std::vector<HostTensor> tensors{Activation(bytes)};
  const HostTensor& t = tensors[0];
  const std::string raw(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  std::printf("activation %s float32 (%zu bytes, %.0f%% zeros), %d messages, loopback TCP%s\n\n",
              ShapeToString(t.shape).c_str(), t.data.size(), 50.0, messages, curve ? ", CurveZMQ" : "");
  std::printf(
      "| path | wire bytes | lockstep round trip (median, us) | stream (us/message) | overhead vs plain, lockstep (us) "
      "|\n");
  std::printf("|---|---|---|---|---|\n");
  HopResult plain = Measure(
      messages, keys, [&] { return raw; }, [](const zmq::message_t&) {});
  std::printf("| plain ZeroMQ push | %zu | %.0f | %.0f | - |\n", plain.wire_bytes, plain.lockstep_us, plain.stream_us);
  for (const char* name : {"raw", "lz4", "zfp+lz4", "zfp+lz4:accuracy=0.001"}) {
    CodecSpec spec = ParseCodec(name).value();
    auto make = [&] {
      auto msg = EncodeActivation(1, ActivationHeader{}, tensors, spec, {});
      if (!msg.ok()) std::abort();
      return std::move(msg).value();
    };
    auto consume = [&](const zmq::message_t& m) {
      auto hd = DecodeHeader(m.data(), m.size());
      Reader r(static_cast<const uint8_t*>(m.data()) + kHeaderSize, m.size() - kHeaderSize);
      auto ah = DecodeActivationHeader(r);
      if (!hd.ok() || !ah.ok() || !DecodeActivationPayload(r, ah.value(), ~uint64_t{0}).ok()) std::abort();
    };
    HopResult res = Measure(messages, keys, make, consume);
    std::printf("| tandem %s | %zu | %.0f | %.0f | %+.0f |\n", name, res.wire_bytes, res.lockstep_us, res.stream_us,
                res.lockstep_us - plain.lockstep_us);
  }
  return 0;
}
