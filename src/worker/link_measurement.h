// MEASURE_LINKS off the control thread: the peers a dispatcher asked for are
// probed one after the other on a thread of its own, within one deadline for
// the whole request, while the control thread goes on answering heartbeats.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <zmq.hpp>

#include "common/net/protocol.h"
#include "common/net/zap.h"

namespace tandem {

// The most one MEASURE_LINKS may take, however many peers and rounds it asks for.
constexpr double kMaxMeasureSeconds = 300;

class LinkMeasurement {
 public:
  // Starts probing `request.peers` (already checked by the caller) over the
  // worker's context, with its keys.
  LinkMeasurement(zmq::context_t& ctx, MeasureLinksBody request, LinkKeys keys);
  // Stops the probes (within 100 ms) and joins the thread.
  ~LinkMeasurement();
  LinkMeasurement(const LinkMeasurement&) = delete;
  LinkMeasurement& operator=(const LinkMeasurement&) = delete;

  bool done() const { return done_; }
  // What was measured, one result per peer asked, in order; once done().
  const LinksReportBody& report() const { return report_; }
  // The whole request's deadline, seconds: what each peer may take at most
  // (3 + 3 x rounds probe messages, each within the timeout), capped at
  // kMaxMeasureSeconds.
  static double DeadlineSeconds(const MeasureLinksBody& request);

 private:
  void Run(zmq::context_t& ctx, const LinkKeys& keys);

  MeasureLinksBody request_;
  LinksReportBody report_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace tandem
