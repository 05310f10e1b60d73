// tandem-worker: the daemon that runs pipeline stages on a device.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>

#include "common/model/runtime.h"
#include "common/net/curve_keys.h"
#include "common/util/log.h"
#include "common/util/signals.h"
#include "common/util/version.h"
#include "worker/options.h"
#include "worker/worker.h"

namespace {

int Fail(const tandem::Status& st) {
  std::fprintf(stderr, "tandem-worker: error: %s\n", st.message().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  tandem::KeepActivationMemory();
  tandem::SetLogProgramName("tandem-worker");
  CLI::App app{"tandem-worker: serve stages of a tandem pipeline (runs under systemd, stops on SIGTERM)"};
  app.set_version_flag("--version", tandem::kSoftwareName);
  tandem::WorkerOptions options;
  tandem::Status config_status;
  // CLI11 applies options in the order they are defined: --config first, so
  // the file sets the struct, then the flags given override it.
  app.add_option_function<std::string>(
      "--config,-c", [&](const std::string& path) { config_status = tandem::LoadWorkerOptions(path, &options); },
      "JSON file with any of the options below (flags override it)");
  tandem::AddWorkerFlags(app, &options);
  std::string secret, public_file;
  bool if_missing = false;
  CLI::App* keygen = app.add_subcommand("keygen", "make this worker's key pair (CurveZMQ) and print its public key");
  keygen->add_option("--secret", secret, "secret key file to write (mode 0600)")->required();
  keygen->add_option("--public", public_file, "public key file to write (default: the secret's name + .pub)");
  keygen->add_flag("--if-missing", if_missing, "keep a secret key already there (and write its public file)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return Fail(tandem::Status::InvalidArgument(e.what()));
  }
  if (app.got_subcommand(keygen)) {
    if (public_file.empty()) public_file = secret + ".pub";
    auto keys = tandem::EnsureCurveKeyFiles(secret, public_file, if_missing);
    if (!keys.ok()) return Fail(keys.status());
    std::printf("%s  # %s\n", keys->public_key.c_str(), tandem::KeyFingerprint(keys->public_key).c_str());
    std::fprintf(stderr,
                 "tandem-worker: secret key in %s, public key in %s; put the public key in the cluster "
                 "config (workers[].public_key)\n",
                 secret.c_str(), public_file.c_str());
    return 0;
  }
  if (!config_status.ok()) return Fail(config_status);
  tandem::Status st = tandem::FinalizeWorkerOptions(&options);
  if (!st.ok()) return Fail(st);
  tandem::ApplyDeviceDefaults(&options);
  if (options.verbose) tandem::SetLogLevel(tandem::LogLevel::kDebug);

  const std::atomic<bool>& stop = tandem::InstallStopSignals();
  std::atomic<bool>& reload = tandem::InstallReloadSignal();
  tandem::SetComputeThreads(options.threads);
  try {
    tandem::Worker worker(options);
    st = worker.Start();
    if (!st.ok()) return Fail(st);
    worker.Run(stop, &reload);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem-worker: error: %s\n", e.what());
    return 70;
  }
  return 0;
}
