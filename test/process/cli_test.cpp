// Black-box tests of the tandem-dispatcher binary: bad input of every kind
// ends in one clear error line and a non-zero exit, never a crash.
#include <catch2/catch.hpp>
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>

#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

using test::CommandResult;
using test::FixturePath;
using test::RunCommand;

CommandResult Run(const std::string& args) { return RunCommand(test::DispatcherPath() + " " + args); }

// One error line naming what was wrong, exit 1, no LibTorch backtrace.
void ExpectCleanError(const CommandResult& r, const std::vector<std::string>& expect) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("tandem-dispatcher: error: ") != std::string::npos);
  for (const auto& e : expect) CHECK(r.err.find(e) != std::string::npos);
  CHECK(r.err.find("Exception raised from") == std::string::npos);
  CHECK(r.err.find("terminate called") == std::string::npos);
  CHECK(r.err.find("frame #") == std::string::npos);
  int error_lines = 0;
  size_t p = 0;
  while ((p = r.err.find("error:", p)) != std::string::npos) ++error_lines, ++p;
  CHECK(error_lines == 1);
}

TEST_CASE("--help describes the subcommands", "[cli]") {
  auto r = Run("--help");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("profile") != std::string::npos);
  CHECK(r.out.find("split") != std::string::npos);
  CHECK(r.out.find("measure-links") != std::string::npos);
  auto s = Run("split --help");
  CHECK(s.exit_code == 0);
  CHECK(s.out.find("--stages") != std::string::npos);
  CHECK(s.out.find("--cuts") != std::string::npos);
  CHECK(s.out.find("--plan") != std::string::npos);
  CHECK(Run("").exit_code != 0);
  CHECK(Run("frobnicate").exit_code != 0);
}

TEST_CASE("profile and split bad inputs end in one clear error", "[cli][errors]") {
  const std::string small = FixturePath("small_cnn.scripted.pt");
  const std::string irregular = FixturePath("irregular.scripted.pt");
  test::TempDir out;
  const std::string o = " -o " + out.path() + "/split";
  ExpectCleanError(Run("profile -m /nonexistent/m.pt -s 1,3,8,8"), {"/nonexistent/m.pt", "No such file"});
  ExpectCleanError(Run("profile -m " + FixturePath("not_a_model.pt") + " -s 1,3,8,8"),
                   {"not_a_model.pt", "not a TorchScript model"});
  ExpectCleanError(Run("profile -m " + FixturePath("no_forward.pt") + " -s 1,3,8,8"), {"no forward method"});
  ExpectCleanError(Run("profile -m " + FixturePath("two_inputs.pt") + " -s 1,3,8,8"),
                   {"two_inputs.pt", "forward(x, y) takes 2 input(s); 1 given"});
  ExpectCleanError(Run("profile -m " + small + " -s 1,4,16,16"), {"small_cnn.scripted.pt", "rejects inputs 1x4x16x16"});
  ExpectCleanError(Run("profile -m " + small + " -s 1,x3"), {"'1,x3'"});
  ExpectCleanError(Run("split -m " + small + " -s 1,3,16,16 -k 500" + o), {"--stages 500", "at most"});
  ExpectCleanError(Run("split -m " + small + " -s 1,3,16,16 --cuts 99999" + o), {"cut 99999", "out of range"});
  ExpectCleanError(Run("split -m " + small + " -s 1,3,16,16 --cuts 3,2" + o), {"ascending"});
  ExpectCleanError(Run("split -m " + small + " -s 1,3,16,16 --cuts 2,,3" + o), {"--cuts"});
  ExpectCleanError(Run("split -m " + small + " -s 1,3,16,16" + o), {"--stages, --cuts or --plan"});
  ExpectCleanError(Run("split -m " + small + " -s 1,3,16,16 --plan /nonexistent/plan.json" + o),
                   {"/nonexistent/plan.json"});

  // A position where no cut is valid in the irregular model (in-place writes).
  auto prof = Run("profile -m " + irregular + " -s 1,3,16,16 --repeats 1 --warmup 0 -o " + out.path() + "/p.json");
  REQUIRE(prof.exit_code == 0);
  auto j = nlohmann::json::parse(ReadFile(out.path() + "/p.json").value());
  int invalid = -1;
  for (const auto& s : j["segments"])
    if (s["end"].get<int>() - s["begin"].get<int>() > 1) invalid = s["begin"].get<int>() + 1;
  REQUIRE(invalid > 0);
  ExpectCleanError(Run("split -m " + irregular + " -s 1,3,16,16 --cuts " + std::to_string(invalid) + o),
                   {"cut " + std::to_string(invalid) + " is not a valid cut"});

  // A plan made for another model.
  REQUIRE(WriteFileAtomic(out.path() + "/plan.json", R"({"model_sha256": "00ff", "cuts": [1]})").ok());
  ExpectCleanError(Run("split -m " + small + " -s 1,3,16,16 --plan " + out.path() + "/plan.json" + o),
                   {"plan.json", "another model"});
  REQUIRE(WriteFileAtomic(out.path() + "/plan.json", "{not json").ok());
  ExpectCleanError(Run("split -m " + small + " -s 1,3,16,16 --plan " + out.path() + "/plan.json" + o),
                   {"plan.json", "not valid JSON"});
  // A codec the move measurement does not know, named before the model loads.
  ExpectCleanError(Run("profile -m " + small + " -s 1,3,16,16 --move-codec zstd"), {"--move-codec", "zstd"});
}

TEST_CASE("serve --config: a JSON file of its flags, the command line winning; errors name the file and key",
          "[cli][errors]") {
  test::TempDir dir;
  const std::string f = dir.path() + "/serve.json";
  auto config = [&](const std::string& text) { REQUIRE(WriteFileAtomic(f, text).ok()); };
  config("{\"modle\": \"m.pt\"}");
  ExpectCleanError(Run("serve --config " + f), {f + ": modle: not a setting of `serve`"});
  config("{\"model\": {\"path\": 1}}");
  ExpectCleanError(Run("serve --config=" + f), {f + ": model: takes a string, number or bool"});
  config("[1, 2]");
  ExpectCleanError(Run("serve --config " + f), {f + ": must hold one JSON object"});
  config("{\"model\": ");
  ExpectCleanError(Run("serve --config " + f), {f + ": not valid JSON"});
  ExpectCleanError(Run("serve --config " + dir.path() + "/none.json"), {"none.json"});
  // The file's settings are taken (--model and --input-shape are required),
  // and a flag on the command line replaces the file's: with the file's
  // --max-queued, --http-threads 20 is refused; with 3 instead, serve goes
  // on to read the cluster config.
  config("{\"model\": \"" + FixturePath("small_cnn.traced.pt") +
         "\", \"input-shape\": \"1,3,32,32\", \"max-queued\": 8, \"http-threads\": 20, \"watch-model\": true, "
         "\"cluster\": \"" +
         dir.path() + "/no-cluster.json\"}");
  ExpectCleanError(Run("serve --config " + f), {"--http-threads 20 must exceed --max-queued 8"});
  ExpectCleanError(Run("serve --config " + f + " --max-queued 3"), {"no-cluster.json"});
}

TEST_CASE("several inputs: --input-shape per argument, repeated or ';'-separated", "[cli]") {
  const std::string enc = FixturePath("tiny_encoder.scripted.pt");
  test::TempDir out;
  auto a =
      Run("profile -m " + enc + " -s 2,16:int64 -s 2,16:int64 --repeats 1 --warmup 0 -o " + out.path() + "/a.json");
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  CHECK(a.out.find("input      2x16:int64; 2x16:int64") != std::string::npos);
  CHECK(a.out.find("carry non-tensor values") != std::string::npos);
  auto b = Run("profile -m " + enc + " -s '2,16:int64;2,16:int64' --repeats 1 --warmup 0 -o " + out.path() + "/b.json");
  REQUIRE(b.exit_code == 0);
  auto ja = nlohmann::json::parse(ReadFile(out.path() + "/a.json").value());
  auto jb = nlohmann::json::parse(ReadFile(out.path() + "/b.json").value());
  CHECK(ja["inputs"] == jb["inputs"]);
  CHECK(ja["inputs"][0]["dtype"] == "int64");
  CHECK(ja["inputs"][1]["shape"] == nlohmann::json{2, 16});
  int carrying = 0;
  for (const auto& c : ja["cuts"])
    for (const auto& t : c["tensors"]) carrying += t.contains("carries");
  CHECK(carrying > 0);
  // split takes the same specs and verifies the chained stages.
  auto s = Run("split -m " + enc + " -s 2,16:int64 -s 2,16:int64 -k 3 --repeats 1 -o " + out.path() + "/split");
  INFO(s.err);
  REQUIRE(s.exit_code == 0);
  CHECK(s.out.find("verified") != std::string::npos);
  auto m = nlohmann::json::parse(ReadFile(out.path() + "/split/manifest.json").value());
  CHECK(m["inputs"] == ja["inputs"]);
  // A profile of other inputs is refused by run, naming both.
  ExpectCleanError(
      Run("run -m " + enc + " --synthetic 2 -s 2,8:int64 -s 2,8:int64 --profile " + out.path() + "/a.json"),
      {"a.json: inputs: measured with 2x16:int64; 2x16:int64, the run's inputs are 2x8:int64; 2x8:int64"});
  ExpectCleanError(Run("profile -m " + enc + " -s 2,16:int64 -s 2,16:complex"), {"unknown dtype 'complex'"});
  ExpectCleanError(Run("profile -m " + enc + " -s '2,16:int64;;2,16'"), {"empty item"});
  ExpectCleanError(Run("profile -m " + enc + " -s 2,16:int64"), {"forward(ids, attention_mask) takes 2 input(s)"});
}

TEST_CASE("split --stages writes stages and a verified manifest", "[cli]") {
  test::TempDir out;
  auto r = Run("split -m " + FixturePath("resnet18.scripted.pt") + " -s 1,3,224,224 -k 3 --repeats 2 -o " + out.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("verified") != std::string::npos);
  auto j = nlohmann::json::parse(ReadFile(out.path() + "/manifest.json").value());
  REQUIRE(j["stages"].size() == 3);
  CHECK(j["cuts"].size() == 2);
  for (int i = 0; i < 3; ++i) {
    auto st = ReadFile(out.path() + "/stage-" + std::to_string(i) + ".pt");
    REQUIRE(st.ok());
    CHECK(st->size() == j["stages"][i]["file_bytes"].get<size_t>());
  }
  // Then profile --out and a plan file drive the same cuts.
  REQUIRE(WriteFileAtomic(out.path() + "/plan.json", nlohmann::json{{"cuts", j["cuts"]}}.dump()).ok());
  auto again = Run("split -m " + FixturePath("resnet18.scripted.pt") + " -s 1,3,224,224 --plan " + out.path() +
                   "/plan.json -o " + out.path() + "/again");
  REQUIRE(again.exit_code == 0);
  auto j2 = nlohmann::json::parse(ReadFile(out.path() + "/again/manifest.json").value());
  CHECK(j2["cuts"] == j["cuts"]);
}

TEST_CASE("plan writes a plan that split and run accept, and infeasible clusters are explained", "[cli][plan]") {
  test::TempDir dir;
  const std::string model = FixturePath("resnet18.traced.pt");
  auto prof = Run("profile -m " + model + " -s 1,3,224,224 --repeats 2 -o " + dir.path() + "/p.json");
  REQUIRE(prof.exit_code == 0);
  const std::string cluster = dir.path() + "/c.json";
  REQUIRE(WriteFileAtomic(cluster, R"({"network": {"bandwidth_mbps": 100},
      "workers": [{"name": "a", "endpoint": "tcp://127.0.0.1:1", "memory_mb": 200},
                  {"name": "b", "endpoint": "tcp://127.0.0.1:2", "speed": 2},
                  {"name": "c", "endpoint": "tcp://127.0.0.1:3", "bandwidth_mbps": 10}]})")
              .ok());
  auto r = Run("plan -p " + dir.path() + "/p.json -c " + cluster + " -o " + dir.path() + "/plan.json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("bottleneck:") != std::string::npos);
  CHECK(r.out.find("predicted throughput") != std::string::npos);
  auto plan = nlohmann::json::parse(ReadFile(dir.path() + "/plan.json").value());
  CHECK(plan["exact"] == true);
  // The profile measured moving activations with the default codec, which
  // the cluster's hops use too, so every stage counts it.
  auto pj0 = nlohmann::json::parse(ReadFile(dir.path() + "/p.json").value());
  CHECK(pj0["activation_move"]["codec"] == "zfp+lz4");
  CHECK(pj0["activation_move"]["s_per_mb"].get<double>() > 0);
  for (const auto& st : plan["stages"]) {
    CHECK(st["move_s"].get<double>() > 0);
    CHECK(st["compute_s"].get<double>() > st["move_s"].get<double>());
  }
  CHECK(plan["workers"].size() == plan["cuts"].size() + 1);
  CHECK(plan["predicted"]["bottleneck_s"].get<double>() > 0);
  // Every algorithm gives a plan no better than the exact one.
  for (const char* a : {"optimal", "fast", "greedy", "random"}) {
    auto j = Run(std::string("plan --json -a ") + a + " -p " + dir.path() + "/p.json -c " + cluster);
    REQUIRE(j.exit_code == 0);
    auto pj = nlohmann::json::parse(j.out);
    CHECK(pj["predicted"]["bottleneck_s"].get<double>() >=
          plan["predicted"]["bottleneck_s"].get<double>() * (1 - 1e-9));
  }
  // --deadline 0 lets optimal run to the end: it proves the same bottleneck.
  auto unbounded = Run("plan --json -a optimal --deadline 0 -p " + dir.path() + "/p.json -c " + cluster);
  REQUIRE(unbounded.exit_code == 0);
  auto uj = nlohmann::json::parse(unbounded.out);
  CHECK(uj["exact"].get<bool>());
  CHECK(uj["predicted"]["bottleneck_s"].get<double>() ==
        Approx(plan["predicted"]["bottleneck_s"].get<double>()).epsilon(1e-9));
  ExpectCleanError(Run("plan --deadline -1 -p " + dir.path() + "/p.json -c " + cluster), {"--deadline", "-1"});
  auto split = Run("split -m " + model + " -s 1,3,224,224 --plan " + dir.path() + "/plan.json -o " + dir.path() + "/s");
  INFO(split.err);
  REQUIRE(split.exit_code == 0);
  auto manifest = nlohmann::json::parse(ReadFile(dir.path() + "/s/manifest.json").value());
  CHECK(manifest["cuts"] == plan["cuts"]);

  // The latency objective, and a worker's own measured profile.
  auto lat = Run("plan --json --objective latency -p " + dir.path() + "/p.json -c " + cluster);
  INFO(lat.err);
  REQUIRE(lat.exit_code == 0);
  auto lj = nlohmann::json::parse(lat.out);
  CHECK(lj["predicted"]["latency_s"].get<double>() <= plan["predicted"]["latency_s"].get<double>() * (1 + 1e-9));
  ExpectCleanError(Run("plan --objective fastest -p " + dir.path() + "/p.json -c " + cluster),
                   {"--objective", "fastest", "throughput"});
  REQUIRE(WriteFileAtomic(dir.path() + "/own.json", R"({"workers": [
      {"name": "a", "endpoint": "tcp://127.0.0.1:1", "profile": "p.json"},
      {"name": "b", "endpoint": "tcp://127.0.0.1:2"}]})")
              .ok());
  CHECK(Run("plan -p " + dir.path() + "/p.json -c " + dir.path() + "/own.json").exit_code == 0);
  auto small = Run("profile -m " + FixturePath("small_cnn.traced.pt") + " -s 1,3,32,32 --repeats 1 -o " + dir.path() +
                   "/small.json");
  REQUIRE(small.exit_code == 0);
  REQUIRE(WriteFileAtomic(dir.path() + "/wrong.json", R"({"workers": [
      {"name": "a", "endpoint": "tcp://127.0.0.1:1", "profile": "small.json"}]})")
              .ok());
  ExpectCleanError(Run("plan -p " + dir.path() + "/p.json -c " + dir.path() + "/wrong.json"),
                   {"wrong.json: workers[0].profile", "another model"});
  // run --profile: refused, before any worker is asked, for another model or input shape.
  ExpectCleanError(Run("run -m " + FixturePath("small_cnn.traced.pt") + " --profile " + dir.path() +
                       "/p.json --synthetic 1 -s 1,3,224,224 -c " + cluster),
                   {"p.json: model.sha256: measured on another model"});
  ExpectCleanError(Run("run -m " + FixturePath("small_cnn.traced.pt") + " --profile " + dir.path() +
                       "/small.json --synthetic 1 -s 1,3,64,64 -c " + cluster),
                   {"small.json: inputs: measured with 1x3x32x32, the run's inputs are 1x3x64x64"});

  // Memory the model cannot fit: the message says what and by how much.
  REQUIRE(WriteFileAtomic(cluster, R"({"workers": [{"name": "a", "endpoint": "tcp://127.0.0.1:1", "memory_mb": 10},
                                                  {"name": "b", "endpoint": "tcp://127.0.0.1:2", "memory_mb": 10}]})")
              .ok());
  ExpectCleanError(Run("plan -p " + dir.path() + "/p.json -c " + cluster), {"cannot place", "short"});
  ExpectCleanError(Run("plan -a magic -p " + dir.path() + "/p.json"), {"unknown planning algorithm 'magic'"});
  REQUIRE(WriteFileAtomic(dir.path() + "/dup.json", R"({"cuts": [5], "workers": ["a", "a"]})").ok());
  ExpectCleanError(
      Run("split -m " + model + " -s 1,3,224,224 --plan " + dir.path() + "/dup.json -o " + dir.path() + "/d"),
      {"dup.json: workers: 'a' runs two stages"});
  REQUIRE(WriteFileAtomic(dir.path() + "/bad.json", R"({"cuts": [5.5]})").ok());
  ExpectCleanError(
      Run("split -m " + model + " -s 1,3,224,224 --plan " + dir.path() + "/bad.json -o " + dir.path() + "/d"),
      {"bad.json: cuts: '5.5' is not a cut position"});
  ExpectCleanError(Run("plan -p /nonexistent/p.json"), {"/nonexistent/p.json"});
  ExpectCleanError(Run("plan"), {"--profile"});
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

TEST_CASE("measure-links measures every link, and plan uses the measurements", "[cli][links]") {
  test::TempDir dir;
  test::WorkerProcess a("a", dir.path()), b("b", dir.path());
  const std::string cluster = dir.path() + "/c.json";
  const std::string workers = "[{\"name\": \"a\", \"endpoint\": \"" + a.endpoint() +
                              "\"}, {\"name\": \"b\", \"endpoint\": \"" + b.endpoint() + "\"}]";
  // A 1 Mbit/s network on paper; loopback is far faster.
  REQUIRE(WriteFileAtomic(cluster, "{\"network\": {\"bandwidth_mbps\": 1}, \"workers\": " + workers + "}").ok());
  auto r = Run("measure-links -c " + cluster + " -o " + dir.path() + "/links.json --probe-mb 0.2 --rounds 2");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("3 of 3 links measured") != std::string::npos);
  auto links = nlohmann::json::parse(ReadFile(dir.path() + "/links.json").value());
  CHECK(links["format"] == "tandem-links");
  REQUIRE(links["links"].size() == 6);  // both ways of dispatcher-a, dispatcher-b, a-b
  std::set<std::pair<std::string, std::string>> ends;
  for (const auto& l : links["links"]) {
    ends.insert({l["from"].get<std::string>(), l["to"].get<std::string>()});
    CHECK(l["bandwidth_mbps"].get<double>() > 8);  // more than 1 MB/s on loopback
    CHECK(l["latency_ms"].get<double>() >= 0);
    CHECK(l["latency_ms"].get<double>() < 100);
  }
  CHECK(ends.size() == 6);
  CHECK(ends.count({"a", "b"}) == 1);
  CHECK(ends.count({"b", "dispatcher"}) == 1);

  // Plan the same model on paper and with the measurements.
  const std::string prof = dir.path() + "/p.json";
  REQUIRE(Run("profile -m " + FixturePath("small_cnn.traced.pt") + " -s 1,3,32,32 --repeats 1 -o " + prof).exit_code ==
          0);
  auto paper = Run("plan --json -p " + prof + " -c " + cluster);
  REQUIRE(paper.exit_code == 0);
  const std::string measured_cluster = dir.path() + "/m.json";
  REQUIRE(WriteFileAtomic(measured_cluster,
                          "{\"network\": {\"bandwidth_mbps\": 1, \"links\": \"links.json\"}, "
                          "\"workers\": " +
                              workers + "}")
              .ok());
  auto measured = Run("plan --json -p " + prof + " -c " + measured_cluster);
  REQUIRE(measured.exit_code == 0);
  const double paper_in = nlohmann::json::parse(paper.out)["stages"][0]["transfer_in_s"].get<double>();
  const double measured_in = nlohmann::json::parse(measured.out)["stages"][0]["transfer_in_s"].get<double>();
  CHECK(paper_in > 0.05);  // 12 kB at 1 Mbit/s
  CHECK(measured_in < paper_in / 10);
  auto table = Run("plan -p " + prof + " -c " + measured_cluster);
  CHECK(table.out.find("links: 6 of 6 measured") != std::string::npos);

  // A worker that is down: the others are measured and written, the run
  // says which links are missing and exits 1.
  b.process().Signal(SIGKILL);
  b.process().Wait(5);
  auto partial = Run("measure-links -c " + cluster + " -o " + dir.path() +
                     "/partial.json --probe-mb 0.1 --rounds 1 "
                     "--timeout 0.5");
  ExpectCleanError(partial, {"2 of 3 links could not be measured", "partial.json holds the others"});
  CHECK(partial.err.find("not measured: dispatcher <-> b") != std::string::npos);
  CHECK(partial.err.find("not measured: a <-> b") != std::string::npos);
  auto kept = nlohmann::json::parse(ReadFile(dir.path() + "/partial.json").value());
  CHECK(kept["links"].size() == 2);
}

TEST_CASE("profile stops at once on SIGTERM and writes nothing", "[cli]") {
  test::TempDir dir;
  const std::string out = dir.path() + "/p.json";
  test::Process p({test::DispatcherPath(), "profile", "-m", FixturePath("resnet18.traced.pt"), "-s", "1,3,224,224",
                   "--repeats", "10000", "-o", out},
                  dir.path() + "/log.txt");
  // Wait until it has started (it logs the model it loads), give it a
  // moment to reach the profiling, then stop it.
  for (int i = 0; i < 600 && p.Log().find("loading") == std::string::npos; ++i) {
    REQUIRE(p.Wait(0.1) == -1);
  }
  REQUIRE(p.Wait(2.0) == -1);
  p.Signal(SIGTERM);
  CHECK(p.Wait(10) == 128 + SIGTERM);
  CHECK(ReadFile(out).status().code() == Status::Code::kNotFound);
}

}  // namespace
}  // namespace tandem
