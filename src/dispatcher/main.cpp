// tandem-dispatcher: profile, plan, split and run a model across workers; measure the links between them.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>

#include "common/log.h"
#include "common/model/model.h"
#include "common/signals.h"
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
  tandem::KeepActivationMemory();
  tandem::SetLogProgramName("tandem-dispatcher");
  CLI::App app{"tandem-dispatcher: run a TorchScript model as a pipeline across tandem workers"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("--verbose,-v", verbose, "log debug detail");

  tandem::ProfileCommandOptions profile;
  CLI::App* profile_cmd = app.add_subcommand(
      "profile", "find every valid cut and measure each segment's compute time, weights and cut sizes");
  AddModelFlags(profile_cmd, &profile.model);
  profile_cmd->add_option("--warmup", profile.warmup, "untimed passes through the model (with --loops: runs per segment)")->default_val(3)->check(CLI::Range(0, 1000));
  profile_cmd->add_option("--repeats", profile.repeats, "timed passes (with --loops: runs per segment); their median is reported")
      ->default_val(10)
      ->check(CLI::Range(1, 10000));
  profile_cmd->add_flag("--mean", profile.mean,
                        "report the mean of the timed runs, not the median (a node whose CPU is a cgroup quota: "
                        "the runs that meet the throttle count)");
  profile_cmd->add_option("--min-time", profile.min_time_s,
                          "keep timing until the timed passes (with --loops: each segment's runs) add up to this many seconds")
      ->default_val(0.0)
      ->check(CLI::Range(0.0, 3600.0));
  profile_cmd->add_flag("--loops", profile.loops,
                        "time each segment in its own loop (its weights stay in cache), not pass by pass through "
                        "the whole model as a pipeline runs them (the default)");
  profile_cmd->add_option("--move-codec", profile.move_codec,
                          "also measure the time per byte a node spends receiving and sending activations with "
                          "this codec (the planner adds it to each stage; plan with the same codec); none: skip")
      ->default_val("zfp+lz4");
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
  split_cmd->add_option("--warmup", split.warmup, "with --stages: untimed passes through the model")->default_val(3);
  split_cmd->add_option("--repeats", split.repeats, "with --stages: timed passes through the model")->default_val(10);

  tandem::PlanCommandOptions plan;
  CLI::App* plan_cmd = app.add_subcommand(
      "plan", "choose cuts and which worker runs each stage, for the most inferences per second");
  plan_cmd->add_option("--model,-m", plan.model, "TorchScript model file (profiled here first)");
  plan_cmd->add_option("--input-shape,-s", plan.input_shape, "with --model: input shape, e.g. 1,3,224,224");
  plan_cmd->add_option("--profile,-p", plan.profile, "or: a profile written by `profile --out`");
  plan_cmd->add_option("--cluster,-c", plan.cluster, "cluster config JSON (default: 3 local workers)");
  plan_cmd->add_option("--algorithm,-a", plan.algorithm, "auto (default), optimal, fast, seifer, greedy, random")
      ->default_val("auto");
  plan_cmd->add_option("--objective", plan.objective,
                       "throughput (default: the slowest stage or transfer) or latency (one request end to end; "
                       "optimal, fast and auto)")
      ->default_val("throughput");
  plan_cmd->add_option("--time-budget", plan.time_budget_s, "auto: seconds for the exact search before fast")
      ->default_val(2.0)
      ->check(CLI::Range(0.001, 3600.0));
  plan_cmd->add_flag("--json", plan.json, "print the plan as JSON");
  plan_cmd->add_option("--out,-o", plan.out, "write the plan file (for run --plan and split --plan)");
  plan_cmd->add_option("--threads,-t", plan.threads, "LibTorch threads for profiling (0: one per core)")->default_val(0);
  plan_cmd->add_option("--warmup", plan.warmup, "profiling: untimed passes through the model")->default_val(3);
  plan_cmd->add_option("--repeats", plan.repeats, "profiling: timed passes through the model")->default_val(10);

  tandem::MeasureLinksCommandOptions links;
  CLI::App* links_cmd = app.add_subcommand(
      "measure-links",
      "measure bandwidth and latency between the dispatcher and each worker and between every two workers, for "
      "the planner (the cluster config's network.links); run it while no pipeline runs");
  links_cmd->add_option("--cluster,-c", links.cluster, "cluster config JSON (default: 3 local workers)");
  links_cmd->add_option("--out,-o", links.out, "write the measurements (JSON) here");
  links_cmd->add_option("--probe-mb", links.probe_mb, "payload of a timed probe, MB (larger: steadier on fast links)")
      ->default_val(1.0)
      ->check(CLI::Range(0.001, 64.0));
  links_cmd->add_option("--rounds", links.rounds, "timed probes each way per link; the fastest counts")
      ->default_val(3)
      ->check(CLI::Range(1, 100));
  links_cmd->add_option("--timeout", links.timeout_s, "seconds to wait for each probe's answer")
      ->default_val(10.0)
      ->check(CLI::Range(0.01, 3600.0));

  tandem::RunCommandOptions run;
  CLI::App* run_cmd = app.add_subcommand(
      "run", "split the model, deploy the stages to the workers, stream inputs through, and report");
  run_cmd->add_option("--model,-m", run.model, "TorchScript model file")->required();
  run_cmd->add_option("--cluster,-c", run.cluster,
                      "cluster config JSON (default: 3 local workers on tcp://127.0.0.1:5550, 5560, 5570)");
  auto* inputs_opt = run_cmd->add_option("--inputs,-i", run.inputs, "directory of float32 .npy inputs");
  auto* synth_opt = run_cmd->add_option("--synthetic", run.synthetic, "stream N random inputs of --input-shape")
                        ->check(CLI::Range(1, 100000000));
  inputs_opt->excludes(synth_opt);
  run_cmd->add_option("--input-shape,-s", run.input_shape, "input shape, e.g. 1,3,224,224");
  run_cmd->add_option("--outputs,-o", run.outputs, "write each result as .npy here, named after its input");
  auto* rstages = run_cmd->add_option("--stages,-k", run.stages,
                                      "K stages balanced by compute on the first K workers (default: the planner decides)")
                      ->check(CLI::Range(1, 256));
  auto* rplan = run_cmd->add_option("--plan", run.plan, "plan file: cuts and, optionally, worker names");
  rstages->excludes(rplan);
  run_cmd->add_option("--algorithm,-a", run.algorithm, "planner when neither --stages nor --plan is given")
      ->default_val("auto");
  run_cmd->add_option("--codec", run.codec,
                      "codec for every hop: zfp+lz4 (default), lz4, zfp, raw; lossy: zfp:accuracy=T, zfp:rate=R, "
                      "zfp:precision=P (also with zfp+lz4)");
  run_cmd->add_option("--window,-w", run.window, "requests in flight at most")->default_val(8)->check(CLI::Range(1, 4096));
  run_cmd->add_option("--threads,-t", run.threads, "LibTorch threads for profiling here (0: one per core)")->default_val(0);
  run_cmd->add_option("--heartbeat-timeout", run.heartbeat_timeout_s,
                      "declare a worker failed after this many seconds without a heartbeat answer, and re-plan")
      ->default_val(1.0)
      ->check(CLI::Range(0.1, 3600.0));
  run_cmd->add_option("--max-attempts", run.max_attempts,
                      "sends of one request (replays after failures included) before it fails")
      ->default_val(4)
      ->check(CLI::Range(1, 100));
  run_cmd->add_flag("--watch-model", run.watch_model,
                    "deploy a new version of the model file when it changes (replace the file with a rename)");
  run_cmd->add_option("--warmup", run.warmup, "profiling: untimed passes through the model")->default_val(3);
  run_cmd->add_option("--repeats", run.repeats, "profiling: timed passes through the model")->default_val(10);
  run_cmd->add_option("--profile", run.profile,
                      "use this profile (from `profile --out`, of the same model file) instead of profiling here");
  run_cmd->add_option("--report", run.report,
                      "write the run's figures as JSON here: throughput, latency, prediction, per hop and stage");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) tandem::SetLogLevel(tandem::LogLevel::kDebug);

  tandem::Status st;
  try {
    // profile, plan, split and measure-links keep the default SIGINT/SIGTERM action (they
    // stop at once; their files are written whole or not at all); run
    // stops cleanly: it undeploys its stages and delivers what it has.
    if (app.got_subcommand(profile_cmd)) st = tandem::RunProfileCommand(profile);
    else if (app.got_subcommand(plan_cmd)) st = tandem::RunPlanCommand(plan);
    else if (app.got_subcommand(split_cmd)) st = tandem::RunSplitCommand(split);
    else if (app.got_subcommand(links_cmd)) st = tandem::RunMeasureLinksCommand(links);
    else if (app.got_subcommand(run_cmd)) st = tandem::RunPipelineCommand(run, tandem::InstallStopSignals());
  } catch (const std::exception& e) {
    st = tandem::Status::Internal(e.what());
  }
  if (!st.ok()) {
    std::fprintf(stderr, "tandem-dispatcher: error: %s\n", st.message().c_str());
    return st.code() == tandem::Status::Code::kInternal ? 70 : 1;
  }
  return 0;
}
