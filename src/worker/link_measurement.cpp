#include "worker/link_measurement.h"

#include <algorithm>

#include "common/net/link_probe.h"
#include "common/util/log.h"

namespace tandem {

double LinkMeasurement::DeadlineSeconds(const MeasureLinksBody& r) {
  const double all = static_cast<double>(r.peers.size()) * (3.0 + 3.0 * r.rounds) * r.timeout_s;
  return std::min(all, kMaxMeasureSeconds);
}

LinkMeasurement::LinkMeasurement(zmq::context_t& ctx, MeasureLinksBody request, LinkKeys keys)
    : request_(std::move(request)) {
  thread_ = std::thread([this, &ctx, keys = std::move(keys)] { Run(ctx, keys); });
}

LinkMeasurement::~LinkMeasurement() {
  cancel_ = true;
  if (thread_.joinable()) thread_.join();
}

void LinkMeasurement::Run(zmq::context_t& ctx, const LinkKeys& keys) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(DeadlineSeconds(request_));
  for (const auto& peer : request_.peers) {
    LinkResult l;
    l.name = peer.name;
    const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
    if (cancel_ || left <= 0) {
      l.code = Status::Code::kTimeout;
      l.message = cancel_ ? "the worker stopped" : "the request's deadline passed before this peer's turn";
      report_.links.push_back(std::move(l));
      continue;
    }
    ProbeOptions po;
    po.probe_bytes = request_.probe_bytes;
    po.rounds = request_.rounds;
    // Each of the peer's 3 + 3 x rounds probe messages waits at most its
    // share of the time left: the deadline holds however slow the peer.
    po.timeout_s = std::min(request_.timeout_s, left / (3.0 + 3.0 * request_.rounds));
    Result<LinkEstimate> e = Status::Internal("not probed");
    try {
      e = ProbeLink(ctx, peer.endpoint, po, &cancel_, keys, peer.key);
    } catch (const std::exception& ex) {  // no socket (out of file descriptors, say)
      e = Status::Unavailable(std::string("cannot probe: ") + ex.what());
    }
    if (e.ok()) {
      l.rtt_s = e->rtt_s;
      l.out_bytes_per_s = e->out_bytes_per_s;
      l.in_bytes_per_s = e->in_bytes_per_s;
      TANDEM_LOG(kInfo) << "link to " << Printable(peer.name) << ": " << e->out_bytes_per_s * 8e-6 << " Mbit/s out, "
                        << e->in_bytes_per_s * 8e-6 << " Mbit/s in, round trip " << e->rtt_s * 1e3 << " ms";
    } else {
      l.code = e.status().code();
      l.message = e.status().message().substr(0, kMaxTextLen);
      TANDEM_LOG(kWarning) << "link to " << Printable(peer.name) << " not measured: " << e.status().message();
    }
    report_.links.push_back(std::move(l));
  }
  done_ = true;
}

}  // namespace tandem
