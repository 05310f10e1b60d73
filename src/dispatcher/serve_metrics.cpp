#include "dispatcher/serve_metrics.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

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
  if (status == 200) {
    recent_latency_s_.push_back(seconds);
    if (recent_latency_s_.size() > kLatencyWindow) recent_latency_s_.pop_front();
  }
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
  for (size_t i = 0; i < d.timings.size(); ++i) {
    const StageTiming& t = d.timings[i];
    if (t.stage >= stages_.size()) continue;  // of a pipeline replaced since
    AddStageTiming(t, &stages_[t.stage]);
    // This window's sums: compute (its own thread: its share of the window
    // is the stage's load) and the codec's decode and encode.
    window_.compute_s[t.stage] += t.compute_us * 1e-6;
    window_.codec_s[t.stage] += (t.decode_us + t.encode_us) * 1e-6;
    ++window_.requests[t.stage];
    // The hop to the next stage: its receive time less this one's send time
    // (both wall clocks; a hop between hosts whose clocks differ is skipped
    // when it comes out negative).
    if (i + 1 < d.timings.size() && d.timings[i + 1].stage == t.stage + 1 && t.send_unix_us != 0 &&
        d.timings[i + 1].recv_unix_us >= t.send_unix_us) {
      transfer_s_[t.stage] += (d.timings[i + 1].recv_unix_us - t.send_unix_us) * 1e-6;
      ++transfers_[t.stage];
    }
  }
  // Measured throughput: results over the last few seconds.
  ++rate_count_;
  const auto now = std::chrono::steady_clock::now();
  const double span = std::chrono::duration<double>(now - rate_since_).count();
  if (span >= 5) {
    measured_per_s_ = rate_count_ / span;
    rate_count_ = 0;
    rate_since_ = now;
    last_window_ = window_;
    last_window_.seconds = span;
    window_.Reset(stages_.size());
  }
}

void ServeMetrics::SetPipeline(const std::vector<std::string>& stage_workers,
                               const std::map<std::string, bool>& workers_up, int recoveries, int generation) {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = UnixSeconds();
  for (const auto& [name, up] : workers_up) {
    auto was = workers_up_.find(name);
    if (was != workers_up_.end() && was->second != up)
      AddEventLocked(now, "worker " + name + (up ? " admitted again" : " failed"));
  }
  if (generation != generation_) AddEventLocked(now, "model generation " + std::to_string(generation) + " serving");
  if (recoveries > recoveries_) AddEventLocked(now, "recovered (" + std::to_string(recoveries) + " so far)");
  if (stage_workers != stage_workers_) {  // a new pipeline: its stages count from zero
    std::string shown;
    for (const auto& w : stage_workers) shown += (shown.empty() ? "" : ", ") + w;
    if (!stage_workers_.empty() || events_.empty()) AddEventLocked(now, "pipeline: " + shown);
    stage_workers_ = stage_workers;
    stages_.assign(stage_workers.size(), StageStats());
    window_.Reset(stage_workers.size());
    last_window_.Reset(stage_workers.size());
    transfer_s_.assign(stage_workers.size(), 0.0);
    transfers_.assign(stage_workers.size(), 0);
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
  Header(&out, "tandem_hop_transfer_seconds_total", "counter",
         "Seconds requests spent between a stage's send and the next stage's receive (wall clocks).");
  for (size_t s = 0; s + 1 < stages_.size(); ++s)
    Sample(&out, "tandem_hop_transfer_seconds_total", "from_stage=\"" + std::to_string(s) + "\"", transfer_s_[s]);
  Header(&out, "tandem_hop_transfers_total", "counter", "Transfers timed per hop (the count of the sum above).");
  for (size_t s = 0; s + 1 < stages_.size(); ++s)
    Sample(&out, "tandem_hop_transfers_total", "from_stage=\"" + std::to_string(s) + "\"", transfers_[s]);
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

void ServeMetrics::AddEvent(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  AddEventLocked(UnixSeconds(), text);
}

void ServeMetrics::AddEventLocked(double unix_s, const std::string& text) {
  events_.emplace_back(unix_s, text);
  if (events_.size() > kMaxEvents) events_.pop_front();
}

double ServeMetrics::UnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string ServeMetrics::StatusJson(int queued, const std::string& model, bool ready) const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json j;
  j["model"] = model;
  j["ready"] = ready;
  // The rate of the window still open once it is long enough (an idle
  // server shows its rate falling, not the last busy one).
  const double span = std::chrono::duration<double>(std::chrono::steady_clock::now() - rate_since_).count();
  const double rate = span >= 5 ? rate_count_ / span : measured_per_s_;
  j["stages"] = nlohmann::json::array();
  // The last whole window, or the one still open while there is none.
  Window shown = last_window_;
  if (shown.seconds == 0) {
    shown = window_;
    shown.seconds = span;
  }
  auto compute_s = [&](size_t s) { return shown.requests[s] ? shown.compute_s[s] / shown.requests[s] : 0.0; };
  auto transfer_s = [&](size_t s) { return transfers_[s] ? transfer_s_[s] / transfers_[s] : 0.0; };
  // The bottleneck, as the planner sees it: the stage whose compute or
  // outgoing transfer takes longest.
  auto slowness = [&](size_t s) { return std::max(compute_s(s), transfer_s(s)); };
  size_t slowest = 0;
  for (size_t s = 0; s < stages_.size(); ++s)
    if (slowness(s) > slowness(slowest)) slowest = s;
  for (size_t s = 0; s < stages_.size(); ++s) {
    j["stages"].push_back({{"stage", s},
                           {"worker", stage_workers_[s]},
                           {"requests", stages_[s].count},
                           {"compute_ms", 1e3 * compute_s(s)},
                           {"codec_ms", shown.requests[s] ? 1e3 * shown.codec_s[s] / shown.requests[s] : 0.0},
                           {"load", shown.seconds > 0 ? std::min(1.0, shown.compute_s[s] / shown.seconds) : 0.0},
                           {"transfer_ms", 1e3 * transfer_s(s)},
                           {"bottleneck", s == slowest && stages_[s].count > 0}});
  }
  j["workers"] = nlohmann::json::object();
  for (const auto& [name, up] : workers_up_) j["workers"][name] = up;
  std::vector<double> l(recent_latency_s_.begin(), recent_latency_s_.end());
  std::sort(l.begin(), l.end());
  auto pct = [&](double q) {
    return l.empty() ? 0.0 : 1e3 * l[std::min(l.size() - 1, static_cast<size_t>(q * static_cast<double>(l.size())))];
  };
  j["latency_ms"] = {{"p50", pct(0.5)}, {"p99", pct(0.99)}};
  j["throughput_per_s"] = rate;
  j["predicted_per_s"] = predicted_per_s_;
  j["queued"] = queued;
  j["in_flight"] = in_flight_;
  uint64_t answered = 0, failed = 0;
  for (const auto& [code, n] : by_status_) (code == 200 ? answered : failed) += n;
  j["answered"] = answered;
  j["failed"] = failed;
  j["generation"] = generation_;
  j["recoveries"] = recoveries_;
  j["events"] = nlohmann::json::array();
  for (const auto& [t, text] : events_) j["events"].push_back({{"unix_s", t}, {"text", text}});
  return j.dump();
}

}  // namespace tandem
