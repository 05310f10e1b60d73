// `tandem-dispatcher split`: write standalone stage modules and a manifest.
#include <cstdio>
#include <memory>

#include "common/model/split.h"
#include "common/util/format.h"
#include "common/util/int_list.h"
#include "dispatcher/command.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/plan_file.h"

namespace tandem {
namespace {

struct SplitCommandOptions {
  ModelOptions model;
  int stages = 0;    // balance measured compute over this many stages
  std::string cuts;  // or: these cut positions, "12,40"
  std::string plan;  // or: the cuts of a plan file
  std::string out;   // output directory (required)
  ProfileRuns runs;  // profiling for --stages
};

Status RunSplit(const SplitCommandOptions& o) {
  const int ways = (o.stages > 0) + !o.cuts.empty() + !o.plan.empty();
  if (ways != 1) return Status::InvalidArgument("give exactly one of --stages, --cuts or --plan");
  std::vector<int> cuts;
  if (!o.cuts.empty()) {  // checked before the model loads
    IntListOptions list;
    list.max_abs = 1 << 30;
    auto parsed = ParseIntList(o.cuts, list);
    if (!parsed.ok()) return parsed.status().WithContext("--cuts");
    cuts.assign(parsed->begin(), parsed->end());
  }
  TANDEM_ASSIGN_OR_RETURN(auto model, LoadModel(o.model));
  if (o.stages > 0) {
    TANDEM_ASSIGN_OR_RETURN(cuts, BalancedCuts(*model, o.stages, o.runs));
  } else if (!o.plan.empty()) {
    TANDEM_ASSIGN_OR_RETURN(PlanFile plan, ReadPlanFile(o.plan, model->content_hash()));
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

}  // namespace

Subcommand AddSplitCommand(CLI::App& app) {
  auto o = std::make_shared<SplitCommandOptions>();
  CLI::App* cmd =
      app.add_subcommand("split", "write standalone stage modules and a manifest, verified against the model");
  AddModelFlags(cmd, &o->model);
  auto* stages =
      cmd->add_option("--stages,-k", o->stages, "balance measured compute over K stages")->check(CLI::Range(1, 100000));
  auto* cuts = cmd->add_option("--cuts", o->cuts, "cut at these positions (from `profile`), e.g. 12,40");
  auto* plan = cmd->add_option("--plan", o->plan, "cut where a plan file says (its \"cuts\")");
  stages->excludes(cuts)->excludes(plan);
  cuts->excludes(plan);
  cmd->add_option("--out,-o", o->out, "directory for stage-K.pt and manifest.json")->required();
  AddProfileRunFlags(cmd, &o->runs, "with --stages: ");
  // Keeps the default SIGINT/SIGTERM action (stops at once).
  return {cmd, [o] { return RunSplit(*o); }};
}

}  // namespace tandem
