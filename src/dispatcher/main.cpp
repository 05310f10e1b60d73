// tandem-dispatcher: profile, plan, split and run a model across workers;
// measure the links between them.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "common/model/runtime.h"
#include "common/util/log.h"
#include "common/util/version.h"
#include "dispatcher/command.h"
#include "dispatcher/json_flags.h"

int main(int argc, char** argv) {
  tandem::KeepActivationMemory();
  tandem::SetLogProgramName("tandem-dispatcher");
  CLI::App app{"tandem-dispatcher: run a TorchScript model as a pipeline across tandem workers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", tandem::kSoftwareName);
  bool verbose = false;
  app.add_flag("--verbose,-v", verbose, "log debug detail");
  const std::vector<tandem::Subcommand> commands = {
      tandem::AddProfileCommand(app),      tandem::AddSplitCommand(app), tandem::AddPlanCommand(app),
      tandem::AddMeasureLinksCommand(app), tandem::AddRunCommand(app),   tandem::AddServeCommand(app),
      tandem::AddKeygenCommand(app),
  };
  // A subcommand's --config file becomes flags before its command line's.
  app.name(argv[0]);
  std::vector<std::string> args(argv + 1, argv + argc);
  tandem::Status st = tandem::ExpandJsonConfig(app, &args);
  try {
    if (st.ok()) {
      std::reverse(args.begin(), args.end());  // CLI11 takes them last first
      app.parse(args);
    }
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    st = tandem::Status::InvalidArgument(std::string(e.what()) + " (see --help)");
  }
  if (st.ok()) {
    if (verbose) tandem::SetLogLevel(tandem::LogLevel::kDebug);
    try {
      for (const auto& c : commands)
        if (app.got_subcommand(c.cli)) st = c.run();
    } catch (const std::exception& e) {
      st = tandem::Status::Internal(e.what());
    }
  }
  if (!st.ok()) {
    std::fprintf(stderr, "tandem-dispatcher: error: %s\n", st.message().c_str());
    return st.code() == tandem::Status::Code::kInternal ? 70 : 1;
  }
  return 0;
}
