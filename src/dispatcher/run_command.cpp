// `tandem-dispatcher run`: plan, deploy to the workers, stream, report.
#include <atomic>
#include <cstdio>
#include <memory>

#include "common/config/cluster_config.h"
#include "common/util/progress.h"
#include "common/util/signals.h"
#include "dispatcher/command.h"
#include "dispatcher/input_source.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/pipeline_session.h"
#include "dispatcher/result_files.h"
#include "dispatcher/run_report.h"

namespace tandem {
namespace {

struct RunCommandOptions {
  PipelineOptions pipeline;  // the model, the cluster, the plan, the stream
  std::string inputs;        // directory of .npy inputs
  int synthetic = 0;         // or: this many random inputs of input_shape
  std::string input_shape;   // required with synthetic; checked against inputs otherwise
  std::string outputs;       // write outputs here (optional)
  std::string report;        // write the run's figures as JSON here (docs/formats.md)
};

// The inputs, from files or synthetic, and the specs they give the model.
Status OpenInputs(const RunCommandOptions& o, std::vector<InputSpec>* specs, std::unique_ptr<InputSource>* inputs) {
  if (!o.input_shape.empty()) {
    auto parsed = ParseInputSpecs(o.input_shape);
    if (!parsed.ok()) return parsed.status().WithContext("--input-shape");
    *specs = std::move(parsed).value();
  }
  if (!o.inputs.empty()) {
    // How many files make a request: the model's argument count.
    size_t arity = specs->size();
    if (arity == 0) {
      TANDEM_ASSIGN_OR_RETURN(auto names, Model::InputNames(o.pipeline.model));
      arity = names.size();
    }
    TANDEM_ASSIGN_OR_RETURN(auto dir, DirectoryInputs::Open(o.inputs, *specs, arity));
    *specs = dir->specs();
    *inputs = std::move(dir);
    return Status::OK();
  }
  if (o.synthetic > 0) {
    if (specs->empty()) return Status::InvalidArgument("--synthetic needs --input-shape");
    *inputs = std::make_unique<SyntheticInputs>(o.synthetic, *specs);
    return Status::OK();
  }
  return Status::InvalidArgument("give --inputs DIR or --synthetic N");
}

Status RunPipeline(const RunCommandOptions& o, const std::atomic<bool>& stop) {
  // 1. Configuration, inputs and the model: every problem found before
  // anything is deployed.
  TANDEM_ASSIGN_OR_RETURN(ClusterConfig cluster, LoadPipelineCluster(o.pipeline));
  std::vector<InputSpec> specs;
  std::unique_ptr<InputSource> inputs;
  TANDEM_RETURN_IF_ERROR(OpenInputs(o, &specs, &inputs));
  TANDEM_RETURN_IF_ERROR(PipelineSession::Check(o.pipeline, cluster));
  ResultFiles results;
  TANDEM_RETURN_IF_ERROR(results.Open(o.outputs));
  TANDEM_ASSIGN_OR_RETURN(auto session, PipelineSession::Open(o.pipeline, std::move(cluster), specs));

  // 2. Connect, plan and deploy; then stream while the session keeps a pipeline up.
  TANDEM_RETURN_IF_ERROR(session->Deploy());
  results.SetOutputNames(session->output_names());
  auto sink = [&](const Delivery& d) { return results.Write(d, inputs->Name(d.index)); };
  const PipelineDescription first = session->Describe();
  std::printf("running %s in %zu stages on %zu workers, window %d, cuts", o.pipeline.model.c_str(),
              first.workers.size(), first.workers.size(), o.pipeline.window);
  for (int c : first.cuts) std::printf(" %d", c);
  std::printf("\n");
  std::fflush(stdout);
  Progress progress("requests");
  auto rep = session->Stream(*inputs, sink, stop, [&](int d, int t) { progress.Update(d, t); });
  if (!rep.ok()) return rep.status();
  const RunFacts facts = session->Facts();
  PrintRunReport(rep.value(), facts);
  const Status reported = o.report.empty() ? Status::OK() : WriteRunReport(o.report, rep.value(), facts);
  session->Shutdown();
  TANDEM_RETURN_IF_ERROR(reported);
  if (rep->interrupted)
    return Status::Unavailable("interrupted: " + std::to_string(rep->unanswered) + " of " +
                               std::to_string(inputs->count()) + " requests have no result");
  if (rep->failed > 0)
    return Status::InvalidArgument(std::to_string(rep->failed) + " of " + std::to_string(inputs->count()) +
                                   " requests failed (listed above)");
  return Status::OK();
}

}  // namespace

Subcommand AddRunCommand(CLI::App& app) {
  auto o = std::make_shared<RunCommandOptions>();
  CLI::App* cmd =
      app.add_subcommand("run", "split the model, deploy the stages to the workers, stream inputs through, and report");
  AddPipelineFlags(cmd, &o->pipeline);
  auto* inputs = cmd->add_option("--inputs,-i", o->inputs,
                                 "directory of .npy inputs: NAME.npy per request, or NAME.0.npy, NAME.1.npy, ... "
                                 "for a model with several inputs");
  auto* synthetic = cmd->add_option("--synthetic", o->synthetic, "stream N random requests of --input-shape")
                        ->check(CLI::Range(1, 100000000));
  inputs->excludes(synthetic);
  AddInputShapeFlag(cmd, &o->input_shape, "with --synthetic (else checked against the files): ");
  cmd->add_option("--outputs,-o", o->outputs, "write each result as .npy here, named after its input");
  cmd->add_option("--report", o->report,
                  "write the run's figures as JSON here: throughput, latency, prediction, per hop and stage");
  // Stops cleanly on SIGINT/SIGTERM: it undeploys its stages and delivers
  // what it has.
  return {cmd, [o] { return RunPipeline(*o, InstallStopSignals()); }};
}

}  // namespace tandem
