// Model profiles: what each segment between adjacent cut points costs.
//
// A segment is the run of nodes between two adjacent valid cuts (or the
// model's start or end). Its compute time is the median wall time of running
// it as a standalone stage, after warm-up, on the machine named in the
// profile. The JSON form is documented in docs/formats.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/model/model.h"
#include "common/status.h"

namespace tandem {

struct SegmentProfile {
  int index = 0;
  int begin = 0;               // first node position
  int end = 0;                 // one past the last node position (a cut, or N)
  std::string first_op;        // kind of node `begin`
  std::string last_op;         // kind of node `end - 1`
  double compute_s = 0;        // median wall time, seconds
  double compute_min_s = 0;    // fastest repeat, seconds
  uint64_t param_bytes = 0;    // weights the segment holds
  uint64_t output_bytes = 0;   // bytes crossing cut `end` (the model's output for the last)
};

struct MachineInfo {
  std::string hostname;
  std::string cpu;             // /proc/cpuinfo model name
  int cores = 0;               // online hardware threads
  int threads = 0;             // intra-op threads used while measuring
  std::string compute_library; // "LibTorch 1.13.1"
};

struct ModelProfile {
  static constexpr int kFormatVersion = 1;
  std::string model_path;
  std::string model_hash;      // SHA-256 of the model file
  std::vector<int64_t> input_shape;
  uint64_t input_bytes = 0;
  uint64_t output_bytes = 0;
  int num_nodes = 0;
  MachineInfo machine;
  std::string measured_at;     // UTC, ISO 8601
  int warmup = 0;
  int repeats = 0;
  std::string statistic = "median";  // of the timed runs: "median" or "mean"
  double min_time_s = 0;             // timed runs (passes or each segment's) took at least this long
  std::string timing = "passes";     // SegmentTimingName; files without it: "loops"
  double model_compute_s = 0;  // median of the whole model run as one stage
  // Moving activations on this machine (common/move_cost.h): seconds per
  // byte received or sent with codec `move_codec`, measured on an activation
  // of `move_sample_bytes`. move_codec empty: not measured.
  std::string move_codec;
  double move_s_per_byte = 0;
  uint64_t move_sample_bytes = 0;
  std::vector<CutPoint> cuts;  // every valid cut, ascending
  std::vector<SegmentProfile> segments;  // cuts.size() + 1 of them

  // Sum of segment medians between segment indices [first, last).
  double ComputeBetween(int first, int last) const;
};

enum class SegmentTiming { kPasses, kLoops };
const char* SegmentTimingName(SegmentTiming t);  // "passes" or "loops"

struct ProfileOptions {
  // Untimed runs before measuring; first calls are 1.5-4x slower. Default 3.
  int warmup = 3;
  // Timed runs per segment. Default 10.
  int repeats = 10;
  // What is reported of them: the median (default: steady timings, robust to
  // outliers) or the mean (their throughput: on a node whose CPU is a
  // cgroup quota, the runs that meet the throttle count; the median of short
  // runs would hide it).
  bool mean = false;
  // Keep timing each segment until its timed runs add up to this many
  // seconds (with `mean`, on a throttled node: long enough that the throttle
  // meets each segment as often as it meets it in a pipeline). Default 0.
  double min_time_s = 0;
  // How segments are timed. kPasses (default): pass by pass through the
  // whole model, each pass running every segment once, in order, on the
  // previous one's fresh outputs; a segment meets the caches a pipeline stage
  // meets, and the times add up to the whole model's (ResNet-50 on a 0.15-CPU
  // node: 872 ms against 876). warmup, repeats and min_time_s count passes.
  // kLoops: each segment in its own loop; its weights stay warm between runs,
  // so a stage whose weights exceed the cache is timed too fast (MobileNetV2's
  // second half on that node: 54 ms against 76 in a pipeline).
  SegmentTiming timing = SegmentTiming::kPasses;
  // Called after each segment with (done, total); may be empty.
  std::function<void(int, int)> progress;
  // Called with the tensors crossing each cut, in order; may be empty.
  std::function<void(const std::vector<HostTensor>&)> on_cut;
};

// Measures every segment of `model` on this machine.
Result<ModelProfile> ProfileModel(const Model& model, const ProfileOptions& options);

MachineInfo CurrentMachine();

void to_json(nlohmann::json& j, const TensorSpec& t);
void from_json(const nlohmann::json& j, TensorSpec& t);
void to_json(nlohmann::json& j, const CutPoint& c);
void from_json(const nlohmann::json& j, CutPoint& c);
void to_json(nlohmann::json& j, const SegmentProfile& s);
void from_json(const nlohmann::json& j, SegmentProfile& s);
void to_json(nlohmann::json& j, const MachineInfo& m);
void from_json(const nlohmann::json& j, MachineInfo& m);
void to_json(nlohmann::json& j, const ModelProfile& p);
void from_json(const nlohmann::json& j, ModelProfile& p);

// Reads and validates a profile written by `tandem-dispatcher profile --out`;
// errors name the file and the field.
Result<ModelProfile> ReadProfile(const std::string& path);
Status WriteProfile(const std::string& path, const ModelProfile& profile);

// A readable table of the profile for people.
std::string FormatProfile(const ModelProfile& profile);

// "1.5 MB", "312 kB", "12 B".
std::string FormatBytes(uint64_t bytes);

}  // namespace tandem
