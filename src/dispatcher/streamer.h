// Streaming requests through a deployed pipeline and collecting the results.
//
// The Streamer binds the results socket (the last stage pushes there), then
// Run() sends inputs to stage 0 with at most `window` requests in flight
// (until the source has no more and every request is answered, or `stop`),
// keeps every input until its result has arrived, and hands results over in
// input order, each exactly once. When the pipeline changes under it (a
// worker failed and the Director deployed a new one), every request whose
// result has not come is sent again on the new route, and late results of
// the old pipeline are dropped.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/net/activation.h"
#include "common/net/zap.h"
#include "common/tensor/tensor.h"
#include "common/util/status.h"
#include "dispatcher/director.h"
#include "dispatcher/input_source.h"

namespace tandem {

struct StreamOptions {
  int window = 8;  // requests in flight at most
  // A request without a result this long after it was sent, while there is
  // a route, is sent again; after `max_attempts` sends it fails.
  double result_timeout_s = 60;
  // Sends of one request (first, replays after failures, resends after
  // timeouts) before it fails: bounds the damage of an input that kills the
  // workers it reaches.
  int max_attempts = 4;
  uint64_t max_result_bytes = 1ull << 30;
  // Keep per-request samples in the report (latencies, arrivals, per-hop
  // transfers, failure lines). A long-running `serve` turns it off: its
  // figures are counted elsewhere and the report would grow without bound.
  bool keep_samples = true;
};

struct StageStats {
  uint64_t count = 0;
  double compute_s = 0, queue_s = 0, decode_s = 0, encode_s = 0;  // sums
  uint64_t bytes_out = 0;                                         // sum
  double max_abs_error = 0;
};
// Adds one request's timing record of a stage to that stage's sums.
void AddStageTiming(const StageTiming& t, StageStats* s);

struct StreamReport {
  int64_t completed = 0;
  int64_t failed = 0;
  std::vector<std::string> failures;  // "request 7 (input-7): stage 1: ..."
  double seconds = 0;                 // first send to last result
  std::vector<double> latencies_s;    // per successful request
  uint64_t first_hop_bytes = 0;       // sum over sends
  uint64_t first_hop_raw_bytes = 0;
  double first_hop_max_error = 0;
  // Per stage of the pipeline that answered last (stage counts may change
  // with a recovery or an update).
  std::vector<StageStats> stages;
  // Transfer time samples per hop of that pipeline (dispatcher -> stage 0,
  // stage i -> i + 1, last stage -> dispatcher), from the wall-clock times
  // in the timings trailer: the receiver's clock minus the sender's, so
  // meaningful where the clocks agree. Requests sent once only.
  std::vector<std::vector<double>> hop_transfer_s;
  // When each result arrived, seconds after the first send, in arrival order.
  std::vector<double> arrivals_s;
  int64_t replayed = 0;                  // sends after the first, for any reason
  int64_t duplicates = 0;                // results dropped: stale version or already answered
  std::map<int, int64_t> by_generation;  // completed requests per model generation
  bool interrupted = false;
  int64_t unanswered = 0;  // when interrupted: requests without a result
};

// One request's outcome, handed to the sink in input order.
struct Delivery {
  int64_t index = 0;
  bool ok = false;
  std::vector<HostTensor> outputs;  // when ok
  std::string error;                // when not
  int generation = 0;               // the model that answered (0: none)
  std::string model_sha256;
  int pipeline = 0;            // the deployment that answered
  double received_unix_s = 0;  // when its result arrived (wall clock)
  int attempts = 0;
  // Never computed (withdrawn by its client, or still waiting when the
  // dispatcher stopped): sending it again may succeed.
  bool not_run = false;
  std::vector<StageTiming> timings;  // when ok: each stage's, from the result's trailer
};

// Called once per request, in input order.
using ResultSink = std::function<Status(const Delivery&)>;

constexpr const char* kResultsDomain = "results";
// The user id the ZAP handler gives a worker on the results socket: the
// Streamer takes a result only from its route's last stage.
inline std::string ResultsUserId(const std::string& worker_key) { return "worker:" + worker_key; }

class Streamer {
 public:
  // With `keys`, the results socket is a CurveZMQ server (ZAP domain
  // kResultsDomain: the context's ZAP handler says which workers may send)
  // and requests go over CurveZMQ to each route's first_hop_key.
  explicit Streamer(zmq::context_t& ctx, LinkKeys keys = {});
  // Binds the results socket at `bind` ("tcp://HOST:*" picks a port).
  Status Bind(const std::string& bind);
  // The endpoint the socket actually bound.
  const std::string& bound_endpoint() const { return bound_; }
  Result<StreamReport> Run(InputSource& inputs, Director& director, const StreamOptions& options,
                           const ResultSink& sink, const std::atomic<bool>& stop,
                           const std::function<void(int, int)>& progress);

 private:
  zmq::context_t& ctx_;
  LinkKeys keys_;
  std::unique_ptr<zmq::socket_t> results_;
  std::string bound_;
};

}  // namespace tandem
