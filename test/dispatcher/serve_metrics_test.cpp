// /metrics: the counts it is given, in the Prometheus text format
// (serve_test.py also runs `promtool check metrics` on a live server's).
#include "dispatcher/serve_metrics.h"

#include <catch2/catch.hpp>

namespace tandem {
namespace {

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST_CASE("metrics count requests, latency buckets, stages, hops and workers as the text format says", "[serve]") {
  ServeMetrics m;
  m.SetPipeline({"w0", "pi \"3\""}, {{"w0", true}, {"pi \"3\"", true}, {"w9", false}}, 1, 2);
  m.SetPredictedThroughput(12.5);
  m.ObserveRequest(200, 0.003);
  m.ObserveRequest(200, 0.2);
  m.ObserveRequest(503, 0.0001);
  m.RequestStarted();
  Delivery d;
  d.ok = true;
  StageTiming a, b;
  a.stage = 0;
  a.compute_us = 1500000;
  a.bytes_out = 1000;
  b.stage = 1;
  b.queue_us = 250000;
  b.bytes_out = 40;
  d.timings = {a, b};
  m.ObserveDelivery(d);
  m.ObserveDelivery(d);
  const std::string t = m.Render(5);
  INFO(t);
  CHECK(Has(t, "# TYPE tandem_requests_total counter"));
  CHECK(Has(t, "tandem_requests_total{code=\"200\"} 2"));
  CHECK(Has(t, "tandem_requests_total{code=\"503\"} 1"));
  // Buckets are cumulative: 2 at or under 5 ms, 3 at or under 0.25 s.
  CHECK(Has(t, "tandem_request_duration_seconds_bucket{le=\"0.005\"} 2"));
  CHECK(Has(t, "tandem_request_duration_seconds_bucket{le=\"0.1\"} 2"));
  CHECK(Has(t, "tandem_request_duration_seconds_bucket{le=\"0.25\"} 3"));
  CHECK(Has(t, "tandem_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
  CHECK(Has(t, "tandem_request_duration_seconds_count 3"));
  CHECK(Has(t, "tandem_requests_in_flight 1"));
  CHECK(Has(t, "tandem_requests_queued 5"));
  CHECK(Has(t, "tandem_results_total 2"));
  CHECK(Has(t, "tandem_stage_seconds_total{stage=\"0\",worker=\"w0\",phase=\"compute\"} 3"));
  CHECK(Has(t, "tandem_stage_seconds_total{stage=\"1\",worker=\"pi \\\"3\\\"\",phase=\"queue\"} 0.5"));
  CHECK(Has(t, "tandem_stage_requests_total{stage=\"1\",worker=\"pi \\\"3\\\"\"} 2"));
  CHECK(Has(t, "tandem_hop_bytes_total{from_stage=\"0\"} 2000"));
  CHECK(Has(t, "tandem_worker_up{worker=\"w9\"} 0"));
  CHECK(Has(t, "tandem_worker_up{worker=\"w0\"} 1"));
  CHECK(Has(t, "tandem_recoveries_total 1"));
  CHECK(Has(t, "tandem_model_generation 2"));
  CHECK(Has(t, "tandem_predicted_throughput_per_second 12.5"));
  // A new pipeline's stages count from zero.
  m.SetPipeline({"w0"}, {{"w0", true}}, 2, 2);
  const std::string u = m.Render(0);
  CHECK(Has(u, "tandem_stage_requests_total{stage=\"0\",worker=\"w0\"} 0"));
  CHECK(u.find("stage=\"1\"") == std::string::npos);
}

}  // namespace
}  // namespace tandem
