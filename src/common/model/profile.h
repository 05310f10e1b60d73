// Model profiles: what each segment between adjacent cut points costs, and
// the profile file (measuring one is profiler.h).
//
// A segment is the run of nodes between two adjacent valid cuts (or the
// model's start or end). Its compute time is the median wall time of running
// it as a standalone stage, after warm-up, on the machine named in the
// profile. The JSON form is documented in docs/formats.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/model/model.h"
#include "common/util/status.h"

namespace tandem {

struct SegmentProfile {
  int index = 0;
  int begin = 0;              // first node position
  int end = 0;                // one past the last node position (a cut, or N)
  std::string first_op;       // kind of node `begin`
  std::string last_op;        // kind of node `end - 1`
  double compute_s = 0;       // median wall time, seconds
  double compute_min_s = 0;   // fastest repeat, seconds
  uint64_t param_bytes = 0;   // weights the segment holds
  uint64_t output_bytes = 0;  // bytes crossing cut `end` (the model's output for the last)
};

struct MachineInfo {
  std::string hostname;
  std::string cpu;              // /proc/cpuinfo model name
  int cores = 0;                // online hardware threads
  int threads = 0;              // intra-op threads used while measuring
  std::string compute_library;  // "LibTorch 1.13.1"
  std::string host_id;          // device.h HostId; "" in older files
  double cpus = 0;              // device.h UsableCpus (affinity, quota); 0 in older files
};

struct ModelProfile {
  static constexpr int kFormatVersion = 1;
  std::string model_path;
  std::string model_hash;         // SHA-256 of the model file
  std::vector<InputSpec> inputs;  // the model's inputs, in argument order
  uint64_t input_bytes = 0;
  uint64_t output_bytes = 0;
  int num_nodes = 0;
  MachineInfo machine;
  std::string measured_at;  // UTC, ISO 8601
  int warmup = 0;
  int repeats = 0;
  std::string statistic = "median";  // of the timed runs: "median" or "mean"
  double min_time_s = 0;             // timed runs (passes or each segment's) took at least this long
  std::string timing = "passes";     // SegmentTimingName; files without it: "loops"
  double model_compute_s = 0;        // median of the whole model run as one stage
  // Moving activations on this machine (common/move_cost.h): seconds per
  // byte received or sent with codec `move_codec`, measured on an activation
  // of `move_sample_bytes`. move_codec empty: not measured.
  std::string move_codec;
  double move_s_per_byte = 0;
  uint64_t move_sample_bytes = 0;
  std::vector<CutPoint> cuts;            // every valid cut, ascending
  std::vector<SegmentProfile> segments;  // cuts.size() + 1 of them

  // Sum of segment medians between segment indices [first, last).
  double ComputeBetween(int first, int last) const;
};

// The JSON form (docs/formats.md): written with nlohmann::json, read with
// JsonField (errors name the file and the field).
class JsonField;
void to_json(nlohmann::json& j, const InputSpec& s);
Status ReadJson(const JsonField& f, InputSpec* s);
// A document's inputs: written as "inputs" (each dtype and shape) and, for
// readers of format 1 files before several inputs, "input_shape" (the first
// one's shape); read from "inputs", else from "input_shape" as one float32.
void WriteInputs(nlohmann::json& j, const std::vector<InputSpec>& inputs);
Status ReadInputs(const JsonField& f, std::vector<InputSpec>* inputs);
void to_json(nlohmann::json& j, const TensorSpec& t);
Status ReadJson(const JsonField& f, TensorSpec* t);
void to_json(nlohmann::json& j, const CutPoint& c);
Status ReadJson(const JsonField& f, CutPoint* c);
void to_json(nlohmann::json& j, const SegmentProfile& s);
Status ReadJson(const JsonField& f, SegmentProfile* s);
void to_json(nlohmann::json& j, const MachineInfo& m);
Status ReadJson(const JsonField& f, MachineInfo* m);
void to_json(nlohmann::json& j, const ModelProfile& p);
Status ReadJson(const JsonField& f, ModelProfile* p);

// Reads and validates a profile written by `tandem-dispatcher profile --out`;
// errors name the file and the field.
Result<ModelProfile> ReadProfile(const std::string& path);
Status WriteProfile(const std::string& path, const ModelProfile& profile);

// A readable table of the profile for people.
std::string FormatProfile(const ModelProfile& profile);

}  // namespace tandem
