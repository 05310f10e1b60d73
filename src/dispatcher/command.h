// The dispatcher's subcommands. Each lives in a file of its own
// (NAME_command.cpp) that registers its flags, bound straight into its
// options struct (help shows the struct's defaults), and says how to run it.
// main() only registers them and dispatches.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "common/util/status.h"

namespace tandem {

struct Subcommand {
  CLI::App* cli = nullptr;      // owned by the parent app
  std::function<Status()> run;  // runs it with the parsed flags
};

Subcommand AddProfileCommand(CLI::App& app);
Subcommand AddSplitCommand(CLI::App& app);
Subcommand AddPlanCommand(CLI::App& app);
Subcommand AddMeasureLinksCommand(CLI::App& app);
Subcommand AddRunCommand(CLI::App& app);
Subcommand AddServeCommand(CLI::App& app);
Subcommand AddKeygenCommand(CLI::App& app);

// A check for flags that take a codec ("zfp+lz4:accuracy=0.001"), or "none"
// where `allow_none`; its error is ParseCodec's.
CLI::Validator CodecValidator(bool allow_none = false);
// A check for --algorithm: a name MakePlanner knows (its error lists them).
CLI::Validator PlannerValidator();

}  // namespace tandem
