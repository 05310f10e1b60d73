// /metrics: the counts it is given, in the Prometheus text format
// (serve_test.py also runs `promtool check metrics` on a live server's).
#include "dispatcher/serve_metrics.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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

TEST_CASE("the status page's data: stages with the bottleneck, hop transfers, latency and events", "[serve]") {
  ServeMetrics m;
  m.SetPipeline({"w0", "w1", "w2"}, {{"w0", true}, {"w1", true}, {"w2", true}}, 0, 1);
  Delivery d;
  d.ok = true;
  StageTiming t0, t1, t2;
  t0.stage = 0;
  t0.compute_us = 2000;
  t0.send_unix_us = 1000000;
  t1.stage = 1;
  t1.compute_us = 9000;  // the slowest
  t1.decode_us = 300;
  t1.encode_us = 200;
  t1.recv_unix_us = 1004000;  // 4 ms after stage 0 sent it
  t1.send_unix_us = 1020000;
  t2.stage = 2;
  t2.compute_us = 1000;
  t2.recv_unix_us = 1019000;  // before the send: clocks that differ; not counted
  d.timings = {t0, t1, t2};
  for (int i = 0; i < 10; ++i) m.ObserveDelivery(d);
  for (int i = 1; i <= 100; ++i) m.ObserveRequest(200, i * 0.001);
  m.ObserveRequest(504, 9);
  auto j = nlohmann::json::parse(m.StatusJson(3, "resnet18", true));
  INFO(j.dump(2));
  CHECK(j["model"] == "resnet18");
  CHECK(j["ready"] == true);
  CHECK(j["queued"] == 3);
  CHECK(j["answered"] == 100);
  CHECK(j["failed"] == 1);
  REQUIRE(j["stages"].size() == 3);
  CHECK(j["stages"][1]["bottleneck"] == true);
  CHECK_FALSE(j["stages"][0]["bottleneck"]);
  CHECK(j["stages"][1]["worker"] == "w1");
  CHECK(j["stages"][1]["compute_ms"].get<double>() == Approx(9.0));
  CHECK(j["stages"][1]["codec_ms"].get<double>() == Approx(0.5));
  CHECK(j["stages"][0]["transfer_ms"].get<double>() == Approx(4.0));
  CHECK(j["stages"][1]["transfer_ms"].get<double>() == 0.0);
  CHECK(j["latency_ms"]["p50"].get<double>() == Approx(51.0));
  CHECK(j["latency_ms"]["p99"].get<double>() == Approx(100.0));
  const std::string text = m.Render(0);
  const std::string sum = "tandem_hop_transfer_seconds_total{from_stage=\"0\"} ";
  REQUIRE(text.find(sum) != std::string::npos);
  CHECK(std::stod(text.substr(text.find(sum) + sum.size())) == Approx(0.04));
  CHECK(Has(text, "tandem_hop_transfers_total{from_stage=\"0\"} 10"));
  CHECK(Has(m.Render(0), "tandem_hop_transfers_total{from_stage=\"1\"} 0"));
  // Events: a worker failing, the recovery and the new pipeline, an update.
  m.SetPipeline({"w0", "w2"}, {{"w0", true}, {"w1", false}, {"w2", true}}, 1, 1);
  m.SetPipeline({"w0", "w2"}, {{"w0", true}, {"w1", false}, {"w2", true}}, 1, 2);
  m.AddEvent("said by hand");
  j = nlohmann::json::parse(m.StatusJson(0, "resnet18", false));
  std::vector<std::string> texts;
  for (const auto& e : j["events"]) texts.push_back(e["text"]);
  CHECK(texts == std::vector<std::string>{"pipeline: w0, w1, w2", "worker w1 failed", "recovered (1 so far)",
                                          "pipeline: w0, w2", "model generation 2 serving", "said by hand"});
  CHECK(j["stages"].size() == 2);  // the new pipeline counts from zero
  CHECK_FALSE(j["stages"][0]["bottleneck"]);
  for (int i = 0; i < 60; ++i) m.AddEvent("e" + std::to_string(i));
  j = nlohmann::json::parse(m.StatusJson(0, "resnet18", false));
  CHECK(j["events"].size() == ServeMetrics::kMaxEvents);
  CHECK(j["events"].back()["text"] == "e59");
}

}  // namespace
}  // namespace tandem
