#include "common/net/transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

bool IsNumericHost(const std::string& host) {
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) return true;
  if (host.size() < 3 || host.front() != '[' || host.back() != ']') return false;
  in6_addr a6{};
  return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6) == 1;
}

Result<std::string> ResolveTcpEndpoint(const std::string& endpoint) {
  TANDEM_ASSIGN_OR_RETURN(TcpEndpoint e, ParseTcpEndpoint(endpoint));
  if (IsNumericHost(e.host) || e.host == "*") return endpoint;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(e.host.c_str(), nullptr, &hints, &found);
  if (rc != 0) return Status::Unavailable(endpoint + ": cannot look up '" + e.host + "': " + gai_strerror(rc));
  std::string v4, v6;
  char buf[INET6_ADDRSTRLEN];
  for (addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family == AF_INET && v4.empty() &&
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, buf, sizeof buf))
      v4 = buf;
    if (a->ai_family == AF_INET6 && v6.empty() &&
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, buf, sizeof buf))
      v6 = std::string("[") + buf + "]";
  }
  freeaddrinfo(found);
  if (v4.empty() && v6.empty()) return Status::Unavailable(endpoint + ": '" + e.host + "' has no address");
  return "tcp://" + (v4.empty() ? v6 : v4) + ":" + e.port;
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
