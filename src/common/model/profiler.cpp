#include "common/model/profiler.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "common/model/runtime.h"
#include "common/util/device.h"
#include "common/util/format.h"
#include "common/util/stats.h"

namespace tandem {

MachineInfo CurrentMachine() {
  MachineInfo m;
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) == 0) m.hostname = host;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    // x86: "model name"; ARM (Raspberry Pi): "Model" or "Hardware".
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0 || line.rfind("Hardware", 0) == 0) {
      size_t p = line.find(':');
      if (p != std::string::npos) {
        m.cpu = line.substr(line.find_first_not_of(" \t", p + 1));
        if (line.rfind("model name", 0) == 0) break;
      }
    }
  }
  m.cores = static_cast<int>(std::thread::hardware_concurrency());
  m.threads = GetComputeThreads();
  m.compute_library = ComputeLibraryVersion();
  m.host_id = HostId();
  m.cpus = UsableCpus();
  return m;
}

namespace {
uint64_t TotalBytes(const std::vector<HostTensor>& ts) {
  uint64_t b = 0;
  for (const auto& t : ts) b += t.nbytes();
  return b;
}
}  // namespace

const char* SegmentTimingName(SegmentTiming t) { return t == SegmentTiming::kLoops ? "loops" : "passes"; }

Result<ModelProfile> ProfileModel(const Model& model, const ProfileOptions& options) {
  if (options.warmup < 0 || options.repeats < 1 || !(options.min_time_s >= 0))
    return Status::InvalidArgument("profiling needs warmup >= 0, repeats >= 1 and min_time_s >= 0");
  ModelProfile p;
  p.model_path = model.path();
  p.model_hash = model.content_hash();
  p.inputs = model.inputs();
  p.input_bytes = TotalBytes(model.sample_inputs());
  p.output_bytes = TotalBytes(model.sample_output());
  p.num_nodes = model.num_nodes();
  p.machine = CurrentMachine();
  p.measured_at = UtcTimestamp();
  p.warmup = options.warmup;
  p.repeats = options.repeats;
  p.statistic = options.mean ? "mean" : "median";
  p.min_time_s = options.min_time_s;
  auto stat = [&](const std::vector<double>& v) { return options.mean ? Mean(v) : Median(v); };
  p.cuts = model.cuts();

  std::vector<int> bounds{0};
  for (const auto& c : p.cuts) bounds.push_back(c.position);
  bounds.push_back(model.num_nodes());
  const int nseg = static_cast<int>(bounds.size()) - 1;
  p.timing = SegmentTimingName(options.timing);
  // In passes (Stage::TimePasses) each segment meets the caches a whole pass
  // leaves, not the ones its own loop warmed. Progress: one step per
  // segment, per pass (at least warmup + repeats of them) and the whole model.
  const bool by_passes = options.timing == SegmentTiming::kPasses;
  const int passes = by_passes ? options.warmup + options.repeats : 0;
  const int total_steps = nseg + passes + 1;

  // Run the segments in order, each on the previous one's outputs; in loops,
  // time each there.
  std::vector<std::unique_ptr<Stage>> chain;  // in passes, timed after
  std::vector<HostTensor> cur = model.sample_inputs();
  for (int i = 0; i < nseg; ++i) {
    SegmentProfile s;
    s.index = i;
    s.begin = bounds[i];
    s.end = bounds[i + 1];
    s.first_op = model.NodeKind(s.begin);
    s.last_op = model.NodeKind(s.end - 1);
    s.param_bytes = model.ParamBytes(s.begin, s.end);
    TANDEM_ASSIGN_OR_RETURN(auto stage, model.MakeStage(s.begin, s.end));
    if (!by_passes) {
      TANDEM_ASSIGN_OR_RETURN(auto times, stage->Time(cur, options.warmup, options.repeats, options.min_time_s));
      s.compute_s = stat(times);
      s.compute_min_s = *std::min_element(times.begin(), times.end());
    }
    TANDEM_ASSIGN_OR_RETURN(auto out, stage->Run(cur));
    s.output_bytes = TotalBytes(out);
    if (options.on_cut && i + 1 < nseg) options.on_cut(out);
    cur = std::move(out);
    if (by_passes) chain.push_back(std::move(stage));
    p.segments.push_back(std::move(s));
    if (options.progress) options.progress(i + 1, total_steps);
  }
  if (by_passes) {
    std::vector<Stage*> stages;
    for (const auto& st : chain) stages.push_back(st.get());
    std::function<void(int)> on_pass;
    if (options.progress) on_pass = [&](int done) { options.progress(nseg + std::min(done, passes), total_steps); };
    TANDEM_ASSIGN_OR_RETURN(auto times, Stage::TimePasses(stages, model.sample_inputs(), options.warmup,
                                                          options.repeats, options.min_time_s, on_pass));
    for (int i = 0; i < nseg; ++i) {
      p.segments[i].compute_s = stat(times[i]);
      p.segments[i].compute_min_s = *std::min_element(times[i].begin(), times[i].end());
    }
  }
  TANDEM_ASSIGN_OR_RETURN(auto whole, model.MakeStage(0, model.num_nodes()));
  TANDEM_ASSIGN_OR_RETURN(auto times,
                          whole->Time(model.sample_inputs(), options.warmup, options.repeats, options.min_time_s));
  p.model_compute_s = stat(times);
  if (options.progress) options.progress(total_steps, total_steps);
  return p;
}

}  // namespace tandem
