// Fuzz target: an ACTIVATION message as a worker's data socket or the
// dispatcher's results socket receives it, decoded within a 16 MiB bound.
#include <cstddef>
#include <cstdint>

#include "common/net/activation.h"
#include "common/net/protocol.h"

using namespace tandem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto h = DecodeHeader(data, size);
  if (!h.ok() || h->type != MessageType::kActivation) return 0;
  Reader r(data + kHeaderSize, size - kHeaderSize);
  auto ah = DecodeActivationHeader(r);
  if (!ah.ok()) return 0;
  (void)DecodeActivationPayload(r, ah.value(), 16 << 20);
  return 0;
}
