#include "common/model/profile.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/util/files.h"
#include "common/util/format.h"
#include "common/util/json.h"

namespace tandem {

using nlohmann::json;

double ModelProfile::ComputeBetween(int first, int last) const {
  double s = 0;
  for (int i = std::max(0, first); i < std::min<int>(last, segments.size()); ++i) s += segments[i].compute_s;
  return s;
}

// ---------------------------------------------------------------- JSON

void to_json(json& j, const InputSpec& s) { j = json{{"dtype", DTypeName(s.dtype)}, {"shape", s.shape}}; }
Status ReadJson(const JsonField& f, InputSpec* s) {
  std::string dtype;
  TANDEM_RETURN_IF_ERROR(f.Require("dtype", &dtype));
  auto d = ParseDType(dtype);
  if (!d.ok() || d.value() == DType::kNone) return f["dtype"].Error("unknown dtype '" + dtype + "'");
  s->dtype = d.value();
  return f.Require("shape", &s->shape);
}
void WriteInputs(json& j, const std::vector<InputSpec>& inputs) {
  j["inputs"] = inputs;
  j["input_shape"] = inputs.empty() ? std::vector<int64_t>{} : inputs[0].shape;
}
Status ReadInputs(const JsonField& f, std::vector<InputSpec>* inputs) {
  if (f.Has("inputs")) return f.Require("inputs", inputs);
  InputSpec one;
  TANDEM_RETURN_IF_ERROR(f.Require("input_shape", &one.shape));
  *inputs = {one};
  return Status::OK();
}
void to_json(json& j, const TensorSpec& t) {
  j = json{{"name", t.name}, {"dtype", DTypeName(t.dtype)}, {"shape", t.shape}, {"bytes", t.bytes}};
  if (!t.carries.empty()) j["carries"] = t.carries;
}
Status ReadJson(const JsonField& f, TensorSpec* t) {
  std::string dtype;
  TANDEM_RETURN_IF_ERROR(f.Require("name", &t->name));
  TANDEM_RETURN_IF_ERROR(f.Require("dtype", &dtype));
  auto d = ParseDType(dtype);
  if (!d.ok()) return f["dtype"].Error(d.status().message());
  t->dtype = d.value();
  TANDEM_RETURN_IF_ERROR(f.Require("shape", &t->shape));
  TANDEM_RETURN_IF_ERROR(f.Get("carries", &t->carries));
  return f.Require("bytes", &t->bytes);
}
void to_json(json& j, const CutPoint& c) {
  j = json{{"position", c.position}, {"bytes", c.bytes()}, {"tensors", c.tensors}};
}
Status ReadJson(const JsonField& f, CutPoint* c) {
  TANDEM_RETURN_IF_ERROR(f.Require("position", &c->position));
  return f.Require("tensors", &c->tensors);
}
void to_json(json& j, const SegmentProfile& s) {
  j = json{{"index", s.index},
           {"begin", s.begin},
           {"end", s.end},
           {"first_op", s.first_op},
           {"last_op", s.last_op},
           {"compute_s", s.compute_s},
           {"compute_min_s", s.compute_min_s},
           {"param_bytes", s.param_bytes},
           {"output_bytes", s.output_bytes}};
}
Status ReadJson(const JsonField& f, SegmentProfile* s) {
  TANDEM_RETURN_IF_ERROR(f.Require("index", &s->index));
  TANDEM_RETURN_IF_ERROR(f.Require("begin", &s->begin));
  TANDEM_RETURN_IF_ERROR(f.Require("end", &s->end));
  TANDEM_RETURN_IF_ERROR(f.Get("first_op", &s->first_op));
  TANDEM_RETURN_IF_ERROR(f.Get("last_op", &s->last_op));
  TANDEM_RETURN_IF_ERROR(f.Require("compute_s", &s->compute_s));
  s->compute_min_s = s->compute_s;
  TANDEM_RETURN_IF_ERROR(f.Get("compute_min_s", &s->compute_min_s));
  TANDEM_RETURN_IF_ERROR(f.Require("param_bytes", &s->param_bytes));
  TANDEM_RETURN_IF_ERROR(f.Require("output_bytes", &s->output_bytes));
  if (s->compute_s < 0) return f["compute_s"].Error("must be >= 0");
  return Status::OK();
}
void to_json(json& j, const MachineInfo& m) {
  j = json{{"hostname", m.hostname},
           {"cpu", m.cpu},
           {"cores", m.cores},
           {"threads", m.threads},
           {"compute_library", m.compute_library},
           {"host_id", m.host_id},
           {"cpus", m.cpus}};
}
Status ReadJson(const JsonField& f, MachineInfo* m) {
  if (!f.is_object()) return f.Error("must be a JSON object");
  TANDEM_RETURN_IF_ERROR(f.Get("hostname", &m->hostname));
  TANDEM_RETURN_IF_ERROR(f.Get("cpu", &m->cpu));
  TANDEM_RETURN_IF_ERROR(f.Get("cores", &m->cores));
  TANDEM_RETURN_IF_ERROR(f.Get("threads", &m->threads));
  TANDEM_RETURN_IF_ERROR(f.Get("host_id", &m->host_id));
  TANDEM_RETURN_IF_ERROR(f.Get("cpus", &m->cpus));
  return f.Get("compute_library", &m->compute_library);
}
void to_json(json& j, const ModelProfile& p) {
  j = json{{"format", "tandem-profile"},
           {"format_version", ModelProfile::kFormatVersion},
           {"model", {{"path", p.model_path}, {"sha256", p.model_hash}, {"num_nodes", p.num_nodes}}},
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
  WriteInputs(j, p.inputs);
  if (!p.move_codec.empty())
    j["activation_move"] =
        json{{"codec", p.move_codec}, {"s_per_mb", p.move_s_per_byte * 1e6}, {"sample_bytes", p.move_sample_bytes}};
}
Status ReadJson(const JsonField& f, ModelProfile* p) {
  if (!f.is_object()) return f.Error("must be a JSON object");
  std::string format;
  TANDEM_RETURN_IF_ERROR(f.Require("format", &format));
  if (format != "tandem-profile") return f["format"].Error("not a tandem profile (\"tandem-profile\")");
  int version = 0;
  TANDEM_RETURN_IF_ERROR(f.Require("format_version", &version));
  if (version != ModelProfile::kFormatVersion)
    return f["format_version"].Error(std::to_string(version) + " is not supported (expected " +
                                     std::to_string(ModelProfile::kFormatVersion) + ")");
  if (!f.Has("model")) return f["model"].Error("required");
  const JsonField m = f["model"];
  TANDEM_RETURN_IF_ERROR(m.Require("path", &p->model_path));
  TANDEM_RETURN_IF_ERROR(m.Require("sha256", &p->model_hash));
  TANDEM_RETURN_IF_ERROR(m.Require("num_nodes", &p->num_nodes));
  TANDEM_RETURN_IF_ERROR(ReadInputs(f, &p->inputs));
  TANDEM_RETURN_IF_ERROR(f.Get("input_bytes", &p->input_bytes));
  TANDEM_RETURN_IF_ERROR(f.Get("output_bytes", &p->output_bytes));
  TANDEM_RETURN_IF_ERROR(f.Get("machine", &p->machine));
  TANDEM_RETURN_IF_ERROR(f.Get("measured_at", &p->measured_at));
  TANDEM_RETURN_IF_ERROR(f.Get("warmup", &p->warmup));
  TANDEM_RETURN_IF_ERROR(f.Get("repeats", &p->repeats));
  TANDEM_RETURN_IF_ERROR(f.Get("statistic", &p->statistic));
  TANDEM_RETURN_IF_ERROR(f.Get("min_time_s", &p->min_time_s));
  p->timing = "loops";  // files from before `timing` timed segments in loops
  TANDEM_RETURN_IF_ERROR(f.Get("timing", &p->timing));
  if (p->timing != "passes" && p->timing != "loops")
    return f["timing"].Error("\"" + p->timing + "\" is neither \"passes\" nor \"loops\"");
  TANDEM_RETURN_IF_ERROR(f.Get("model_compute_s", &p->model_compute_s));
  if (f.Has("activation_move")) {
    const JsonField m = f["activation_move"];
    double s_per_mb = 0;
    TANDEM_RETURN_IF_ERROR(m.Require("codec", &p->move_codec));
    TANDEM_RETURN_IF_ERROR(m.Require("s_per_mb", &s_per_mb));
    TANDEM_RETURN_IF_ERROR(m.Get("sample_bytes", &p->move_sample_bytes));
    if (p->move_codec.empty()) return m["codec"].Error("must name the codec it was measured with");
    if (s_per_mb < 0) return m["s_per_mb"].Error("must be >= 0");
    p->move_s_per_byte = s_per_mb / 1e6;
  }
  TANDEM_RETURN_IF_ERROR(f.Require("cuts", &p->cuts));
  TANDEM_RETURN_IF_ERROR(f.Require("segments", &p->segments));
  // Structural checks: segments tile 0..N along the cuts.
  if (p->segments.size() != p->cuts.size() + 1)
    return f["segments"].Error("expected " + std::to_string(p->cuts.size() + 1) + " (one more than cuts), found " +
                               std::to_string(p->segments.size()));
  for (size_t i = 0; i < p->segments.size(); ++i) {
    const auto& s = p->segments[i];
    const int begin = i == 0 ? 0 : p->cuts[i - 1].position;
    const int end = i == p->cuts.size() ? p->num_nodes : p->cuts[i].position;
    if (s.begin != begin || s.end != end) return f["segments"][i].Error("does not match the cuts");
  }
  return Status::OK();
}

Result<ModelProfile> ReadProfile(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(JsonDocument doc, JsonDocument::Load(path, 256 << 20));
  ModelProfile p;
  TANDEM_RETURN_IF_ERROR(doc.root().Read(&p));
  return p;
}

Status WriteProfile(const std::string& path, const ModelProfile& profile) {
  return WriteFileAtomic(path, json(profile).dump(1) + "\n");
}

std::string FormatProfile(const ModelProfile& p) {
  std::string out;
  char buf[512];
  int multi = 0;
  int carrying = 0;
  for (const auto& c : p.cuts) {
    multi += c.tensors.size() > 1;
    bool any = false;
    for (const auto& t : c.tensors) any = any || !t.carries.empty();
    carrying += any;
  }
  std::snprintf(buf, sizeof buf,
                "model      %s\nsha256     %s\ninput      %s (%s)\nnodes      %d\n"
                "cuts       %zu valid (%zu carry one tensor, %d several; %d carry non-tensor values)\nmachine    %s, "
                "%s, %d thread(s), %s\n"
                "whole model %.2f ms (%s of %d after %d warm-up; segments timed in %s)\n\n",
                p.model_path.c_str(), p.model_hash.c_str(), InputSpecsToString(p.inputs).c_str(),
                FormatBytes(p.input_bytes).c_str(), p.num_nodes, p.cuts.size(), p.cuts.size() - multi, multi, carrying,
                p.machine.hostname.c_str(), p.machine.cpu.c_str(), p.machine.threads, p.machine.compute_library.c_str(),
                p.model_compute_s * 1e3, p.statistic.c_str(), p.repeats, p.warmup, p.timing.c_str());
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
