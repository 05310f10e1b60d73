// The client library behind include/tandem/client.h: a DEALER socket
// speaking INFER_REQUEST / INFER_REPLY (common/net/inference.h).
#include "tandem/client.h"

#include <chrono>
#include <set>
#include <zmq.hpp>

#include "common/net/curve_keys.h"
#include "common/net/inference.h"
#include "common/net/protocol.h"
#include "common/net/transport.h"
#include "common/net/zap.h"

namespace tandem {
namespace client {
namespace {

// The public header spells the element types out again (it stands alone);
// they must stay the wire's.
#define TANDEM_SAME_DTYPE(name) \
  static_assert(static_cast<int>(DType::name) == static_cast<int>(tandem::DType::name), #name)
TANDEM_SAME_DTYPE(kFloat32);
TANDEM_SAME_DTYPE(kFloat64);
TANDEM_SAME_DTYPE(kFloat16);
TANDEM_SAME_DTYPE(kInt64);
TANDEM_SAME_DTYPE(kInt32);
TANDEM_SAME_DTYPE(kInt16);
TANDEM_SAME_DTYPE(kInt8);
TANDEM_SAME_DTYPE(kUInt8);
TANDEM_SAME_DTYPE(kBool);
TANDEM_SAME_DTYPE(kBFloat16);
#undef TANDEM_SAME_DTYPE

// Answers larger than this are refused (a model's outputs are far smaller).
constexpr uint64_t kMaxReplyBytes = 1ull << 31;

int HttpStatus(Status::Code code) {
  switch (code) {
    case Status::Code::kUnavailable: return 503;
    case Status::Code::kTimeout: return 504;
    case Status::Code::kInternal: return 500;
    default: return 400;
  }
}

HostTensor ToHost(const Tensor& t) {
  HostTensor h;
  h.dtype = static_cast<tandem::DType>(t.dtype);
  h.shape = t.shape;
  h.data = t.data;
  return h;
}

Tensor FromHost(HostTensor&& h) {
  Tensor t;
  t.dtype = static_cast<DType>(h.dtype);
  t.shape = std::move(h.shape);
  t.data = std::move(h.data);
  return t;
}

}  // namespace

Tensor Tensor::Float32(std::vector<int64_t> shape, const float* values) {
  Tensor t;
  t.shape = std::move(shape);
  const auto* p = reinterpret_cast<const uint8_t*>(values);
  t.data.assign(p, p + t.numel() * sizeof(float));
  return t;
}

int64_t Tensor::numel() const {
  auto n = ShapeNumel(shape);
  return n.ok() ? n.value() : 0;
}

struct Client::Impl {
  Options o;
  zmq::context_t ctx{1};
  std::unique_ptr<zmq::socket_t> socket;
  uint64_t next_id = 1;
  std::set<uint64_t> outstanding;  // sent, not received
  std::set<uint64_t> abandoned;    // timed out here: a late answer is dropped
};

Client::Client(Options options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.o = std::move(options);
  if (m.o.timeout_s <= 0 || m.o.timeout_s > 86400) throw Error(400, 0, "timeout_s must be in (0, 86400]");
  auto ep = ParseTcpEndpoint(m.o.endpoint);
  if (!ep.ok()) throw Error(400, 0, "endpoint: " + ep.status().message());
  LinkKeys keys;
  std::string server_key;
  if (m.o.server_key.empty() != m.o.secret_key_file.empty())
    throw Error(400, 0, "CurveZMQ needs both server_key and secret_key_file (or neither)");
  if (!m.o.server_key.empty()) {
    auto pair = ReadSecretKey(m.o.secret_key_file);
    if (!pair.ok()) throw Error(400, 0, "secret_key_file: " + pair.status().message());
    keys = pair.value();
    auto sk = ReadPublicKey(m.o.server_key);
    if (!sk.ok()) throw Error(400, 0, "server_key: " + sk.status().message());
    server_key = sk.value();
  }
  m.socket = std::make_unique<zmq::socket_t>(m.ctx, zmq::socket_type::dealer);
  SocketOptions so;
  so.max_message_bytes = static_cast<int64_t>(kMaxReplyBytes);
  ApplySocketOptions(*m.socket, so);
  Status st = SecureClientSocket(*m.socket, keys, server_key);
  if (st.ok()) st = ConnectSocket(*m.socket, m.o.endpoint);
  if (!st.ok()) throw Error(400, 0, m.o.endpoint + ": " + st.message());
}

Client::Client(const std::string& endpoint) : Client(Options{endpoint, "", "", 60}) {}

Client::~Client() = default;

size_t Client::outstanding() const { return impl_->outstanding.size(); }

uint64_t Client::Send(const std::vector<Tensor>& inputs) {
  Impl& m = *impl_;
  InferRequestBody req;
  req.timeout_ms = static_cast<uint32_t>(m.o.timeout_s * 1000);
  for (const Tensor& t : inputs) req.inputs.push_back(ToHost(t));
  auto body = req.Encode();
  if (!body.ok()) throw Error(400, 0, "request: " + body.status().message());
  const uint64_t id = m.next_id++;
  zmq::message_t msg = OwnedMessage(EncodeMessage(MessageType::kInferRequest, id, body.value()));
  // The socket queues while it connects; a full queue means the server is
  // gone or far behind.
  const auto sent = m.socket->send(msg, zmq::send_flags::dontwait);
  if (!sent) throw Error(503, id, m.o.endpoint + ": cannot queue the request (the server is not reading)");
  m.outstanding.insert(id);
  return id;
}

Client::Reply Client::Receive() {
  Impl& m = *impl_;
  if (m.outstanding.empty()) throw Error(400, 0, "Receive: no request is outstanding");
  // The server answers by its own deadline; this waits a little longer.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(m.o.timeout_s + 1.0);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    zmq::pollitem_t item{static_cast<void*>(*m.socket), 0, ZMQ_POLLIN, 0};
    if (left.count() <= 0 || zmq::poll(&item, 1, left) == 0) {
      // Every outstanding request is given up: their late answers are dropped.
      m.abandoned.insert(m.outstanding.begin(), m.outstanding.end());
      m.outstanding.clear();
      throw Error(0, 0, m.o.endpoint + ": no answer within " + std::to_string(m.o.timeout_s) + " s");
    }
    zmq::message_t msg;
    if (!m.socket->recv(msg, zmq::recv_flags::dontwait)) continue;
    auto h = DecodeHeader(msg.data(), msg.size());
    if (!h.ok()) continue;  // not the server's: ignored
    if (m.abandoned.erase(h->id) || !m.outstanding.count(h->id)) continue;
    Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
    m.outstanding.erase(h->id);
    if (h->type == MessageType::kError) {
      auto e = ErrorBody::Decode(r);
      if (!e.ok()) throw Error(500, h->id, "the server's error could not be read: " + e.status().message());
      const Status st = e->ToStatus();
      throw Error(HttpStatus(st.code()), h->id, st.message());
    }
    if (h->type != MessageType::kInferReply)
      throw Error(500, h->id, std::string("the server answered with ") + MessageTypeName(h->type));
    auto body = InferReplyBody::Decode(r, kMaxReplyBytes);
    if (!body.ok()) throw Error(500, h->id, "the server's answer could not be read: " + body.status().message());
    Reply reply;
    reply.request_id = h->id;
    reply.model_generation = static_cast<int>(body->generation);
    for (size_t i = 0; i < body->outputs.size(); ++i)
      reply.outputs.push_back(Output{body->names[i], FromHost(std::move(body->outputs[i]))});
    return reply;
  }
}

std::vector<Output> Client::Infer(const std::vector<Tensor>& inputs) {
  if (!impl_->outstanding.empty()) throw Error(400, 0, "Infer: pipelined requests are still outstanding");
  Send(inputs);
  return Receive().outputs;
}

}  // namespace client
}  // namespace tandem
