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

}  // namespace
}  // namespace tandem
