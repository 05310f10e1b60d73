#include "worker/options.h"

#include <catch2/catch.hpp>

#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

// Parses argv as tandem-worker's main does: --config first, then the flags.
Status Parse(std::vector<std::string> args, WorkerOptions* o) {
  CLI::App app;
  Status config;
  app.add_option_function<std::string>("--config", [&](const std::string& p) { config = LoadWorkerOptions(p, o); });
  AddWorkerFlags(app, o);
  std::vector<const char*> argv{"tandem-worker"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
  } catch (const CLI::ParseError& e) {
    return Status::InvalidArgument(e.what());
  }
  return config;
}

TEST_CASE("worker options: defaults, then the config file, then the flags", "[worker]") {
  test::TempDir dir;
  const std::string file = dir.path() + "/w.json";
  REQUIRE(WriteFileAtomic(file, R"({"listen": "tcp://127.0.0.1:7000", "threads": 3, "queue_depth": 5})").ok());
  WorkerOptions o;
  CHECK(o.queue_depth == kDefaultWorkerQueueDepth);
  // Flags win over the file wherever they stand on the command line.
  REQUIRE(Parse({"--threads", "2", "--config", file, "--memory-mb", "64"}, &o).ok());
  CHECK(o.listen == "tcp://127.0.0.1:7000");                        // from the file
  CHECK(o.queue_depth == 5);                                        // from the file
  CHECK(o.threads == 2);                                            // the flag over the file
  CHECK(o.memory_mb == 64);                                         // the flag
  CHECK(o.max_activation_mb == WorkerOptions().max_activation_mb);  // the default
  REQUIRE(FinalizeWorkerOptions(&o).ok());
  CHECK(o.data_listen == "tcp://127.0.0.1:7001");

  WorkerOptions bad;
  REQUIRE(WriteFileAtomic(file, R"({"queue_depth": "deep"})").ok());
  CHECK(Parse({"--config", file}, &bad).message() == file + ": queue_depth: must be an integer");
  REQUIRE(WriteFileAtomic(file, R"({"colour": 1})").ok());
  CHECK(Parse({"--config", file}, &bad).message().find(file + ": colour: unknown field") == 0);
  CHECK_FALSE(Parse({"--queue-depth", "0"}, &bad).ok());
  WorkerOptions from_file;
  REQUIRE(WriteFileAtomic(file, R"({"queue_depth": 99})").ok());
  REQUIRE(Parse({"--config", file}, &from_file).ok());
  CHECK(FinalizeWorkerOptions(&from_file).message() == "queue_depth: must be in 1..64");
  // Numbers out of any range are clear errors naming the file, never an abort.
  for (const char* text : {R"({"threads": 1e999})", R"({"threads": -1e999})", R"({"threads": 1e30})",
                           R"({"memory_mb": 18446744073709551616})", R"({"threads": 2.5})"}) {
    INFO(text);
    REQUIRE(WriteFileAtomic(file, text).ok());
    WorkerOptions o2;
    const Status st = Parse({"--config", file}, &o2);
    CHECK_FALSE(st.ok());
    CHECK(st.message().find(file + ": ") == 0);
  }
}

TEST_CASE("worker options: threads and the memory budget default from the device", "[worker]") {
  test::TempDir dir;
  const std::string r = dir.path();
  REQUIRE(MakeDirs(r + "/proc").ok());
  REQUIRE(MakeDirs(r + "/sys/devices/system/cpu").ok());
  REQUIRE(WriteFileAtomic(r + "/proc/meminfo", "MemTotal: 3884000 kB\nMemAvailable: 3276800 kB\n").ok());
  REQUIRE(WriteFileAtomic(r + "/sys/devices/system/cpu/online", "0-3\n").ok());
  WorkerOptions o;
  CHECK(o.threads == 0);
  CHECK(o.memory_mb == -1);
  o.device_root = r;
  ApplyDeviceDefaults(&o);
  CHECK(o.threads == 4);       // a Pi 4's cores
  CHECK(o.memory_mb == 2560);  // 80% of 3200 MiB available
  WorkerOptions given;
  given.device_root = r;
  given.threads = 2;
  given.memory_mb = 0;  // no budget, as asked
  ApplyDeviceDefaults(&given);
  CHECK(given.threads == 2);
  CHECK(given.memory_mb == 0);
  WorkerOptions unknown;
  unknown.device_root = r + "/nothing";
  ApplyDeviceDefaults(&unknown);
  CHECK(unknown.threads == 1);
  CHECK(unknown.memory_mb == 0);  // the device does not say: no budget
  CHECK_FALSE(Parse({"--memory-mb", "-2"}, &unknown).ok());
}

}  // namespace
}  // namespace tandem
