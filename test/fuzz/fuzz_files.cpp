// Fuzz target: each text file tandem reads, picked by the first byte: the
// cluster config, measured links, a worker config, a profile, a split
// manifest, a plan file, an authorized-keys file, a command's JSON config
// (serve --config: read into flags, which a command with flags of each kind
// serve has then parses).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config/cluster_config.h"
#include "common/config/measured_links.h"
#include "common/model/manifest.h"
#include "common/model/profile.h"
#include "common/net/curve_keys.h"
#include "common/util/json.h"
#include "dispatcher/json_flags.h"
#include "dispatcher/plan_file.h"
#include "worker/options.h"

using namespace tandem;

namespace {

template <typename T>
void ReadAs(const std::string& text) {
  auto doc = JsonDocument::Parse(text, "fuzz.json");
  if (!doc.ok()) return;
  T value;
  (void)doc->root().Read(&value);
}

// A subcommand with a flag of each kind serve's --config may set.
void ParseConfig(const std::string& text) {
  CLI::App app("fuzz");
  CLI::App* cmd = app.add_subcommand("serve");
  AddJsonConfigFlag(cmd, "settings");
  std::string model, listen, adapt;
  int max_queued = 64;
  double timeout = 30;
  bool verbose = false;
  std::vector<std::string> keys;
  cmd->add_option("--model,-m", model);
  cmd->add_option("--listen", listen);
  cmd->add_option("--max-queued", max_queued)->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--request-timeout", timeout)->check(CLI::Range(0.001, 86400.0));
  cmd->add_option("--adapt", adapt)->check(CLI::IsMember({"auto", "on", "off"}));
  cmd->add_option("--zmq-client-keys", keys);
  cmd->add_flag("--insecure", verbose);
  auto flags = JsonConfigFlags(*cmd, text, "serve.json");
  if (!flags.ok()) return;
  std::vector<std::string> args = {"serve"};
  args.insert(args.end(), flags->begin(), flags->end());
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError&) {
    // A clear error, as main() reports it.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0: (void)ParseClusterConfig(text, "cluster.json"); break;
    case 1: (void)ParseMeasuredLinks(text, "links.json"); break;
    case 2: ReadAs<WorkerOptions>(text); break;
    case 3: ReadAs<ModelProfile>(text); break;
    case 4: ReadAs<SplitManifest>(text); break;
    case 5: (void)ParsePlanFile(text, "plan.json", ""); break;
    case 6: (void)ParseAuthorizedKeys(text, "authorized_keys"); break;
    case 7: ParseConfig(text); break;
  }
  return 0;
}
