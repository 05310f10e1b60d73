// The split manifest: DIR/manifest.json beside the stage files `split`
// writes, describing each stage (its node range, inputs and outputs, file and
// SHA-256) and how the saved chain compared with the model. Format in
// docs/formats.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/model/model.h"
#include "common/util/status.h"

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
  std::string sha256;  // of the stage file
};

struct SplitManifest {
  static constexpr int kFormatVersion = 1;
  std::string model_path;
  std::string model_hash;
  std::vector<InputSpec> inputs;
  int num_nodes = 0;
  std::vector<int> cuts;  // the chosen cut positions
  std::vector<StageManifest> stages;
  double max_abs_diff = 0;  // chained stages vs the unsplit model, on the sample input
  double max_abs_ref = 0;
};

class JsonField;
void to_json(nlohmann::json& j, const StageManifest& s);
Status ReadJson(const JsonField& f, StageManifest* s);
void to_json(nlohmann::json& j, const SplitManifest& m);
Status ReadJson(const JsonField& f, SplitManifest* m);
// Reads DIR/manifest.json as WriteSplit wrote it; errors name the file and the field.
Result<SplitManifest> ReadManifest(const std::string& path);
Status WriteManifest(const std::string& path, const SplitManifest& manifest);

}  // namespace tandem
