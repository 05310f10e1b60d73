// Loading and profiling a model for the dispatcher's commands.
#include "dispatcher/model_setup.h"

#include <algorithm>
#include <cstdio>

#include "common/model/partition.h"
#include "common/model/runtime.h"
#include "common/net/move_cost.h"
#include "common/util/log.h"
#include "common/util/progress.h"

namespace tandem {
Result<std::unique_ptr<Model>> LoadModelWithThreads(const std::string& path, const std::vector<InputSpec>& inputs,
                                                    int threads) {
  SetComputeThreads(threads);
  TANDEM_LOG(kInfo) << "loading " << path;
  return Model::Load(path, inputs);
}

Result<ModelProfile> ProfileForPlanning(const Model& model, ProfileOptions options,
                                        const std::optional<CodecSpec>& move_codec) {
  std::vector<HostTensor> largest;
  uint64_t largest_bytes = 0;
  if (move_codec)
    options.on_cut = [&](const std::vector<HostTensor>& tensors) {
      uint64_t bytes = 0;
      for (const auto& t : tensors) bytes += t.nbytes();
      if (bytes > largest_bytes) largest = tensors, largest_bytes = bytes;
    };
  TANDEM_ASSIGN_OR_RETURN(ModelProfile profile, ProfileModel(model, options));
  if (!move_codec || largest_bytes == 0) return profile;
  MoveCostOptions mo;
  mo.codec = *move_codec;
  mo.min_time_s = std::max(0.2, options.min_time_s);
  auto measured = MeasureMoveCost(largest, mo);
  if (!measured.ok()) {
    // Loopback may be down (a bare network namespace): plan without it.
    TANDEM_LOG(kWarning) << "could not measure moving activations (" << measured.status().ToString()
                         << "); planning without that cost";
    return profile;
  }
  const MoveCost& cost = measured.value();
  profile.move_codec = move_codec->ToString();
  profile.move_s_per_byte = cost.s_per_byte;
  profile.move_sample_bytes = cost.sample_bytes;
  return profile;
}

Result<ModelProfile> ProfileWithProgress(const Model& model, ProfileOptions options,
                                         const std::optional<CodecSpec>& move_codec) {
  Progress progress("profiling " + model.path());
  options.progress = [&](int done, int total) { progress.Update(done, total); };
  return ProfileForPlanning(model, std::move(options), move_codec);
}

ProfileOptions ProfileOptionsFor(const ProfileRuns& runs) {
  ProfileOptions po;
  po.warmup = runs.warmup;
  po.repeats = runs.repeats;
  return po;
}

Result<std::vector<int>> BalancedCuts(const Model& model, int stages, const ProfileRuns& runs) {
  const int max_stages = static_cast<int>(model.cuts().size()) + 1;
  if (stages > max_stages)
    return Status::InvalidArgument("--stages " + std::to_string(stages) + ": " + model.path() + " has " +
                                   std::to_string(model.cuts().size()) + " valid cuts, so at most " +
                                   std::to_string(max_stages) + " stages");
  TANDEM_ASSIGN_OR_RETURN(ModelProfile profile, ProfileWithProgress(model, ProfileOptionsFor(runs), std::nullopt));
  return BalancedCuts(profile, stages);
}

Result<std::vector<int>> BalancedCuts(const ModelProfile& profile, int stages) {
  const int max_stages = static_cast<int>(profile.cuts.size()) + 1;
  if (stages > max_stages)
    return Status::InvalidArgument("--stages " + std::to_string(stages) + ": " + profile.model_path + " has " +
                                   std::to_string(profile.cuts.size()) + " valid cuts, so at most " +
                                   std::to_string(max_stages) + " stages");
  std::vector<double> costs;
  for (const auto& s : profile.segments) costs.push_back(s.compute_s);
  TANDEM_ASSIGN_OR_RETURN(auto bounds, BalancedPartition(costs, stages));
  std::vector<int> cuts;
  for (int b : bounds) cuts.push_back(profile.cuts[b - 1].position);
  return cuts;
}

Result<std::unique_ptr<Model>> LoadModel(const ModelOptions& o) {
  auto inputs = ParseInputSpecs(o.input_shape);
  if (!inputs.ok()) return inputs.status().WithContext("--input-shape");
  return LoadModelWithThreads(o.model, inputs.value(), o.threads);
}

CLI::Option* AddInputShapeFlag(CLI::App* cmd, std::string* out, const std::string& prefix) {
  return cmd
      ->add_option_function<std::vector<std::string>>(
          "--input-shape,-s",
          [out](const std::vector<std::string>& specs) {
            out->clear();
            for (const auto& s : specs) *out += (out->empty() ? "" : ";") + s;
          },
          prefix +
              "the model's inputs in forward's order, SHAPE[:DTYPE] each (dtype float32 unless named: "
              "float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool); repeat the flag or separate "
              "with ';', e.g. -s 1,3,224,224 or -s 1,16:int64 -s 1,16:bool")
      ->type_name("SHAPE[:DTYPE]")
      ->allow_extra_args(false);
}

void AddModelFlags(CLI::App* cmd, ModelOptions* o) {
  cmd->add_option("--model,-m", o->model, "TorchScript model file (torch.jit.save)")->required();
  AddInputShapeFlag(cmd, &o->input_shape)->required();
  cmd->add_option("--threads,-t", o->threads, "LibTorch intra-op threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
}

void AddProfileRunFlags(CLI::App* cmd, ProfileRuns* runs, const std::string& what) {
  cmd->add_option("--warmup", runs->warmup, what + "untimed passes through the model")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--repeats", runs->repeats, what + "timed passes through the model; their median is reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
}

}  // namespace tandem
