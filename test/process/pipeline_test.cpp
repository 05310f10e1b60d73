// Black-box tests of the whole pipeline: real tandem-worker processes on
// loopback, the tandem-dispatcher binary, every fixture model, every codec.
// Each output is compared with the unsplit model run here on the same input.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "common/model/chain.h"
#include "common/model/model.h"
#include "common/model/runtime.h"
#include "common/tensor/npy.h"
#include "common/util/files.h"
#include "process/local_cluster.h"
#include "support.h"

namespace tandem {
namespace {

using test::CommandResult;

struct RunResult {
  CommandResult command;
  nlohmann::json report;  // run --report
};

// Max error per hop, from the run's report.
std::vector<double> HopErrors(const RunResult& r) {
  std::vector<double> errs;
  for (const auto& h : r.report["hops"]) errs.push_back(h["max_abs_error"].get<double>());
  return errs;
}

struct RunSpec {
  std::string fixture;
  int stages = 3;     // 0: let the planner choose
  std::string codec;  // empty: the default
  int inputs = 24;
  std::vector<int64_t> shape;  // the input's; empty: the fixture's
};

// Runs the pipeline; checks every output against the unsplit model, and the
// report against what was run.
RunResult RunAndCheck(LocalCluster& cluster, const RunSpec& spec, bool lossless = true) {
  test::TempDir dir;
  const std::string in = dir.path() + "/in", out = dir.path() + "/out";
  REQUIRE(test::RunCommand("mkdir -p " + in).exit_code == 0);
  auto f = test::LoadFixture(spec.fixture);
  const std::vector<int64_t> shape = spec.shape.empty() ? f.input_shape : spec.shape;
  auto inputs = WriteInputs(in, spec.inputs, shape, 7);
  std::string cmd = test::DispatcherPath() + " run -m " + f.model + " -c " + cluster.config() + " -i " + in + " -o " +
                    out + " --warmup 1 --repeats 1 --window 6 --report " + dir.path() + "/report.json";
  if (spec.stages > 0) cmd += " -k " + std::to_string(spec.stages);  // else the planner decides
  if (!spec.codec.empty()) cmd += " --codec " + spec.codec;
  CommandResult r = test::RunCommand(cmd);
  INFO(spec.fixture << " in " << spec.stages << " stages, codec " << spec.codec << "\n"
                    << r.out << r.err << cluster.Logs());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(std::to_string(spec.inputs) + " completed, 0 failed") != std::string::npos);
  auto text = ReadFile(dir.path() + "/report.json");
  REQUIRE(text.ok());
  RunResult result{r, nlohmann::json::parse(text.value())};
  const auto& rep = result.report;
  CHECK(rep["requests"]["completed"] == spec.inputs);
  CHECK(rep["requests"]["failed"] == 0);
  CHECK(rep["requests"]["throughput_per_s"].get<double>() > 0);
  CHECK(rep["model"]["sha256"].get<std::string>().size() == 64);
  const size_t stages = rep["pipeline"]["workers"].size();
  if (spec.stages > 0) CHECK(stages == static_cast<size_t>(spec.stages));
  CHECK(rep["stages"].size() == stages);
  REQUIRE(rep["hops"].size() == stages + 1);
  // Every request passed every hop once, and all clocks here are one clock.
  for (const auto& h : rep["hops"]) {
    INFO(h.dump());
    CHECK(h["bytes_per_request"].get<double>() > 0);
    REQUIRE(h["transfer_ms"].is_object());
    CHECK(h["transfer_ms"]["samples"] == spec.inputs);
    CHECK(h["transfer_ms"]["p50"].get<double>() >= 0);
  }
  CHECK(rep["predicted"]["throughput_per_s"].get<double>() > 0);
  // The text report sets the steady rate against the plan's prediction.
  const double steady = rep["requests"]["steady_throughput_per_s"].get<double>();
  CHECK(steady > 0);
  char line[128];
  std::snprintf(line, sizeof line, "%.2f inferences/s once the pipeline was full (planned: %.2f/s", steady,
                rep["predicted"]["throughput_per_s"].get<double>());
  CHECK(r.out.find(line) != std::string::npos);
  // A short run: --adapt auto leaves adaptation off, and says why.
  CHECK(r.err.find("adaptation off (--adapt auto: " + std::to_string(spec.inputs) + " requests at the predicted ") !=
        std::string::npos);

  SetComputeThreads(1);
  auto model = Model::Load(f.model, shape);
  REQUIRE(model.ok());
  const auto refs = ReferenceOutputs(*model.value(), inputs, 8);
  int agree = 0;
  for (int i = 0; i < spec.inputs; ++i) {
    const std::vector<HostTensor>& ref = refs[i];
    auto got = ReadOutputs(out, i, ref.size(), model.value()->output_names());
    INFO("input " << i);
    if (lossless) {
      auto d = CheckOutputs(got, ref);
      INFO(d.status().ToString());
      CHECK(d.ok());
    } else {
      // Lossy: close, and the same top class.
      auto d = CompareTensors(got[0], ref[0]);
      REQUIRE(d.ok());
      CHECK(d->max_abs_diff <= 0.05 * d->max_abs_ref + 1e-3);
      auto argmax = [](const HostTensor& t) { return std::max_element(t.f32(), t.f32() + t.numel()) - t.f32(); };
      agree += argmax(got[0]) == argmax(ref[0]);
    }
  }
  if (!lossless) CHECK(agree >= spec.inputs * 9 / 10);
  // One output file per tensor output per input: none missing, none extra.
  size_t tensors = 0;
  for (const auto& t : f.outputs) tensors += !t.is_none();
  CHECK(CountFiles(out) == static_cast<int>(tensors) * spec.inputs);
  return result;
}

void CheckFixture(const std::string& id) {
  LocalCluster cluster(3);
  RunAndCheck(cluster, {id, 2, "", 24, {}});
  RunAndCheck(cluster, {id, 3, "", 24, {}});
}

// Every fixture through real pipelines. The large models carry [sweep]
// (ctest label `sweep`, outside the default test run); multi-tensor cuts and
// the planner stay in it (irregular, and GoogLeNet by the planner below).
#define TANDEM_PIPELINE_TEST(id, sweep_tag) \
  TEST_CASE("pipeline of 2 and 3 workers reproduces " id, "[pipeline]" sweep_tag) { CheckFixture(id); }

TANDEM_PIPELINE_TEST("small_cnn.traced", "")
TANDEM_PIPELINE_TEST("small_cnn.scripted", "")
TANDEM_PIPELINE_TEST("irregular.scripted", "")
TANDEM_PIPELINE_TEST("resnet18.traced", "")
TANDEM_PIPELINE_TEST("resnet18.scripted", "")
TANDEM_PIPELINE_TEST("resnet50.traced", "[sweep]")
TANDEM_PIPELINE_TEST("resnet50.scripted", "[sweep]")
TANDEM_PIPELINE_TEST("mobilenet_v2.traced", "[sweep]")
TANDEM_PIPELINE_TEST("mobilenet_v2.scripted", "[sweep]")
TANDEM_PIPELINE_TEST("googlenet.traced", "[sweep]")
TANDEM_PIPELINE_TEST("googlenet.scripted", "[sweep]")
TANDEM_PIPELINE_TEST("vgg16.traced", "[sweep]")
TANDEM_PIPELINE_TEST("vgg16.scripted", "[sweep]")

TEST_CASE("the planner's placement reproduces the model", "[pipeline][plan]") {
  LocalCluster cluster(3);
  auto r = RunAndCheck(cluster, {"googlenet.scripted", 0, "", 24, {}});
  CHECK(r.command.out.find("bottleneck:") != std::string::npos);
  CHECK(r.command.out.find("predicted throughput") != std::string::npos);
}

// The codecs on ResNet-18's activations at 64x64 (a twelfth of the compute
// of 224x224; the same layers and value distributions).
const std::vector<int64_t> kSmallImage = {1, 3, 64, 64};

TEST_CASE("every lossless codec gives exact outputs", "[pipeline][codec]") {
  LocalCluster cluster(3);
  for (const char* codec : {"raw", "lz4", "zfp", "zfp+lz4"}) {
    auto r = RunAndCheck(cluster, {"resnet18.traced", 3, codec, 24, kSmallImage});
    for (double e : HopErrors(r)) CHECK(e == 0);
  }
}

TEST_CASE("lossy zfp stays within its stated error", "[pipeline][codec]") {
  LocalCluster cluster(3);
  auto r = RunAndCheck(cluster, {"resnet18.traced", 3, "zfp+lz4:accuracy=0.001", 24, kSmallImage}, /*lossless=*/false);
  auto errs = HopErrors(r);
  REQUIRE(errs.size() == 4);
  for (double e : errs) CHECK(e <= 0.001);
  CHECK(*std::max_element(errs.begin(), errs.end()) > 0);
  // At 224x224: at 64x64 one hop came through rate 16 without error.
  auto rate = RunAndCheck(cluster, {"resnet18.traced", 3, "zfp:rate=16", 24, {}}, /*lossless=*/false);
  for (double e : HopErrors(rate)) CHECK(e > 0);
}

TEST_CASE("a worker that is not running gives a clear error within the connect timeout", "[pipeline][errors]") {
  test::TempDir dir;
  const std::string config = dir.path() + "/cluster.json";
  const std::string dead = "tcp://127.0.0.1:" + std::to_string(test::FreePort());
  std::ofstream(config) << R"({"timeouts": {"connect_s": 1}, "workers": [{"name": "gone", "endpoint": ")" << dead
                        << "\"}]}";
  auto t0 = std::chrono::steady_clock::now();
  auto r = test::RunCommand(test::DispatcherPath() + " run -m " + test::FixturePath("small_cnn.scripted.pt") + " -c " +
                            config + " --synthetic 3 -s 1,3,32,32 --repeats 1 --warmup 0");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("worker 'gone' (" + dead + ") did not answer HELLO within 1 s") != std::string::npos);
  CHECK(s < 15);
}

TEST_CASE("wrong input shapes are refused before streaming", "[pipeline][errors]") {
  LocalCluster cluster(2);
  test::TempDir dir;
  const std::string in = dir.path() + "/in", out = dir.path() + "/out";
  REQUIRE(test::RunCommand("mkdir -p " + in).exit_code == 0);
  WriteInputs(in, 3, {1, 3, 32, 32}, 1);
  REQUIRE(WriteNpy(in + "/in-zzz.npy", HostTensor::Zeros(DType::kFloat32, {1, 3, 16, 16})).ok());
  const std::string model = test::FixturePath("small_cnn.scripted.pt");
  auto r = test::RunCommand(test::DispatcherPath() + " run -m " + model + " -c " + cluster.config() + " -i " + in +
                            " -o " + out + " -k 2");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("in-zzz.npy: shape 1x3x16x16 differs from the input's shape 1x3x32x32") != std::string::npos);
  CHECK(r.err.find("deployed") == std::string::npos);
  CHECK(CountFiles(out) == 0);
  // A shape the model rejects (4 channels) is refused before deploying too.
  r = test::RunCommand(test::DispatcherPath() + " run -m " + model + " -c " + cluster.config() +
                       " --synthetic 2 -s 1,4,32,32 -k 2");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("rejects inputs 1x4x32x32") != std::string::npos);
  CHECK(r.err.find("deployed") == std::string::npos);
  // Bad flags and a bad cluster file name what is wrong.
  r = test::RunCommand(test::DispatcherPath() + " run -m " + model +
                       " -c /nonexistent/c.json --synthetic 2 -s 1,3,32,32");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("/nonexistent/c.json") != std::string::npos);
  r = test::RunCommand(test::DispatcherPath() + " run -m " + model + " -c " + cluster.config() +
                       " --synthetic 2 -s 1,3,32,32 -k 3");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("needs 3 workers") != std::string::npos);
  r = test::RunCommand(test::DispatcherPath() + " run -m " + model + " -c " + cluster.config() +
                       " --synthetic 2 -s 1,3,32,32 --codec zfp:rate=99");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("zfp rate") != std::string::npos);
  // A model with two inputs: each request is NAME.0.npy and NAME.1.npy.
  const std::string seg = test::FixturePath("masked_segmenter.traced.pt");
  r = test::RunCommand(test::DispatcherPath() + " run -m " + seg + " -c " + cluster.config() + " -i " + in + " -o " +
                       out + " -k 2");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("in-0000.npy: the model takes 2 inputs; name each request's files NAME.0.npy .. NAME.1.npy") !=
        std::string::npos);
  const std::string two = dir.path() + "/two";
  REQUIRE(test::RunCommand("mkdir -p " + two).exit_code == 0);
  REQUIRE(WriteNpy(two + "/a.0.npy", HostTensor::Zeros(DType::kFloat32, {1, 3, 16, 16})).ok());
  REQUIRE(WriteNpy(two + "/a.1.npy", HostTensor::Zeros(DType::kBool, {1, 1, 16, 16})).ok());
  REQUIRE(WriteNpy(two + "/b.0.npy", HostTensor::Zeros(DType::kFloat32, {1, 3, 16, 16})).ok());
  r = test::RunCommand(test::DispatcherPath() + " run -m " + seg + " -c " + cluster.config() + " -i " + two + " -o " +
                       out + " -k 2");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("request 'b' has no input 1 (b.1.npy)") != std::string::npos);
  REQUIRE(WriteNpy(two + "/b.1.npy", HostTensor::Zeros(DType::kUInt8, {1, 1, 16, 16})).ok());
  r = test::RunCommand(test::DispatcherPath() + " run -m " + seg + " -c " + cluster.config() + " -i " + two + " -o " +
                       out + " -k 2");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("b.1.npy: dtype uint8 differs from input 1's dtype bool") != std::string::npos);
  r = test::RunCommand(test::DispatcherPath() + " run -m " + seg + " -c " + cluster.config() +
                       " --synthetic 2 -s 1,3,16,16:float32 -s 1,1,16,16:complex -k 2");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("unknown dtype 'complex'") != std::string::npos);
  CHECK(CountFiles(out) == 0);
}

TEST_CASE("a worker whose CPU throttles is reported during the run", "[pipeline]") {
  // Both workers read a Raspberry Pi's /sys from a directory: hot, and
  // throttled at the soft temperature limit.
  test::TempDir root;
  for (const auto& [path, text] : std::vector<std::pair<std::string, std::string>>{
           {"/sys/class/thermal/thermal_zone0/type", "cpu-thermal\n"},
           {"/sys/class/thermal/thermal_zone0/temp", "83500\n"},
           {"/sys/devices/platform/soc/soc:firmware/get_throttled", "0x8000c\n"}}) {
    REQUIRE(MakeDirs((root.path() + path).substr(0, root.path().size() + path.rfind('/'))).ok());
    REQUIRE(WriteFileAtomic(root.path() + path, text).ok());
  }
  LocalCluster cluster(2, "", {"--device-root", root.path()});
  const CommandResult r =
      test::RunCommand(test::DispatcherPath() + " run -m " + test::FixturePath("small_cnn.scripted.pt") + " -c " +
                       cluster.config() + " --synthetic 6 -s 1,3,32,32 -k 2 --warmup 1 --repeats 1");
  INFO(r.out << r.err << cluster.Logs());
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("warning: worker 'w0' is throttling (83.5 C, throttled now (temperature limit)): its stage runs "
                   "slower than planned") != std::string::npos);
  CHECK(r.out.find("worker 'w1' is throttling") != std::string::npos);  // among the run's events
  CHECK(cluster.Logs().find("device: 83.5 C, throttled now (temperature limit)") != std::string::npos);
}

// Request i's inputs: the fixture's, each tensor's elements shuffled (seed i;
// request 0 unshuffled), so every value stays one the model accepts (token
// ids within the vocabulary, a mask of 0 and 1).
std::vector<HostTensor> ShuffledInputs(const test::Fixture& f, int i) {
  std::vector<HostTensor> out = f.inputs;
  if (i == 0) return out;
  std::mt19937 rng(static_cast<uint32_t>(i));
  for (auto& t : out) {
    const size_t size = DTypeSize(t.dtype);
    std::vector<size_t> order(static_cast<size_t>(t.numel()));
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<uint8_t> data(t.data.size());
    for (size_t k = 0; k < order.size(); ++k)
      std::copy_n(t.data.begin() + order[k] * size, size, data.begin() + k * size);
    t.data = std::move(data);
  }
  return out;
}

// Several inputs of several dtypes, non-tensor values across cuts, named
// outputs: a 3-worker run answers each request once, exactly as the model.
void CheckBeyondImages(LocalCluster& cluster, const std::string& id) {
  test::TempDir dir;
  const std::string in = dir.path() + "/in", out = dir.path() + "/out";
  REQUIRE(test::RunCommand("mkdir -p " + in).exit_code == 0);
  const auto f = test::LoadFixture(id);
  const int n = 6;
  std::vector<std::vector<HostTensor>> requests;
  for (int i = 0; i < n; ++i) {
    requests.push_back(ShuffledInputs(f, i));
    for (size_t k = 0; k < requests[i].size(); ++k) {
      char name[64];
      if (requests[i].size() == 1) {
        std::snprintf(name, sizeof name, "/in-%04d.npy", i);
      } else {
        std::snprintf(name, sizeof name, "/in-%04d.%zu.npy", i, k);
      }
      REQUIRE(WriteNpy(in + name, requests[i][k]).ok());
    }
  }
  // No --input-shape: the files give the inputs, the model how many per request.
  const CommandResult r = test::RunCommand(test::DispatcherPath() + " run -m " + f.model + " -c " + cluster.config() +
                                           " -i " + in + " -o " + out + " -k 3 --warmup 1 --repeats 1 --window 4");
  INFO(id << "\n" << r.out << r.err << cluster.Logs());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(std::to_string(n) + " completed, 0 failed") != std::string::npos);

  SetComputeThreads(1);
  auto model = Model::Load(f.model, f.specs);
  REQUIRE(model.ok());
  const auto& names = model.value()->output_names();
  for (int i = 0; i < n; ++i) {
    auto ref = model.value()->RunOriginal(requests[i]);
    REQUIRE(ref.ok());
    REQUIRE(ref->size() == names.size());
    const auto got = ReadOutputs(out, i, ref->size(), names);
    INFO("request " << i);
    for (size_t k = 0; k < ref->size(); ++k) {
      INFO("output " << (names[k].empty() ? "(lone)" : names[k]));
      REQUIRE_FALSE(got[k].is_none());         // its file was written
      CHECK(got[k].dtype == (*ref)[k].dtype);  // outputs keep the model's dtype
    }
    auto d = CheckOutputs(got, ref.value());
    INFO(d.status().ToString());
    CHECK(d.ok());
  }
  CHECK(CountFiles(out) == n * static_cast<int>(names.size()));
  // Exactly once: one line per request in results.jsonl.
  auto log = ReadFile(out + "/results.jsonl");
  REQUIRE(log.ok());
  CHECK(std::count(log->begin(), log->end(), '\n') == n);
}

TEST_CASE("3 workers run models beyond one float32 image", "[pipeline]") {
  LocalCluster cluster(3);
  for (const char* id : {"unet.scripted", "masked_segmenter.traced", "tiny_encoder.scripted", "uint8_images.scripted",
                         "dict_output.scripted", "mixed_dtypes.scripted"})
    CheckBeyondImages(cluster, id);
}

}  // namespace
}  // namespace tandem
