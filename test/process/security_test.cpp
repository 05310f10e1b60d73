// Authenticated, encrypted links (docs/security.md), against real workers
// and the dispatcher: who may connect and send what, pinned keys, key files,
// SIGHUP, secure defaults, and what a capture of the wire shows.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/model/chain.h"
#include "common/model/model.h"
#include "common/model/runtime.h"
#include "common/net/activation.h"
#include "common/net/curve_keys.h"
#include "common/net/protocol.h"
#include "common/net/zap.h"
#include "common/tensor/npy.h"
#include "common/util/files.h"
#include "process/local_cluster.h"
#include "support.h"

namespace tandem {
namespace {

// A control connection to a worker, with a key pair or none.
class Client {
 public:
  Client(const std::string& endpoint, const LinkKeys& keys, const std::string& server_key)
      : socket_(ctx_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    REQUIRE(SecureClientSocket(socket_, keys, server_key).ok());
    socket_.connect(endpoint);
  }
  // The reply to a request, or "" when none comes within `timeout_ms`.
  std::string Call(MessageType type, const std::string& body, int timeout_ms = 1500) {
    socket_.send(zmq::buffer(EncodeMessage(type, 7, body)), zmq::send_flags::dontwait);
    zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) <= 0) return "";
    zmq::message_t m;
    if (!socket_.recv(m, zmq::recv_flags::dontwait)) return "";
    return m.to_string();
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
};

// Every request a peer might try, none of which may be answered.
void ExpectNothingAnswered(Client& c, const std::string& next_hop) {
  DeployBody d;
  d.model_id = "m";
  d.model_version = 9;
  d.next_hop = next_hop;
  d.stage = "not a stage";
  d.stage_sha256 = "0000";
  MeasureLinksBody m;
  m.peers.push_back({"x", "tcp://127.0.0.1:1", ""});
  CHECK(c.Call(MessageType::kHello, HelloBody{PeerRole::kDispatcher, "intruder", {}}.Encode()).empty());
  CHECK(c.Call(MessageType::kDeploy, d.Encode(), 300).empty());
  CHECK(c.Call(MessageType::kUndeploy, UndeployBody{0}.Encode(), 300).empty());
  CHECK(c.Call(MessageType::kStatusRequest, "", 300).empty());
  CHECK(c.Call(MessageType::kMeasureLinks, m.Encode(), 300).empty());
  CHECK(c.Call(MessageType::kProbe, std::string(4, '\0'), 300).empty());
}

// Pushes one activation to a data socket, with a key pair or none.
void Inject(const std::string& endpoint, const LinkKeys& keys, const std::string& server_key, uint32_t version) {
  zmq::context_t ctx(1);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 500);
  REQUIRE(SecureClientSocket(push, keys, server_key).ok());
  push.connect(endpoint);
  const std::string msg = EncodeActivation(1, ActivationHeader{version, 0},
                                           {HostTensor::Zeros(DType::kFloat32, {1, 3, 64, 64})}, CodecSpec(), {})
                              .value();
  push.send(zmq::buffer(msg), zmq::send_flags::dontwait);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

StatusBody StatusOf(const std::string& endpoint, const CurveKeyPair& dispatcher, const std::string& worker_key) {
  Client c(endpoint, dispatcher, worker_key);
  const std::string reply = c.Call(MessageType::kStatusRequest, "", 5000);
  REQUIRE(test::ReplyType(reply) == MessageType::kStatusReply);
  Reader r(reply.data() + kHeaderSize, reply.size() - kHeaderSize);
  return StatusBody::Decode(r).value();
}

const std::vector<int64_t> kShape = {1, 3, 64, 64};

TEST_CASE("unauthorized clients get nothing from a worker while an authorized stream goes on exactly", "[security]") {
  LocalCluster cluster(2);
  test::TestKeyring& keys = *cluster.keys();
  test::TempDir dir;
  const std::string in = dir.path() + "/in", out = dir.path() + "/out";
  REQUIRE(MakeDirs(in).ok());
  const int n = 150;
  auto inputs = WriteInputs(in, n, kShape, 3);
  const std::string model = test::FixturePath("resnet18.traced.pt");
  test::Process dispatcher({test::DispatcherPath(), "run", "-m", model, "-c", cluster.config(), "-i", in, "-o", out,
                            "-k", "2", "--warmup", "0", "--repeats", "1", "--window", "2"},
                           dir.path() + "/dispatcher.log");
  // Attack while the stream runs: after its first results.
  const auto t0 = std::chrono::steady_clock::now();
  while (CountFiles(out) < 5 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  INFO(dispatcher.Log());
  REQUIRE(CountFiles(out) >= 5);
  test::WorkerProcess& w0 = cluster.worker(0);
  std::string stranger_key;
  {
    Client plain(w0.endpoint(), std::nullopt, "");  // no key at all
    ExpectNothingAnswered(plain, "tcp://127.0.0.1:9");
    const CurveKeyPair stranger = GenerateCurveKeyPair().value();  // a key nobody authorized
    stranger_key = stranger.public_key;
    Client unknown(w0.endpoint(), stranger, w0.public_key());
    ExpectNothingAnswered(unknown, "tcp://127.0.0.1:9");
    // Activations for the running deployment, without a key and with a stranger's.
    const StatusBody before = StatusOf(w0.endpoint(), keys.dispatcher, w0.public_key());
    Inject(w0.data_endpoint(), std::nullopt, "", before.model_version);
    Inject(w0.data_endpoint(), stranger, w0.public_key(), before.model_version);
  }
  const int code = dispatcher.Wait(180);
  INFO(dispatcher.Log());
  REQUIRE(code == 0);
  // Every result exact, none extra.
  SetComputeThreads(1);
  auto m = Model::Load(model, kShape);
  REQUIRE(m.ok());
  const auto refs = ReferenceOutputs(*m.value(), inputs);
  for (int i = 0; i < n; ++i) {
    INFO("input " << i);
    CHECK(CheckOutputs(ReadOutputs(out, i, refs[i].size()), refs[i]).ok());
  }
  CHECK(CountFiles(out) == n);
  // Stage 0 took the stream's requests and nothing else; the refusals were
  // counted and logged (with the stranger's fingerprint).
  const StatusBody after = StatusOf(w0.endpoint(), keys.dispatcher, w0.public_key());
  CHECK(after.received == static_cast<uint64_t>(n));
  // Four refusals at least: the stranger's key on both sockets (ZAP), and
  // the keyless clients on both (their handshakes fail before ZAP).
  CHECK(after.refused >= 4);
  CHECK(after.dropped == 0);  // refusals are not drops
  // The worker logs a failed handshake when its socket monitor reports it,
  // which can come a moment after the refusal was counted: wait (bounded).
  // A keyless client's handshake fails on each socket ("on ADDRESS: why";
  // the why is a mechanism mismatch, or a broken pipe when the client hangs
  // up before the server reads its greeting); the stranger's key is refused
  // by name ("from ADDRESS with key FINGERPRINT").
  const std::string stranger_print = " with key " + KeyFingerprint(stranger_key) + ": not authorized";
  const std::vector<std::string> expected = {
      "refused a connection to the control socket on tcp://", "refused a connection to the data socket on tcp://",
      "refused a connection to the control socket from 127.0.0.1" + stranger_print,
      "refused a connection to the data socket from 127.0.0.1" + stranger_print};
  std::string log;
  for (int tries = 0; tries < 100; ++tries) {
    log = w0.process().Log();
    bool all = true;
    for (const std::string& e : expected) all &= log.find(e) != std::string::npos;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO("w0's log:\n" << log);
  for (const std::string& e : expected) {
    INFO("expected: " << e);
    CHECK(log.find(e) != std::string::npos);
  }
}

TEST_CASE("the dispatcher refuses a worker presenting another key than the pinned one, naming both", "[security]") {
  LocalCluster cluster(2);
  const std::string w1_key = cluster.worker(1).public_key();
  const std::string pinned = GenerateCurveKeyPair().value().public_key;  // not w1's
  auto config = nlohmann::json::parse(ReadFile(cluster.config()).value());
  config["workers"][1]["public_key"] = pinned;
  REQUIRE(WriteFileAtomic(cluster.config(), config.dump()).ok());
  auto r = test::RunCommand(test::DispatcherPath() + " run -m " + test::FixturePath("small_cnn.scripted.pt") + " -c " +
                            cluster.config() + " --synthetic 2 -s 1,3,32,32 -k 2 --warmup 0 --repeats 1");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("worker 'w1'") != std::string::npos);
  CHECK(r.err.find("presents the key " + KeyFingerprint(w1_key)) != std::string::npos);
  CHECK(r.err.find("pins " + KeyFingerprint(pinned)) != std::string::npos);
}

TEST_CASE("a worker refuses a secret key others can read, and SIGHUP reloads its authorized keys", "[security]") {
  test::TempDir dir;
  test::TestKeyring keys(dir.path());
  const auto [secret, public_key] = keys.Worker("w");
  REQUIRE(::chmod(secret.c_str(), 0644) == 0);
  auto r = test::RunCommand(test::WorkerPath() + " --listen tcp://127.0.0.1:" + std::to_string(test::FreePort()) +
                            " --secret-key " + secret + " --authorized-keys " + keys.authorized_keys);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(secret + ": a secret key must be readable by its owner only") != std::string::npos);
  REQUIRE(::chmod(secret.c_str(), 0600) == 0);

  test::WorkerProcess w("w", dir.path(), {}, &keys);
  const CurveKeyPair second = GenerateCurveKeyPair().value();  // a second dispatcher, not yet trusted
  {
    Client c(w.endpoint(), second, w.public_key());
    CHECK(c.Call(MessageType::kPing, "", 1000).empty());
  }
  std::ofstream(keys.authorized_keys, std::ios::app) << second.public_key << "  # the second dispatcher\n";
  w.process().Signal(SIGHUP);
  std::string pong;
  for (int i = 0; i < 20 && pong.empty(); ++i) {
    Client c(w.endpoint(), second, w.public_key());
    pong = c.Call(MessageType::kPing, "", 500);
  }
  REQUIRE_FALSE(pong.empty());
  CHECK(test::ReplyType(pong) == MessageType::kPong);
  CHECK(w.process().Log().find("reloaded authorized keys: 2 key(s)") != std::string::npos);
}

TEST_CASE("without keys a worker binds loopback only, unless told --insecure (logged)", "[security]") {
  const std::string port = std::to_string(test::FreePort());
  auto r = test::RunCommand(test::WorkerPath() + " --listen tcp://0.0.0.0:" + port);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("listen: '0.0.0.0' is not this machine's loopback") != std::string::npos);
  CHECK(r.err.find("--insecure") != std::string::npos);
  test::TempDir dir;
  test::Process w({test::WorkerPath(), "--listen", "tcp://0.0.0.0:" + port, "--insecure"}, dir.path() + "/w.log");
  std::string log;
  for (int i = 0; i < 100 && log.find("WITHOUT keys") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = w.Log();
  }
  CHECK(log.find("running WITHOUT keys (--insecure)") != std::string::npos);
}

TEST_CASE("a stage undeployed behind the dispatcher's back is noticed by its heartbeat and deployed again",
          "[security][recovery]") {
  LocalCluster cluster(2);
  test::TestKeyring& keys = *cluster.keys();
  test::TempDir dir;
  const std::string in = dir.path() + "/in", out = dir.path() + "/out";
  REQUIRE(MakeDirs(in).ok());
  const int n = 200;
  auto inputs = WriteInputs(in, n, kShape, 5);
  const std::string model = test::FixturePath("resnet18.traced.pt");
  test::Process dispatcher({test::DispatcherPath(), "run", "-m", model, "-c", cluster.config(), "-i", in, "-o", out,
                            "-k", "2", "--warmup", "0", "--repeats", "1"},
                           dir.path() + "/dispatcher.log");
  const auto t0 = std::chrono::steady_clock::now();
  while (CountFiles(out) < 10 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  INFO(dispatcher.Log());
  REQUIRE(CountFiles(out) >= 10);
  {  // Another holder of the dispatcher's key undeploys everything on w1.
    Client c(cluster.worker(1).endpoint(), keys.dispatcher, cluster.worker(1).public_key());
    REQUIRE(test::ReplyType(c.Call(MessageType::kUndeploy, UndeployBody{0}.Encode(), 5000)) ==
            MessageType::kUndeployAck);
  }
  const int code = dispatcher.Wait(180);
  INFO(dispatcher.Log());
  REQUIRE(code == 0);
  CHECK(dispatcher.Log().find("worker 'w1' runs 0 of its 1 stage(s)") != std::string::npos);
  CHECK(CountFiles(out) == n);
  SetComputeThreads(1);
  auto m = Model::Load(model, kShape);
  REQUIRE(m.ok());
  const auto refs = ReferenceOutputs(*m.value(), inputs);
  for (int i = 0; i < n; ++i) CHECK(CheckOutputs(ReadOutputs(out, i, refs[i].size()), refs[i]).ok());
}

// Whether `haystack` holds `needle`.
bool Holds(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_CASE("a capture of an encrypted run holds no plaintext of its input, but one of an insecure run does",
          "[security][root]") {
  const auto which = test::RunCommand("command -v tcpdump");
  if (::geteuid() != 0 || which.exit_code != 0) {
    WARN("skipped: capturing loopback traffic needs root and tcpdump");
    return;
  }
  const std::string tcpdump = which.out.substr(0, which.out.find('\n'));
  for (const bool secure : {true, false}) {
    LocalCluster cluster(2, "", {}, "", secure);
    test::TempDir dir;
    const std::string in = dir.path() + "/in";
    REQUIRE(MakeDirs(in).ok());
    // An input with a pattern no other traffic has, sent raw (no codec).
    HostTensor x = HostTensor::Zeros(DType::kFloat32, {1, 3, 32, 32});
    for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = 1000.0f + static_cast<float>(i % 97) * 0.125f;
    REQUIRE(WriteNpy(in + "/in-0000.npy", x).ok());
    const std::string pattern(reinterpret_cast<const char*>(x.data.data()) + 400, 256);
    const std::string pcap = dir.path() + "/lo.pcap";
    // Only the first worker's data port, where the input travels, and each
    // packet handed over as it comes (--immediate-mode): what is still in
    // the capture buffer when tcpdump stops is never written.
    const std::string data = cluster.worker(0).data_endpoint();
    const std::string port = data.substr(data.rfind(':') + 1);
    test::Process capture(
        {tcpdump, "-i", "lo", "-Z", "root", "--immediate-mode", "-w", pcap, "-U", "tcp", "port", port},
        dir.path() + "/tcpdump.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    auto r = test::RunCommand(test::DispatcherPath() + " run -m " + test::FixturePath("small_cnn.scripted.pt") +
                              " -c " + cluster.config() + " -i " + in + " -o " + dir.path() +
                              "/out -k 2 --codec raw --warmup 0 --repeats 1");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    capture.Signal(SIGINT);
    REQUIRE(capture.Wait(10) >= 0);
    auto captured = ReadFile(pcap);
    INFO(capture.Log());
    REQUIRE(captured.ok());
    const std::string bytes = captured.value();
    INFO((secure ? "encrypted" : "insecure") << " run, " << bytes.size() << " bytes captured");
    REQUIRE(bytes.size() > 1000);
    CHECK(Holds(bytes, pattern) == !secure);
  }
}

}  // namespace
}  // namespace tandem
