// Writing a split: stage files and their manifest.
//
// `WriteSplit` builds the stages for the given cuts, saves DIR/stage-K.pt and
// DIR/manifest.json, reloads every saved file and chains them on the model's
// sample input, and fails unless the result matches the unsplit model within
// the split tolerance (chain.h). The manifest format is in docs/formats.md.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/model/model.h"
#include "common/status.h"

namespace tandem {

struct StageManifest {
  int index = 0;
  std::string file;                 // relative to the manifest
  int begin = 0, end = 0;           // node positions [begin, end)
  std::vector<TensorSpec> inputs;   // forward's positional tensors
  std::vector<TensorSpec> outputs;  // what forward returns, flattened
  bool returns_tuple = false;       // several tensors (or the model's tuple)
  uint64_t param_bytes = 0;
  uint64_t file_bytes = 0;
  std::string sha256;               // of the stage file
};

struct SplitManifest {
  static constexpr int kFormatVersion = 1;
  std::string model_path;
  std::string model_hash;
  std::vector<int64_t> input_shape;
  int num_nodes = 0;
  std::vector<int> cuts;            // the chosen cut positions
  std::vector<StageManifest> stages;
  double max_abs_diff = 0;          // chained stages vs the unsplit model, on the sample input
  double max_abs_ref = 0;
};

void to_json(nlohmann::json& j, const StageManifest& s);
void from_json(const nlohmann::json& j, StageManifest& s);
void to_json(nlohmann::json& j, const SplitManifest& m);
void from_json(const nlohmann::json& j, SplitManifest& m);
Result<SplitManifest> ReadManifest(const std::string& path);

// Checks `cuts` (positions) against the model: ascending, distinct, each valid.
Status ValidateCuts(const Model& model, const std::vector<int>& cuts);

// Builds stages for `cuts` in memory (no files). Index i covers
// [cuts[i-1], cuts[i]) with the model's start and end at either side.
Result<std::vector<std::unique_ptr<Stage>>> BuildStages(const Model& model, const std::vector<int>& cuts);

// Writes the stages and manifest into `dir` (created if missing) and verifies
// the saved chain as described above.
Result<SplitManifest> WriteSplit(const Model& model, const std::vector<int>& cuts, const std::string& dir);

// What `split --plan` and `run --plan` read from a plan file.
struct PlanFile {
  std::vector<int> cuts;             // cut positions
  std::vector<std::string> workers;  // optional: the worker running each stage
};
// Reads a plan ({"cuts": [...], "workers": [...]}, as written by `tandem-dispatcher
// plan`); when the plan names a model hash (model_sha256) it must match.
Result<PlanFile> ReadPlan(const std::string& path, const std::string& model_hash);

}  // namespace tandem
