// tandem-dispatcher: profile, split and (later) run a model across workers.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/log.h"
#include "dispatcher/commands.h"

namespace {

void AddModelFlags(CLI::App* cmd, tandem::ModelOptions* o) {
  cmd->add_option("--model,-m", o->model, "TorchScript model file (torch.jit.save)")->required();
  cmd->add_option("--input-shape,-s", o->input_shape, "shape of the model's float32 input, e.g. 1,3,224,224")
      ->required();
  cmd->add_option("--threads,-t", o->threads, "LibTorch intra-op threads (0: one per core)")
      ->default_val(0)
      ->check(CLI::Range(0, 1024));
}

}  // namespace

int main(int argc, char** argv) {
  tandem::SetLogProgramName("tandem-dispatcher");
  CLI::App app{"tandem-dispatcher: split a TorchScript model into pipeline stages and profile it"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("--verbose,-v", verbose, "log debug detail");

  tandem::ProfileCommandOptions profile;
  CLI::App* profile_cmd = app.add_subcommand(
      "profile", "find every valid cut and measure each segment's compute time, weights and cut sizes");
  AddModelFlags(profile_cmd, &profile.model);
  profile_cmd->add_option("--warmup", profile.warmup, "untimed runs per segment")->default_val(3)->check(CLI::Range(0, 1000));
  profile_cmd->add_option("--repeats", profile.repeats, "timed runs per segment (median reported)")
      ->default_val(10)
      ->check(CLI::Range(1, 10000));
  profile_cmd->add_option("--out,-o", profile.out, "write the profile as JSON to this file");

  tandem::SplitCommandOptions split;
  CLI::App* split_cmd =
      app.add_subcommand("split", "write standalone stage modules and a manifest, verified against the model");
  AddModelFlags(split_cmd, &split.model);
  auto* stages_opt =
      split_cmd->add_option("--stages,-k", split.stages, "balance measured compute over K stages")->check(CLI::Range(1, 100000));
  auto* cuts_opt = split_cmd->add_option("--cuts", split.cuts, "cut at these positions (from `profile`), e.g. 12,40");
  auto* plan_opt = split_cmd->add_option("--plan", split.plan, "cut where a plan file says (its \"cuts\")");
  stages_opt->excludes(cuts_opt)->excludes(plan_opt);
  cuts_opt->excludes(plan_opt);
  split_cmd->add_option("--out,-o", split.out, "directory for stage-K.pt and manifest.json")->required();
  split_cmd->add_option("--warmup", split.warmup, "with --stages: untimed runs per segment")->default_val(3);
  split_cmd->add_option("--repeats", split.repeats, "with --stages: timed runs per segment")->default_val(10);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) tandem::SetLogLevel(tandem::LogLevel::kDebug);

  tandem::Status st;
  try {
    if (app.got_subcommand(profile_cmd)) st = tandem::RunProfileCommand(profile);
    else if (app.got_subcommand(split_cmd)) st = tandem::RunSplitCommand(split);
  } catch (const std::exception& e) {
    st = tandem::Status::Internal(e.what());
  }
  if (!st.ok()) {
    std::fprintf(stderr, "tandem-dispatcher: error: %s\n", st.message().c_str());
    return st.code() == tandem::Status::Code::kInternal ? 70 : 1;
  }
  return 0;
}
