#include "dispatcher/command.h"

#include "common/net/codec.h"
#include "common/plan/planner.h"

namespace tandem {

CLI::Validator CodecValidator(bool allow_none) {
  return CLI::Validator(
      [allow_none](std::string& text) -> std::string {
        if (allow_none && text == "none") return "";
        auto c = ParseCodec(text);
        return c.ok() ? "" : c.status().message();
      },
      allow_none ? "CODEC|none" : "CODEC");
}

CLI::Validator PlannerValidator() {
  return CLI::Validator(
      [](std::string& name) -> std::string {
        auto p = MakePlanner(name);
        return p.ok() ? "" : p.status().message();
      },
      "ALGORITHM");
}

}  // namespace tandem
