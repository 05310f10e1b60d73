// Who may connect to a CurveZMQ server socket: a ZAP handler (ZeroMQ RFC 27)
// on a thread of its own, answering each handshake by the client's public
// key. Every CURVE server socket of a context asks it; a socket names its
// ZAP domain (ZMQ_ZAP_DOMAIN), so one policy can tell a worker's control
// socket from its data socket.
//
// Start it before any CURVE server socket of the context binds: libzmq 4.3
// lets every client in while no handler is bound.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "common/net/curve_keys.h"
#include "common/util/log.h"
#include "common/util/status.h"

namespace tandem {

class ZapAuthenticator {
 public:
  // Decides one handshake: the user id to give the connection (every
  // message of it carries it as its "User-Id" property), or "" to refuse.
  // Called on the handler's thread: it must be thread-safe.
  using Policy = std::function<std::string(const std::string& domain, const std::string& client_key_z85)>;

  ZapAuthenticator(zmq::context_t& ctx, Policy policy);
  ~ZapAuthenticator();
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;

  // Binds inproc://zeromq.zap.01 and starts the thread. Errors: another
  // handler is bound in this context.
  Status Start();
  void Stop();
  // Handshakes refused so far (each is logged, at a bounded rate, with the
  // peer's address and key fingerprint).
  uint64_t refused() const { return refused_; }

 private:
  void Loop();
  void Handle(zmq::socket_t& socket);

  zmq::context_t& ctx_;
  Policy policy_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
  KindLogLimiter log_limit_;  // per ZAP domain: a flood on one socket hides no other's
};

// What a connection's messages carry: the user id its handshake got ("" on
// a socket without CURVE). Reads the message's "User-Id" property.
std::string MessageUserId(const zmq::message_t& message);

// A process's own keys for its links; none: plain ZeroMQ (insecure mode).
using LinkKeys = std::optional<CurveKeyPair>;

// Call before bind: with keys, `socket` becomes a CURVE server asking the
// ZAP handler under `domain`; without, it stays plain.
Status SecureServerSocket(zmq::socket_t& socket, const LinkKeys& keys, const std::string& domain);
// Call before connect: with keys, `socket` becomes a CURVE client of the
// server whose public key is `server_key` (required then); without, plain.
Status SecureClientSocket(zmq::socket_t& socket, const LinkKeys& keys, const std::string& server_key);

}  // namespace tandem
