#include "common/net/transport.h"

#include <chrono>

namespace tandem {

void ApplySocketOptions(zmq::socket_t& s, const SocketOptions& o) {
  s.set(zmq::sockopt::linger, o.linger_ms);
  s.set(zmq::sockopt::sndhwm, o.send_hwm);
  s.set(zmq::sockopt::rcvhwm, o.recv_hwm);
  if (o.max_message_bytes > 0) s.set(zmq::sockopt::maxmsgsize, o.max_message_bytes);
}

Status BindSocket(zmq::socket_t& s, const std::string& endpoint) {
  try {
    s.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot listen on " + endpoint + ": " + e.what());
  }
  return Status::OK();
}

Status ConnectSocket(zmq::socket_t& s, const std::string& endpoint) {
  try {
    s.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return Status::InvalidArgument("cannot connect to " + endpoint + ": " + e.what());
  }
  return Status::OK();
}

std::string LastEndpoint(zmq::socket_t& s) { return s.get(zmq::sockopt::last_endpoint); }

Result<TcpEndpoint> ParseTcpEndpoint(const std::string& endpoint) {
  const std::string prefix = "tcp://";
  auto bad = [&] {
    return Status::InvalidArgument("'" + endpoint + "' is not a TCP endpoint of the form tcp://HOST:PORT");
  };
  if (endpoint.compare(0, prefix.size(), prefix) != 0) return bad();
  const std::string rest = endpoint.substr(prefix.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return bad();
  TcpEndpoint e{rest.substr(0, colon), rest.substr(colon + 1)};
  if (e.port != "*") {
    if (e.port.size() > 5 || e.port.find_first_not_of("0123456789") != std::string::npos) return bad();
    const int p = std::stoi(e.port);
    if (p < 1 || p > 65535) return bad();
  }
  return e;
}

bool SendBytes(zmq::socket_t& s, const std::string& bytes, bool more) {
  try {
    auto r = s.send(zmq::buffer(bytes), more ? zmq::send_flags::sndmore : zmq::send_flags::none);
    return r.has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

zmq::message_t OwnedMessage(std::string&& bytes) {
  auto* heap = new std::string(std::move(bytes));
  return zmq::message_t(
      &(*heap)[0], heap->size(), [](void*, void* hint) { delete static_cast<std::string*>(hint); }, heap);
}

bool SendMessage(zmq::socket_t& socket, zmq::message_t& message) {
  try {
    return socket.send(message, zmq::send_flags::none).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

bool WaitWritable(zmq::socket_t& socket, int wait_ms) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLOUT, 0};
  try {
    return zmq::poll(&item, 1, std::chrono::milliseconds(wait_ms)) > 0 && (item.revents & ZMQ_POLLOUT) != 0;
  } catch (const zmq::error_t&) {
    return false;
  }
}

}  // namespace tandem
