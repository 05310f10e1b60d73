// What `run` reports when the stream ends: a table on stdout and, with
// --report, the same figures as JSON (docs/formats.md, "Run report").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/plan/problem.h"
#include "common/util/status.h"
#include "dispatcher/pipeline_manager.h"
#include "dispatcher/streamer.h"

namespace tandem {

// What the report says of a run besides the stream's own figures.
struct RunFacts {
  std::string model_path;
  std::string model_sha256;
  int window = 0;                // requests in flight at most
  PipelineDescription pipeline;  // the pipeline that served last
  int recoveries = 0;
  std::vector<std::string> events;          // the pipeline manager's, one line each
  std::optional<PlanEvaluation> predicted;  // the planner's figures for the first plan
};

// Throughput, latency percentiles, recoveries, then per hop (bytes, codec,
// error, transfer) and per stage (compute, queue, decode, encode).
void PrintRunReport(const StreamReport& report, const RunFacts& facts);
Status WriteRunReport(const std::string& path, const StreamReport& report, const RunFacts& facts);

}  // namespace tandem
