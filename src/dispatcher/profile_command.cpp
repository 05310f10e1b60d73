// `tandem-dispatcher profile`: find every valid cut and measure each segment.
#include <cstdio>
#include <memory>
#include <optional>

#include "common/model/profile.h"
#include "common/util/log.h"
#include "dispatcher/command.h"
#include "dispatcher/model_setup.h"

namespace tandem {
namespace {

struct ProfileCommandOptions {
  ModelOptions model;
  ProfileRuns runs;                    // untimed and timed passes (with --loops: runs per segment)
  bool mean = false;                   // report their mean instead of their median
  bool loops = false;                  // time each segment in its own loop, not pass by pass
  double min_time_s = 0;               // keep timing until the timed runs add up to this
  std::string move_codec = "zfp+lz4";  // measure moving activations with this codec; "none": do not
  std::string out;                     // write the profile as JSON here (optional)
};

Status RunProfile(const ProfileCommandOptions& o) {
  std::optional<CodecSpec> move_codec;  // checked by the flag's validator, before the model loads
  if (o.move_codec != "none") move_codec = ParseCodec(o.move_codec).value();
  TANDEM_ASSIGN_OR_RETURN(auto model, LoadModel(o.model));
  ProfileOptions po = ProfileOptionsFor(o.runs);
  po.mean = o.mean;
  po.min_time_s = o.min_time_s;
  po.timing = o.loops ? SegmentTiming::kLoops : SegmentTiming::kPasses;
  TANDEM_ASSIGN_OR_RETURN(ModelProfile profile, ProfileWithProgress(*model, po, move_codec));
  std::fputs(FormatProfile(profile).c_str(), stdout);
  if (!o.out.empty()) {
    TANDEM_RETURN_IF_ERROR(WriteProfile(o.out, profile));
    TANDEM_LOG(kInfo) << "wrote " << o.out;
  }
  return Status::OK();
}

}  // namespace

Subcommand AddProfileCommand(CLI::App& app) {
  auto o = std::make_shared<ProfileCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "find every valid cut and measure each segment's compute time, weights and cut sizes");
  AddModelFlags(cmd, &o->model);
  cmd->add_option("--warmup", o->runs.warmup, "untimed passes through the model (with --loops: runs per segment)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--repeats", o->runs.repeats,
                  "timed passes (with --loops: runs per segment); their median is reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cmd->add_flag("--mean", o->mean,
                "report the mean of the timed runs, not the median (a node whose CPU is a cgroup quota: the runs "
                "that meet the throttle count)");
  cmd->add_option("--min-time", o->min_time_s,
                  "keep timing until the timed passes (with --loops: each segment's runs) add up to this many "
                  "seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_flag("--loops", o->loops,
                "time each segment in its own loop (its weights stay in cache), not pass by pass through the whole "
                "model as a pipeline runs them (the default)");
  cmd->add_option("--move-codec", o->move_codec,
                  "also measure the time per byte a node spends receiving and sending activations with this codec "
                  "(the planner adds it to each stage; plan with the same codec); none: skip")
      ->capture_default_str()
      ->check(CodecValidator(/*allow_none=*/true));
  cmd->add_option("--out,-o", o->out, "write the profile as JSON to this file");
  // Keeps the default SIGINT/SIGTERM action: it stops at once, and its file
  // is written whole or not at all.
  return {cmd, [o] { return RunProfile(*o); }};
}

}  // namespace tandem
