#include "worker/options.h"

#include <unistd.h>

#include "common/net/transport.h"
#include "common/util/json.h"

namespace tandem {

void AddWorkerFlags(CLI::App& app, WorkerOptions* o) {
  app.add_option("--listen,-l", o->listen, "control endpoint the dispatcher connects to")->capture_default_str();
  app.add_option("--data-listen", o->data_listen, "data endpoint (default: listen host, listen port + 1)");
  app.add_option("--name,-n", o->name, "name in logs and status (default: host name)");
  app.add_option("--threads,-t", o->threads, "LibTorch compute threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("--memory-mb", o->memory_mb, "refuse stages needing more than this (0: no budget)")
      ->capture_default_str();
  app.add_option("--max-message-mb", o->max_message_mb, "largest control message (deployed stage) accepted")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-activation-mb", o->max_activation_mb, "largest activation message accepted")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--queue-depth", o->queue_depth, "requests buffered between receive, compute and send")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_flag("--verbose,-v", o->verbose, "log debug detail");
}

Status ReadJson(const JsonField& j, WorkerOptions* o) {
  TANDEM_RETURN_IF_ERROR(j.CheckObject({"listen", "data_listen", "name", "threads", "memory_mb", "max_message_mb",
                                        "max_activation_mb", "queue_depth", "verbose"}));
  TANDEM_RETURN_IF_ERROR(j.Get("listen", &o->listen));
  TANDEM_RETURN_IF_ERROR(j.Get("data_listen", &o->data_listen));
  TANDEM_RETURN_IF_ERROR(j.Get("name", &o->name));
  TANDEM_RETURN_IF_ERROR(j.Get("threads", &o->threads));
  TANDEM_RETURN_IF_ERROR(j.Get("memory_mb", &o->memory_mb));
  TANDEM_RETURN_IF_ERROR(j.Get("max_message_mb", &o->max_message_mb));
  TANDEM_RETURN_IF_ERROR(j.Get("max_activation_mb", &o->max_activation_mb));
  TANDEM_RETURN_IF_ERROR(j.Get("queue_depth", &o->queue_depth));
  return j.Get("verbose", &o->verbose);
}

Status LoadWorkerOptions(const std::string& path, WorkerOptions* options) {
  TANDEM_ASSIGN_OR_RETURN(JsonDocument doc, JsonDocument::Load(path, 1 << 20));
  return ReadJson(doc.root(), options);
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
