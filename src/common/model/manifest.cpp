#include "common/model/manifest.h"

#include <nlohmann/json.hpp>

#include "common/model/profile.h"
#include "common/util/files.h"
#include "common/util/json.h"

namespace tandem {

using nlohmann::json;

void to_json(json& j, const StageManifest& s) {
  j = json{{"index", s.index},
           {"file", s.file},
           {"begin", s.begin},
           {"end", s.end},
           {"inputs", s.inputs},
           {"outputs", s.outputs},
           {"returns_tuple", s.returns_tuple},
           {"param_bytes", s.param_bytes},
           {"file_bytes", s.file_bytes},
           {"sha256", s.sha256}};
}
Status ReadJson(const JsonField& f, StageManifest* s) {
  TANDEM_RETURN_IF_ERROR(f.Require("index", &s->index));
  TANDEM_RETURN_IF_ERROR(f.Require("file", &s->file));
  TANDEM_RETURN_IF_ERROR(f.Require("begin", &s->begin));
  TANDEM_RETURN_IF_ERROR(f.Require("end", &s->end));
  TANDEM_RETURN_IF_ERROR(f.Require("inputs", &s->inputs));
  TANDEM_RETURN_IF_ERROR(f.Require("outputs", &s->outputs));
  TANDEM_RETURN_IF_ERROR(f.Require("returns_tuple", &s->returns_tuple));
  TANDEM_RETURN_IF_ERROR(f.Require("param_bytes", &s->param_bytes));
  TANDEM_RETURN_IF_ERROR(f.Require("file_bytes", &s->file_bytes));
  return f.Require("sha256", &s->sha256);
}
void to_json(json& j, const SplitManifest& m) {
  j = json{{"format", "tandem-split"},
           {"format_version", SplitManifest::kFormatVersion},
           {"model", {{"path", m.model_path}, {"sha256", m.model_hash}, {"num_nodes", m.num_nodes}}},
           {"cuts", m.cuts},
           {"stages", m.stages},
           {"verified", {{"max_abs_diff", m.max_abs_diff}, {"max_abs_ref", m.max_abs_ref}}}};
  WriteInputs(j, m.inputs);
}
Status ReadJson(const JsonField& f, SplitManifest* m) {
  if (!f.is_object()) return f.Error("must be a JSON object");
  std::string format;
  TANDEM_RETURN_IF_ERROR(f.Require("format", &format));
  if (format != "tandem-split") return f["format"].Error("not a tandem split manifest (\"tandem-split\")");
  int version = 0;
  TANDEM_RETURN_IF_ERROR(f.Require("format_version", &version));
  if (version != SplitManifest::kFormatVersion)
    return f["format_version"].Error(std::to_string(version) + " is not supported");
  if (!f.Has("model")) return f["model"].Error("required");
  const JsonField model = f["model"];
  TANDEM_RETURN_IF_ERROR(model.Require("path", &m->model_path));
  TANDEM_RETURN_IF_ERROR(model.Require("sha256", &m->model_hash));
  TANDEM_RETURN_IF_ERROR(model.Require("num_nodes", &m->num_nodes));
  TANDEM_RETURN_IF_ERROR(ReadInputs(f, &m->inputs));
  TANDEM_RETURN_IF_ERROR(f.Require("cuts", &m->cuts));
  TANDEM_RETURN_IF_ERROR(f.Require("stages", &m->stages));
  if (f.Has("verified")) {
    TANDEM_RETURN_IF_ERROR(f["verified"].Get("max_abs_diff", &m->max_abs_diff));
    TANDEM_RETURN_IF_ERROR(f["verified"].Get("max_abs_ref", &m->max_abs_ref));
  }
  if (m->stages.size() != m->cuts.size() + 1)
    return f["stages"].Error("expected " + std::to_string(m->cuts.size() + 1) + ", found " +
                             std::to_string(m->stages.size()));
  return Status::OK();
}

Result<SplitManifest> ReadManifest(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(JsonDocument doc, JsonDocument::Load(path, 64 << 20));
  SplitManifest m;
  TANDEM_RETURN_IF_ERROR(doc.root().Read(&m));
  return m;
}

Status WriteManifest(const std::string& path, const SplitManifest& m) {
  return WriteFileAtomic(path, nlohmann::json(m).dump(1) + "\n");
}

}  // namespace tandem
