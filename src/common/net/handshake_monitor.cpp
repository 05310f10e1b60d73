#include "common/net/handshake_monitor.h"

#include <cstdio>
#include <cstring>

#include "common/util/log.h"

namespace tandem {
namespace {

constexpr int kEvents = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;

std::string Reason(uint16_t event, uint32_t value) {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    return "the handshake did not finish (" + std::string(zmq_strerror(static_cast<int>(value))) + ")";
  switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "the client does not speak CurveZMQ with this worker (security mechanism mismatch)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "the client's handshake does not decrypt (it expects another server key)";
    default: {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%x", value);
      return std::string("protocol error ") + hex + " in the handshake";
    }
  }
}

}  // namespace

HandshakeMonitor::~HandshakeMonitor() {
  for (zmq::socket_t* s : sockets_) zmq_socket_monitor(static_cast<void*>(*s), nullptr, 0);
}

Status HandshakeMonitor::Watch(zmq::socket_t& socket, const std::string& what) {
  const std::string endpoint = "inproc://tandem.handshakes." + std::to_string(reinterpret_cast<uintptr_t>(this)) + "." +
                               std::to_string(watched_.size());
  if (zmq_socket_monitor(static_cast<void*>(socket), endpoint.c_str(), kEvents) != 0)
    return Status::Internal("cannot monitor the " + what + " socket: " + zmq_strerror(zmq_errno()));
  sockets_.push_back(&socket);
  Watched w;
  w.what = what;
  try {
    w.pair = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
    w.pair->set(zmq::sockopt::linger, 0);
    w.pair->connect(endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Internal("cannot monitor the " + what + " socket: " + e.what());
  }
  watched_.push_back(std::move(w));
  return Status::OK();
}

size_t HandshakeMonitor::Drain(const std::function<void(const std::string&)>& report) {
  size_t n = 0;
  for (auto& w : watched_) {
    // Each event is two frames: u16 event + u32 value, then the endpoint.
    for (;;) {
      zmq::message_t head, where;
      if (!w.pair->recv(head, zmq::recv_flags::dontwait)) break;
      if (head.more()) (void)w.pair->recv(where, zmq::recv_flags::dontwait);
      if (head.size() < 6) continue;
      uint16_t event = 0;
      uint32_t value = 0;
      std::memcpy(&event, head.data(), 2);
      std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
      ++n;
      report("refused a connection to the " + w.what + " socket on " + Printable(where.to_string()) + ": " +
             Reason(event, value));
    }
  }
  return n;
}

}  // namespace tandem
