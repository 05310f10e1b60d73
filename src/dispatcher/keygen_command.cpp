// `tandem-dispatcher keygen`: the dispatcher's CurveZMQ key pair.
#include <cstdio>
#include <memory>

#include "common/net/curve_keys.h"
#include "dispatcher/command.h"

namespace tandem {
namespace {

struct KeygenOptions {
  std::string secret;       // secret key file to write (mode 0600)
  std::string public_file;  // public key file; empty: the secret's name + .pub
  bool if_missing = false;  // keep a secret key already there
};

Status RunKeygen(const KeygenOptions& o) {
  const std::string public_file = o.public_file.empty() ? o.secret + ".pub" : o.public_file;
  TANDEM_ASSIGN_OR_RETURN(CurveKeyPair keys, EnsureCurveKeyFiles(o.secret, public_file, o.if_missing));
  std::printf("%s  # %s\n", keys.public_key.c_str(), KeyFingerprint(keys.public_key).c_str());
  std::fprintf(stderr,
               "tandem-dispatcher: secret key in %s, public key in %s; name the secret key in the cluster config "
               "(dispatcher.secret_key) and add the public key to each worker's authorized_keys\n",
               o.secret.c_str(), public_file.c_str());
  return Status::OK();
}

}  // namespace

Subcommand AddKeygenCommand(CLI::App& app) {
  auto o = std::make_shared<KeygenOptions>();
  CLI::App* cmd = app.add_subcommand("keygen", "make the dispatcher's key pair (CurveZMQ) and print its public key");
  cmd->add_option("--secret", o->secret, "secret key file to write (mode 0600)")->required();
  cmd->add_option("--public", o->public_file, "public key file to write (default: the secret's name + .pub)");
  cmd->add_flag("--if-missing", o->if_missing, "keep a secret key already there (and write its public file)");
  return {cmd, [o] { return RunKeygen(*o); }};
}

}  // namespace tandem
