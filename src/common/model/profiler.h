// Profiling: measuring what each segment of a model costs on this machine
// (the profile itself and its file are profile.h).
#pragma once

#include <functional>
#include <vector>

#include "common/model/model.h"
#include "common/model/profile.h"
#include "common/util/status.h"

namespace tandem {

enum class SegmentTiming { kPasses, kLoops };
const char* SegmentTimingName(SegmentTiming t);  // "passes" or "loops"

struct ProfileOptions {
  // Untimed runs before measuring; first calls are 1.5-4x slower. Default 3.
  int warmup = 3;
  // Timed runs per segment. Default 10.
  int repeats = 10;
  // What is reported of them: the median (default: steady timings, robust to
  // outliers) or the mean (their throughput: on a node whose CPU is a
  // cgroup quota, the runs that meet the throttle count; the median of short
  // runs would hide it).
  bool mean = false;
  // Keep timing each segment until its timed runs add up to this many
  // seconds (with `mean`, on a throttled node: long enough that the throttle
  // meets each segment as often as it meets it in a pipeline). Default 0.
  double min_time_s = 0;
  // How segments are timed. kPasses (default): pass by pass through the
  // whole model, each pass running every segment once, in order, on the
  // previous one's fresh outputs; a segment meets the caches a pipeline stage
  // meets, and the times add up to the whole model's (ResNet-50 on a 0.15-CPU
  // node: 872 ms against 876). warmup, repeats and min_time_s count passes.
  // kLoops: each segment in its own loop; its weights stay warm between runs,
  // so a stage whose weights exceed the cache is timed too fast (MobileNetV2's
  // second half on that node: 54 ms against 76 in a pipeline).
  SegmentTiming timing = SegmentTiming::kPasses;
  // Called after each segment with (done, total); may be empty.
  std::function<void(int, int)> progress;
  // Called with the tensors crossing each cut, in order; may be empty.
  std::function<void(const std::vector<HostTensor>&)> on_cut;
};

// Measures every segment of `model` on this machine.
Result<ModelProfile> ProfileModel(const Model& model, const ProfileOptions& options);

MachineInfo CurrentMachine();

}  // namespace tandem
