// A stage archive arriving in DEPLOY_CHUNK pieces after its DEPLOY (protocol
// minor 6). The pieces must come from the DEPLOY's sender, carry its id, and
// follow each other with no gap or overlap up to exactly its upload_bytes.
// The buffer is reserved once, after the worker's memory budget accepted the
// stage, so the archive is held once, whatever its size.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/net/protocol.h"
#include "common/util/status.h"

namespace tandem {

struct StageUpload {
  using Clock = std::chrono::steady_clock;
  // A piece later than this after the previous one means the sender is gone:
  // the upload is dropped (a 1 MiB piece takes 8 s at 1 Mbit/s).
  static constexpr double kIdleLimitS = 60;

  // Throws std::bad_alloc when the archive's buffer cannot be reserved.
  StageUpload(uint64_t id, std::string identity, DeployBody body, uint64_t need, Clock::time_point t0);

  // True when a DEPLOY_CHUNK with this id from this sender belongs here.
  bool Owns(uint64_t chunk_id, const std::string& sender) const { return chunk_id == id && sender == identity; }
  // Appends one piece; an error says why the upload cannot go on.
  Status Add(const DeployChunk& piece);
  bool complete() const { return body.stage.size() == body.upload_bytes; }
  double idle_s() const { return std::chrono::duration<double>(Clock::now() - last_piece).count(); }

  const uint64_t id;
  const std::string identity;  // the sender's ROUTER identity, for the reply
  DeployBody body;             // body.stage fills up to body.upload_bytes
  const uint64_t need;         // the memory the deployment was granted
  const Clock::time_point t0;  // when the DEPLOY came
  Clock::time_point last_piece;
};

}  // namespace tandem
