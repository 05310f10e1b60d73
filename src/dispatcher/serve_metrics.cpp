#include "dispatcher/serve_metrics.h"

#include <cstdio>

namespace tandem {
namespace {

// A label value, escaped as the text format asks (backslash, quote, newline).
std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void Header(std::string* out, const char* name, const char* type, const char* help) {
  *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void Sample(std::string* out, const std::string& name, const std::string& labels, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  *out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
}

}  // namespace

void ServeMetrics::ObserveRequest(int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++by_status_[status];
  ++latency_count_;
  latency_sum_ += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++buckets_[i];
}

void ServeMetrics::SetPredictedThroughput(double per_s) {
  std::lock_guard<std::mutex> lock(mu_);
  predicted_per_s_ = per_s;
}

void ServeMetrics::RequestStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++in_flight_;
}

void ServeMetrics::RequestEnded() {
  std::lock_guard<std::mutex> lock(mu_);
  --in_flight_;
}

void ServeMetrics::ObserveDelivery(const Delivery& d) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!d.ok) return;
  ++completed_;
  for (const auto& t : d.timings)
    if (t.stage < stages_.size()) AddStageTiming(t, &stages_[t.stage]);  // else: of a pipeline replaced since
  // Measured throughput: results over the last few seconds.
  ++rate_count_;
  const auto now = std::chrono::steady_clock::now();
  const double span = std::chrono::duration<double>(now - rate_since_).count();
  if (span >= 5) {
    measured_per_s_ = rate_count_ / span;
    rate_count_ = 0;
    rate_since_ = now;
  }
}

void ServeMetrics::SetPipeline(const std::vector<std::string>& stage_workers,
                               const std::map<std::string, bool>& workers_up, int recoveries, int generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stage_workers != stage_workers_) {  // a new pipeline: its stages count from zero
    stage_workers_ = stage_workers;
    stages_.assign(stage_workers.size(), StageStats());
  }
  workers_up_ = workers_up;
  recoveries_ = recoveries;
  generation_ = generation;
}

std::string ServeMetrics::Render(int queued) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  Header(&out, "tandem_requests_total", "counter", "Inference requests answered over HTTP, by status code.");
  for (const auto& [code, n] : by_status_)
    Sample(&out, "tandem_requests_total", "code=\"" + std::to_string(code) + "\"", n);
  Header(&out, "tandem_request_duration_seconds", "histogram",
         "Seconds from an inference request's arrival to its answer.");
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    char le[32];
    std::snprintf(le, sizeof le, "%g", kBuckets[i]);
    Sample(&out, "tandem_request_duration_seconds_bucket", std::string("le=\"") + le + "\"", buckets_[i]);
  }
  Sample(&out, "tandem_request_duration_seconds_bucket", "le=\"+Inf\"", latency_count_);
  Sample(&out, "tandem_request_duration_seconds_sum", "", latency_sum_);
  Sample(&out, "tandem_request_duration_seconds_count", "", latency_count_);
  Header(&out, "tandem_requests_in_flight", "gauge", "Inference requests being answered now.");
  Sample(&out, "tandem_requests_in_flight", "", in_flight_);
  Header(&out, "tandem_requests_queued", "gauge", "Requests accepted and not yet answered by the pipeline.");
  Sample(&out, "tandem_requests_queued", "", queued);
  Header(&out, "tandem_results_total", "counter", "Results the pipeline returned.");
  Sample(&out, "tandem_results_total", "", completed_);
  struct Phase {
    const char* name;
    double StageStats::*field;
  };
  const Phase phases[] = {{"compute", &StageStats::compute_s},
                          {"queue", &StageStats::queue_s},
                          {"decode", &StageStats::decode_s},
                          {"encode", &StageStats::encode_s}};
  Header(&out, "tandem_stage_seconds_total", "counter",
         "Seconds each stage of the serving pipeline spent per phase (compute, queue, decode, encode).");
  for (size_t s = 0; s < stages_.size(); ++s)
    for (const Phase& p : phases)
      Sample(&out, "tandem_stage_seconds_total",
             "stage=\"" + std::to_string(s) + "\",worker=\"" + Label(stage_workers_[s]) + "\",phase=\"" + p.name + "\"",
             stages_[s].*p.field);
  Header(&out, "tandem_stage_requests_total", "counter", "Requests each stage of the serving pipeline computed.");
  for (size_t s = 0; s < stages_.size(); ++s)
    Sample(&out, "tandem_stage_requests_total",
           "stage=\"" + std::to_string(s) + "\",worker=\"" + Label(stage_workers_[s]) + "\"", stages_[s].count);
  Header(&out, "tandem_hop_bytes_total", "counter",
         "Bytes each stage sent on to the next stage (the last: to the dispatcher).");
  for (size_t s = 0; s < stages_.size(); ++s)
    Sample(&out, "tandem_hop_bytes_total", "from_stage=\"" + std::to_string(s) + "\"", stages_[s].bytes_out);
  Header(&out, "tandem_worker_up", "gauge", "Whether each worker of the cluster is admitted (1) or failed (0).");
  for (const auto& [name, up] : workers_up_)
    Sample(&out, "tandem_worker_up", "worker=\"" + Label(name) + "\"", up ? 1 : 0);
  Header(&out, "tandem_recoveries_total", "counter", "Pipelines deployed again after a worker failed.");
  Sample(&out, "tandem_recoveries_total", "", recoveries_);
  Header(&out, "tandem_model_generation", "gauge", "The model version serving: 1, then +1 per live update.");
  Sample(&out, "tandem_model_generation", "", generation_);
  Header(&out, "tandem_predicted_throughput_per_second", "gauge",
         "Requests per second the planner predicted for the first plan.");
  Sample(&out, "tandem_predicted_throughput_per_second", "", predicted_per_s_);
  Header(&out, "tandem_measured_throughput_per_second", "gauge",
         "Results per second over the last 5 s or more of serving.");
  Sample(&out, "tandem_measured_throughput_per_second", "", measured_per_s_);
  return out;
}

}  // namespace tandem
