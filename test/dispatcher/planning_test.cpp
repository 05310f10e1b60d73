#include "dispatcher/planning.h"

#include <catch2/catch.hpp>

#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

// Four segments of 1 s each; the cut in the middle carries 100 MB, the
// others 1 kB.
ModelProfile FourSegments() {
  ModelProfile p;
  p.model_path = "four.pt";
  p.model_hash = std::string(64, 'a');
  p.inputs = {InputSpec{DType::kFloat32, {1, 250}}};
  p.input_bytes = 1000;
  p.num_nodes = 4;
  const uint64_t out[] = {1000, 100000000, 1000, 1000};
  for (int i = 0; i < 4; ++i) {
    SegmentProfile s;
    s.index = i;
    s.begin = i;
    s.end = i + 1;
    s.compute_s = 1.0;
    s.output_bytes = out[i];
    p.segments.push_back(s);
    if (i < 3) p.cuts.push_back(CutPoint{i + 1, {TensorSpec{"x", DType::kFloat32, {1}, out[i], ""}}});
  }
  return p;
}

ClusterConfig TwoWorkers(double second_speed) {
  ClusterConfig c = DefaultClusterConfig();
  c.workers.resize(2);
  c.workers[1].speed = second_speed;
  c.network.bandwidth_mbps = 1e6;  // the links do not matter here
  c.network.latency_ms = 0;
  return c;
}

TEST_CASE("moving activations counts per worker when measured with the hops' codec", "[planning]") {
  ModelProfile prof = FourSegments();
  prof.move_codec = "raw";
  prof.move_s_per_byte = 2e-8;  // 2 s for the 100 MB cut on each side
  const CodecSpec raw = ParseCodec("raw").value();
  auto p = BuildPlanProblem(prof, TwoWorkers(2.0), raw);
  REQUIRE(p.ok());
  CHECK(p->nodes[0].move_s_per_byte == Approx(2e-8));
  CHECK(p->nodes[1].move_s_per_byte == Approx(1e-8));  // speed 2
  // A stage's compute is its segments plus (in + out) bytes at its worker's rate.
  PlanEvaluation ev = Evaluate(p.value(), Plan{{PlanStage{0, 0, 2}, PlanStage{1, 2, 4}}});
  REQUIRE(ev.feasible);
  CHECK(ev.move_s[0] == Approx(2e-8 * (1000 + 100000000)));
  CHECK(ev.compute_s[0] == Approx(2.0 + ev.move_s[0]));
  CHECK(ev.compute_s[1] == Approx(1.0 + 1e-8 * (100000000 + 1000)));

  // On two equal workers the planner stays off the 100 MB cut: 1 s and 3 s
  // beat 2 s + 2 s of moving on each side.
  const ClusterConfig equal = TwoWorkers(1.0);
  auto planner = MakePlanner("optimal").value();
  auto with = BuildPlanProblem(prof, equal, raw);
  REQUIRE(with.ok());
  auto r = planner->Solve(with.value(), PlannerOptions{});
  REQUIRE(r.ok());
  REQUIRE(r->plan.stages.size() == 2);
  CHECK(r->plan.stages[0].end != 2);
  CHECK(r->evaluation.bottleneck_s == Approx(3.0).epsilon(0.001));

  // Measured with another codec: not counted, and the middle cut wins (2 s).
  auto without = BuildPlanProblem(prof, equal, ParseCodec("zfp+lz4").value());
  REQUIRE(without.ok());
  CHECK(without->nodes[0].move_s_per_byte == 0);
  auto r2 = planner->Solve(without.value(), PlannerOptions{});
  REQUIRE(r2.ok());
  REQUIRE(r2->plan.stages.size() == 2);
  CHECK(r2->plan.stages[0].end == 2);
  CHECK(r2->evaluation.bottleneck_s == Approx(2.0).epsilon(0.001));
}

TEST_CASE("a worker's own profile gives its own time per byte", "[planning]") {
  test::TempDir dir;
  ModelProfile prof = FourSegments();
  prof.move_codec = "raw";
  prof.move_s_per_byte = 2e-8;
  ModelProfile own = prof;
  own.move_s_per_byte = 5e-8;
  for (auto& s : own.segments) s.compute_s = 4.0;
  REQUIRE(WriteProfile(dir.path() + "/own.json", own).ok());
  ClusterConfig cluster = TwoWorkers(2.0);
  cluster.workers[0].profile = dir.path() + "/own.json";
  auto p = BuildPlanProblem(prof, cluster, ParseCodec("raw").value());
  REQUIRE(p.ok());
  CHECK(p->nodes[0].move_s_per_byte == Approx(5e-8));
  CHECK(p->nodes[1].move_s_per_byte == Approx(1e-8));
  CHECK(p->segment_time[0][0] == Approx(4.0));
}

TEST_CASE("workers on one host share its cores; on the profiling host a worker's speed follows its CPUs",
          "[planning]") {
  ModelProfile prof = FourSegments();
  prof.move_codec = "raw";
  prof.move_s_per_byte = 2e-8;
  prof.machine.host_id = "aaaaaaaaaaaaaaaa";
  prof.machine.cores = 2;
  prof.machine.threads = 2;
  const CodecSpec raw = ParseCodec("raw").value();
  ClusterConfig three = DefaultClusterConfig();  // speeds not given
  auto facts = [](const std::string& host, int threads, double cpus) {
    WorkerFacts f;
    f.threads = threads;
    f.cpus = cpus;
    f.host_id = host;
    f.host_cores = 2;
    return std::vector<WorkerFacts>(3, f);
  };

  // Nothing known (older workers): as configured.
  auto plain = BuildPlanProblem(prof, three, raw);
  REQUIRE(plain.ok());
  CHECK(plain->nodes[0].speed == 1.0);

  // The demo: three one-thread workers on the 2-core profiling host, which
  // profiled with 2 threads. Each runs at half the profile's speed, and the
  // three want 3 CPUs of 2: two thirds of that each.
  auto demo = BuildPlanProblem(prof, three, raw, facts("aaaaaaaaaaaaaaaa", 1, 2));
  REQUIRE(demo.ok());
  for (const PlanNode& n : demo->nodes) {
    CHECK(n.speed == Approx(0.5 * 2.0 / 3.0));
    CHECK(n.move_s_per_byte == Approx(2e-8 / (0.5 * 2.0 / 3.0)));
  }
  // The same on another host: speeds as configured (1.0), shared.
  auto other = BuildPlanProblem(prof, three, raw, facts("bbbbbbbbbbbbbbbb", 1, 2));
  REQUIRE(other.ok());
  CHECK(other->nodes[1].speed == Approx(2.0 / 3.0));
  // A speed the config gives is kept (and shared).
  ClusterConfig given = three;
  given.workers[0].speed = 3.0;
  given.workers[0].speed_given = true;
  auto kept = BuildPlanProblem(prof, given, raw, facts("aaaaaaaaaaaaaaaa", 1, 2));
  REQUIRE(kept.ok());
  CHECK(kept->nodes[0].speed == Approx(3.0 * 2.0 / 3.0));
  CHECK(kept->nodes[1].speed == Approx(0.5 * 2.0 / 3.0));
  // Emulated nodes: each under a 0.15 CPU quota; together they fit the
  // host, so nothing is shared, and a derived speed follows the quota.
  auto quota = BuildPlanProblem(prof, three, raw, facts("aaaaaaaaaaaaaaaa", 1, 0.15));
  REQUIRE(quota.ok());
  CHECK(quota->nodes[2].speed == Approx(0.15 / 2));
  // Two threads each on separate hosts: alone, at the profile's speed.
  std::vector<WorkerFacts> apart = facts("", 2, 2);
  for (int i = 0; i < 3; ++i) apart[i].host_id = std::string(16, static_cast<char>('c' + i));
  apart[0].host_id = "aaaaaaaaaaaaaaaa";
  auto alone = BuildPlanProblem(prof, three, raw, apart);
  REQUIRE(alone.ok());
  for (const PlanNode& n : alone->nodes) CHECK(n.speed == Approx(1.0));
  // A shared host slows a worker's own profile too.
  test::TempDir dir;
  ModelProfile own = prof;
  for (auto& s : own.segments) s.compute_s = 4.0;
  REQUIRE(WriteProfile(dir.path() + "/own.json", own).ok());
  ClusterConfig profiled = three;
  profiled.workers[0].profile = dir.path() + "/own.json";
  auto shared = BuildPlanProblem(prof, profiled, raw, facts("bbbbbbbbbbbbbbbb", 1, 2));
  REQUIRE(shared.ok());
  CHECK(shared->segment_time[0][0] == Approx(4.0 * 1.5));
  CHECK(shared->segment_time[1][0] == Approx(1.0 * 1.5));
}

}  // namespace
}  // namespace tandem
