// Watches sockets for handshakes that fail before any authentication
// handler sees them: a client without CurveZMQ (or with another mechanism),
// one that encrypted its HELLO to another server key, one that connected and
// never finished (handshake_ivl). A ZAP refusal is counted by the ZAP
// handler (zap.h), not here.
//
// Built on zmq_socket_monitor: each watched socket reports to an inproc PAIR
// socket that Drain reads without blocking. Not thread-safe: create, watch
// and drain on one thread (the one that owns the sockets' poll loop).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/util/status.h"

namespace tandem {

class HandshakeMonitor {
 public:
  explicit HandshakeMonitor(zmq::context_t& ctx) : ctx_(ctx) {}
  ~HandshakeMonitor();
  HandshakeMonitor(const HandshakeMonitor&) = delete;
  HandshakeMonitor& operator=(const HandshakeMonitor&) = delete;

  // Starts watching `socket` (before or after it binds), named `what` in
  // the reports ("control", "data").
  Status Watch(zmq::socket_t& socket, const std::string& what);
  // Reads the failures reported since the last call and calls `report` with
  // a sentence for each ("a connection to the control socket on
  // tcp://...: the handshake failed: ..."); returns how many there were.
  size_t Drain(const std::function<void(const std::string&)>& report);

 private:
  struct Watched {
    std::string what;
    std::unique_ptr<zmq::socket_t> pair;  // receives the socket's events
  };
  zmq::context_t& ctx_;
  std::vector<Watched> watched_;
  std::vector<zmq::socket_t*> sockets_;  // to stop monitoring on destruction
};

}  // namespace tandem
