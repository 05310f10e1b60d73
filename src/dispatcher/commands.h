// The dispatcher's subcommands. Each takes its options struct (bound to CLI
// flags in main.cpp) and returns a Status; main() maps it to an exit code.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "common/status.h"

namespace tandem {

struct ModelOptions {
  std::string model;        // TorchScript file (required)
  std::string input_shape;  // "1,3,224,224" (required)
  // Intra-op threads for LibTorch; 0 means one per core. Default 0.
  int threads = 0;
};

struct ProfileCommandOptions {
  ModelOptions model;
  int warmup = 3;    // untimed runs per segment
  int repeats = 10;  // timed runs per segment
  bool mean = false; // report their mean instead of their median
  bool loops = false;  // time each segment in its own loop, not pass by pass
  double min_time_s = 0;  // time each segment until its runs add up to this
  std::string move_codec = "zfp+lz4";  // measure moving activations with this codec; "none": do not
  std::string out;   // write the profile as JSON here (optional)
};

struct SplitCommandOptions {
  ModelOptions model;
  int stages = 0;            // balance measured compute over this many stages
  std::string cuts;          // or: explicit cut positions "i,j,..."
  std::string plan;          // or: a plan file with "cuts"
  std::string out;           // output directory (required)
  int warmup = 3;            // as in profile, for --stages
  int repeats = 10;
};

struct RunCommandOptions {
  std::string model;         // TorchScript file (required)
  std::string cluster;       // cluster config; empty: the embedded default (3 local workers)
  std::string inputs;        // directory of .npy inputs
  int synthetic = 0;         // or: this many random inputs of input_shape
  std::string input_shape;   // required with synthetic; checked against inputs otherwise
  std::string outputs;       // write outputs here (optional)
  int stages = 0;            // balanced stages on the first K workers; 0: let the planner choose
  std::string plan;          // or: a plan file (cuts, optional worker names)
  std::string algorithm = "auto";  // the planner, when neither --stages nor --plan is given
  std::string codec;         // every hop's codec; empty: the cluster config's
  int window = 8;            // requests in flight at most
  double heartbeat_timeout_s = 1.0;  // a worker silent this long is failed; the pipeline is re-planned
  int max_attempts = 4;      // sends of one request before it fails
  bool watch_model = false;  // deploy a new version when the model file changes
  int threads = 0;           // LibTorch threads for profiling here; 0: one per core
  int warmup = 3;            // profiling runs, as in `profile`
  int repeats = 10;
  std::string profile;       // a profile of this model file instead of profiling here
  std::string report;        // write the run's figures as JSON here (docs/formats.md)
};

struct PlanCommandOptions {
  std::string model;         // with input_shape: profile here first
  std::string input_shape;
  std::string profile;       // or: a profile written by `profile --out`
  std::string cluster;       // cluster config; empty: the embedded default
  std::string algorithm = "auto";
  std::string objective = "throughput";  // or "latency" (optimal and auto)
  double time_budget_s = 2;  // auto: the exact search's budget
  bool json = false;         // print the plan as JSON instead of a table
  std::string out;           // write the plan file here
  int threads = 0;
  int warmup = 3;
  int repeats = 10;
};

struct MeasureLinksCommandOptions {
  std::string cluster;     // cluster config; empty: the embedded default
  std::string out;         // write the measurements here (for network.links)
  double probe_mb = 1;     // payload of a timed probe, MB (10^6 bytes)
  int rounds = 3;          // timed probes each way; the fastest counts
  double timeout_s = 10;   // for each probe's answer
};

Status RunProfileCommand(const ProfileCommandOptions& options);
Status RunPlanCommand(const PlanCommandOptions& options);
Status RunSplitCommand(const SplitCommandOptions& options);
// Measures every link between the dispatcher and the workers and between
// each pair of workers; prints them and writes them for network.links.
Status RunMeasureLinksCommand(const MeasureLinksCommandOptions& options);
// Stops streaming early (printing what was done) when `stop` becomes true.
Status RunPipelineCommand(const RunCommandOptions& options, const std::atomic<bool>& stop);

}  // namespace tandem
