#include "common/net/link_probe.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>

#include "common/net/protocol.h"
#include "common/net/transport.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

class Prober {
 public:
  Prober(zmq::context_t& ctx, std::string endpoint, const ProbeOptions& o, const std::atomic<bool>* stop)
      : socket_(ctx, zmq::socket_type::dealer), endpoint_(std::move(endpoint)), o_(o), stop_(stop) {}

  Status Connect(const LinkKeys& keys, const std::string& server_key) {
    TANDEM_RETURN_IF_ERROR(SecureClientSocket(socket_, keys, server_key).WithContext(endpoint_));
    SocketOptions so;
    so.max_message_bytes = static_cast<int64_t>(o_.probe_bytes) + kHeaderSize + 4096;
    so.linger_ms = 0;
    ApplySocketOptions(socket_, so);
    // A send waits for the connection (bounded by the timeout) instead of
    // queueing for a peer that is not there.
    socket_.set(zmq::sockopt::immediate, 1);
    socket_.set(zmq::sockopt::sndtimeo, std::max(1, static_cast<int>(o_.timeout_s * 1000)));
    return ConnectSocket(socket_, endpoint_);
  }

  // One probe: its round trip in seconds.
  Result<double> Once(uint32_t reply_bytes, size_t payload_bytes) {
    if (stop_ && *stop_) return Status::Unavailable("stopped while probing " + endpoint_);
    const uint64_t id = ++id_;
    const std::string encoded = EncodeProbe(id, reply_bytes, payload_bytes);
    zmq::message_t msg(encoded.data(), encoded.size());  // built before the clock starts
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration<double>(o_.timeout_s);
    zmq::send_result_t sent;
    try {
      sent = socket_.send(msg, zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      return Status::Unavailable("cannot send a probe to " + endpoint_ + ": " + e.what());
    }
    if (!sent) return Status::Timeout(endpoint_ + " did not take a probe within " + Seconds(o_.timeout_s) + " s");
    zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    while (true) {
      if (stop_ && *stop_) return Status::Unavailable("stopped while probing " + endpoint_);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      int ready = 0;
      try {
        ready = zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(100)));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) return Status::Unavailable("probing " + endpoint_ + ": " + e.what());
      }
      if (ready <= 0) continue;
      zmq::message_t reply;
      if (!socket_.recv(reply, zmq::recv_flags::dontwait)) continue;
      const double rtt = std::chrono::duration<double>(Clock::now() - t0).count();
      auto h = DecodeHeader(reply.data(), reply.size());
      if (!h.ok()) return h.status().WithContext(endpoint_ + " answered a probe with a bad message");
      if (h->type == MessageType::kError && (h->id == id || h->id == 0)) {
        Reader r(static_cast<const uint8_t*>(reply.data()) + kHeaderSize, reply.size() - kHeaderSize);
        auto e = ErrorBody::Decode(r);
        if (!e.ok()) return e.status();
        return e->ToStatus().WithContext(endpoint_ + " refused a probe");
      }
      if (h->id != id) continue;  // a late answer to an earlier probe
      if (h->type != MessageType::kProbeReply || h->body_len != reply_bytes)
        return Status::Corruption(endpoint_ + " answered a probe for " + std::to_string(reply_bytes) + " bytes with " +
                                  MessageTypeName(h->type) + " of " + std::to_string(h->body_len));
      return rtt;
    }
    return Status::Timeout(endpoint_ + " did not answer a probe within " + Seconds(o_.timeout_s) +
                           " s; is tandem-worker running there and reachable?");
  }

  // The fastest of `rounds` probes, after one untimed.
  Result<double> Fastest(uint32_t reply_bytes, size_t payload_bytes) {
    TANDEM_RETURN_IF_ERROR(Once(reply_bytes, payload_bytes).status());
    double best = std::numeric_limits<double>::infinity();
    for (uint32_t i = 0; i < o_.rounds; ++i) {
      TANDEM_ASSIGN_OR_RETURN(double t, Once(reply_bytes, payload_bytes));
      best = std::min(best, t);
    }
    return best;
  }

 private:
  zmq::socket_t socket_;
  std::string endpoint_;
  ProbeOptions o_;
  const std::atomic<bool>* stop_;
  uint64_t id_ = 0;
};

}  // namespace

Result<LinkEstimate> ProbeLink(zmq::context_t& ctx, const std::string& endpoint, const ProbeOptions& o,
                               const std::atomic<bool>* stop, const LinkKeys& keys, const std::string& server_key) {
  if (o.probe_bytes == 0 || o.probe_bytes > kMaxProbeBytes)
    return Status::InvalidArgument("probe size " + std::to_string(o.probe_bytes) + " is not in 1.." +
                                   std::to_string(kMaxProbeBytes) + " bytes");
  if (o.rounds == 0 || o.rounds > kMaxProbeRounds || !(o.timeout_s > 0 && o.timeout_s <= 3600))
    return Status::InvalidArgument("probe rounds must be in 1.." + std::to_string(kMaxProbeRounds) +
                                   " and the timeout in (0, 3600] s");
  TANDEM_RETURN_IF_ERROR(ParseTcpEndpoint(endpoint).status());
  Prober p(ctx, endpoint, o, stop);
  TANDEM_RETURN_IF_ERROR(p.Connect(keys, server_key));
  LinkEstimate e;
  TANDEM_ASSIGN_OR_RETURN(e.rtt_s, p.Fastest(0, 0));
  TANDEM_ASSIGN_OR_RETURN(const double out, p.Fastest(0, o.probe_bytes));
  TANDEM_ASSIGN_OR_RETURN(const double in, p.Fastest(o.probe_bytes, 0));
  // On a fast link the payload's share of a round trip can drown in the
  // noise of the empty one: never less than a microsecond.
  e.out_bytes_per_s = o.probe_bytes / std::max(out - e.rtt_s, 1e-6);
  e.in_bytes_per_s = o.probe_bytes / std::max(in - e.rtt_s, 1e-6);
  return e;
}

}  // namespace tandem
