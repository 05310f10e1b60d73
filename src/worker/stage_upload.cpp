#include "worker/stage_upload.h"

#include <utility>

namespace tandem {

StageUpload::StageUpload(uint64_t id_, std::string identity_, DeployBody body_, uint64_t need_, Clock::time_point t0_)
    : id(id_), identity(std::move(identity_)), body(std::move(body_)), need(need_), t0(t0_), last_piece(t0_) {
  body.stage.clear();
  body.stage.reserve(static_cast<size_t>(body.upload_bytes));
}

Status StageUpload::Add(const DeployChunk& piece) {
  const uint64_t have = body.stage.size();
  if (piece.offset != have || piece.bytes.size() > body.upload_bytes - have)
    return Status::Corruption("DEPLOY_CHUNK of " + std::to_string(piece.bytes.size()) + " bytes at offset " +
                              std::to_string(piece.offset) + " does not follow the " + std::to_string(have) +
                              " bytes received of " + std::to_string(body.upload_bytes));
  body.stage.append(piece.bytes.data(), piece.bytes.size());
  last_piece = Clock::now();
  return Status::OK();
}

}  // namespace tandem
