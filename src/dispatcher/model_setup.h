// Steps the dispatcher's subcommands share: loading a model for a shape,
// profiling it with progress on stderr, and choosing balanced cuts.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/codec.h"
#include "common/model/model.h"
#include "common/model/profile.h"
#include "common/status.h"

namespace tandem {

// Sets the compute thread count (0: one per core) and loads the model.
Result<std::unique_ptr<Model>> LoadModelWithThreads(const std::string& path, const std::vector<int64_t>& shape,
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
Result<std::vector<int>> BalancedCuts(const Model& model, int stages, int warmup, int repeats);
// The same from a profile already measured.
Result<std::vector<int>> BalancedCuts(const ModelProfile& profile, int stages);

}  // namespace tandem
