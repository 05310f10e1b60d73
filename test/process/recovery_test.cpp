// Faults during a stream: real tandem-worker processes on loopback and the
// tandem-dispatcher binary. Each test asserts that every request has exactly
// one result, in order, equal to the reference output of the model version
// that answered it (results.jsonl says which), and prints the time from the
// fault to the first result of the new pipeline.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/model/chain.h"
#include "common/model/model.h"
#include "common/model/runtime.h"
#include "common/tensor/npy.h"
#include "process/local_cluster.h"
#include "support.h"

namespace tandem {
namespace {

using nlohmann::json;

double UnixNow() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

const std::vector<int64_t> kShape = {1, 3, 64, 64};

// The workers of pipeline `p`, stage by stage, from the dispatcher's
// "pipeline P (model generation G, K stage(s) on wA, wB, ..., cuts" line;
// empty when the log has none.
std::vector<int> PipelineWorkers(const std::string& log, int p) {
  const std::string head = "pipeline " + std::to_string(p) + " (model generation ";
  const size_t at = log.find(head);
  if (at == std::string::npos) return {};
  const size_t on = log.find(" on ", at), cuts = log.find(", cuts", at);
  if (on == std::string::npos || cuts == std::string::npos || cuts < on) return {};
  std::vector<int> ws;
  std::istringstream names(log.substr(on + 4, cuts - on - 4));
  std::string name;
  while (std::getline(names, name, ',')) {
    const size_t w = name.find('w');
    if (w == std::string::npos) return {};
    ws.push_back(std::atoi(name.c_str() + w + 1));
  }
  return ws;
}

// A dispatcher streaming N input files through a cluster in the background.
class Stream {
 public:
  // `config`: a cluster config other than the cluster's own.
  Stream(LocalCluster& cluster, const std::string& model, int n, const std::vector<std::string>& extra = {},
         const std::string& config = "") {
    in_ = dir_.path() + "/in";
    out_ = dir_.path() + "/out";
    REQUIRE(test::RunCommand("mkdir -p " + in_).exit_code == 0);
    inputs_ = WriteInputs(in_, n, kShape, 11);
    std::vector<std::string> argv = {test::DispatcherPath(),
                                     "run",
                                     "-m",
                                     model,
                                     "-c",
                                     config.empty() ? cluster.config() : config,
                                     "-i",
                                     in_,
                                     "-o",
                                     out_,
                                     "--warmup",
                                     "0",
                                     "--repeats",
                                     "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // These tests are of failures, updates and cluster changes: a migration
    // on measured costs (a long run on a slow machine) would renumber
    // their pipelines. Adaptation only where a test asks for it.
    if (std::find(extra.begin(), extra.end(), "--adapt") == extra.end()) argv.insert(argv.end(), {"--adapt", "off"});
    dispatcher_ = std::make_unique<test::Process>(argv, dir_.path() + "/dispatcher.log");
  }
  // The results logged so far.
  std::vector<json> Results() const {
    std::vector<json> rs;
    std::ifstream f(out_ + "/results.jsonl");
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty()) continue;
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) rs.push_back(j);
    }
    return rs;
  }
  // Waits (bounded) until some result satisfies `pred`.
  void WaitFor(const std::function<bool(const json&)>& pred, const char* what, double timeout_s = 90) {
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < timeout_s) {
      for (const auto& r : Results())
        if (pred(r)) return;
      if (dispatcher_->Wait(0) >= 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    INFO(dispatcher_->Log());
    FAIL("no result " << what);
  }
  void WaitResults(int k) {
    WaitFor([k](const json& r) { return r["index"].get<int>() >= k - 1; }, "reached the count");
  }
  void WaitPipeline(int p) {
    WaitFor([p](const json& r) { return r["pipeline"].get<int>() >= p; }, "came from the new pipeline");
  }
  // Waits (bounded) until the dispatcher's log says `what`.
  void WaitLog(const std::string& what, double timeout_s = 90) {
    const auto t0 = std::chrono::steady_clock::now();
    while (Log().find(what) == std::string::npos && dispatcher_->Wait(0) < 0 &&
           std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(timeout_s))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    INFO(Log());
    REQUIRE(Log().find(what) != std::string::npos);
  }
  // Waits for the dispatcher to exit; returns its exit code.
  int Finish(double timeout_s = 180) { return dispatcher_->Wait(timeout_s); }
  // Once what a test checks has happened: `more` results later, SIGTERM.
  // The dispatcher delivers what it has in order, then exits 1
  // ("interrupted"); returns that code. The results are then a prefix of the
  // inputs, which CheckAnswers checks as it checks a whole run.
  int Interrupt(int more = 20) {
    const int have = static_cast<int>(Results().size());
    WaitResults(have + more);
    dispatcher_->Signal(SIGTERM);
    return Finish();
  }
  std::string Log() const { return dispatcher_->Log(); }
  void Signal(int sig) { dispatcher_->Signal(sig); }
  const std::string& out() const { return out_; }
  const std::vector<HostTensor>& inputs() const { return inputs_; }

 private:
  test::TempDir dir_;
  std::string in_, out_;
  std::vector<HostTensor> inputs_;
  std::unique_ptr<test::Process> dispatcher_;
};

// Every input has one result, in order, ok, equal to the reference output of
// the model generation that answered it (`models`: generation -> file).
// With `interrupted`, the results may stop short of the inputs.
void CheckAnswers(const Stream& s, const std::map<int, std::string>& models, bool interrupted = false) {
  const auto rs = s.Results();
  if (interrupted)
    REQUIRE(rs.size() <= s.inputs().size());
  else
    REQUIRE(rs.size() == s.inputs().size());
  SetComputeThreads(1);                              // small inputs: one thread is the fastest here
  std::map<int, std::vector<size_t>> by_generation;  // which results each model answered
  for (size_t i = 0; i < rs.size(); ++i) {
    INFO("result " << i << ": " << rs[i].dump());
    REQUIRE(rs[i]["index"].get<size_t>() == i);
    REQUIRE(rs[i]["ok"].get<bool>());
    const int g = rs[i]["model_generation"].get<int>();
    REQUIRE(models.count(g));
    by_generation[g].push_back(i);
  }
  for (const auto& [g, indexes] : by_generation) {
    auto m = Model::Load(models.at(g), kShape);
    REQUIRE(m.ok());
    std::vector<HostTensor> inputs;
    for (size_t i : indexes) inputs.push_back(s.inputs()[i]);
    const auto refs = ReferenceOutputs(*m.value(), inputs);
    for (size_t k = 0; k < indexes.size(); ++k) {
      INFO("result " << indexes[k] << " of model generation " << g);
      auto got = ReadOutputs(s.out(), static_cast<int>(indexes[k]), refs[k].size());
      auto d = CheckOutputs(got, refs[k]);
      INFO(d.status().ToString());
      CHECK(d.ok());
    }
  }
  CHECK(CountFiles(s.out()) == static_cast<int>(rs.size()));
}

// Seconds from `fault` to the first result of a pipeline after `before`.
double RecoverySeconds(const Stream& s, double fault, int before) {
  double first = 1e300;
  for (const auto& r : s.Results())
    if (r["pipeline"].get<int>() > before) first = std::min(first, r["received_unix_s"].get<double>());
  return first - fault;
}

std::string Model18() { return test::FixturePath("resnet18.traced.pt"); }

TEST_CASE("kill -9 of a middle worker: the survivors take over and every request is answered once", "[recovery]") {
  LocalCluster cluster(4);
  Stream s(cluster, Model18(), 200, {"-k", "4"});
  s.WaitResults(40);
  const double fault = UnixNow();
  cluster.worker(1).process().Signal(SIGKILL);
  s.WaitPipeline(2);
  const int code = s.Finish();
  INFO(s.Log());
  REQUIRE(code == 0);
  CHECK(s.Log().find("worker 'w1' failed: no heartbeat") != std::string::npos);
  CHECK(s.Log().find("3 stage(s) on w0, w2, w3") != std::string::npos);
  CheckAnswers(s, {{1, Model18()}});
  std::printf("recovery after kill -9 of a middle worker: %.2f s from the fault to the first new result\n",
              RecoverySeconds(s, fault, 1));
}

// Writes `cluster`'s config with only the workers named to `path`, by a
// rename (as the documentation asks).
void WriteClusterSubset(const LocalCluster& cluster, const std::vector<std::string>& names, const std::string& path) {
  std::ifstream in(cluster.config());
  json c = json::parse(in);
  json kept = json::array();
  for (const auto& w : c["workers"])
    if (std::count(names.begin(), names.end(), w["name"].get<std::string>())) kept.push_back(w);
  c["workers"] = kept;
  {
    std::ofstream out(path + ".new");
    out << c.dump(2);
  }
  REQUIRE(std::rename((path + ".new").c_str(), path.c_str()) == 0);
}

TEST_CASE("SIGSTOP of a worker: a spare takes its stage only, and it is re-admitted after SIGCONT", "[recovery]") {
  LocalCluster cluster(4);
  // The first pipeline is the planner's best on three of the four workers,
  // from a profile the run then plans with too: a fresh plan on the three
  // left after the fault is then no faster than keeping the stages that
  // survive, and only the lost stage may move. (Balanced cuts, `-k 3`, may
  // be slower than the planner's by more than the margin that keeps stages
  // in place, and then every stage moves, as it should.)
  test::TempDir dir;
  const std::string prof = dir.path() + "/profile.json", plan = dir.path() + "/plan.json",
                    three = dir.path() + "/three.json";
  WriteClusterSubset(cluster, {"w0", "w1", "w2"}, three);
  const std::string dispatcher = test::DispatcherPath();
  auto profiled = test::RunCommand(dispatcher + " profile -m " + Model18() + " -s 1,3,64,64 -t 1 -o " + prof);
  INFO(profiled.err);
  REQUIRE(profiled.exit_code == 0);
  auto planned = test::RunCommand(dispatcher + " plan -p " + prof + " -c " + three + " -a optimal -o " + plan);
  INFO(planned.out << planned.err);
  REQUIRE(planned.exit_code == 0);
  Stream s(cluster, Model18(), 1500, {"--profile", prof, "--plan", plan});
  s.WaitResults(40);
  // Stop the middle stage's worker, and expect the one left out to take
  // that stage alone.
  const std::vector<int> first = PipelineWorkers(s.Log(), 1);
  INFO(s.Log());
  REQUIRE(first.size() == 3);
  int spare = 0;
  while (std::count(first.begin(), first.end(), spare)) ++spare;
  const std::string a = "w" + std::to_string(first[0]), b = "w" + std::to_string(first[1]),
                    c = "w" + std::to_string(first[2]), d = "w" + std::to_string(spare);
  const double fault = UnixNow();
  cluster.worker(first[1]).process().Signal(SIGSTOP);
  s.WaitPipeline(2);
  cluster.worker(first[1]).process().Signal(SIGCONT);
  s.WaitLog("worker '" + b + "' is back");
  const int code = s.Interrupt();
  INFO(s.Log());
  REQUIRE(code == 1);
  // Only the lost stage moved: the others stayed loaded where they were.
  CHECK(PipelineWorkers(s.Log(), 2) == std::vector<int>{first[0], spare, first[2]});
  CHECK(s.Log().find("to " + d + " in") != std::string::npos);
  CHECK(s.Log().find("already loaded) to " + a) != std::string::npos);
  CHECK(s.Log().find("already loaded) to " + c) != std::string::npos);
  CheckAnswers(s, {{1, Model18()}}, true);
  std::printf("recovery after SIGSTOP of a worker: %.2f s from the fault to the first new result\n",
              RecoverySeconds(s, fault, 1));
}

TEST_CASE("workers added to the cluster config join a running stream when a plan with them is faster",
          "[recovery][cluster]") {
  LocalCluster cluster(3);
  test::TempDir dir;
  const std::string config = dir.path() + "/cluster.json";
  WriteClusterSubset(cluster, {"w0"}, config);
  Stream s(cluster, Model18(), 1500, {"--watch-cluster"}, config);
  s.WaitResults(30);
  // A config that does not load changes nothing.
  {
    std::ofstream broken(config + ".new");
    broken << R"({"workers": [{"name": "w0", "endpoint": "tcp://127.0.0.1:5550", "speed": "fast"}]})";
  }
  REQUIRE(std::rename((config + ".new").c_str(), config.c_str()) == 0);
  s.Signal(SIGHUP);
  s.WaitLog("SIGHUP: not applied, the running cluster stays: " + config);
  WriteClusterSubset(cluster, {"w0", "w1", "w2"}, config);
  s.Signal(SIGHUP);  // at once; the watch alone would read it a second or two later
  s.WaitPipeline(2);
  const int code = s.Interrupt();
  INFO(s.Log());
  REQUIRE(code == 1);
  CHECK(s.Log().find("SIGHUP: read " + config + " again: added w1, w2") != std::string::npos);
  CHECK(s.Log().find("worker 'w1' answered; it joins the cluster") != std::string::npos);
  CHECK(s.Log().find("worker 'w2' answered; it joins the cluster") != std::string::npos);
  CHECK(s.Log().find("cluster change: pipeline 2 serves new requests") != std::string::npos);
  CHECK(PipelineWorkers(s.Log(), 1) == std::vector<int>{0});
  CHECK(PipelineWorkers(s.Log(), 2).size() >= 2);
  CheckAnswers(s, {{1, Model18()}}, true);
}

TEST_CASE("a worker taken out of the cluster config is drained and released while the stream goes on",
          "[recovery][cluster]") {
  LocalCluster cluster(3);
  test::TempDir dir;
  const std::string config = dir.path() + "/cluster.json";
  WriteClusterSubset(cluster, {"w0", "w1", "w2"}, config);
  Stream s(cluster, Model18(), 1500, {"--watch-cluster", "-k", "3"}, config);
  s.WaitResults(30);
  const std::vector<int> first = PipelineWorkers(s.Log(), 1);
  REQUIRE(first.size() == 3);
  const std::string gone = "w" + std::to_string(first[1]);
  std::vector<std::string> rest;
  for (int w : first)
    if (w != first[1]) rest.push_back("w" + std::to_string(w));
  WriteClusterSubset(cluster, rest, config);  // the watch reads it
  s.WaitLog("worker '" + gone + "' released");
  const int code = s.Interrupt();
  INFO(s.Log());
  REQUIRE(code == 1);
  CHECK(s.Log().find("cluster config changed: read " + config + " again: removed " + gone) != std::string::npos);
  const std::vector<int> second = PipelineWorkers(s.Log(), 2);
  CHECK_FALSE(second.empty());
  CHECK(std::count(second.begin(), second.end(), first[1]) == 0);
  // It drained: pipeline 1 was undeployed once empty, and never went down.
  CHECK(s.Log().find("pipeline 1 (generation 1) drained and undeployed") != std::string::npos);
  CHECK(s.Log().find("is down") == std::string::npos);
  CheckAnswers(s, {{1, Model18()}}, true);
  // The worker itself runs nothing now.
  CHECK(cluster.worker(first[1]).process().Wait(0) < 0);  // still running, only released
}

TEST_CASE("two workers failing one after the other: each is survived", "[recovery]") {
  LocalCluster cluster(4);
  Stream s(cluster, Model18(), 400, {"-k", "4"});
  s.WaitResults(40);
  const double fault1 = UnixNow();
  cluster.worker(1).process().Signal(SIGKILL);
  s.WaitPipeline(2);
  const double fault2 = UnixNow();
  cluster.worker(2).process().Signal(SIGKILL);
  s.WaitPipeline(3);
  const int code = s.Finish();
  INFO(s.Log());
  REQUIRE(code == 0);
  CHECK(s.Log().find("on w0, w3") != std::string::npos);
  CheckAnswers(s, {{1, Model18()}});
  std::printf("recovery after the first of two failures: %.2f s, after the second: %.2f s\n",
              RecoverySeconds(s, fault1, 1), RecoverySeconds(s, fault2, 2));
}

TEST_CASE("survivors that cannot hold the model keep every request until a restarted worker is re-admitted",
          "[recovery]") {
  // ResNet-18 holds about 45 MB of weights: one 30 MiB worker cannot run it,
  // two can.
  LocalCluster cluster(2, "", {"--memory-mb", "30"}, ", \"memory_mb\": 30");
  Stream s(cluster, Model18(), 300);  // the planner keeps within memory
  s.WaitResults(20);
  cluster.worker(1).process().Signal(SIGKILL);
  // The dispatcher says it is waiting, and loses nothing meanwhile.
  const auto t0 = std::chrono::steady_clock::now();
  while (s.Log().find("cannot run the model") == std::string::npos &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  INFO(s.Log());
  REQUIRE(s.Log().find("cannot run the model") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  CHECK(s.Finish(0) == -1);  // still running
  const double restarted = UnixNow();
  cluster.worker(1).Restart();  // as systemd would
  s.WaitPipeline(2);
  const int code = s.Finish();
  INFO(s.Log());
  REQUIRE(code == 0);
  CHECK(s.Log().find("worker 'w1' is back") != std::string::npos);
  CheckAnswers(s, {{1, Model18()}});
  std::printf("restarted worker re-admitted: first new result %.2f s after its restart began\n",
              RecoverySeconds(s, restarted, 1));
}

TEST_CASE("a model update during a stream: each request is answered by one version, none lost", "[recovery]") {
  LocalCluster cluster(3);
  test::TempDir dir;
  const std::string model = dir.path() + "/model.pt";
  REQUIRE(test::RunCommand("cp " + Model18() + " " + model).exit_code == 0);
  Stream s(cluster, model, 2000, {"--watch-model"});
  s.WaitResults(20);
  // Replace the file with a rename, as the documentation says.
  const std::string next = test::FixturePath("mobilenet_v2.traced.pt");
  REQUIRE(test::RunCommand("cp " + next + " " + model + ".new && mv " + model + ".new " + model).exit_code == 0);
  const double updated = UnixNow();
  s.WaitFor([](const json& r) { return r["model_generation"].get<int>() == 2; }, "from the new model");
  s.WaitLog("drained and undeployed");
  const int code = s.Interrupt();
  INFO(s.Log());
  REQUIRE(code == 1);
  // New requests switched at one request boundary: generations never go back.
  const auto rs = s.Results();
  int last = 1, second = 0;
  for (const auto& r : rs) {
    const int g = r["model_generation"].get<int>();
    CHECK(g >= last);
    last = g;
    second += g == 2;
  }
  CHECK(second > 0);
  CHECK(second < static_cast<int>(rs.size()));
  CheckAnswers(s, {{1, Model18()}, {2, next}}, true);
  double first = 1e300;
  for (const auto& r : rs)
    if (r["model_generation"].get<int>() == 2) first = std::min(first, r["received_unix_s"].get<double>());
  std::printf("model update: first result of the new version %.2f s after the file was replaced\n", first - updated);
}

TEST_CASE("a model update the workers cannot hold beside the old one drains the old one first", "[recovery]") {
  // Two 32 MiB workers hold one ResNet-18 (45 MB) between them, not two.
  LocalCluster cluster(2, "", {"--memory-mb", "32"}, ", \"memory_mb\": 32");
  test::TempDir dir;
  const std::string model = dir.path() + "/model.pt";
  REQUIRE(test::RunCommand("cp " + Model18() + " " + model).exit_code == 0);
  Stream s(cluster, model, 1500, {"--watch-model"});
  s.WaitResults(20);
  const std::string next = test::FixturePath("resnet18.scripted.pt");
  REQUIRE(test::RunCommand("cp " + next + " " + model + ".new && mv " + model + ".new " + model).exit_code == 0);
  s.WaitFor([](const json& r) { return r["model_generation"].get<int>() == 2; }, "from the new model");
  s.WaitLog("model generation 2 serves all requests");
  const int code = s.Interrupt();
  INFO(s.Log());
  REQUIRE(code == 1);
  CHECK(s.Log().find("draining generation 1 first") != std::string::npos);
  int last = 1;
  for (const auto& r : s.Results()) {
    CHECK(r["model_generation"].get<int>() >= last);
    last = r["model_generation"].get<int>();
  }
  CheckAnswers(s, {{1, Model18()}, {2, next}}, true);
}

TEST_CASE("a stage that raises on one input fails that request only and the pipeline goes on", "[recovery]") {
  test::TempDir dir;
  const std::string model = dir.path() + "/picky.pt";
  // A model that refuses inputs whose activations are too large.
  const std::string script =
      "import torch\n"
      "class Picky(torch.nn.Module):\n"
      "    def __init__(self):\n"
      "        super().__init__()\n"
      "        self.a = torch.nn.Conv2d(3, 8, 3)\n"
      "        self.b = torch.nn.Conv2d(8, 4, 3)\n"
      "    def forward(self, x):\n"
      "        y = torch.relu(self.a(x))\n"
      "        if bool(y.mean() > 10.0):\n"
      "            raise RuntimeError('activation out of range')\n"
      "        return self.b(y)\n"
      "torch.manual_seed(0)\n"
      "torch.jit.script(Picky().eval()).save('" +
      model + "')\n";
  std::ofstream(dir.path() + "/make.py") << script;
  auto made = test::RunCommand("/usr/bin/python3 " + dir.path() + "/make.py");
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  LocalCluster cluster(2);
  const std::string in = dir.path() + "/in", out = dir.path() + "/out";
  REQUIRE(test::RunCommand("mkdir -p " + in).exit_code == 0);
  auto inputs = WriteInputs(in, 30, kShape, 5);
  // Every fifth input is scaled far out of range.
  for (int i = 0; i < 30; i += 5) {
    for (int64_t k = 0; k < inputs[i].numel(); ++k) inputs[i].f32()[k] *= 1000;
    char name[64];
    std::snprintf(name, sizeof name, "/in-%04d.npy", i);
    REQUIRE(WriteNpy(in + name, inputs[i]).ok());
  }
  auto r = test::RunCommand(test::DispatcherPath() + " run -m " + model + " -c " + cluster.config() + " -i " + in +
                            " -o " + out + " -k 2 --warmup 0 --repeats 1");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("6 of 30 requests failed") != std::string::npos);
  CHECK(r.out.find("24 completed, 6 failed") != std::string::npos);
  std::ifstream f(out + "/results.jsonl");
  std::string line;
  int i = 0;
  SetComputeThreads(1);
  auto m = Model::Load(model, kShape);
  REQUIRE(m.ok());
  while (std::getline(f, line)) {
    auto j = json::parse(line);
    REQUIRE(j["index"].get<int>() == i);
    if (i % 5 == 0) {
      CHECK_FALSE(j["ok"].get<bool>());
      CHECK(j["error"].get<std::string>().find("activation out of range") != std::string::npos);
      CHECK(j["attempts"].get<int>() == 1);  // a model error is not retried
    } else {
      CHECK(j["ok"].get<bool>());
      auto ref = m.value()->RunOriginal({inputs[i]});
      REQUIRE(ref.ok());
      auto d = CheckOutputs(ReadOutputs(out, i, 1), ref.value());
      CHECK(d.ok());
    }
    ++i;
  }
  CHECK(i == 30);
  CHECK(CountFiles(out) == 24);
}

// Runs iptables; false when it is missing or fails.
bool Iptables(const std::string& args) { return test::RunCommand("iptables -w 5 " + args).exit_code == 0; }

// Drops loopback traffic to and from a worker's two ports while it lives.
class LinkCut {
 public:
  explicit LinkCut(const std::vector<std::string>& ports) {
    for (const auto& p : ports)
      for (const char* dir : {"--dport", "--sport"})
        rules_.push_back(std::string("INPUT -i lo -p tcp ") + dir + " " + p +
                         " -m comment --comment tandem-test -j DROP");
    for (const auto& r : rules_) REQUIRE(Iptables("-I " + r));
  }
  void Heal() {
    for (const auto& r : rules_) Iptables("-D " + r);
    rules_.clear();
  }
  ~LinkCut() { Heal(); }

 private:
  std::vector<std::string> rules_;
};

std::string PortOf(const std::string& endpoint) { return endpoint.substr(endpoint.rfind(':') + 1); }

TEST_CASE("a link cut then healed: the worker is replaced, then re-admitted", "[recovery][root]") {
  if (::geteuid() != 0 || !Iptables("-L INPUT -n")) {
    WARN("skipped: cutting a link needs root and iptables");
    return;
  }
  LocalCluster cluster(4);
  Stream s(cluster, Model18(), 1500, {"-k", "3"});
  s.WaitResults(40);
  const double fault = UnixNow();
  {
    LinkCut cut({PortOf(cluster.worker(1).endpoint()), PortOf(cluster.worker(1).data_endpoint())});
    s.WaitPipeline(2);
  }
  s.WaitLog("worker 'w1' is back");
  const int code = s.Interrupt();
  INFO(s.Log());
  REQUIRE(code == 1);
  CHECK(s.Log().find("worker 'w1' failed: no heartbeat") != std::string::npos);
  CheckAnswers(s, {{1, Model18()}}, true);
  std::printf("recovery after a link cut: %.2f s from the fault to the first new result\n",
              RecoverySeconds(s, fault, 1));
}

// One process's threads under a cgroup v1 CPU quota (a slower CPU), moved
// back out when it goes.
class CpuQuota {
 public:
  static bool Available() { return ::geteuid() == 0 && ::access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", W_OK) == 0; }
  CpuQuota(int pid, double cpus) : dir_("/sys/fs/cgroup/cpu/tandem-test-" + std::to_string(::getpid())) {
    REQUIRE(test::RunCommand("mkdir -p " + dir_).exit_code == 0);
    // The kernel's smallest quota is 1 ms: a 10 ms period reaches 0.1 CPU.
    Write("cpu.cfs_period_us", "10000");
    Write("cpu.cfs_quota_us", std::to_string(static_cast<int>(cpus * 10000)));
    Move(pid, dir_);
    pid_ = pid;
  }
  ~CpuQuota() {
    Move(pid_, "/sys/fs/cgroup/cpu");
    test::RunCommand("rmdir " + dir_);
  }

 private:
  void Write(const std::string& file, const std::string& value) {
    std::ofstream f(dir_ + "/" + file);
    f << value << "\n";
    f.close();
    REQUIRE(f.good());
  }
  // Every thread (cgroup v1 "tasks" takes one at a time).
  static void Move(int pid, const std::string& to) {
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    test::RunCommand("for t in $(ls " + tasks + " 2>/dev/null); do echo $t > " + to + "/tasks; done");
  }
  std::string dir_;
  int pid_ = -1;
};

TEST_CASE("a worker slowed mid-stream (CPU quota): one re-plan moves work off it, every request answered once",
          "[recovery][adapt][root]") {
  if (!CpuQuota::Available()) {
    WARN("skipped: slowing a worker needs root and the cgroup v1 cpu controller");
    return;
  }
  LocalCluster cluster(3);
  Stream s(cluster, Model18(), 8000, {"--adapt", "on", "--adapt-dwell", "2"});
  // Past the plan's settle time (3 dwell times) and some: steady so far, and
  // the plan's own errors are not drift.
  s.WaitResults(1500);
  CHECK(s.Log().find("adapting:") == std::string::npos);
  // The first stage's worker gets a tenth of a CPU.
  const std::string log = s.Log();
  const size_t pipeline = log.find("pipeline 1 (model generation 1, ");
  REQUIRE(pipeline != std::string::npos);
  const size_t on = log.find("stage(s) on ", pipeline);
  REQUIRE(on != std::string::npos);
  const std::string first = log.substr(on + 12, 2);  // "w0", "w1" or "w2"
  int victim = first[1] - '0';
  REQUIRE((victim >= 0 && victim < 3));
  double fault = 0;
  {
    CpuQuota slow(cluster.worker(victim).process().pid(), 0.1);
    fault = UnixNow();
    s.WaitLog("adapting:", 60);
    s.WaitPipeline(2);
    const int code = s.Interrupt(200);
    INFO(s.Log());
    REQUIRE(code == 1);
  }
  const std::string after = s.Log();
  INFO(after);
  // One migration for one change, naming the slowed worker.
  CHECK(after.find("pipeline 3 (") == std::string::npos);
  CHECK(after.find(first + " ") != std::string::npos);
  CHECK(after.find("x slower than its best on its stage") != std::string::npos);
  CheckAnswers(s, {{1, Model18()}}, true);
  std::printf(
      "adaptation to a worker slowed to 0.1 CPU: %.2f s from the change to the first result of the new "
      "pipeline\n",
      RecoverySeconds(s, fault, 1));
}

}  // namespace
}  // namespace tandem
