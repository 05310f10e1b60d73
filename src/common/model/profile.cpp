#include "common/model/profile.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/file_util.h"

namespace tandem {

using nlohmann::json;

double ModelProfile::ComputeBetween(int first, int last) const {
  double s = 0;
  for (int i = std::max(0, first); i < std::min<int>(last, segments.size()); ++i) s += segments[i].compute_s;
  return s;
}

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
  return m;
}

namespace {
std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

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
  p.input_shape = model.input_shape();
  p.input_bytes = model.sample_input().nbytes();
  p.output_bytes = TotalBytes(model.sample_output());
  p.num_nodes = model.num_nodes();
  p.machine = CurrentMachine();
  p.measured_at = NowUtc();
  p.warmup = options.warmup;
  p.repeats = options.repeats;
  p.statistic = options.mean ? "mean" : "median";
  p.min_time_s = options.min_time_s;
  auto stat = [&](const std::vector<double>& v) {
    if (!options.mean) return Median(v);
    double sum = 0;
    for (double x : v) sum += x;
    return sum / static_cast<double>(v.size());
  };
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
  std::vector<HostTensor> cur{model.sample_input()};
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
    if (options.progress)
      on_pass = [&](int done) { options.progress(nseg + std::min(done, passes), total_steps); };
    TANDEM_ASSIGN_OR_RETURN(auto times, Stage::TimePasses(stages, {model.sample_input()}, options.warmup,
                                                          options.repeats, options.min_time_s, on_pass));
    for (int i = 0; i < nseg; ++i) {
      p.segments[i].compute_s = stat(times[i]);
      p.segments[i].compute_min_s = *std::min_element(times[i].begin(), times[i].end());
    }
  }
  TANDEM_ASSIGN_OR_RETURN(auto whole, model.MakeStage(0, model.num_nodes()));
  TANDEM_ASSIGN_OR_RETURN(auto times,
                          whole->Time({model.sample_input()}, options.warmup, options.repeats, options.min_time_s));
  p.model_compute_s = stat(times);
  if (options.progress) options.progress(total_steps, total_steps);
  return p;
}

// ---------------------------------------------------------------- JSON

void to_json(json& j, const TensorSpec& t) {
  j = json{{"name", t.name}, {"dtype", DTypeName(t.dtype)}, {"shape", t.shape}, {"bytes", t.bytes}};
}
void from_json(const json& j, TensorSpec& t) {
  j.at("name").get_to(t.name);
  auto d = ParseDType(j.at("dtype").get<std::string>());
  if (!d.ok()) throw std::invalid_argument("dtype: " + d.status().message());
  t.dtype = d.value();
  j.at("shape").get_to(t.shape);
  j.at("bytes").get_to(t.bytes);
}
void to_json(json& j, const CutPoint& c) {
  j = json{{"position", c.position}, {"bytes", c.bytes()}, {"tensors", c.tensors}};
}
void from_json(const json& j, CutPoint& c) {
  j.at("position").get_to(c.position);
  j.at("tensors").get_to(c.tensors);
}
void to_json(json& j, const SegmentProfile& s) {
  j = json{{"index", s.index},           {"begin", s.begin},
           {"end", s.end},               {"first_op", s.first_op},
           {"last_op", s.last_op},       {"compute_s", s.compute_s},
           {"compute_min_s", s.compute_min_s}, {"param_bytes", s.param_bytes},
           {"output_bytes", s.output_bytes}};
}
void from_json(const json& j, SegmentProfile& s) {
  j.at("index").get_to(s.index);
  j.at("begin").get_to(s.begin);
  j.at("end").get_to(s.end);
  s.first_op = j.value("first_op", "");
  s.last_op = j.value("last_op", "");
  j.at("compute_s").get_to(s.compute_s);
  s.compute_min_s = j.value("compute_min_s", s.compute_s);
  j.at("param_bytes").get_to(s.param_bytes);
  j.at("output_bytes").get_to(s.output_bytes);
}
void to_json(json& j, const MachineInfo& m) {
  j = json{{"hostname", m.hostname}, {"cpu", m.cpu}, {"cores", m.cores}, {"threads", m.threads},
           {"compute_library", m.compute_library}};
}
void from_json(const json& j, MachineInfo& m) {
  m.hostname = j.value("hostname", "");
  m.cpu = j.value("cpu", "");
  m.cores = j.value("cores", 0);
  m.threads = j.value("threads", 0);
  m.compute_library = j.value("compute_library", "");
}
void to_json(json& j, const ModelProfile& p) {
  j = json{{"format", "tandem-profile"},
           {"format_version", ModelProfile::kFormatVersion},
           {"model", {{"path", p.model_path}, {"sha256", p.model_hash}, {"num_nodes", p.num_nodes}}},
           {"input_shape", p.input_shape},
           {"input_bytes", p.input_bytes},
           {"output_bytes", p.output_bytes},
           {"machine", p.machine},
           {"measured_at", p.measured_at},
           {"warmup", p.warmup},
           {"repeats", p.repeats},
           {"statistic", p.statistic},
           {"min_time_s", p.min_time_s},
           {"timing", p.timing},
           {"model_compute_s", p.model_compute_s},
           {"cuts", p.cuts},
           {"segments", p.segments}};
  if (!p.move_codec.empty())
    j["activation_move"] = json{
        {"codec", p.move_codec}, {"s_per_mb", p.move_s_per_byte * 1e6}, {"sample_bytes", p.move_sample_bytes}};
}
void from_json(const json& j, ModelProfile& p) {
  if (j.at("format").get<std::string>() != "tandem-profile") throw std::invalid_argument("format: not a tandem profile");
  const int v = j.at("format_version").get<int>();
  if (v != ModelProfile::kFormatVersion)
    throw std::invalid_argument("format_version: " + std::to_string(v) + " is not supported (expected " +
                                std::to_string(ModelProfile::kFormatVersion) + ")");
  const json& m = j.at("model");
  m.at("path").get_to(p.model_path);
  m.at("sha256").get_to(p.model_hash);
  m.at("num_nodes").get_to(p.num_nodes);
  j.at("input_shape").get_to(p.input_shape);
  p.input_bytes = j.value("input_bytes", uint64_t{0});
  p.output_bytes = j.value("output_bytes", uint64_t{0});
  if (j.contains("machine")) j.at("machine").get_to(p.machine);
  p.measured_at = j.value("measured_at", "");
  p.warmup = j.value("warmup", 0);
  p.repeats = j.value("repeats", 0);
  p.statistic = j.value("statistic", "median");
  p.min_time_s = j.value("min_time_s", 0.0);
  p.timing = j.value("timing", "loops");
  if (p.timing != "passes" && p.timing != "loops")
    throw std::invalid_argument("timing: \"" + p.timing + "\" is neither \"passes\" nor \"loops\"");
  p.model_compute_s = j.value("model_compute_s", 0.0);
  if (j.contains("activation_move")) {
    const json& m = j.at("activation_move");
    m.at("codec").get_to(p.move_codec);
    p.move_s_per_byte = m.at("s_per_mb").get<double>() / 1e6;
    p.move_sample_bytes = m.value("sample_bytes", uint64_t{0});
    if (p.move_codec.empty() || !(p.move_s_per_byte >= 0) || !std::isfinite(p.move_s_per_byte))
      throw std::invalid_argument("activation_move: needs a codec and s_per_mb >= 0");
  }
  j.at("cuts").get_to(p.cuts);
  j.at("segments").get_to(p.segments);
}

Result<ModelProfile> ReadProfile(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 256 << 20));
  ModelProfile p;
  try {
    json::parse(text).get_to(p);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": not a valid profile: " + e.what());
  }
  // Structural checks: segments tile 0..N along the cuts.
  if (p.segments.size() != p.cuts.size() + 1)
    return Status::InvalidArgument(path + ": segments: expected " + std::to_string(p.cuts.size() + 1) +
                                   " (one more than cuts), found " + std::to_string(p.segments.size()));
  for (size_t i = 0; i < p.segments.size(); ++i) {
    const auto& s = p.segments[i];
    const int begin = i == 0 ? 0 : p.cuts[i - 1].position;
    const int end = i == p.cuts.size() ? p.num_nodes : p.cuts[i].position;
    if (s.begin != begin || s.end != end || s.compute_s < 0)
      return Status::InvalidArgument(path + ": segments[" + std::to_string(i) + "]: does not match the cuts");
  }
  return p;
}

Status WriteProfile(const std::string& path, const ModelProfile& profile) {
  return WriteFileAtomic(path, json(profile).dump(1) + "\n");
}

std::string FormatBytes(uint64_t b) {
  char buf[32];
  if (b >= 1000ull * 1000 * 1000) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1000ull * 1000) std::snprintf(buf, sizeof buf, "%.2f MB", b / 1e6);
  else if (b >= 1000) std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

std::string FormatProfile(const ModelProfile& p) {
  std::string out;
  char buf[512];
  int multi = 0;
  for (const auto& c : p.cuts) multi += c.tensors.size() > 1;
  std::snprintf(buf, sizeof buf,
                "model      %s\nsha256     %s\ninput      %s (%s)\nnodes      %d\n"
                "cuts       %zu valid (%zu carry one tensor, %d several)\nmachine    %s, %s, %d thread(s), %s\n"
                "whole model %.2f ms (%s of %d after %d warm-up; segments timed in %s)\n\n",
                p.model_path.c_str(), p.model_hash.c_str(), ShapeToString(p.input_shape).c_str(),
                FormatBytes(p.input_bytes).c_str(), p.num_nodes, p.cuts.size(), p.cuts.size() - multi, multi,
                p.machine.hostname.c_str(), p.machine.cpu.c_str(), p.machine.threads,
                p.machine.compute_library.c_str(), p.model_compute_s * 1e3, p.statistic.c_str(), p.repeats, p.warmup,
                p.timing.c_str());
  out += buf;
  out += " seg  nodes        ms      params   out bytes  tensors  ops\n";
  double total = 0;
  for (size_t i = 0; i < p.segments.size(); ++i) {
    const auto& s = p.segments[i];
    total += s.compute_s;
    const size_t ntensors = i < p.cuts.size() ? p.cuts[i].tensors.size() : 0;
    std::string range = std::to_string(s.begin) + "-" + std::to_string(s.end - 1);
    std::snprintf(buf, sizeof buf, "%4d  %-9s %8.3f  %10s  %10s  %7s  %s%s%s\n", s.index, range.c_str(),
                  s.compute_s * 1e3, FormatBytes(s.param_bytes).c_str(), FormatBytes(s.output_bytes).c_str(),
                  ntensors ? std::to_string(ntensors).c_str() : "-", s.first_op.c_str(),
                  s.first_op == s.last_op && s.begin + 1 == s.end ? "" : " .. ",
                  s.first_op == s.last_op && s.begin + 1 == s.end ? "" : s.last_op.c_str());
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "\nsum of segments %.2f ms\n", total * 1e3);
  out += buf;
  if (!p.move_codec.empty()) {
    std::snprintf(buf, sizeof buf, "moving activations %.3f ms per MB received or sent (codec %s, measured on %s)\n",
                  p.move_s_per_byte * 1e9, p.move_codec.c_str(), FormatBytes(p.move_sample_bytes).c_str());
    out += buf;
  }
  return out;
}

}  // namespace tandem
