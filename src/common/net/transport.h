// ZeroMQ helpers shared by the worker and the dispatcher. cppzmq throws
// zmq::error_t; these wrappers return Status naming the endpoint instead.
#pragma once

#include <cstdint>
#include <string>
#include <zmq.hpp>

#include "common/util/status.h"

namespace tandem {

struct SocketOptions {
  // Largest message accepted (ZMQ_MAXMSGSIZE); a peer sending more is
  // disconnected by ZeroMQ. 0 leaves it unlimited (only for sending sockets).
  int64_t max_message_bytes = 0;
  // High-water marks in messages: small values give back-pressure.
  int send_hwm = 1000;
  int recv_hwm = 1000;
  // How long close waits to flush unsent messages, ms.
  int linger_ms = 0;
};

void ApplySocketOptions(zmq::socket_t& socket, const SocketOptions& o);
Status BindSocket(zmq::socket_t& socket, const std::string& endpoint);
Status ConnectSocket(zmq::socket_t& socket, const std::string& endpoint);
// The endpoint a socket actually bound (resolves a "*" port).
std::string LastEndpoint(zmq::socket_t& socket);

// Splits "tcp://HOST:PORT" (HOST may be a name, an IPv4 address, "*" or
// "[v6]"). Errors name the endpoint.
struct TcpEndpoint {
  std::string host;
  std::string port;  // digits or "*"
};
Result<TcpEndpoint> ParseTcpEndpoint(const std::string& endpoint);
// Whether HOST is this machine's loopback (127.0.0.0/8, ::1, localhost).
bool IsLoopbackHost(const std::string& host);
// Whether HOST is a numeric IPv4 address or a bracketed IPv6 one.
bool IsNumericHost(const std::string& host);
// "tcp://NAME:PORT" with NAME looked up (IPv4 first): what a worker may be
// told to connect to, since workers take only numeric endpoints. Numeric
// endpoints come back as they are. Errors name the endpoint.
Result<std::string> ResolveTcpEndpoint(const std::string& endpoint);

// Sends a message; false when it could not be queued within the socket's
// send timeout (or the context is shutting down).
bool SendBytes(zmq::socket_t& socket, const std::string& bytes, bool more = false);

// Wraps `bytes` in a ZeroMQ message without copying (ZeroMQ frees it once
// sent). Send it with SendMessage; a failed send leaves it intact for a retry.
zmq::message_t OwnedMessage(std::string&& bytes);
bool SendMessage(zmq::socket_t& socket, zmq::message_t& message);
// Waits up to `wait_ms` until `socket` can queue a message without blocking;
// false on timeout or when the context is shutting down.
bool WaitWritable(zmq::socket_t& socket, int wait_ms);

}  // namespace tandem
