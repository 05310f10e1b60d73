// The placement problem: which contiguous run of segments each node computes.
//
// Segments come from a model profile (compute time on the profiling machine,
// weight bytes, bytes crossing the cut after each). Nodes have a relative
// speed (or measured per-segment times) and a memory budget; every pair of
// endpoints (workers, and the dispatcher as the last endpoint) has a link
// bandwidth and latency. A plan gives each stage a node (each node at most
// once) and a contiguous segment range; stages cover all segments in order.
//
// Throughput is set by the slowest term: each stage's compute on its node,
// and each transfer on its link — dispatcher -> first stage, between stages,
// last stage -> dispatcher. The planners minimise that bottleneck.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace tandem {

struct PlanSegment {
  double compute_s = 0;      // on the profiling machine (speed 1.0)
  uint64_t param_bytes = 0;  // weights it holds
  uint64_t out_bytes = 0;    // bytes crossing the cut after it (the model output for the last)
  int out_tensors = 1;       // tensors crossing that cut (1: a cut every path passes through)
};

struct PlanNode {
  std::string name;
  double speed = 1.0;         // compute time = profiled time / speed
  uint64_t memory_bytes = 0;  // budget for a stage (weights + input + output); 0: unlimited
  // The node's own time per activation byte it receives or sends (decoding
  // and encoding, copies, the socket), seconds per byte; it adds to its
  // stage's compute, since it takes the same CPU. 0: not counted.
  double move_s_per_byte = 0;
  // Copies of its stage's input and output activations the node holds at
  // once (memory). 1 by default (SEIFER's model); a tandem-worker holds
  // WorkerActivationCopies(its queue depth) (worker_memory.h).
  int activation_copies = 1;
};

struct PlanProblem {
  std::vector<PlanSegment> segments;
  uint64_t input_bytes = 0;  // the model input, sent by the dispatcher
  std::vector<PlanNode> nodes;
  // (nodes+1) x (nodes+1) matrices; index nodes.size() is the dispatcher.
  std::vector<std::vector<double>> bandwidth;  // bytes per second, > 0
  std::vector<std::vector<double>> latency;    // seconds, >= 0
  // Optional: measured time of segment s on node n, [n][s]; overrides speed.
  std::vector<std::vector<double>> segment_time;

  int dispatcher() const { return static_cast<int>(nodes.size()); }
  double SegmentTime(int node, int seg) const {
    return segment_time.empty() ? segments[seg].compute_s / nodes[node].speed : segment_time[node][seg];
  }
  double Transfer(int from, int to, uint64_t bytes) const {
    return static_cast<double>(bytes) / bandwidth[from][to] + latency[from][to];
  }
  // The time node `node` spends receiving the input of a stage over segments
  // [begin, end) and sending its output (PlanNode::move_s_per_byte).
  double MoveTime(int node, int begin, int end) const {
    return nodes[node].move_s_per_byte * static_cast<double>(InBytes(begin) + segments[end - 1].out_bytes);
  }
  // Bytes entering segment s (the model input for s = 0).
  uint64_t InBytes(int s) const { return s == 0 ? input_bytes : segments[s - 1].out_bytes; }
  // Whether the cut before segment s (0 < s < segments) carries one tensor.
  bool single_tensor_cut(int s) const { return segments[s - 1].out_tensors == 1; }
  // Checks sizes and values; errors say what is wrong.
  Status Validate() const;
};

struct PlanStage {
  int node = 0;
  int begin = 0;  // first segment
  int end = 0;    // one past the last segment
};
// The same segments on the same worker.
inline bool operator==(const PlanStage& a, const PlanStage& b) {
  return a.node == b.node && a.begin == b.begin && a.end == b.end;
}

struct Plan {
  std::vector<PlanStage> stages;
};

struct PlanEvaluation {
  bool feasible = false;
  std::string problem;                 // why not feasible
  double bottleneck_s = 0;             // the largest term
  std::string bottleneck;              // "compute of stage 2 on pi-3", "transfer pi-1 -> pi-2", ...
  double latency_s = 0;                // one request end to end: all transfers and computes
  std::vector<double> compute_s;       // per stage: its segments plus moving its activations
  std::vector<double> move_s;          // per stage: the part of compute_s that moves activations
  std::vector<double> transfer_s;      // per hop: stages+1 (dispatcher -> stage 0 ... last -> dispatcher)
  std::vector<uint64_t> memory_bytes;  // per stage: weights + input + output
  double throughput() const { return bottleneck_s > 0 ? 1.0 / bottleneck_s : 0; }
};

// Memory a stage over segments [begin, end) needs on `node`: weights plus
// the node's activation_copies of its input and output activations.
uint64_t StageMemory(const PlanProblem& p, int node, int begin, int end);

// The problem restricted to `nodes` (indices into p.nodes, in the order
// given; the dispatcher stays last). A plan of the result names nodes by
// their position in `nodes`.
PlanProblem SubProblem(const PlanProblem& p, const std::vector<int>& nodes);

// Recomputes every term of `plan` from the problem alone, and checks it: the
// stages cover the segments contiguously, each node is used at most once, and
// each stage fits its node's memory.
PlanEvaluation Evaluate(const PlanProblem& p, const Plan& plan);

}  // namespace tandem
