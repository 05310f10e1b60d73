#include "dispatcher/json_flags.h"

#include <nlohmann/json.hpp>

#include "common/util/files.h"

namespace tandem {

void AddJsonConfigFlag(CLI::App* cmd, const std::string& help) {
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--config", help)->type_name("FILE");
}

Result<std::vector<std::string>> JsonConfigFlags(const CLI::App& cmd, const std::string& text,
                                                 const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return Status::InvalidArgument(path + ": must hold one JSON object of settings");
  std::vector<std::string> flags;
  for (const auto& [key, value] : j.items()) {
    const std::string where = path + ": " + key;
    const CLI::Option* opt = key.empty() || key[0] == '-' ? nullptr : cmd.get_option_no_throw("--" + key);
    if (opt == nullptr || key == "config" || key == "help")
      return Status::InvalidArgument(where + ": not a setting of `" + cmd.get_name() +
                                     "` (the long flags of its --help, without their dashes)");
    std::vector<nlohmann::json> values;
    if (value.is_array())
      values.assign(value.begin(), value.end());
    else if (!value.is_null())
      values.push_back(value);
    for (const auto& v : values) {
      std::string text;
      if (v.is_string())
        text = v.get<std::string>();
      else if (v.is_boolean())
        text = v.get<bool>() ? "true" : "false";
      else if (v.is_number())
        text = v.dump();
      else
        return Status::InvalidArgument(where + ": takes a string, number or bool (or an array of them)");
      flags.push_back("--" + key + "=" + text);
    }
  }
  return flags;
}

namespace {

Result<std::vector<std::string>> FlagsFromFile(const CLI::App& cmd, const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxJsonConfigBytes));
  return JsonConfigFlags(cmd, text, path);
}

}  // namespace

Status ExpandJsonConfig(const CLI::App& app, std::vector<std::string>* args) {
  for (size_t i = 0; i < args->size(); ++i) {
    const CLI::App* cmd = nullptr;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      if (sub->get_name() == (*args)[i] && sub->get_option_no_throw("--config") != nullptr) cmd = sub;
    if (cmd == nullptr) continue;
    for (size_t k = i + 1; k < args->size(); ++k) {
      std::string path;
      size_t taken = 1;
      const std::string& a = (*args)[k];
      if (a == "--") break;
      if (a == "--config") {
        if (k + 1 >= args->size()) return Status::InvalidArgument("--config: give a JSON file");
        path = (*args)[k + 1];
        taken = 2;
      } else if (a.rfind("--config=", 0) == 0) {
        path = a.substr(9);
      } else {
        continue;
      }
      auto flags = FlagsFromFile(*cmd, path);
      if (!flags.ok()) return flags.status().WithContext("--config");
      args->erase(args->begin() + static_cast<std::ptrdiff_t>(k),
                  args->begin() + static_cast<std::ptrdiff_t>(k + taken));
      args->insert(args->begin() + static_cast<std::ptrdiff_t>(i + 1), flags->begin(), flags->end());
      return Status::OK();
    }
    return Status::OK();
  }
  return Status::OK();
}

}  // namespace tandem
