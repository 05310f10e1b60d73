// The plan file: what `plan --out` writes, and `run --plan` and
// `split --plan` read (docs/formats.md). Its one writer and one reader.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/config/cluster_config.h"
#include "common/model/profile.h"
#include "common/plan/planner.h"
#include "common/util/status.h"

namespace tandem {

// The plan with the prediction beside it: cuts, the worker of each stage,
// per-stage terms, the bottleneck, the bound.
nlohmann::json PlanToJson(const ModelProfile& profile, const ClusterConfig& cluster, const PlanResult& result);

// What `split --plan` and `run --plan` use of a plan file.
struct PlanFile {
  std::vector<int> cuts;             // cut positions, as written (checked against the model by its user)
  std::vector<std::string> workers;  // optional: the worker running each stage, distinct
};
// Reads a plan file; when it names a model hash (model_sha256) it must be
// `model_hash`. Errors name the file and the field.
Result<PlanFile> ReadPlanFile(const std::string& path, const std::string& model_hash);
// The same from the file's text; `source` names it in errors.
Result<PlanFile> ParsePlanFile(const std::string& text, const std::string& source, const std::string& model_hash);

}  // namespace tandem
