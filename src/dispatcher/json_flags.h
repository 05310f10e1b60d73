// A command's flags from a JSON file (`serve --config FILE`): one object
// whose keys are the command's long flags without their dashes and whose
// values are what the flag takes (a string, number or bool; an array for a
// flag given several times). Flags on the command line win over the file.
//
//   {"model": "/var/lib/tandem/resnet50.pt", "input-shape": "1,3,224,224",
//    "listen": "0.0.0.0:8000", "token-file": "/etc/tandem/token", "max-queued": 128}
//
// How: the file's settings become flags placed before the command line's,
// and a later flag replaces an earlier one (the command takes the last of a
// flag given twice). Errors name the file and the key.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace tandem {

// Adds --config FILE to `cmd` (for --help; ExpandJsonConfig reads it) and
// makes every flag added after it take its last value. Call it first.
void AddJsonConfigFlag(CLI::App* cmd, const std::string& help);

// `args` (argv without the program name): where a subcommand of `app` that
// has --config is given one, replaces `--config FILE` (or --config=FILE) by
// the file's settings as flags right after the subcommand's name. Errors:
// the file cannot be read, is not one JSON object, or has a key that is not
// a flag of the subcommand or a value that is not a string, number, bool or
// array of them (the message names the file and key).
Status ExpandJsonConfig(const CLI::App& app, std::vector<std::string>* args);

// The largest config file read.
constexpr size_t kMaxJsonConfigBytes = 1 << 20;

// The flags `text` (a config file's contents, named `path` in errors) sets
// for subcommand `cmd`, as "--KEY=VALUE" in the file's order; errors as
// ExpandJsonConfig's.
Result<std::vector<std::string>> JsonConfigFlags(const CLI::App& cmd, const std::string& text, const std::string& path);

}  // namespace tandem
