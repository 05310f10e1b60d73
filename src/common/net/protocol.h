// tandem's wire protocol: the one place that defines what crosses the network.
//
// Every message is a single ZeroMQ frame (on the control ROUTER socket the
// routing identity frame comes first and is not part of the message):
//
//   +--------+-------+-------+--------+--------+----------+-----------+
//   | magic  | major | minor |  type  | flags  |    id    | body len  |  body ...
//   | "TNDM" |  u8   |  u8   |  u16   |  u32   |   u64    |    u32    |
//   +--------+-------+-------+--------+--------+----------+-----------+
//    0        4       5       6        8        12         20          24
//
// All integers are little-endian and fixed-width; nothing is memcpy'd from a
// struct. `id` is the request id on the data path and a correlation id on
// the control path (a reply carries the id of its request). `body len` must
// equal the frame size minus 24. A peer speaking another major version is
// refused with kError (code kVersionMismatch); minor versions only add.
//
// Every size a peer controls is bounded (kMax* below, and ZMQ_MAXMSGSIZE on
// every socket that receives). A malformed message is refused or dropped and
// counted; it never stops a daemon. See docs/protocol.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/codec.h"
#include "common/net/wire_coding.h"
#include "common/util/status.h"

namespace tandem {

constexpr uint8_t kProtocolMajor = 1;
// 1: PONG and UNDEPLOY bodies, DEPLOY flags and stage reuse.
// 2: receive and send times in the ACTIVATION timings trailer.
// 3: PROBE and MEASURE_LINKS (link measurement).
// 4: the worker's queue depth in HELLO_ACK.
// 5: CurveZMQ keys: HELLO names the cluster's worker keys, HELLO_ACK the
//    worker's own, DEPLOY the previous and next hop's, MEASURE_LINKS each
//    peer's; KEY_REQUEST/KEY_REPLY on a worker's key announce socket.
// 6: DEPLOY_CHUNK (a stage archive in pieces).
// 7: STATUS_REPLY counts refusals apart from drops (`refused`).
// 8: HELLO_ACK, PONG and STATUS_REPLY carry the CPU temperature and
//    throttling.
// 9: INFER_REQUEST and INFER_REPLY (serve's ZeroMQ clients, inference.h).
// 10: HELLO_ACK says which host the worker runs on and its CPUs (workers on
//     one host share its cores).
constexpr uint8_t kProtocolMinor = 10;
constexpr size_t kHeaderSize = 24;

// Bounds on peer-controlled sizes.
constexpr size_t kMaxNameLen = 256;      // worker names, model ids, hashes
constexpr size_t kMaxEndpointLen = 512;  // ZeroMQ endpoints
constexpr size_t kMaxTextLen = 4096;     // error messages
constexpr uint32_t kMaxTensorsPerMessage = 256;
constexpr uint32_t kMaxStages = 256;
constexpr uint32_t kMaxCpus = 65536;  // CPUs a HELLO_ACK may report

// Message types. The numbers are the wire format: do not renumber; add new
// types with new numbers.
enum class MessageType : uint16_t {
  // control: dispatcher -> worker requests, worker -> dispatcher replies
  kHello = 1,
  kHelloAck = 2,
  kDeploy = 3,
  kDeployAck = 4,
  kStatusRequest = 5,
  kStatusReply = 6,
  kPing = 7,
  kPong = 8,
  kError = 9,
  kUndeploy = 10,
  kUndeployAck = 11,
  // link measurement (minor 3): PROBE from a dispatcher or another worker,
  // MEASURE_LINKS from the dispatcher
  kProbe = 12,
  kProbeReply = 13,
  kMeasureLinks = 14,
  kLinksReport = 15,
  // key announce (minor 5): any client asks a worker's plain announce socket
  // for its public key (how a key that differs from the pinned one is named)
  kKeyRequest = 16,
  kKeyReply = 17,
  // a stage archive in pieces after its DEPLOY (minor 6)
  kDeployChunk = 18,
  // data: along the pipeline, dispatcher -> stage 0 -> ... -> dispatcher
  kActivation = 20,
  kRequestFailed = 21,
  // serve's clients (minor 9): a client -> the dispatcher, and its answer
  // (or ERROR); bodies in inference.h
  kInferRequest = 22,
  kInferReply = 23,
};

const char* MessageTypeName(MessageType t);

struct Header {
  uint8_t major = kProtocolMajor;
  uint8_t minor = kProtocolMinor;
  MessageType type = MessageType::kPing;
  uint32_t flags = 0;
  uint64_t id = 0;
  uint32_t body_len = 0;
};

// Builds a whole message: header then body.
std::string EncodeMessage(MessageType type, uint64_t id, const std::string& body);
// For large messages built in place: StartMessage() returns a buffer holding a
// header placeholder; append the body to it, then FinishMessage fills in the
// header. Saves copying a body of megabytes.
std::string StartMessage();
void FinishMessage(MessageType type, uint64_t id, std::string* message);
// Checks magic, major version, known type and that body_len matches `size`.
// Errors: kCorruption (malformed), kVersionMismatch (another major version).
Result<Header> DecodeHeader(const void* data, size_t size);

// ---- control bodies ----------------------------------------------------

enum class PeerRole : uint8_t { kDispatcher = 1, kWorker = 2 };

// A CurveZMQ public key on the wire: str of 40 Z85 characters, or empty
// (none: insecure mode).

struct HelloBody {
  PeerRole role = PeerRole::kDispatcher;
  std::string name;
  // Minor 5: the public keys of the cluster's workers: the peers this
  // worker may be named in a DEPLOY and may accept PROBEs from. At most
  // kMaxLinkPeers.
  std::vector<std::string> peer_keys;
  std::string Encode() const;
  static Result<HelloBody> Decode(Reader& r);
};

struct HelloAckBody {
  std::string name;                // the worker's name
  std::string software;            // "tandem 0.1.0"
  uint16_t data_port = 0;          // where the worker's data socket listens
  uint64_t memory_budget = 0;      // bytes; 0 = no budget
  uint32_t threads = 0;            // compute threads
  uint64_t max_message_bytes = 0;  // largest control message it accepts (a DEPLOY must fit)
  // Requests it buffers per queue (its memory per stage depends on it,
  // plan/worker_memory.h). Minor 4; 0 from an older worker, which ran at the
  // default depth.
  uint32_t queue_depth = 0;
  // Minor 5: the worker's public key; empty when it runs without keys.
  std::string public_key;
  // Minor 8, as in PONG: CPU temperature (< 0: unknown) and throttling.
  double cpu_temp_c = -1;
  uint32_t throttle_flags = 0;
  // Minor 10: the host (device.h HostId; "" unknown), the CPUs this worker
  // may use (affinity and cgroup quota, possibly a fraction; 0 unknown) and
  // the host's online CPUs (0 unknown). Workers of one host share its cores.
  std::string host_id;
  double cpus = 0;
  uint32_t host_cores = 0;
  std::string Encode() const;
  static Result<HelloAckBody> Decode(Reader& r);
};

// Limits of a deploy message's stage payload.
constexpr uint64_t kMaxStageBytes = 4ull << 30;

struct DeployBody {
  std::string model_id;        // the model's SHA-256
  uint32_t model_version = 0;  // increases with every new deployment of a model
  uint32_t stage_index = 0;
  uint32_t num_stages = 1;
  std::string next_hop;           // endpoint this stage pushes its outputs to
  CodecSpec codec;                // how this stage encodes its outputs
  uint32_t num_inputs = 1;        // tensors each activation must carry
  uint64_t activation_bytes = 0;  // input + output bytes of one request
  std::string stage_sha256;
  // The TorchScript stage archive. Empty: reuse the stage with this SHA-256
  // that the worker already holds (NOT_FOUND when it holds none).
  std::string stage;
  // Decode(r, /*copy_stage=*/false) leaves `stage` empty and points this at
  // the archive inside the decoded buffer instead, which must outlive it
  // (copying hundreds of MB takes a slow device seconds).
  std::string_view stage_view;
  // Keep the worker's other deployments running beside this one (a model
  // update); otherwise this one replaces them all. Minor 1; absent: replace.
  bool beside = false;
  // Minor 5, with keys: the public key of the sender this stage's data
  // socket accepts (the previous stage's worker, or the dispatcher for stage
  // 0), and of the next hop it connects to (the next worker, or the
  // dispatcher's results socket). Empty: insecure mode.
  std::string prev_key;
  std::string next_key;
  // Minor 6: the archive is not in this message but follows in DEPLOY_CHUNK
  // messages (same id, in order) totalling this many bytes; `stage` is then
  // empty. 0: the archive, if any, is inline. Sent in pieces, a large stage
  // never makes one huge message: the receiver holds the stage once (not
  // also a ciphertext copy), checks its memory budget before any of it
  // arrives, and goes on answering heartbeats between pieces.
  uint64_t upload_bytes = 0;
  std::string Encode() const;
  static Result<DeployBody> Decode(Reader& r, bool copy_stage = true);
  // The archive: `stage`, or `stage_view` when decoded without a copy.
  std::string_view archive() const { return stage.empty() ? stage_view : std::string_view(stage); }
};

// UNDEPLOY: stop one deployment, or all of them (version 0, or an empty
// body as in minor 0).
struct UndeployBody {
  uint32_t model_version = 0;
  std::string Encode() const;
  static Result<UndeployBody> Decode(Reader& r);
};

// PONG: the worker's answer to a heartbeat. `instance` is drawn at random
// when the worker process starts, so a restarted worker (which has lost its
// deployments) is told apart from one that only missed some heartbeats.
// Minor 0 sent an empty PONG: instance 0.
struct PongBody {
  uint64_t instance = 0;
  uint32_t deployments = 0;  // stages it runs now
  // Minor 8 (before it: unknown): the CPU's temperature in degrees C (< 0:
  // unknown) and ThrottleFlags (common/util/device.h; 0: not reported).
  double cpu_temp_c = -1;
  uint32_t throttle_flags = 0;
  std::string Encode() const;
  static Result<PongBody> Decode(Reader& r);
};

struct DeployAckBody {
  Status::Code code = Status::Code::kOk;
  std::string message;
  uint64_t param_bytes = 0;
  double load_seconds = 0;
  std::string Encode() const;
  static Result<DeployAckBody> Decode(Reader& r);
};

enum class WorkerState : uint8_t { kIdle = 0, kReady = 1, kError = 2 };

struct StatusBody {
  std::string name;
  WorkerState state = WorkerState::kIdle;
  std::string model_id;
  uint32_t model_version = 0;
  uint32_t stage_index = 0;
  uint32_t num_stages = 0;
  // dropped: data messages malformed, stale (another version or stage) or
  // over a limit. refused (minor 7; before it, counted in dropped):
  // connections whose handshake failed or was not authorized, control
  // messages malformed or not allowed from their sender, data messages from
  // a peer not authorized to send them.
  uint64_t received = 0, computed = 0, sent = 0, failed = 0, dropped = 0, refused = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  double cpu_temp_c = -1;       // minor 8, as in PONG
  uint32_t throttle_flags = 0;  // minor 8, as in PONG
  double compute_s = 0;         // mean compute time over recent requests
  double queue_s = 0;           // mean wait before compute over recent requests
  double uptime_s = 0;
  std::string last_error;
  std::string Encode() const;
  static Result<StatusBody> Decode(Reader& r);
};

struct ErrorBody {
  Status::Code code = Status::Code::kInternal;
  std::string message;
  std::string Encode() const;
  static Result<ErrorBody> Decode(Reader& r);
  Status ToStatus() const;
};

// DEPLOY_CHUNK (minor 6): u64 offset, then the bytes of the archive from
// that offset (the rest of the body, at most kMaxDeployChunkBytes). Its
// header id is its DEPLOY's. No reply: the DEPLOY_ACK of the DEPLOY answers
// when the last piece is in (or at once, refusing the DEPLOY; pieces of a
// refused or unknown upload are dropped).
constexpr size_t kDeployChunkBytes = 1u << 20;      // what a dispatcher sends
constexpr size_t kMaxDeployChunkBytes = 16u << 20;  // what a worker accepts
struct DeployChunk {
  uint64_t offset = 0;
  std::string_view bytes;  // points into the decoded buffer
};
std::string EncodeDeployChunk(uint64_t id, uint64_t offset, std::string_view bytes);
Result<DeployChunk> DecodeDeployChunk(Reader& r);

// ---- link measurement (minor 3) -----------------------------------------

// Payload of a PROBE or its reply. A worker queues at most a few replies per
// peer (its control socket's send high-water mark), so this bounds what a
// peer that never reads can make it hold.
constexpr uint32_t kMaxProbeBytes = 16u << 20;
constexpr uint32_t kMaxProbeRounds = 100;
constexpr uint32_t kMaxLinkPeers = 1024;

// PROBE: u32 reply_bytes, then any number of padding bytes (the payload
// whose transfer is timed; it is the rest of the body and never copied).
// The answer, PROBE_REPLY, carries reply_bytes padding bytes as its body.
// reply_bytes above kMaxProbeBytes is refused.
std::string EncodeProbe(uint64_t id, uint32_t reply_bytes, size_t payload_bytes);
Result<uint32_t> DecodeProbe(Reader& r);

// MEASURE_LINKS: the dispatcher asks a worker to probe these peers' control
// endpoints in turn and report what it measured. A worker refuses it while
// it runs a stage (their traffic would skew both).
struct LinkPeer {
  std::string name;
  std::string endpoint;  // the peer's control endpoint, tcp://HOST:PORT
  std::string key;       // minor 5: its public key (empty: insecure mode)
};
struct MeasureLinksBody {
  uint32_t probe_bytes = 1u << 20;  // 1..kMaxProbeBytes
  uint32_t rounds = 3;              // 1..kMaxProbeRounds timed probes each way
  double timeout_s = 10;            // per probe message, (0, 3600]
  std::vector<LinkPeer> peers;      // at most kMaxLinkPeers
  std::string Encode() const;
  static Result<MeasureLinksBody> Decode(Reader& r);
};

// What one probe of a link found. bytes per second are the transfer rate
// beyond the round trip of an empty probe; rtt_s is the least round trip of
// an empty probe (latency: half of it).
struct LinkResult {
  std::string name;  // the peer
  Status::Code code = Status::Code::kOk;
  std::string message;  // why it failed (code != kOk)
  double rtt_s = 0;
  double out_bytes_per_s = 0;  // this end -> peer
  double in_bytes_per_s = 0;   // peer -> this end
};
struct LinksReportBody {
  std::vector<LinkResult> links;  // one per peer asked, in order
  std::string Encode() const;
  static Result<LinksReportBody> Decode(Reader& r);
};

// ---- data bodies ---------------------------------------------------------
// ACTIVATION has a file of its own: activation.h.

// KEY_REPLY: what a worker's key announce socket says of it. KEY_REQUEST
// has an empty body.
struct KeyReplyBody {
  std::string name;
  std::string public_key;
  std::string Encode() const;
  static Result<KeyReplyBody> Decode(Reader& r);
};

struct RequestFailedBody {
  uint32_t model_version = 0;
  uint32_t stage = 0;  // the stage where it failed
  std::string message;
  std::string Encode() const;
  static Result<RequestFailedBody> Decode(Reader& r);
};

}  // namespace tandem
