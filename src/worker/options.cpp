#include "worker/options.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/file_util.h"
#include "common/transport.h"

namespace tandem {

using nlohmann::json;

void from_json(const json& j, WorkerOptions& o) {
  static const std::set<std::string> known = {"listen",    "data_listen",       "name",        "threads",
                                              "memory_mb", "max_message_mb",    "queue_depth", "verbose",
                                              "max_activation_mb"};
  if (!j.is_object()) throw std::invalid_argument("the top level must be an object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) throw std::invalid_argument(it.key() + ": unknown field");
  auto get = [&](const char* key, auto& field) {
    if (!j.contains(key)) return;
    using T = std::decay_t<decltype(field)>;
    if (std::is_unsigned<T>::value && !j.at(key).is_number_unsigned())
      throw std::invalid_argument(std::string(key) + ": must be a non-negative integer");
    try {
      j.at(key).get_to(field);
    } catch (const json::exception&) {
      throw std::invalid_argument(std::string(key) + ": wrong type");
    }
  };
  get("listen", o.listen);
  get("data_listen", o.data_listen);
  get("name", o.name);
  get("threads", o.threads);
  get("memory_mb", o.memory_mb);
  get("max_message_mb", o.max_message_mb);
  get("max_activation_mb", o.max_activation_mb);
  get("queue_depth", o.queue_depth);
  get("verbose", o.verbose);
}

Result<WorkerOptions> LoadWorkerOptions(const std::string& path, WorkerOptions base) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1 << 20));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(path + ": not valid JSON: " + e.what());
  }
  try {
    j.get_to(base);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": " + e.what());
  }
  return base;
}

Status FinalizeWorkerOptions(WorkerOptions* o) {
  auto parsed = ParseTcpEndpoint(o->listen);
  if (!parsed.ok()) return parsed.status().WithContext("listen");
  const TcpEndpoint listen = parsed.value();
  if (o->data_listen.empty()) {
    const std::string port = listen.port == "*" ? "*" : std::to_string(std::stoi(listen.port) + 1);
    o->data_listen = "tcp://" + listen.host + ":" + port;
  }
  TANDEM_RETURN_IF_ERROR(ParseTcpEndpoint(o->data_listen).status().WithContext("data_listen"));
  if (o->name.empty()) {
    char host[256] = {0};
    o->name = ::gethostname(host, sizeof host - 1) == 0 ? host : "worker";
  }
  if (o->threads < 0 || o->threads > 1024) return Status::InvalidArgument("threads: must be in 0..1024");
  if (o->queue_depth < 1 || o->queue_depth > 64) return Status::InvalidArgument("queue_depth: must be in 1..64");
  if (o->max_message_mb < 1 || o->max_message_mb > 4096)
    return Status::InvalidArgument("max_message_mb: must be in 1..4096");
  if (o->max_activation_mb < 1 || o->max_activation_mb > 4096)
    return Status::InvalidArgument("max_activation_mb: must be in 1..4096");
  return Status::OK();
}

}  // namespace tandem
