// Fuzz target: each text file tandem reads, picked by the first byte: the
// cluster config, measured links, a worker config, a profile, a split
// manifest, a plan file, an authorized-keys file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/config/cluster_config.h"
#include "common/config/measured_links.h"
#include "common/model/manifest.h"
#include "common/model/profile.h"
#include "common/net/curve_keys.h"
#include "common/util/json.h"
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0: (void)ParseClusterConfig(text, "cluster.json"); break;
    case 1: (void)ParseMeasuredLinks(text, "links.json"); break;
    case 2: ReadAs<WorkerOptions>(text); break;
    case 3: ReadAs<ModelProfile>(text); break;
    case 4: ReadAs<SplitManifest>(text); break;
    case 5: (void)ParsePlanFile(text, "plan.json", ""); break;
    case 6: (void)ParseAuthorizedKeys(text, "authorized_keys"); break;
  }
  return 0;
}
