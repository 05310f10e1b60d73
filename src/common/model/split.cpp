#include "common/model/split.h"

#include "common/model/chain.h"
#include "common/model/profile.h"
#include "common/util/digest.h"
#include "common/util/files.h"

namespace tandem {

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
  m.inputs = model.inputs();
  m.num_nodes = model.num_nodes();
  m.cuts = cuts;

  std::vector<std::unique_ptr<Stage>> reloaded;
  std::vector<HostTensor> cur = model.sample_inputs();
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
  TANDEM_RETURN_IF_ERROR(WriteManifest(dir + "/manifest.json", m));
  return m;
}

}  // namespace tandem
