// `tandem-dispatcher profile` and `tandem-dispatcher split`.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "common/log.h"
#include "common/move_cost.h"
#include "common/model/model.h"
#include "common/model/partition.h"
#include "common/model/profile.h"
#include "common/model/split.h"
#include "common/progress.h"
#include "dispatcher/commands.h"
#include "dispatcher/model_setup.h"

namespace tandem {
Result<std::unique_ptr<Model>> LoadModelWithThreads(const std::string& path, const std::vector<int64_t>& shape,
                                                    int threads) {
  SetComputeThreads(threads);
  TANDEM_LOG(kInfo) << "loading " << path;
  return Model::Load(path, shape);
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

namespace {
ProfileOptions Repeats(int warmup, int repeats) {
  ProfileOptions po;
  po.warmup = warmup;
  po.repeats = repeats;
  return po;
}
}  // namespace

Result<std::vector<int>> BalancedCuts(const Model& model, int stages, int warmup, int repeats) {
  const int max_stages = static_cast<int>(model.cuts().size()) + 1;
  if (stages > max_stages)
    return Status::InvalidArgument("--stages " + std::to_string(stages) + ": " + model.path() + " has " +
                                   std::to_string(model.cuts().size()) + " valid cuts, so at most " +
                                   std::to_string(max_stages) + " stages");
  TANDEM_ASSIGN_OR_RETURN(ModelProfile profile, ProfileWithProgress(model, Repeats(warmup, repeats), std::nullopt));
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

namespace {

Result<std::unique_ptr<Model>> LoadModel(const ModelOptions& o) {
  TANDEM_ASSIGN_OR_RETURN(auto shape, ParseShape(o.input_shape));
  return LoadModelWithThreads(o.model, shape, o.threads);
}

Result<std::vector<int>> ParseCutList(const std::string& text) {
  std::vector<int> cuts;
  std::string cur;
  for (size_t i = 0; i <= text.size(); ++i) {
    char c = i < text.size() ? text[i] : ',';
    if (c >= '0' && c <= '9') {
      cur += c;
      if (cur.size() > 9) return Status::InvalidArgument("--cuts: '" + cur + "' is out of range");
    } else if (c == ',') {
      if (cur.empty()) return Status::InvalidArgument("--cuts: empty entry in '" + text + "'");
      cuts.push_back(std::stoi(cur));
      cur.clear();
    } else if (c != ' ') {
      return Status::InvalidArgument("--cuts: '" + text + "' should be comma-separated cut positions, e.g. 12,40");
    }
  }
  return cuts;
}

}  // namespace

Status RunProfileCommand(const ProfileCommandOptions& o) {
  std::optional<CodecSpec> move_codec;  // checked before the model loads
  if (o.move_codec != "none") {
    auto c = ParseCodec(o.move_codec);
    if (!c.ok()) return c.status().WithContext("--move-codec");
    move_codec = c.value();
  }
  TANDEM_ASSIGN_OR_RETURN(auto model, LoadModel(o.model));
  ProfileOptions po = Repeats(o.warmup, o.repeats);
  po.mean = o.mean;
  po.min_time_s = o.min_time_s;
  po.timing = o.loops ? SegmentTiming::kLoops : SegmentTiming::kPasses;
  TANDEM_ASSIGN_OR_RETURN(ModelProfile profile, ProfileWithProgress(*model, po, move_codec));
  std::fputs(FormatProfile(profile).c_str(), stdout);
  if (!o.out.empty()) {
    TANDEM_RETURN_IF_ERROR(WriteProfile(o.out, profile));
    TANDEM_LOG(kInfo) << "wrote " << o.out;
  }
  return Status::OK();
}

Status RunSplitCommand(const SplitCommandOptions& o) {
  const int ways = (o.stages > 0) + !o.cuts.empty() + !o.plan.empty();
  if (ways != 1) return Status::InvalidArgument("give exactly one of --stages, --cuts or --plan");
  TANDEM_ASSIGN_OR_RETURN(auto model, LoadModel(o.model));
  std::vector<int> cuts;
  if (o.stages > 0) {
    TANDEM_ASSIGN_OR_RETURN(cuts, BalancedCuts(*model, o.stages, o.warmup, o.repeats));
  } else if (!o.cuts.empty()) {
    TANDEM_ASSIGN_OR_RETURN(cuts, ParseCutList(o.cuts));
  } else {
    TANDEM_ASSIGN_OR_RETURN(PlanFile plan, ReadPlan(o.plan, model->content_hash()));
    cuts = plan.cuts;
  }
  TANDEM_ASSIGN_OR_RETURN(SplitManifest m, WriteSplit(*model, cuts, o.out));
  for (const auto& s : m.stages) {
    uint64_t in_bytes = 0, out_bytes = 0;
    for (const auto& t : s.inputs) in_bytes += t.bytes;
    for (const auto& t : s.outputs) out_bytes += t.bytes;
    std::printf("stage %d  nodes %d-%d  in %zu tensor(s) %s  out %zu tensor(s) %s  params %s  -> %s/%s\n", s.index,
                s.begin, s.end - 1, s.inputs.size(), FormatBytes(in_bytes).c_str(), s.outputs.size(),
                FormatBytes(out_bytes).c_str(), FormatBytes(s.param_bytes).c_str(), o.out.c_str(), s.file.c_str());
  }
  std::printf("verified: chained stages match the model (max |diff| %.3g, max |output| %.3g)\n", m.max_abs_diff,
              m.max_abs_ref);
  return Status::OK();
}

}  // namespace tandem
