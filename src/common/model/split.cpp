#include "common/model/split.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/model/chain.h"
#include "common/model/profile.h"
#include "common/sha256.h"

namespace tandem {

using nlohmann::json;

void to_json(json& j, const StageManifest& s) {
  j = json{{"index", s.index},         {"file", s.file},       {"begin", s.begin},
           {"end", s.end},             {"inputs", s.inputs},   {"outputs", s.outputs},
           {"returns_tuple", s.returns_tuple}, {"param_bytes", s.param_bytes}, {"file_bytes", s.file_bytes},
           {"sha256", s.sha256}};
}
void from_json(const json& j, StageManifest& s) {
  j.at("index").get_to(s.index);
  j.at("file").get_to(s.file);
  j.at("begin").get_to(s.begin);
  j.at("end").get_to(s.end);
  j.at("inputs").get_to(s.inputs);
  j.at("outputs").get_to(s.outputs);
  j.at("returns_tuple").get_to(s.returns_tuple);
  j.at("param_bytes").get_to(s.param_bytes);
  j.at("file_bytes").get_to(s.file_bytes);
  j.at("sha256").get_to(s.sha256);
}
void to_json(json& j, const SplitManifest& m) {
  j = json{{"format", "tandem-split"},
           {"format_version", SplitManifest::kFormatVersion},
           {"model", {{"path", m.model_path}, {"sha256", m.model_hash}, {"num_nodes", m.num_nodes}}},
           {"input_shape", m.input_shape},
           {"cuts", m.cuts},
           {"stages", m.stages},
           {"verified", {{"max_abs_diff", m.max_abs_diff}, {"max_abs_ref", m.max_abs_ref}}}};
}
void from_json(const json& j, SplitManifest& m) {
  if (j.at("format").get<std::string>() != "tandem-split") throw std::invalid_argument("format: not a tandem split manifest");
  const int v = j.at("format_version").get<int>();
  if (v != SplitManifest::kFormatVersion)
    throw std::invalid_argument("format_version: " + std::to_string(v) + " is not supported");
  const json& model = j.at("model");
  model.at("path").get_to(m.model_path);
  model.at("sha256").get_to(m.model_hash);
  model.at("num_nodes").get_to(m.num_nodes);
  j.at("input_shape").get_to(m.input_shape);
  j.at("cuts").get_to(m.cuts);
  j.at("stages").get_to(m.stages);
  if (j.contains("verified")) {
    m.max_abs_diff = j["verified"].value("max_abs_diff", 0.0);
    m.max_abs_ref = j["verified"].value("max_abs_ref", 0.0);
  }
}

Result<SplitManifest> ReadManifest(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 64 << 20));
  SplitManifest m;
  try {
    json::parse(text).get_to(m);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": not a valid split manifest: " + e.what());
  }
  if (m.stages.size() != m.cuts.size() + 1)
    return Status::InvalidArgument(path + ": stages: expected " + std::to_string(m.cuts.size() + 1) + ", found " +
                                   std::to_string(m.stages.size()));
  return m;
}

Status ValidateCuts(const Model& model, const std::vector<int>& cuts) {
  for (size_t i = 0; i < cuts.size(); ++i) {
    if (i > 0 && cuts[i] <= cuts[i - 1])
      return Status::InvalidArgument("cuts must be strictly ascending: " + std::to_string(cuts[i]) + " follows " +
                                     std::to_string(cuts[i - 1]));
    TANDEM_RETURN_IF_ERROR(model.FindCut(cuts[i]).status());
  }
  return Status::OK();
}

Result<std::vector<std::unique_ptr<Stage>>> BuildStages(const Model& model, const std::vector<int>& cuts) {
  TANDEM_RETURN_IF_ERROR(ValidateCuts(model, cuts));
  std::vector<int> bounds{0};
  bounds.insert(bounds.end(), cuts.begin(), cuts.end());
  bounds.push_back(model.num_nodes());
  std::vector<std::unique_ptr<Stage>> stages;
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(auto s, model.MakeStage(bounds[i], bounds[i + 1]));
    stages.push_back(std::move(s));
  }
  return stages;
}

namespace {
std::vector<TensorSpec> SpecsOf(const std::vector<HostTensor>& ts, const std::string& prefix) {
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < ts.size(); ++i) {
    TensorSpec s;
    s.name = prefix + std::to_string(i);
    s.dtype = ts[i].dtype;
    s.shape = ts[i].shape;
    s.bytes = ts[i].nbytes();
    specs.push_back(std::move(s));
  }
  return specs;
}
}  // namespace

Result<SplitManifest> WriteSplit(const Model& model, const std::vector<int>& cuts, const std::string& dir) {
  TANDEM_ASSIGN_OR_RETURN(auto stages, BuildStages(model, cuts));
  TANDEM_RETURN_IF_ERROR(MakeDirs(dir));
  SplitManifest m;
  m.model_path = model.path();
  m.model_hash = model.content_hash();
  m.input_shape = model.input_shape();
  m.num_nodes = model.num_nodes();
  m.cuts = cuts;

  std::vector<std::unique_ptr<Stage>> reloaded;
  std::vector<HostTensor> cur{model.sample_input()};
  for (size_t i = 0; i < stages.size(); ++i) {
    StageManifest s;
    s.index = static_cast<int>(i);
    s.file = "stage-" + std::to_string(i) + ".pt";
    s.begin = i == 0 ? 0 : cuts[i - 1];
    s.end = i == cuts.size() ? model.num_nodes() : cuts[i];
    s.param_bytes = model.ParamBytes(s.begin, s.end);
    if (i == 0) {
      s.inputs = SpecsOf(cur, "input.");
    } else {
      s.inputs = model.FindCut(s.begin)->tensors;
    }
    TANDEM_ASSIGN_OR_RETURN(std::string bytes, stages[i]->Serialize());
    s.file_bytes = bytes.size();
    s.sha256 = Sha256Hex(bytes);
    const std::string path = dir + "/" + s.file;
    TANDEM_RETURN_IF_ERROR(WriteFileAtomic(path, bytes));
    TANDEM_ASSIGN_OR_RETURN(auto again, Stage::FromBytes(bytes, path));
    TANDEM_ASSIGN_OR_RETURN(auto out, again->Run(cur));
    if (i + 1 < stages.size()) {
      s.outputs = model.FindCut(s.end)->tensors;
      s.returns_tuple = s.outputs.size() > 1;
    } else {
      s.outputs = SpecsOf(out, "output.");
      s.returns_tuple = out.size() > 1;
    }
    cur = std::move(out);
    m.stages.push_back(std::move(s));
  }
  auto diff = CheckOutputs(cur, model.sample_output());
  if (!diff.ok()) return diff.status().WithContext("the saved stages do not reproduce the model");
  m.max_abs_diff = diff->max_abs_diff;
  m.max_abs_ref = diff->max_abs_ref;
  TANDEM_RETURN_IF_ERROR(WriteFileAtomic(dir + "/manifest.json", json(m).dump(1) + "\n"));
  return m;
}

Result<PlanFile> ReadPlan(const std::string& path, const std::string& model_hash) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 64 << 20));
  PlanFile plan;
  try {
    json j = json::parse(text);
    if (!j.is_object() || !j.contains("cuts")) return Status::InvalidArgument(path + ": cuts: required");
    if (j.contains("model_sha256") && !model_hash.empty() && j["model_sha256"].get<std::string>() != model_hash)
      return Status::InvalidArgument(path + ": model_sha256: the plan was made for another model (" +
                                     j["model_sha256"].get<std::string>().substr(0, 12) + "..., this one is " +
                                     model_hash.substr(0, 12) + "...)");
    const json& cuts = j["cuts"];
    if (!cuts.is_array()) return Status::InvalidArgument(path + ": cuts: must be a list of cut positions");
    for (const auto& c : cuts) {
      if (!c.is_number_integer()) return Status::InvalidArgument(path + ": cuts: '" + c.dump() + "' is not a cut position");
      plan.cuts.push_back(c.get<int>());
    }
    if (j.contains("workers")) {
      const json& ws = j["workers"];
      if (!ws.is_array()) return Status::InvalidArgument(path + ": workers: must be a list of worker names");
      for (const auto& w : ws) {
        if (!w.is_string()) return Status::InvalidArgument(path + ": workers: '" + w.dump() + "' is not a worker name");
        if (std::find(plan.workers.begin(), plan.workers.end(), w.get<std::string>()) != plan.workers.end())
          return Status::InvalidArgument(path + ": workers: '" + w.get<std::string>() + "' runs two stages");
        plan.workers.push_back(w.get<std::string>());
      }
      if (plan.workers.size() != plan.cuts.size() + 1)
        return Status::InvalidArgument(path + ": workers: " + std::to_string(plan.workers.size()) +
                                       " names for " + std::to_string(plan.cuts.size() + 1) + " stages");
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": not a valid plan: " + e.what());
  }
  return plan;
}

}  // namespace tandem
