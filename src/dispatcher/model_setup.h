// The model a dispatcher command works on: its flags, loading it for an
// input shape, profiling it (with progress on stderr) and balancing it into
// stages.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/model/model.h"
#include "common/model/profile.h"
#include "common/model/profiler.h"
#include "common/net/codec.h"
#include "common/util/status.h"

namespace tandem {

struct ModelOptions {
  std::string model;  // TorchScript file (required)
  // One SHAPE[:DTYPE] per forward argument, ';'-separated: "1,3,224,224"
  // (float32) or "1,16:int64;1,16:bool" (required).
  std::string input_shape;
  // Intra-op threads for LibTorch; 0 means one per core. Default 0.
  int threads = 0;
};
// --model, --input-shape (both required) and --threads.
void AddModelFlags(CLI::App* cmd, ModelOptions* options);
// Adds --input-shape,-s to `cmd`: one SHAPE[:DTYPE] per model input, the flag
// repeated or the specs separated by ';'; stored ';'-joined in *out.
CLI::Option* AddInputShapeFlag(CLI::App* cmd, std::string* out, const std::string& prefix = "");
// Parses the shape and loads the model (LoadModelWithThreads).
Result<std::unique_ptr<Model>> LoadModel(const ModelOptions& options);

// What profiling runs with: --warmup and --repeats (passes through the model).
struct ProfileRuns {
  int warmup = 3;    // untimed passes
  int repeats = 10;  // timed passes; their median is reported
};
// --warmup and --repeats, described as `what` uses them ("profiling: ").
void AddProfileRunFlags(CLI::App* cmd, ProfileRuns* runs, const std::string& what);
ProfileOptions ProfileOptionsFor(const ProfileRuns& runs);

// Sets the compute thread count (0: one per core) and loads the model.
Result<std::unique_ptr<Model>> LoadModelWithThreads(const std::string& path, const std::vector<InputSpec>& inputs,
                                                    int threads);
// Profiles the model (ProfileModel) and, with `move_codec`, measures moving
// its largest cut activation with that codec (common/move_cost.h) into the
// profile's move fields, for at least options.min_time_s and 0.2 s. A model
// without cuts has nothing to move and gets no move cost; when the
// measurement fails (no loopback) a warning says so and the profile has none.
Result<ModelProfile> ProfileForPlanning(const Model& model, ProfileOptions options,
                                        const std::optional<CodecSpec>& move_codec);
// The same with progress on stderr.
Result<ModelProfile> ProfileWithProgress(const Model& model, ProfileOptions options,
                                         const std::optional<CodecSpec>& move_codec);
// Profiles the model and returns the K-1 cut positions that balance measured
// compute over K stages. Errors when the model has fewer than K-1 cuts.
Result<std::vector<int>> BalancedCuts(const Model& model, int stages, const ProfileRuns& runs);
// The same from a profile already measured.
Result<std::vector<int>> BalancedCuts(const ModelProfile& profile, int stages);

}  // namespace tandem
