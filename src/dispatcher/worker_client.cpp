#include "dispatcher/worker_client.h"

#include <chrono>
#include <cmath>

#include "common/transport.h"

namespace tandem {

WorkerClient::WorkerClient(zmq::context_t& ctx, WorkerEntry entry) : ctx_(ctx), entry_(std::move(entry)) {}

std::string WorkerClient::Who() const { return "worker '" + entry_.name + "' (" + entry_.endpoint + ")"; }

Result<std::string> WorkerClient::Call(MessageType type, const std::string& body, MessageType expect,
                                       double timeout_s) {
  if (!socket_) return Status::Internal("not connected");
  const uint64_t id = next_id_++;
  const std::string msg = EncodeMessage(type, id, body);
  if (!SendBytes(*socket_, msg))
    return Status::Unavailable(Who() + ": could not send " + MessageTypeName(type));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0};
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int ready = 0;
    try {
      ready = zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(200)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Unavailable(Who() + ": " + e.what());
    }
    if (ready <= 0) continue;
    zmq::message_t reply;
    if (!socket_->recv(reply, zmq::recv_flags::dontwait)) continue;
    auto h = DecodeHeader(reply.data(), reply.size());
    if (!h.ok()) return h.status().WithContext(Who() + " answered " + MessageTypeName(type) + " with a bad message");
    if (h->id != id && h->id != 0) continue;  // a late reply to an earlier call
    Reader r(static_cast<const uint8_t*>(reply.data()) + kHeaderSize, reply.size() - kHeaderSize);
    if (h->type == MessageType::kError) {
      auto e = ErrorBody::Decode(r);
      if (!e.ok()) return e.status();
      return e->ToStatus().WithContext(Who() + " refused " + MessageTypeName(type));
    }
    if (h->id != id) continue;
    if (h->type != expect)
      return Status::Corruption(Who() + " answered " + MessageTypeName(type) + " with " + MessageTypeName(h->type));
    return std::string(static_cast<const char*>(reply.data()) + kHeaderSize, reply.size() - kHeaderSize);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", timeout_s);
  return Status::Timeout(Who() + " did not answer " + MessageTypeName(type) + " within " + buf +
                         " s; is tandem-worker running there and reachable?");
}

Status WorkerClient::Hello(double timeout_s) {
  TANDEM_ASSIGN_OR_RETURN(TcpEndpoint ep, ParseTcpEndpoint(entry_.endpoint));
  socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  SocketOptions so;
  so.max_message_bytes = 64 << 20;
  so.linger_ms = 0;
  ApplySocketOptions(*socket_, so);
  socket_->set(zmq::sockopt::sndtimeo, 5000);
  TANDEM_RETURN_IF_ERROR(ConnectSocket(*socket_, entry_.endpoint));
  HelloBody h{PeerRole::kDispatcher, "tandem-dispatcher"};
  TANDEM_ASSIGN_OR_RETURN(std::string body, Call(MessageType::kHello, h.Encode(), MessageType::kHelloAck, timeout_s));
  Reader r(body);
  TANDEM_ASSIGN_OR_RETURN(hello_, HelloAckBody::Decode(r));
  if (hello_.data_port == 0) return Status::Corruption(Who() + " reported no data port");
  data_endpoint_ = "tcp://" + ep.host + ":" + std::to_string(hello_.data_port);
  return Status::OK();
}

Result<DeployAckBody> WorkerClient::Deploy(const DeployBody& d, double timeout_s) {
  TANDEM_ASSIGN_OR_RETURN(std::string body, Call(MessageType::kDeploy, d.Encode(), MessageType::kDeployAck, timeout_s));
  Reader r(body);
  TANDEM_ASSIGN_OR_RETURN(DeployAckBody ack, DeployAckBody::Decode(r));
  if (ack.code != Status::Code::kOk) {
    ErrorBody e{ack.code, ack.message};
    return e.ToStatus().WithContext(Who() + " refused stage " + std::to_string(d.stage_index));
  }
  return ack;
}

Result<StatusBody> WorkerClient::GetStatus(double timeout_s) {
  TANDEM_ASSIGN_OR_RETURN(std::string body, Call(MessageType::kStatusRequest, "", MessageType::kStatusReply, timeout_s));
  Reader r(body);
  return StatusBody::Decode(r);
}

Status WorkerClient::Undeploy(double timeout_s) {
  return Call(MessageType::kUndeploy, "", MessageType::kUndeployAck, timeout_s).status();
}

}  // namespace tandem
