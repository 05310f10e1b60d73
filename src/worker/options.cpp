#include "worker/options.h"

#include <unistd.h>

#include "common/net/transport.h"
#include "common/util/device.h"
#include "common/util/json.h"

namespace tandem {

void AddWorkerFlags(CLI::App& app, WorkerOptions* o) {
  app.add_option("--listen,-l", o->listen, "control endpoint the dispatcher connects to")->capture_default_str();
  app.add_option("--data-listen", o->data_listen, "data endpoint (default: listen host, listen port + 1)");
  app.add_option("--name,-n", o->name, "name in logs and status (default: host name)");
  app.add_option("--threads,-t", o->threads,
                 "LibTorch compute threads (0: one per core this process may use, by its affinity and cgroup)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("--memory-mb", o->memory_mb,
                 "refuse stages needing more than this (-1: 80% of the memory available at start; 0: no budget)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{-1}, int64_t{1} << 40));
  app.add_option("--max-message-mb", o->max_message_mb,
                 "largest control message accepted (a stage arrives in 1 MiB pieces; a link probe is up to 16 MiB)")
      ->capture_default_str()
      ->check(CLI::Range(17, 4096));
  app.add_option("--max-activation-mb", o->max_activation_mb, "largest activation message accepted")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--queue-depth", o->queue_depth, "requests buffered between receive, compute and send")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_flag("--verbose,-v", o->verbose, "log debug detail");
  app.add_option("--secret-key", o->secret_key, "this worker's secret key file (tandem-worker keygen writes it)");
  app.add_option("--authorized-keys", o->authorized_keys,
                 "file of the dispatchers' public keys this worker obeys, one per line (reloaded on SIGHUP)");
  app.add_flag("--insecure", o->insecure,
               "serve a non-loopback address without keys: anyone who can reach it can deploy code here");
  app.add_option("--device-root", o->device_root, "read /proc and /sys under this directory (for tests)")->group("");
  app.add_option("--key-listen", o->key_listen,
                 "with keys: where to tell anyone who asks this worker's public key (default: listen port + 2; "
                 "none: nowhere)");
}

Status ReadJson(const JsonField& j, WorkerOptions* o) {
  TANDEM_RETURN_IF_ERROR(
      j.CheckObject({"listen", "data_listen", "name", "threads", "memory_mb", "max_message_mb", "max_activation_mb",
                     "queue_depth", "verbose", "secret_key", "authorized_keys", "insecure", "key_listen"}));
  TANDEM_RETURN_IF_ERROR(j.Get("listen", &o->listen));
  TANDEM_RETURN_IF_ERROR(j.Get("data_listen", &o->data_listen));
  TANDEM_RETURN_IF_ERROR(j.Get("name", &o->name));
  TANDEM_RETURN_IF_ERROR(j.Get("threads", &o->threads));
  TANDEM_RETURN_IF_ERROR(j.Get("memory_mb", &o->memory_mb));
  TANDEM_RETURN_IF_ERROR(j.Get("max_message_mb", &o->max_message_mb));
  TANDEM_RETURN_IF_ERROR(j.Get("max_activation_mb", &o->max_activation_mb));
  TANDEM_RETURN_IF_ERROR(j.Get("queue_depth", &o->queue_depth));
  TANDEM_RETURN_IF_ERROR(j.Get("verbose", &o->verbose));
  TANDEM_RETURN_IF_ERROR(j.Get("secret_key", &o->secret_key));
  TANDEM_RETURN_IF_ERROR(j.Get("authorized_keys", &o->authorized_keys));
  TANDEM_RETURN_IF_ERROR(j.Get("insecure", &o->insecure));
  return j.Get("key_listen", &o->key_listen);
}

Status LoadWorkerOptions(const std::string& path, WorkerOptions* options) {
  TANDEM_ASSIGN_OR_RETURN(JsonDocument doc, JsonDocument::Load(path, 1 << 20));
  return ReadJson(doc.root(), options);
}

Status FinalizeWorkerOptions(WorkerOptions* o) {
  auto parsed = ParseTcpEndpoint(o->listen);
  if (!parsed.ok()) return parsed.status().WithContext("listen");
  const TcpEndpoint listen = parsed.value();
  auto beside = [&](int offset) {  // the listen host, the listen port + offset
    const std::string port = listen.port == "*" ? "*" : std::to_string(std::stoi(listen.port) + offset);
    return "tcp://" + listen.host + ":" + port;
  };
  if (o->data_listen.empty()) o->data_listen = beside(1);
  auto data = ParseTcpEndpoint(o->data_listen);
  if (!data.ok()) return data.status().WithContext("data_listen");
  const bool keys = !o->secret_key.empty() || !o->authorized_keys.empty();
  if (keys && (o->secret_key.empty() || o->authorized_keys.empty()))
    return Status::InvalidArgument("secret_key and authorized_keys go together: give both, or neither");
  if (keys && o->key_listen.empty()) o->key_listen = beside(2);
  if (keys && o->key_listen != "none")
    TANDEM_RETURN_IF_ERROR(ParseTcpEndpoint(o->key_listen).status().WithContext("key_listen"));
  if (!keys && !o->insecure) {
    for (const auto& [field, host] : {std::make_pair("listen", listen.host), std::make_pair("data_listen", data->host)})
      if (!IsLoopbackHost(host))
        return Status::InvalidArgument(std::string(field) + ": '" + host +
                                       "' is not this machine's loopback, and a worker without keys "
                                       "(secret_key, authorized_keys: docs/security.md) serves loopback only; "
                                       "give its keys, or --insecure to let anyone who reaches it deploy code");
  }
  if (o->name.empty()) {
    char host[256] = {0};
    o->name = ::gethostname(host, sizeof host - 1) == 0 ? host : "worker";
  }
  if (o->threads < 0 || o->threads > 1024) return Status::InvalidArgument("threads: must be in 0..1024");
  if (o->queue_depth < 1 || o->queue_depth > 64) return Status::InvalidArgument("queue_depth: must be in 1..64");
  if (o->max_message_mb < 17 || o->max_message_mb > 4096)
    return Status::InvalidArgument("max_message_mb: must be in 17..4096 (a link probe is up to 16 MiB)");
  if (o->max_activation_mb < 1 || o->max_activation_mb > 4096)
    return Status::InvalidArgument("max_activation_mb: must be in 1..4096");
  if (o->memory_mb < -1 || o->memory_mb > (int64_t{1} << 40))
    return Status::InvalidArgument("memory_mb: must be -1 (from the device), 0 (no budget) or a size in MiB");
  return Status::OK();
}

void ApplyDeviceDefaults(WorkerOptions* o) {
  if (o->threads == 0) o->threads = UsableCores(o->device_root);
  if (o->memory_mb < 0) o->memory_mb = static_cast<int64_t>(AvailableMemory(o->device_root) / 10 * 8 >> 20);
}

}  // namespace tandem
