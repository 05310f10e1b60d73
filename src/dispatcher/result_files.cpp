#include "dispatcher/result_files.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/tensor/npy.h"
#include "common/util/files.h"

namespace tandem {

Status WriteOutputs(const std::string& dir, const std::string& name, const std::vector<HostTensor>& outputs,
                    const std::vector<std::string>& output_names) {
  const bool named = output_names.size() == outputs.size();
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (outputs[k].is_none()) continue;
    std::string element = named ? output_names[k] : (outputs.size() == 1 ? "" : std::to_string(k));
    for (char& c : element)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    const std::string file = dir + "/" + name + (element.empty() ? ".out.npy" : ".out." + element + ".npy");
    TANDEM_RETURN_IF_ERROR(WriteNpy(file, outputs[k]));
  }
  return Status::OK();
}

ResultFiles::~ResultFiles() {
  if (log_) std::fclose(log_);
}

Status ResultFiles::Open(const std::string& dir) {
  dir_ = dir;
  if (dir.empty()) return Status::OK();
  TANDEM_RETURN_IF_ERROR(MakeDirs(dir));
  log_path_ = dir + "/results.jsonl";
  log_ = std::fopen(log_path_.c_str(), "w");
  if (!log_) return Status::IOError(log_path_ + ": cannot create: " + std::strerror(errno));
  return Status::OK();
}

Status ResultFiles::Write(const Delivery& d, const std::string& name) {
  if (!log_) return Status::OK();
  if (d.ok) TANDEM_RETURN_IF_ERROR(WriteOutputs(dir_, name, d.outputs, names_));
  nlohmann::json j{{"index", d.index},
                   {"input", name},
                   {"ok", d.ok},
                   {"model_generation", d.generation},
                   {"model_sha256", d.model_sha256},
                   {"pipeline", d.pipeline},
                   {"attempts", d.attempts},
                   {"received_unix_s", d.received_unix_s}};
  if (!d.ok) j["error"] = d.error;
  const std::string line = j.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), log_) != line.size() || std::fflush(log_) != 0)
    return Status::IOError(log_path_ + ": write failed: " + std::strerror(errno));
  return Status::OK();
}

}  // namespace tandem
