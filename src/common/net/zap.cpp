#include "common/net/zap.h"

#include <vector>

#include "common/net/curve_keys.h"

namespace tandem {
namespace {
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
}  // namespace

ZapAuthenticator::ZapAuthenticator(zmq::context_t& ctx, Policy policy) : ctx_(ctx), policy_(std::move(policy)) {}

ZapAuthenticator::~ZapAuthenticator() { Stop(); }

Status ZapAuthenticator::Start() {
  try {
    socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::rep);
    socket_->set(zmq::sockopt::linger, 0);
    socket_->bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    socket_.reset();
    return Status::Internal(std::string("cannot start the ZAP handler: ") + e.what());
  }
  stop_ = false;
  thread_ = std::thread(&ZapAuthenticator::Loop, this);
  return Status::OK();
}

void ZapAuthenticator::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  socket_.reset();
}

void ZapAuthenticator::Loop() {
  zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0};
  while (!stop_) {
    try {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
      Handle(*socket_);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;  // the context is closing
      if (e.num() != EINTR) LogLine(LogLevel::kWarning, std::string("ZAP handler: ") + e.what());
    }
  }
}

void ZapAuthenticator::Handle(zmq::socket_t& s) {
  // Request: version, request id, domain, address, routing id, mechanism,
  // credentials (CURVE: the client's 32-byte public key).
  std::vector<zmq::message_t> frames;
  do {
    frames.emplace_back();
    if (!s.recv(frames.back(), zmq::recv_flags::dontwait)) return;
  } while (frames.back().more() && frames.size() < 16);
  while (frames.back().more()) {  // never from libzmq; drained so the REP socket stays in step
    zmq::message_t extra;
    if (!s.recv(extra, zmq::recv_flags::dontwait)) break;
    frames.back() = std::move(extra);
  }
  const std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
  std::string user_id;
  std::string client_key, address, domain;
  if (frames.size() >= 7 && frames[0].to_string() == "1.0" && frames[5].to_string() == "CURVE" &&
      frames[6].size() == 32) {
    domain = frames[2].to_string();
    address = frames[3].to_string();
    char z85[kCurveKeyZ85Len + 1];
    if (zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32)) client_key = z85;
    if (!client_key.empty()) user_id = policy_(domain, client_key);
  }
  const bool ok = !user_id.empty();
  if (!ok) {
    ++refused_;
    uint64_t suppressed = 0;
    if (log_limit_.Allow(domain, &suppressed))  // the domain is the server socket's, not the peer's
      LogLine(LogLevel::kWarning,
              "refused a connection to the " + Printable(domain) + " socket from " + Printable(address) + " with key " +
                  (client_key.empty() ? "(none)" : KeyFingerprint(client_key)) + ": not authorized" +
                  (suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : ""));
  }
  const std::string status = ok ? "200" : "400";
  const std::string text = ok ? "OK" : "not authorized";
  s.send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
  s.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
  s.send(zmq::buffer(status), zmq::send_flags::sndmore);
  s.send(zmq::buffer(text), zmq::send_flags::sndmore);
  s.send(zmq::buffer(user_id), zmq::send_flags::sndmore);
  s.send(zmq::buffer(std::string()), zmq::send_flags::none);  // metadata
}

std::string MessageUserId(const zmq::message_t& message) {
  const char* v = zmq_msg_gets(const_cast<zmq_msg_t*>(message.handle()), "User-Id");
  return v ? v : "";
}

Status SecureServerSocket(zmq::socket_t& s, const LinkKeys& keys, const std::string& domain) {
  if (!keys) return Status::OK();
  try {
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, keys->secret_key);
    s.set(zmq::sockopt::zap_domain, domain);
  } catch (const zmq::error_t& e) {
    return Status::Unsupported(std::string("cannot set up a CurveZMQ server socket: ") + e.what());
  }
  return Status::OK();
}

Status SecureClientSocket(zmq::socket_t& s, const LinkKeys& keys, const std::string& server_key) {
  if (!keys) return Status::OK();
  if (!IsCurveKey(server_key)) return Status::InvalidArgument("no public key is known for the peer");
  try {
    s.set(zmq::sockopt::curve_serverkey, server_key);
    s.set(zmq::sockopt::curve_publickey, keys->public_key);
    s.set(zmq::sockopt::curve_secretkey, keys->secret_key);
  } catch (const zmq::error_t& e) {
    return Status::Unsupported(std::string("cannot set up a CurveZMQ client socket: ") + e.what());
  }
  return Status::OK();
}

}  // namespace tandem
