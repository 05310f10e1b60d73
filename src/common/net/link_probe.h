// Measuring one network link with PROBE messages (protocol.h): the round
// trip of an empty probe, and the rate at which a probe's payload crosses
// each way. Used by the dispatcher (its own links to the workers) and by a
// worker asked to measure its links to its peers (MEASURE_LINKS).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <zmq.hpp>

#include "common/net/zap.h"
#include "common/util/status.h"

namespace tandem {

struct ProbeOptions {
  uint32_t probe_bytes = 1u << 20;  // payload of a timed probe, 1..kMaxProbeBytes. Default 1 MiB
  uint32_t rounds = 3;              // timed probes of each kind; the fastest counts. Default 3
  double timeout_s = 10;            // for each probe's answer (and to connect). Default 10 s
};

struct LinkEstimate {
  double rtt_s = 0;            // least round trip of an empty probe
  double out_bytes_per_s = 0;  // this end -> the peer
  double in_bytes_per_s = 0;   // the peer -> this end
  double latency_s() const { return rtt_s / 2; }
};

// Connects a fresh DEALER socket to `endpoint` (a worker's control
// endpoint) and times, after one untimed probe of each kind (a new TCP
// connection's window has to grow): `rounds` empty probes, `rounds` probes
// carrying probe_bytes out, and `rounds` asking for probe_bytes back. A
// transfer's time is its fastest round minus the fastest empty round trip.
// Stops early (kUnavailable) once *stop is true. Errors name the endpoint:
// kTimeout (no answer), the peer's refusal, kCorruption (a wrong answer).
// With `keys`, the probes go over CurveZMQ to the peer whose public key is
// `server_key`.
Result<LinkEstimate> ProbeLink(zmq::context_t& ctx, const std::string& endpoint, const ProbeOptions& options,
                               const std::atomic<bool>* stop = nullptr, const LinkKeys& keys = {},
                               const std::string& server_key = "");

}  // namespace tandem
