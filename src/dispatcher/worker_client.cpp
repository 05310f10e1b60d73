#include "dispatcher/worker_client.h"

#include <chrono>
#include <cmath>

#include "common/net/curve_keys.h"
#include "common/net/transport.h"
#include "common/util/format.h"

namespace tandem {

WorkerClient::WorkerClient(zmq::context_t& ctx, WorkerEntry entry, LinkKeys keys, std::vector<std::string> peer_keys)
    : ctx_(ctx), entry_(std::move(entry)), keys_(std::move(keys)), peer_keys_(std::move(peer_keys)) {}

std::string WorkerClient::Who() const { return "worker '" + entry_.name + "' (" + entry_.endpoint + ")"; }

Result<uint64_t> WorkerClient::Send(MessageType type, const std::string& body) {
  if (!socket_) return Status::Internal("not connected");
  const uint64_t id = next_id_++;
  const std::string msg = EncodeMessage(type, id, body);
  if (!SendBytes(*socket_, msg))
    return Status::Unavailable(Who() + " is not connected: could not send " + MessageTypeName(type));
  return id;
}

Result<std::optional<std::string>> WorkerClient::Take(const zmq::message_t& reply, uint64_t id, MessageType type,
                                                      MessageType expect) {
  auto h = DecodeHeader(reply.data(), reply.size());
  if (!h.ok()) return h.status().WithContext(Who() + " answered " + MessageTypeName(type) + " with a bad message");
  if (h->id != id && h->id != 0) {
    // A reply to another call: kept if that call is a deploy not finished
    // yet (at most one reply each), else a late reply to an earlier call.
    if (unfinished_.count(h->id)) kept_[h->id] = std::string(static_cast<const char*>(reply.data()), reply.size());
    return std::optional<std::string>();
  }
  Reader r(static_cast<const uint8_t*>(reply.data()) + kHeaderSize, reply.size() - kHeaderSize);
  if (h->type == MessageType::kError) {
    auto e = ErrorBody::Decode(r);
    if (!e.ok()) return e.status();
    return e->ToStatus().WithContext(Who() + " refused " + MessageTypeName(type));
  }
  if (h->id != id) return std::optional<std::string>();
  if (h->type != expect)
    return Status::Corruption(Who() + " answered " + MessageTypeName(type) + " with " + MessageTypeName(h->type));
  return std::optional<std::string>(
      std::string(static_cast<const char*>(reply.data()) + kHeaderSize, reply.size() - kHeaderSize));
}

Result<std::string> WorkerClient::Await(uint64_t id, MessageType type, MessageType expect, double timeout_s) {
  if (auto kept = kept_.find(id); kept != kept_.end()) {
    const zmq::message_t reply(kept->second.data(), kept->second.size());
    kept_.erase(kept);
    TANDEM_ASSIGN_OR_RETURN(auto body, Take(reply, id, type, expect));
    if (body) return std::move(*body);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0};
  while (true) {
    if (give_up_ && give_up_())
      return Status::Unavailable(Who() + " failed while " + MessageTypeName(type) + " was in progress");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int ready = 0;
    try {
      ready = zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(50)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Unavailable(Who() + ": " + e.what());
    }
    if (ready <= 0) continue;
    zmq::message_t reply;
    if (!socket_->recv(reply, zmq::recv_flags::dontwait)) continue;
    TANDEM_ASSIGN_OR_RETURN(auto body, Take(reply, id, type, expect));
    if (body) return std::move(*body);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", timeout_s);
  return Status::Timeout(Who() + " did not answer " + MessageTypeName(type) + " within " + buf +
                         " s; is tandem-worker running there and reachable?");
}

Result<std::string> WorkerClient::Call(MessageType type, const std::string& body, MessageType expect,
                                       double timeout_s) {
  TANDEM_ASSIGN_OR_RETURN(uint64_t id, Send(type, body));
  return Await(id, type, expect, timeout_s);
}

Status WorkerClient::Hello(double timeout_s) {
  TANDEM_ASSIGN_OR_RETURN(TcpEndpoint ep, ParseTcpEndpoint(entry_.endpoint));
  unfinished_.clear();  // their replies would come on the old socket
  kept_.clear();
  socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  SocketOptions so;
  so.max_message_bytes = 64 << 20;
  so.linger_ms = 0;
  ApplySocketOptions(*socket_, so);
  socket_->set(zmq::sockopt::sndtimeo, 5000);
  // Queue nothing for a worker that is not connected: a request sent while
  // it is away must not reach it, long after, when it comes back.
  socket_->set(zmq::sockopt::immediate, 1);
  TANDEM_RETURN_IF_ERROR(SecureClientSocket(*socket_, keys_, entry_.public_key).WithContext(Who()));
  TANDEM_RETURN_IF_ERROR(ConnectSocket(*socket_, entry_.endpoint));
  HelloBody h{PeerRole::kDispatcher, "tandem-dispatcher", {}};
  for (const auto& k : peer_keys_)
    if (!k.empty()) h.peer_keys.push_back(k);
  // Until the connection is up a send waits (ZMQ_IMMEDIATE); for HELLO that
  // wait is part of its timeout.
  const auto started = std::chrono::steady_clock::now();
  socket_->set(zmq::sockopt::sndtimeo, std::max(1, static_cast<int>(timeout_s * 1000)));
  auto sent = Send(MessageType::kHello, h.Encode());
  socket_->set(zmq::sockopt::sndtimeo, 5000);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", timeout_s);
  const Status silent = Status::Timeout(Who() + " did not answer HELLO within " + buf +
                                        " s; is tandem-worker running there and reachable?");
  if (!sent.ok()) return keys_ ? WhyNoHandshake(silent) : silent;
  const double left = timeout_s - std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto answered = Await(sent.value(), MessageType::kHello, MessageType::kHelloAck, std::max(0.05, left));
  if (answered.status().code() == Status::Code::kTimeout) return keys_ ? WhyNoHandshake(silent) : silent;
  TANDEM_ASSIGN_OR_RETURN(std::string body, std::move(answered));
  Reader r(body);
  TANDEM_ASSIGN_OR_RETURN(hello_, HelloAckBody::Decode(r));
  if (hello_.data_port == 0) return Status::Corruption(Who() + " reported no data port");
  if (keys_ && hello_.public_key != entry_.public_key)
    return Status::Corruption(Who() + " says its key is " + KeyFingerprint(hello_.public_key) +
                              " over a link made with " + KeyFingerprint(entry_.public_key));
  // Workers connect only to numeric endpoints: a host name is looked up here.
  TANDEM_ASSIGN_OR_RETURN(data_endpoint_,
                          ResolveTcpEndpoint("tcp://" + ep.host + ":" + std::to_string(hello_.data_port)));
  TANDEM_ASSIGN_OR_RETURN(control_endpoint_, ResolveTcpEndpoint(entry_.endpoint));
  return Status::OK();
}

Status WorkerClient::WhyNoHandshake(const Status& silent) {
  // A CurveZMQ handshake with the wrong server key fails without a word: ask
  // the worker's plain announce socket which key it has.
  TANDEM_ASSIGN_OR_RETURN(TcpEndpoint ep, ParseTcpEndpoint(entry_.endpoint));
  std::string where = entry_.key_endpoint;
  if (where.empty() && ep.port != "*") where = "tcp://" + ep.host + ":" + std::to_string(std::stoi(ep.port) + 2);
  if (where.empty()) return silent;
  try {
    zmq::socket_t s(ctx_, zmq::socket_type::dealer);
    SocketOptions so;
    so.max_message_bytes = 4096;
    so.linger_ms = 0;
    ApplySocketOptions(s, so);
    s.set(zmq::sockopt::immediate, 1);
    s.set(zmq::sockopt::sndtimeo, 1000);
    s.connect(where);
    if (!SendBytes(s, EncodeMessage(MessageType::kKeyRequest, 1, ""))) return silent;
    zmq::pollitem_t item{static_cast<void*>(s), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(1000)) <= 0) return silent;
    zmq::message_t m;
    if (!s.recv(m, zmq::recv_flags::dontwait)) return silent;
    auto h = DecodeHeader(m.data(), m.size());
    if (!h.ok() || h->type != MessageType::kKeyReply) return silent;
    Reader r(static_cast<const uint8_t*>(m.data()) + kHeaderSize, m.size() - kHeaderSize);
    auto reply = KeyReplyBody::Decode(r);
    if (!reply.ok()) return silent;
    if (reply->public_key != entry_.public_key)
      return Status::InvalidArgument(Who() + " presents the key " + KeyFingerprint(reply->public_key) +
                                     ", the cluster config pins " + KeyFingerprint(entry_.public_key) +
                                     " (its public_key): refused. If the worker's key was made anew, put its new "
                                     "public key in the cluster config; if not, this is another machine");
    return Status::Unavailable(Who() + " (key " + KeyFingerprint(reply->public_key) +
                               ") did not accept this dispatcher's key " + KeyFingerprint(keys_->public_key) +
                               ": add the dispatcher's public key to the worker's authorized_keys and send it SIGHUP");
  } catch (const zmq::error_t&) {
    return silent;
  }
}

Result<DeployAckBody> WorkerClient::Deploy(const DeployBody& d, std::string_view archive, double timeout_s) {
  TANDEM_ASSIGN_OR_RETURN(uint64_t id, StartDeploy(d, archive));
  return FinishDeploy(id, d.stage_index, timeout_s);
}

Result<uint64_t> WorkerClient::StartDeploy(const DeployBody& d, std::string_view archive) {
  DeployBody head = d;
  head.stage.clear();
  head.upload_bytes = archive.size();
  TANDEM_ASSIGN_OR_RETURN(const uint64_t id, Send(MessageType::kDeploy, head.Encode()));
  for (size_t offset = 0; offset < archive.size(); offset += kDeployChunkBytes) {
    zmq::message_t m = OwnedMessage(EncodeDeployChunk(id, offset, archive.substr(offset, kDeployChunkBytes)));
    if (!SendMessage(*socket_, m))
      return Status::Unavailable(Who() + " stopped taking stage " + std::to_string(d.stage_index) + " after " +
                                 FormatBytes(offset) + " of " + FormatBytes(archive.size()));
  }
  unfinished_.insert(id);
  return id;
}

Result<DeployAckBody> WorkerClient::FinishDeploy(uint64_t call, uint32_t stage_index, double timeout_s) {
  if (!unfinished_.count(call) && !kept_.count(call))
    return Status::Unavailable(Who() + " was connected again while stage " + std::to_string(stage_index) +
                               " was being deployed");
  auto answered = Await(call, MessageType::kDeploy, MessageType::kDeployAck, timeout_s);
  unfinished_.erase(call);
  TANDEM_ASSIGN_OR_RETURN(std::string body, std::move(answered));
  return DeployAck(body, stage_index);
}

Result<std::optional<DeployAckBody>> WorkerClient::PollDeploy(uint64_t call, uint32_t stage_index) {
  if (!unfinished_.count(call) && !kept_.count(call))
    return Status::Unavailable(Who() + " was connected again while stage " + std::to_string(stage_index) +
                               " was being deployed");
  auto finish = [&](Result<std::optional<std::string>> body) -> Result<std::optional<DeployAckBody>> {
    if (body.ok() && !body.value()) return std::optional<DeployAckBody>();
    unfinished_.erase(call);
    TANDEM_RETURN_IF_ERROR(body.status());
    TANDEM_ASSIGN_OR_RETURN(DeployAckBody ack, DeployAck(**body, stage_index));
    return std::optional<DeployAckBody>(std::move(ack));
  };
  if (auto kept = kept_.find(call); kept != kept_.end()) {
    const zmq::message_t reply(kept->second.data(), kept->second.size());
    kept_.erase(kept);
    return finish(Take(reply, call, MessageType::kDeploy, MessageType::kDeployAck));
  }
  if (give_up_ && give_up_()) {
    unfinished_.erase(call);
    return Status::Unavailable(Who() + " failed while DEPLOY was in progress");
  }
  zmq::message_t reply;
  while (socket_->recv(reply, zmq::recv_flags::dontwait)) {
    auto body = finish(Take(reply, call, MessageType::kDeploy, MessageType::kDeployAck));
    if (!body.ok() || body.value()) return body;
  }
  return std::optional<DeployAckBody>();
}

Result<DeployAckBody> WorkerClient::DeployAck(const std::string& body, uint32_t stage_index) const {
  Reader r(body);
  TANDEM_ASSIGN_OR_RETURN(DeployAckBody ack, DeployAckBody::Decode(r));
  if (ack.code != Status::Code::kOk) {
    ErrorBody e{ack.code, ack.message};
    return e.ToStatus().WithContext(Who() + " refused stage " + std::to_string(stage_index));
  }
  return ack;
}

Status WorkerClient::Undeploy(double timeout_s, uint32_t model_version) {
  UndeployBody u{model_version};
  return Call(MessageType::kUndeploy, u.Encode(), MessageType::kUndeployAck, timeout_s).status();
}

Result<LinksReportBody> WorkerClient::MeasureLinks(const MeasureLinksBody& m, double timeout_s) {
  TANDEM_ASSIGN_OR_RETURN(std::string body,
                          Call(MessageType::kMeasureLinks, m.Encode(), MessageType::kLinksReport, timeout_s));
  Reader r(body);
  TANDEM_ASSIGN_OR_RETURN(LinksReportBody report, LinksReportBody::Decode(r));
  if (report.links.size() != m.peers.size())
    return Status::Corruption(Who() + " reported " + std::to_string(report.links.size()) + " links for " +
                              std::to_string(m.peers.size()) + " peers");
  return report;
}

}  // namespace tandem
