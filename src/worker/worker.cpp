#include "worker/worker.h"

#include <unistd.h>

#include <algorithm>
#include <random>
#include <system_error>

#include "common/model/runtime.h"
#include "common/net/curve_keys.h"
#include "common/net/handshake_monitor.h"
#include "common/net/transport.h"
#include "common/plan/worker_memory.h"
#include "common/util/digest.h"
#include "common/util/log.h"
#include "common/util/version.h"

namespace tandem {
namespace {
// Deployments one worker runs at once: the current model, one being drained
// during an update, and room for a redeployment beside them.
constexpr size_t kMaxDeployments = 4;
constexpr size_t kMaxRetiredStages = 4;
// A connection that has not finished its handshake by then is closed: half-open
// connections cannot pile up (each holds a file descriptor).
constexpr int kHandshakeMs = 5000;
}  // namespace

Worker::Worker(WorkerOptions options) : options_(std::move(options)), ctx_(1), device_(options_.device_root) {
  std::random_device rd;
  instance_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
  if (instance_ == 0) instance_ = 1;
}

Worker::~Worker() {
  if (loading_ && loading_->thread.joinable()) loading_->thread.join();
  if (receiver_) receiver_->Stop();
  Retire([](const Deployment&) { return true; });
  JoinReapers(true);
  handshakes_.reset();  // stops monitoring the sockets before they close
  control_.reset();
  data_.reset();
}

std::shared_ptr<StagePipeline> Worker::Find(uint32_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = deployments_.find(version);
  return it == deployments_.end() ? nullptr : it->second;
}

std::shared_ptr<SharedStage> Worker::FindStage(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [v, p] : deployments_)
    if (p->stage()->sha256() == sha256) return p->stage();
  for (const auto& s : retired_)
    if (s->sha256() == sha256) return s;
  return nullptr;
}

void Worker::Retire(const std::function<bool(const Deployment&)>& which) {
  std::vector<std::shared_ptr<StagePipeline>> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = deployments_.begin(); it != deployments_.end();) {
      if (which(it->second->deployment())) {
        gone.push_back(it->second);
        it = deployments_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (gone.empty()) return;
  UpdateDataSenders();
  // They take no new work now; a computation in progress may take seconds,
  // so the threads are joined on a thread of their own: this one goes on
  // answering heartbeats.
  for (auto& p : gone) {
    p->RequestStop();
    TANDEM_LOG(kInfo) << "undeployed stage " << p->deployment().stage_index + 1 << "/" << p->deployment().num_stages
                      << " v" << p->deployment().model_version;
    std::lock_guard<std::mutex> lock(mu_);
    retired_.erase(std::remove(retired_.begin(), retired_.end(), p->stage()), retired_.end());
    retired_.push_back(p->stage());
    if (retired_.size() > kMaxRetiredStages) retired_.erase(retired_.begin());
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  reapers_.emplace_back(std::thread([gone, done] {
                          for (auto& p : gone) p->Stop();
                          *done = true;
                        }),
                        done);
}

void Worker::JoinReapers(bool all) {
  for (auto it = reapers_.begin(); it != reapers_.end();) {
    if (all || *it->second) {
      it->first.join();
      it = reapers_.erase(it);
    } else {
      ++it;
    }
  }
}

Status Worker::Start() {
  started_ = std::chrono::steady_clock::now();
  TANDEM_RETURN_IF_ERROR(access_.Load(options_.secret_key, options_.authorized_keys));
  if (access_.secure()) {
    // Before any CURVE socket binds: without a handler libzmq lets everyone in.
    zap_ = std::make_unique<ZapAuthenticator>(
        ctx_, [this](const std::string& domain, const std::string& key) { return access_.Authorize(domain, key); });
    TANDEM_RETURN_IF_ERROR(zap_->Start());
  }
  control_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::router);
  SocketOptions co;
  co.max_message_bytes = static_cast<int64_t>(options_.max_message_mb) << 20;
  co.linger_ms = 200;
  // Replies queued for a peer that does not read them: a few, then dropped
  // (a PROBE reply can be kMaxProbeBytes).
  co.send_hwm = 4;
  ApplySocketOptions(*control_, co);
  control_->set(zmq::sockopt::sndtimeo, 1000);
  control_->set(zmq::sockopt::handshake_ivl, kHandshakeMs);
  TANDEM_RETURN_IF_ERROR(SecureServerSocket(*control_, access_.keys(), kControlDomain));
  // Handshakes that fail before ZAP (no CurveZMQ, another server key, never
  // finished) are refusals too: counted and logged like ZAP's.
  handshakes_ = std::make_unique<HandshakeMonitor>(ctx_);
  TANDEM_RETURN_IF_ERROR(handshakes_->Watch(*control_, "control"));
  TANDEM_RETURN_IF_ERROR(BindSocket(*control_, options_.listen));
  control_endpoint_ = LastEndpoint(*control_);

  data_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pull);
  SocketOptions dopt;
  dopt.max_message_bytes = static_cast<int64_t>(options_.max_activation_mb) << 20;
  dopt.recv_hwm = 4;
  ApplySocketOptions(*data_, dopt);
  data_->set(zmq::sockopt::handshake_ivl, kHandshakeMs);
  TANDEM_RETURN_IF_ERROR(SecureServerSocket(*data_, access_.keys(), kDataDomain));
  TANDEM_RETURN_IF_ERROR(handshakes_->Watch(*data_, "data"));
  TANDEM_RETURN_IF_ERROR(BindSocket(*data_, options_.data_listen));
  data_endpoint_ = LastEndpoint(*data_);
  auto ep = ParseTcpEndpoint(data_endpoint_);
  if (ep.ok() && ep->port != "*") data_port_ = static_cast<uint16_t>(std::stoi(ep->port));

  if (access_.secure() && options_.key_listen != "none") {
    announce_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::router);
    SocketOptions ao;
    ao.max_message_bytes = 1024;
    ao.send_hwm = 16;
    ApplySocketOptions(*announce_, ao);
    TANDEM_RETURN_IF_ERROR(BindSocket(*announce_, options_.key_listen));
  }
  receiver_ = std::make_unique<DataReceiver>(
      data_.get(), [this](uint32_t version) { return Find(version); }, &counters_, options_.max_activation_mb << 20,
      &access_);
  receiver_->Start();
  return Status::OK();
}

void Worker::Run(const std::atomic<bool>& stop, std::atomic<bool>* reload) {
  stop_ = &stop;
  TANDEM_LOG(kInfo) << options_.name << " listening on " << control_endpoint_ << " (data " << data_endpoint_ << ", "
                    << GetComputeThreads() << " compute thread(s), memory budget "
                    << (options_.memory_mb > 0 ? std::to_string(options_.memory_mb) + " MiB" : std::string("none"))
                    << ")";
  const DeviceHealth health = device_.Read();
  if (!DescribeHealth(health).empty()) TANDEM_LOG(kInfo) << "device: " << DescribeHealth(health);
  if (access_.secure())
    TANDEM_LOG(kInfo) << "CurveZMQ: public key " << access_.public_key() << " (" << KeyFingerprint(access_.public_key())
                      << "), " << access_.authorized() << " authorized dispatcher key(s)"
                      << (announce_ ? ", told on " + LastEndpoint(*announce_) : std::string());
  else if (options_.insecure)
    TANDEM_LOG(kWarning) << "running WITHOUT keys (--insecure): anyone who can reach " << control_endpoint_
                         << " can deploy code to this worker and read its data; see docs/security.md";
  std::vector<zmq::pollitem_t> items{{static_cast<void*>(*control_), 0, ZMQ_POLLIN, 0}};
  if (announce_) items.push_back({static_cast<void*>(*announce_), 0, ZMQ_POLLIN, 0});
  while (!stop) {
    FinishLoading();
    FinishMeasuring();
    if (upload_ && upload_->idle_s() > StageUpload::kIdleLimitS)
      DropUpload(Status::Timeout("no piece of the stage for " + std::to_string(int(StageUpload::kIdleLimitS)) +
                                 " s: upload abandoned"));
    JoinReapers(false);
    handshakes_->Drain([this](const std::string& what) { Refuse(what); });
    if (reload && reload->exchange(false)) {
      const Status st = access_.Reload();
      if (st.ok())
        TANDEM_LOG(kInfo) << "reloaded authorized keys: " << access_.authorized() << " key(s)";
      else
        TANDEM_LOG(kWarning) << "could not reload authorized keys (keeping the old ones): " << st.message();
    }
    int n = 0;
    try {
      n = zmq::poll(items.data(), items.size(), std::chrono::milliseconds(loading_ || measuring_ ? 10 : 100));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      TANDEM_LOG(kError) << "poll failed: " << e.what();
      break;
    }
    if (n <= 0) continue;
    if (items.size() > 1 && (items[1].revents & ZMQ_POLLIN)) AnswerKeyRequest();
    if (items[0].revents & ZMQ_POLLIN) ServeControlMessage();
  }
  TANDEM_LOG(kInfo) << "shutting down";
  if (upload_) DropUpload(Status::Unavailable(options_.name + " is shutting down"));
  measuring_.reset();
  if (loading_ && loading_->thread.joinable()) loading_->thread.join();
  loading_.reset();
  if (receiver_) receiver_->Stop();
  Retire([](const Deployment&) { return true; });
  JoinReapers(true);
}

void Worker::Refuse(const std::string& what) {
  ++refused_;
  // The kind: the line without the peer's address ("... socket on ADDRESS: why").
  std::string kind = what;
  if (const size_t on = what.find(" on "); on != std::string::npos) {
    const size_t why = what.find(": ", on);
    kind = what.substr(0, on) + (why == std::string::npos ? "" : what.substr(why));
  }
  uint64_t suppressed = 0;
  if (refuse_log_.Allow(kind, &suppressed))
    TANDEM_LOG(kWarning) << what << (suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : "");
}

void Worker::ServeControlMessage() {
  zmq::message_t identity, payload;
  if (!control_->recv(identity, zmq::recv_flags::dontwait)) return;
  // A ROUTER message is [identity][payload]; drain any extra frames of
  // this message only (stop at the frame without "more").
  bool more = identity.more();
  const bool got_payload = more && control_->recv(payload, zmq::recv_flags::dontwait);
  if (got_payload) more = payload.more();
  const bool well_formed = got_payload && !more;
  while (more) {
    zmq::message_t extra;
    if (!control_->recv(extra, zmq::recv_flags::dontwait)) break;
    more = extra.more();
  }
  std::string reply;
  if (!well_formed) {
    Refuse("refused a control message with the wrong number of frames");
    reply = Error(0, Status::Corruption("a control message is exactly one frame"));
  } else {
    auto header = DecodeHeader(payload.data(), payload.size());
    const PeerClass who = access_.ClassOf(MessageUserId(payload));
    if (!header.ok()) {
      Refuse("refused a control message: " + header.status().ToString());
      reply = Error(0, header.status());
    } else if (who != PeerClass::kDispatcher && !(who == PeerClass::kPeer && header->type == MessageType::kProbe)) {
      Refuse(std::string("refused ") + MessageTypeName(header->type) + " from a peer worker (it may only PROBE)");
      reply = Error(header->id, Status::InvalidArgument(std::string("not authorized: a peer worker may send PROBE, "
                                                                    "not ") +
                                                        MessageTypeName(header->type)));
    } else {
      Reader body(static_cast<const uint8_t*>(payload.data()) + kHeaderSize, payload.size() - kHeaderSize);
      current_identity_ = identity.to_string();
      current_message_ = &payload;
      try {
        reply = Handle(header.value(), body);
      } catch (const std::exception& e) {
        // Out of memory on a huge stage, say: refuse the request, keep serving.
        Refuse(std::string("refused ") + MessageTypeName(header->type) + ": " + e.what());
        reply = Error(header->id, Status::Internal(std::string("cannot handle ") + MessageTypeName(header->type) +
                                                   ": " + e.what()));
      }
    }
  }
  if (reply.empty()) return;  // answered later (a stage being loaded, links being measured)
  if (!SendBytes(*control_, identity.to_string(), true) || !SendBytes(*control_, reply))
    TANDEM_LOG(kWarning) << "could not send a reply to the dispatcher";
}

void Worker::AnswerKeyRequest() {
  zmq::message_t identity, payload;
  if (!announce_->recv(identity, zmq::recv_flags::dontwait)) return;
  bool more = identity.more();
  const bool got = more && announce_->recv(payload, zmq::recv_flags::dontwait);
  if (got) more = payload.more();
  while (more) {  // anything else of this message is dropped
    zmq::message_t extra;
    if (!announce_->recv(extra, zmq::recv_flags::dontwait)) break;
    more = extra.more();
  }
  auto h = got ? DecodeHeader(payload.data(), payload.size()) : Result<Header>(Status::Corruption("no payload"));
  if (!h.ok() || h->type != MessageType::kKeyRequest) return;  // says nothing to anything else
  KeyReplyBody b{options_.name, access_.public_key()};
  if (!SendBytes(*announce_, identity.to_string(), true)) return;
  (void)SendBytes(*announce_, EncodeMessage(MessageType::kKeyReply, h->id, b.Encode()));
}

std::string Worker::Error(uint64_t id, const Status& st) {
  ErrorBody e{st.code(), st.message()};
  return EncodeMessage(MessageType::kError, id, e.Encode());
}

std::string Worker::Handle(const Header& h, Reader& body) {
  switch (h.type) {
    case MessageType::kHello: {
      auto hello = HelloBody::Decode(body);
      if (!hello.ok()) return Error(h.id, hello.status());
      TANDEM_LOG(kDebug) << "HELLO from " << Printable(hello->name);
      access_.SetPeers(hello->peer_keys);  // the workers this dispatcher may name
      HelloAckBody ack;
      ack.name = options_.name;
      ack.software = kSoftwareName;
      ack.data_port = data_port_;
      ack.memory_budget = BudgetBytes();
      const DeviceHealth health = device_.Read();
      ack.cpu_temp_c = health.cpu_temp_c;
      ack.throttle_flags = health.throttle_flags;
      ack.threads = static_cast<uint32_t>(GetComputeThreads());
      ack.max_message_bytes = options_.max_message_mb << 20;
      ack.queue_depth = static_cast<uint32_t>(options_.queue_depth);
      ack.public_key = access_.public_key();
      ack.host_id = host_id_;
      ack.cpus = UsableCpus();  // read each time: a quota may change while it runs
      ack.host_cores = static_cast<uint32_t>(OnlineCores());
      return EncodeMessage(MessageType::kHelloAck, h.id, ack.Encode());
    }
    case MessageType::kDeploy: return HandleDeploy(h.id, body);
    case MessageType::kDeployChunk: return HandleDeployChunk(h.id, body);
    case MessageType::kStatusRequest: return HandleStatus(h.id);
    case MessageType::kPing: {
      PongBody pong;
      pong.instance = instance_;
      const DeviceHealth health = device_.Read();
      pong.cpu_temp_c = health.cpu_temp_c;
      pong.throttle_flags = health.throttle_flags;
      {
        std::lock_guard<std::mutex> lock(mu_);
        pong.deployments = static_cast<uint32_t>(deployments_.size());
      }
      return EncodeMessage(MessageType::kPong, h.id, pong.Encode());
    }
    case MessageType::kUndeploy: return HandleUndeploy(h.id, body);
    case MessageType::kProbe: return HandleProbe(h.id, body);
    case MessageType::kMeasureLinks: return HandleMeasureLinks(h.id, body);
    default:
      Refuse(std::string("refused ") + MessageTypeName(h.type) + ": not a request a worker takes");
      return Error(h.id, Status::InvalidArgument(std::string(MessageTypeName(h.type)) +
                                                 " is not a request a worker's control socket takes"));
  }
}

std::string Worker::HandleProbe(uint64_t id, Reader& body) {
  auto reply_bytes = DecodeProbe(body);
  if (!reply_bytes.ok()) {
    Refuse("refused a PROBE: " + reply_bytes.status().message());
    return Error(id, reply_bytes.status());
  }
  std::string m = StartMessage();
  m.resize(kHeaderSize + reply_bytes.value(), '\0');
  FinishMessage(MessageType::kProbeReply, id, &m);
  return m;
}

std::string Worker::HandleMeasureLinks(uint64_t id, Reader& body) {
  auto b = MeasureLinksBody::Decode(body);
  if (!b.ok()) {
    Refuse("refused MEASURE_LINKS: " + b.status().message());
    return Error(id, b.status());
  }
  size_t running = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running = deployments_.size();
  }
  if (running > 0 || loading_ || measuring_)
    return Error(id,
                 Status::Unavailable(options_.name +
                                     (measuring_ ? " is measuring links already"
                                      : loading_ ? " is loading a stage"
                                                 : " runs " + std::to_string(running) + " stage(s)") +
                                     "; measure links while no pipeline runs (its traffic would skew the figures)"));
  // Only peers a trusted dispatcher named, at numeric endpoints: a request
  // cannot point this worker at arbitrary hosts.
  for (const auto& p : b->peers) {
    auto ep = ParseTcpEndpoint(p.endpoint);
    if (!ep.ok() || !IsNumericHost(ep->host) || ep->port == "*")
      return Error(id,
                   Status::InvalidArgument("MEASURE_LINKS peer '" + Printable(p.name) + "': '" + Printable(p.endpoint) +
                                           "' is not tcp://ADDRESS:PORT with a numeric "
                                           "address"));
    if (access_.secure() && !access_.IsPeer(p.key))
      return Error(id, Status::InvalidArgument("MEASURE_LINKS peer '" + Printable(p.name) +
                                               "' has a key no HELLO of a trusted dispatcher named"));
  }
  measure_id_ = id;
  measure_identity_ = current_identity_;
  measuring_ = std::make_unique<LinkMeasurement>(ctx_, std::move(b).value(), access_.keys());
  return "";  // answered by FinishMeasuring
}

void Worker::FinishMeasuring() {
  if (!measuring_ || !measuring_->done()) return;
  const std::string reply = EncodeMessage(MessageType::kLinksReport, measure_id_, measuring_->report().Encode());
  measuring_.reset();
  if (!SendBytes(*control_, measure_identity_, true) || !SendBytes(*control_, reply))
    TANDEM_LOG(kWarning) << "could not send a reply to the dispatcher";
}

std::string Worker::DeployReply(uint64_t id, const Status& st, uint64_t params,
                                std::chrono::steady_clock::time_point t0) {
  DeployAckBody ack;
  ack.code = st.code();
  ack.message = st.message();
  ack.param_bytes = params;
  ack.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st.ok()) {
    last_error_ = st.message();
    TANDEM_LOG(kWarning) << "deploy refused: " << st.message();
  }
  return EncodeMessage(MessageType::kDeployAck, id, ack.Encode());
}

Status Worker::CheckHops(const DeployBody& d) const {
  auto ep = ParseTcpEndpoint(d.next_hop);
  if (!ep.ok() || !IsNumericHost(ep->host) || ep->port == "*")
    return Status::InvalidArgument("next hop '" + Printable(d.next_hop) +
                                   "' is not tcp://ADDRESS:PORT with a numeric address");
  if (!access_.secure()) return Status::OK();
  for (const auto& [key, what] : {std::make_pair(&d.prev_key, "previous"), std::make_pair(&d.next_key, "next")})
    if (!access_.IsDispatcher(*key) && !access_.IsPeer(*key))
      return Status::InvalidArgument(std::string("the ") + what + " hop's key " + KeyFingerprint(*key) +
                                     " is neither an authorized dispatcher's nor one its HELLO named");
  return Status::OK();
}

void Worker::UpdateDataSenders() {
  std::set<std::string> senders;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [v, p] : deployments_)
      if (!p->deployment().prev_key.empty()) senders.insert(p->deployment().prev_key);
  }
  access_.SetDataSenders(senders);
}

std::string Worker::HandleDeploy(uint64_t id, Reader& body) {
  const auto t0 = std::chrono::steady_clock::now();
  auto reply = [&](const Status& st) { return DeployReply(id, st, 0, t0); };
  // The archive stays in the received frame: copying it here would stall
  // this thread (and its heartbeat answers) on a slow device.
  auto d = DeployBody::Decode(body, /*copy_stage=*/false);
  if (!d.ok()) return reply(d.status());
  if (loading_) return reply(Status::Unavailable(options_.name + " is still loading an earlier deployment"));
  if (measuring_) return reply(Status::Unavailable(options_.name + " is measuring links"));
  if (Status hops = CheckHops(d.value()); !hops.ok()) return reply(hops);
  std::shared_ptr<SharedStage> stage;
  if (d->archive().empty() && d->upload_bytes == 0) {
    // Reuse a stage this worker holds (a redeployment after a failure
    // elsewhere): nothing to transfer or load.
    stage = FindStage(d->stage_sha256);
    if (!stage)
      return reply(Status::NotFound("stage " + Printable(d->stage_sha256.substr(0, 12)) + " is not loaded on " +
                                    options_.name + "; send it"));
  }
  const uint64_t stage_bytes = stage ? stage->bytes() : std::max<uint64_t>(d->archive().size(), d->upload_bytes);
  // The planner counts the same (it learns the depth from HELLO_ACK).
  const uint64_t need =
      WorkerStageMemory(stage_bytes, d->activation_bytes, options_.queue_depth, CodecScratchCopies(d->codec));
  uint64_t kept = 0;  // memory of the deployments this one runs beside
  size_t kept_count = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [v, p] : deployments_)
      if (d->beside && v != d->model_version) kept += p->deployment().memory_bytes, ++kept_count;
  }
  const uint64_t budget = BudgetBytes();
  if (budget > 0 && (need > budget || kept > budget - need))
    return reply(Status::InvalidArgument(
        "stage " + std::to_string(d->stage_index) + " needs about " + std::to_string(need >> 20) +
        " MiB (weights and activation buffers)" +
        (kept ? " beside " + std::to_string(kept >> 20) + " MiB already deployed" : "") + ", over " + options_.name +
        "'s memory budget of " + std::to_string(options_.memory_mb) + " MiB"));
  if (kept_count + 1 > kMaxDeployments)
    return reply(Status::InvalidArgument(options_.name + " already runs " + std::to_string(kept_count) +
                                         " deployments; undeploy one first"));
  if (upload_) DropUpload(Status::Unavailable("superseded by a later DEPLOY"));
  if (stage) return StartDeployment(id, std::move(d).value(), stage, need, t0, /*loaded=*/false);
  if (d->upload_bytes > 0) {
    // The archive follows in pieces: hold room for it now that the budget
    // has accepted it.
    try {
      upload_ = std::make_unique<StageUpload>(id, current_identity_, std::move(d).value(), need, t0);
    } catch (const std::bad_alloc&) {
      return reply(
          Status::Unavailable(options_.name + " cannot hold a stage of " + std::to_string(need >> 20) + " MiB"));
    }
    return "";  // answered when the last piece is in
  }
  // Answered by FinishLoading, unless no thread could be started.
  return StartLoading(id, current_identity_, std::move(d).value(), std::move(*current_message_), need, t0);
}

std::string Worker::HandleDeployChunk(uint64_t id, Reader& body) {
  if (!upload_ || !upload_->Owns(id, current_identity_)) {
    // Normal after a refused DEPLOY: its sender sends every piece before
    // reading the answer.
    TANDEM_LOG(kDebug) << "dropped a DEPLOY_CHUNK of no upload in progress";
    return "";
  }
  auto piece = DecodeDeployChunk(body);
  const Status added = piece.ok() ? upload_->Add(piece.value()) : piece.status();
  if (!added.ok()) {
    Refuse("refused a stage upload: " + added.message());
    const auto t0 = upload_->t0;
    upload_.reset();
    return DeployReply(id, added, 0, t0);
  }
  if (!upload_->complete()) return "";
  std::unique_ptr<StageUpload> u = std::move(upload_);
  // Answered by FinishLoading, unless no thread could be started.
  return StartLoading(u->id, u->identity, std::move(u->body), zmq::message_t(), u->need, u->t0);
}

void Worker::DropUpload(const Status& why) {
  std::unique_ptr<StageUpload> u = std::move(upload_);
  if (!u) return;
  TANDEM_LOG(kWarning) << "stage " << u->body.stage_index << " upload (" << u->body.stage.size() << " of "
                       << u->body.upload_bytes << " bytes) dropped: " << why.message();
  const std::string reply = DeployReply(u->id, why, 0, u->t0);
  if (!SendBytes(*control_, u->identity, true) || !SendBytes(*control_, reply))
    TANDEM_LOG(kWarning) << "could not send a reply to the dispatcher";
}

std::string Worker::StartLoading(uint64_t id, std::string identity, DeployBody body, zmq::message_t message,
                                 uint64_t need, std::chrono::steady_clock::time_point t0) {
  // Checking and loading a large stage takes seconds: do it on a thread, so
  // this one goes on answering heartbeats, and reply when it is done.
  loading_ = std::make_unique<Loading>();
  Loading* l = loading_.get();
  l->id = id;
  l->identity = std::move(identity);
  l->body = std::move(body);
  l->message = std::move(message);  // keeps body.stage_view valid (an inline archive)
  l->need = need;
  l->t0 = t0;
  try {
    l->thread = std::thread([l] { LoadStage(l); });
  } catch (const std::system_error& e) {
    loading_.reset();
    return DeployReply(id, Status::Unavailable(std::string("cannot start loading the stage: ") + e.what()), 0, t0);
  }
  return "";
}

void Worker::LoadStage(Loading* l) {
  const std::string_view archive = l->body.archive();
  if (Sha256Hex(archive.data(), archive.size()) != l->body.stage_sha256) {
    l->loaded = Status::Corruption("stage bytes do not match their SHA-256");
  } else {
    try {
      if (l->body.stage.empty()) {  // inline: out of the received frame
        l->body.stage.assign(archive.data(), archive.size());
        l->body.stage_view = {};
        l->message = zmq::message_t();
      }
      l->loaded = Stage::FromBytes(l->body.stage, "deployed stage " + std::to_string(l->body.stage_index));
    } catch (const std::exception& e) {
      l->loaded = Status::Internal(std::string("cannot load the stage: ") + e.what());
    }
  }
  l->done = true;
}

void Worker::FinishLoading() {
  if (!loading_ || !loading_->done) return;
  loading_->thread.join();
  std::unique_ptr<Loading> l = std::move(loading_);
  std::string reply;
  if (l->discard) {
    reply = DeployReply(l->id, Status::Unavailable("undeployed while its stage was loading"), 0, l->t0);
  } else if (!l->loaded.ok()) {
    reply = DeployReply(l->id, l->loaded.status(), 0, l->t0);
  } else {
    std::shared_ptr<SharedStage> stage;
    try {
      const uint64_t bytes = l->body.stage.size();
      stage = std::make_shared<SharedStage>(std::move(l->loaded).value(), bytes, l->body.stage_sha256);
      l->body.stage.clear();
      l->body.stage.shrink_to_fit();
    } catch (const std::exception& e) {
      stage.reset();
      reply = DeployReply(l->id, Status::Unavailable(std::string("cannot hold the stage: ") + e.what()), 0, l->t0);
    }
    if (stage) reply = StartDeployment(l->id, std::move(l->body), stage, l->need, l->t0, /*loaded=*/true);
  }
  if (!SendBytes(*control_, l->identity, true) || !SendBytes(*control_, reply))
    TANDEM_LOG(kWarning) << "could not send a reply to the dispatcher";
}

std::string Worker::StartDeployment(uint64_t id, DeployBody d, const std::shared_ptr<SharedStage>& stage, uint64_t need,
                                    std::chrono::steady_clock::time_point t0, bool loaded) {
  try {
    return CompleteDeploy(id, std::move(d), stage, need, t0, loaded);
  } catch (const std::exception& e) {
    // Out of file descriptors or memory while starting the pipeline, say:
    // the deployment fails with a DEPLOY_ACK error, the worker keeps serving.
    return DeployReply(id, Status::Unavailable(std::string("cannot start the stage: ") + e.what()), 0, t0);
  }
}

std::string Worker::CompleteDeploy(uint64_t id, DeployBody d, const std::shared_ptr<SharedStage>& stage, uint64_t need,
                                   std::chrono::steady_clock::time_point t0, bool loaded) {
  if (stage->num_inputs() != static_cast<int>(d.num_inputs))
    return DeployReply(id,
                       Status::InvalidArgument("stage takes " + std::to_string(stage->num_inputs()) +
                                               " inputs, the deployment says " + std::to_string(d.num_inputs)),
                       0, t0);
  Deployment dep;
  dep.model_id = d.model_id;
  dep.model_version = d.model_version;
  dep.stage_index = d.stage_index;
  dep.num_stages = d.num_stages;
  dep.num_inputs = d.num_inputs;
  dep.next_hop = d.next_hop;
  dep.codec = d.codec;
  dep.stage_sha256 = d.stage_sha256;
  dep.memory_bytes = need;
  dep.max_input_bytes = d.activation_bytes;
  dep.prev_key = d.prev_key;
  dep.next_key = d.next_key;
  // Replace the deployments this one does not run beside (and any earlier
  // deployment of the same version) before starting it.
  const bool beside = d.beside;
  const uint32_t version = d.model_version;
  Retire([&](const Deployment& other) { return !beside || other.model_version == version; });
  auto pipeline = std::make_shared<StagePipeline>(ctx_, stage, dep, &counters_, options_.queue_depth, access_.keys());
  Status st = pipeline->Start();
  if (!st.ok()) return DeployReply(id, st, 0, t0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    deployments_[version] = pipeline;
  }
  UpdateDataSenders();
  last_error_.clear();
  TANDEM_LOG(kInfo) << "deployed stage " << dep.stage_index + 1 << "/" << dep.num_stages << " of model "
                    << Printable(dep.model_id, 12) << " v" << dep.model_version << " -> " << dep.next_hop << " ("
                    << d.codec.ToString() << (loaded ? "" : ", reused") << (beside ? ", beside" : "") << ")";
  return DeployReply(id, Status::OK(), stage->bytes(), t0);
}

std::string Worker::HandleUndeploy(uint64_t id, Reader& body) {
  auto u = UndeployBody::Decode(body);
  if (!u.ok()) return Error(id, u.status());
  const uint32_t v = u->model_version;
  if (loading_ && (v == 0 || loading_->body.model_version == v)) loading_->discard = true;
  if (upload_ && (v == 0 || upload_->body.model_version == v))
    DropUpload(Status::Unavailable("undeployed while its stage was arriving"));
  Retire([v](const Deployment& d) { return v == 0 || d.model_version == v; });
  return EncodeMessage(MessageType::kUndeployAck, id, "");
}

std::string Worker::HandleStatus(uint64_t id) {
  StatusBody s;
  s.name = options_.name;
  std::shared_ptr<StagePipeline> newest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!deployments_.empty()) newest = deployments_.rbegin()->second;
  }
  s.state = newest ? WorkerState::kReady : (last_error_.empty() ? WorkerState::kIdle : WorkerState::kError);
  if (newest) {
    const auto& d = newest->deployment();
    s.model_id = d.model_id;
    s.model_version = d.model_version;
    s.stage_index = d.stage_index;
    s.num_stages = d.num_stages;
  }
  s.received = counters_.received;
  s.computed = counters_.computed;
  s.sent = counters_.sent;
  s.failed = counters_.failed;
  s.dropped = counters_.dropped;
  s.refused = counters_.refused + refused_ + (zap_ ? zap_->refused() : 0);
  s.bytes_in = counters_.bytes_in;
  s.bytes_out = counters_.bytes_out;
  counters_.RecentMeans(&s.compute_s, &s.queue_s);
  s.uptime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  s.last_error = last_error_;
  const DeviceHealth health = device_.Read();
  s.cpu_temp_c = health.cpu_temp_c;
  s.throttle_flags = health.throttle_flags;
  return EncodeMessage(MessageType::kStatusReply, id, s.Encode());
}

}  // namespace tandem
