// The dispatcher's subcommands. Each takes its options struct (bound to CLI
// flags in main.cpp) and returns a Status; main() maps it to an exit code.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace tandem {

struct ModelOptions {
  std::string model;        // TorchScript file (required)
  std::string input_shape;  // "1,3,224,224" (required)
  // Intra-op threads for LibTorch; 0 means one per core. Default 0.
  int threads = 0;
};

struct ProfileCommandOptions {
  ModelOptions model;
  int warmup = 3;    // untimed runs per segment
  int repeats = 10;  // timed runs per segment; the median is reported
  std::string out;   // write the profile as JSON here (optional)
};

struct SplitCommandOptions {
  ModelOptions model;
  int stages = 0;            // balance measured compute over this many stages
  std::string cuts;          // or: explicit cut positions "i,j,..."
  std::string plan;          // or: a plan file with "cuts"
  std::string out;           // output directory (required)
  int warmup = 3;            // as in profile, for --stages
  int repeats = 10;
};

Status RunProfileCommand(const ProfileCommandOptions& options);
Status RunSplitCommand(const SplitCommandOptions& options);

}  // namespace tandem
