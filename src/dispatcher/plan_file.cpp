#include "dispatcher/plan_file.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/util/files.h"
#include "common/util/json.h"
#include "dispatcher/planning.h"

namespace tandem {

using nlohmann::json;

json PlanToJson(const ModelProfile& profile, const ClusterConfig& cluster, const PlanResult& r) {
  const auto& ev = r.evaluation;
  json stages = json::array();
  for (size_t k = 0; k < r.plan.stages.size(); ++k) {
    const auto& s = r.plan.stages[k];
    stages.push_back(json{{"worker", cluster.workers[s.node].name},
                          {"segments", {s.begin, s.end}},
                          {"nodes", {StageNodes(profile, s).first, StageNodes(profile, s).second}},
                          {"compute_s", ev.compute_s[k]},
                          {"move_s", ev.move_s[k]},
                          {"transfer_in_s", ev.transfer_s[k]},
                          {"memory_bytes", ev.memory_bytes[k]}});
  }
  json j{{"format", "tandem-plan"},
         {"format_version", 1},
         {"model_sha256", profile.model_hash},
         {"algorithm", r.algorithm},
         {"exact", r.exact},
         {"cuts", PlanCuts(profile, r.plan)},
         {"workers", PlanWorkers(cluster, r.plan)},
         {"stages", stages},
         {"predicted",
          {{"bottleneck_s", ev.bottleneck_s},
           {"bottleneck", ev.bottleneck},
           {"throughput_per_s", ev.throughput()},
           {"latency_s", ev.latency_s},
           {"transfer_out_s", ev.transfer_s.back()}}},
         {"objective", r.objective == Objective::kLatency ? "latency" : "throughput"},
         {"lower_bound_s", r.lower_bound_s},
         {"solve_s", r.solve_s}};
  WriteInputs(j, profile.inputs);
  return j;
}

Result<PlanFile> ReadPlanFile(const std::string& path, const std::string& model_hash) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 64 << 20));
  return ParsePlanFile(text, path, model_hash);
}

Result<PlanFile> ParsePlanFile(const std::string& text, const std::string& source, const std::string& model_hash) {
  TANDEM_ASSIGN_OR_RETURN(JsonDocument doc, JsonDocument::Parse(text, source));
  const JsonField j = doc.root();
  if (!j.is_object()) return j.Error("must be a JSON object with \"cuts\"");
  std::string planned_for;
  TANDEM_RETURN_IF_ERROR(j.Get("model_sha256", &planned_for));
  if (!planned_for.empty() && !model_hash.empty() && planned_for != model_hash)
    return j["model_sha256"].Error("the plan was made for another model (" + planned_for.substr(0, 12) +
                                   "..., this one is " + model_hash.substr(0, 12) + "...)");
  if (!j.Has("cuts")) return j["cuts"].Error("required");
  const JsonField cuts = j["cuts"];
  if (!cuts.is_array()) return cuts.Error("must be a list of cut positions");
  PlanFile plan;
  for (size_t i = 0; i < cuts.size(); ++i) {
    int cut = 0;
    if (!cuts[i].json().is_number_integer() || !cuts[i].Read(&cut).ok())
      return cuts.Error("'" + cuts[i].json().dump() + "' is not a cut position");
    plan.cuts.push_back(cut);
  }
  if (j.Has("workers")) {
    const JsonField ws = j["workers"];
    if (!ws.is_array()) return ws.Error("must be a list of worker names");
    for (size_t i = 0; i < ws.size(); ++i) {
      std::string name;
      if (!ws[i].Read(&name).ok()) return ws.Error("'" + ws[i].json().dump() + "' is not a worker name");
      if (std::find(plan.workers.begin(), plan.workers.end(), name) != plan.workers.end())
        return ws.Error("'" + name + "' runs two stages");
      plan.workers.push_back(name);
    }
    if (plan.workers.size() != plan.cuts.size() + 1)
      return ws.Error(std::to_string(plan.workers.size()) + " names for " + std::to_string(plan.cuts.size() + 1) +
                      " stages");
  }
  return plan;
}

}  // namespace tandem
