// Writing a split: stage files and their manifest.
//
// `WriteSplit` builds the stages for the given cuts, saves DIR/stage-K.pt and
// DIR/manifest.json, reloads every saved file and chains them on the model's
// sample input, and fails unless the result matches the unsplit model within
// the split tolerance (chain.h). The manifest format is in docs/formats.md.
#pragma once

#include <string>
#include <vector>

#include "common/model/manifest.h"
#include "common/model/model.h"
#include "common/util/status.h"

namespace tandem {

// Checks `cuts` (positions) against the model: ascending, distinct, each valid.
Status ValidateCuts(const Model& model, const std::vector<int>& cuts);

// Builds stages for `cuts` in memory (no files). Index i covers
// [cuts[i-1], cuts[i]) with the model's start and end at either side.
Result<std::vector<std::unique_ptr<Stage>>> BuildStages(const Model& model, const std::vector<int>& cuts);

// Writes the stages and manifest into `dir` (created if missing) and verifies
// the saved chain as described above.
Result<SplitManifest> WriteSplit(const Model& model, const std::vector<int>& cuts, const std::string& dir);

}  // namespace tandem
