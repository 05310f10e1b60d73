// tandem-worker: the daemon that runs one pipeline stage on a device.
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <thread>

#include "common/log.h"
#include "common/model/model.h"
#include "common/signals.h"
#include "worker/options.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  tandem::KeepActivationMemory();
  tandem::SetLogProgramName("tandem-worker");
  CLI::App app{"tandem-worker: serve one stage of a tandem pipeline (runs under systemd, stops on SIGTERM)"};
  tandem::WorkerOptions cli;
  std::string config;
  app.add_option("--config,-c", config, "JSON file with any of the options below (flags override it)");
  app.add_option("--listen,-l", cli.listen, "control endpoint the dispatcher connects to")
      ->capture_default_str();
  app.add_option("--data-listen", cli.data_listen, "data endpoint (default: listen host, listen port + 1)");
  app.add_option("--name,-n", cli.name, "name in logs and status (default: host name)");
  app.add_option("--threads,-t", cli.threads, "LibTorch compute threads (0: one per core)")->capture_default_str();
  app.add_option("--memory-mb", cli.memory_mb, "refuse stages needing more than this (0: no budget)")
      ->capture_default_str();
  app.add_option("--max-message-mb", cli.max_message_mb, "largest control message (deployed stage) accepted")
      ->capture_default_str();
  app.add_option("--max-activation-mb", cli.max_activation_mb, "largest activation message accepted")
      ->capture_default_str();
  app.add_option("--queue-depth", cli.queue_depth, "requests buffered between receive, compute and send")
      ->capture_default_str();
  app.add_flag("--verbose,-v", cli.verbose, "log debug detail");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  tandem::WorkerOptions options;
  if (!config.empty()) {
    auto loaded = tandem::LoadWorkerOptions(config);
    if (!loaded.ok()) {
      std::fprintf(stderr, "tandem-worker: error: %s\n", loaded.status().message().c_str());
      return 1;
    }
    options = loaded.value();
  }
  // Flags given on the command line override the file.
  if (app.count("--listen")) options.listen = cli.listen;
  if (app.count("--data-listen")) options.data_listen = cli.data_listen;
  if (app.count("--name")) options.name = cli.name;
  if (app.count("--threads")) options.threads = cli.threads;
  if (app.count("--memory-mb")) options.memory_mb = cli.memory_mb;
  if (app.count("--max-message-mb")) options.max_message_mb = cli.max_message_mb;
  if (app.count("--max-activation-mb")) options.max_activation_mb = cli.max_activation_mb;
  if (app.count("--queue-depth")) options.queue_depth = cli.queue_depth;
  if (app.count("--verbose")) options.verbose = cli.verbose;
  tandem::Status st = tandem::FinalizeWorkerOptions(&options);
  if (!st.ok()) {
    std::fprintf(stderr, "tandem-worker: error: %s\n", st.message().c_str());
    return 1;
  }
  if (options.verbose) tandem::SetLogLevel(tandem::LogLevel::kDebug);

  const std::atomic<bool>& stop = tandem::InstallStopSignals();

  tandem::SetComputeThreads(options.threads);
  try {
    tandem::Worker worker(options);
    st = worker.Start();
    if (!st.ok()) {
      std::fprintf(stderr, "tandem-worker: error: %s\n", st.message().c_str());
      return 1;
    }
    worker.Run(stop);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem-worker: error: %s\n", e.what());
    return 70;
  }
  return 0;
}
