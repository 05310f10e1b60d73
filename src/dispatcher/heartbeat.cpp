#include "dispatcher/heartbeat.h"

#include <memory>

#include "common/net/protocol.h"
#include "common/net/transport.h"
#include "common/util/log.h"

namespace tandem {

HeartbeatMonitor::HeartbeatMonitor(zmq::context_t& ctx, std::vector<std::string> endpoints, HeartbeatOptions options,
                                   LinkKeys keys, std::vector<std::string> server_keys)
    : ctx_(ctx),
      options_(options),
      keys_(std::move(keys)),
      endpoints_(std::move(endpoints)),
      server_keys_(std::move(server_keys)),
      last_(endpoints_.size(), Clock::now()),
      instance_(endpoints_.size(), 0),
      deployments_(endpoints_.size(), 0),
      device_(endpoints_.size(), {-1.0, 0u}),
      answered_(endpoints_.size(), false) {}

HeartbeatMonitor::~HeartbeatMonitor() { Stop(); }

void HeartbeatMonitor::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::fill(last_.begin(), last_.end(), Clock::now());
  }
  stop_ = false;
  thread_ = std::thread(&HeartbeatMonitor::Loop, this);
}

void HeartbeatMonitor::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

size_t HeartbeatMonitor::Add(const std::string& endpoint, const std::string& server_key) {
  std::lock_guard<std::mutex> lock(mu_);
  server_keys_.resize(endpoints_.size());
  endpoints_.push_back(endpoint);
  server_keys_.push_back(server_key);
  last_.push_back(Clock::now());
  instance_.push_back(0);
  deployments_.push_back(0);
  device_.push_back({-1.0, 0u});
  answered_.push_back(false);
  return endpoints_.size() - 1;
}

std::vector<WorkerHealth> HeartbeatMonitor::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  std::vector<WorkerHealth> out(endpoints_.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].silent_s = std::chrono::duration<double>(now - last_[i]).count();
    out[i].alive = out[i].silent_s <= options_.timeout_s;
    out[i].answered = answered_[i];
    out[i].instance = instance_[i];
    out[i].deployments = deployments_[i];
    out[i].cpu_temp_c = device_[i].first;
    out[i].throttle_flags = device_[i].second;
    out[i].pong_at = last_[i];
  }
  return out;
}

bool HeartbeatMonitor::Failed(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::chrono::duration<double>(Clock::now() - last_.at(i)).count() > options_.timeout_s;
}

void HeartbeatMonitor::Loop() {
  // Sockets of this thread only. Each PING is sent without waiting; with
  // ZMQ_IMMEDIATE nothing piles up for a worker that is not connected, and a
  // small high-water mark bounds what waits for one that is stopped.
  std::vector<std::unique_ptr<zmq::socket_t>> sockets;
  std::vector<zmq::pollitem_t> items;
  // Sockets for the workers not connected yet (all at the start, then those Add gave).
  auto connect_new = [&] {
    std::vector<std::pair<std::string, std::string>> fresh;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = sockets.size(); i < endpoints_.size(); ++i)
        fresh.emplace_back(endpoints_[i], i < server_keys_.size() ? server_keys_[i] : "");
    }
    for (const auto& [ep, server_key] : fresh) {
      auto s = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
      SocketOptions so;
      so.max_message_bytes = 64 << 10;
      so.send_hwm = 8;
      so.linger_ms = 0;
      ApplySocketOptions(*s, so);
      s->set(zmq::sockopt::immediate, 1);
      s->set(zmq::sockopt::reconnect_ivl, 100);
      s->set(zmq::sockopt::reconnect_ivl_max, 500);
      Status st = SecureClientSocket(*s, keys_, server_key);
      if (st.ok()) st = ConnectSocket(*s, ep);
      if (!st.ok()) TANDEM_LOG(kWarning) << "heartbeat: " << st.message();
      sockets.push_back(std::move(s));
    }
    items.clear();
    for (auto& s : sockets) items.push_back(zmq::pollitem_t{static_cast<void*>(*s), 0, ZMQ_POLLIN, 0});
  };
  connect_new();
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.interval_s));
  auto next_ping = Clock::now();
  uint64_t id = 1;
  const std::string ping_body;
  while (!stop_) {
    bool added = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      added = endpoints_.size() > sockets.size();
    }
    if (added) connect_new();
    const auto now = Clock::now();
    if (now >= next_ping) {
      const std::string ping = EncodeMessage(MessageType::kPing, id++, ping_body);
      for (auto& s : sockets) {
        try {
          s->send(zmq::buffer(ping), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
          // EAGAIN (not connected, or full) or EINTR: the next round tries again.
        }
      }
      next_ping = now + interval;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_ping - Clock::now());
    int ready = 0;
    try {
      ready = zmq::poll(items.data(), items.size(),
                        std::max(std::chrono::milliseconds(1), std::min(wait, std::chrono::milliseconds(50))));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) TANDEM_LOG(kWarning) << "heartbeat poll: " << e.what();
      continue;
    }
    if (ready <= 0) continue;
    for (size_t i = 0; i < sockets.size(); ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      zmq::message_t msg;
      while (sockets[i]->recv(msg, zmq::recv_flags::dontwait)) {
        auto h = DecodeHeader(msg.data(), msg.size());
        if (!h.ok() || h->type != MessageType::kPong) continue;
        Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
        auto pong = PongBody::Decode(r);
        if (!pong.ok()) continue;
        std::lock_guard<std::mutex> lock(mu_);
        last_[i] = Clock::now();
        instance_[i] = pong->instance;
        deployments_[i] = pong->deployments;
        device_[i] = {pong->cpu_temp_c, pong->throttle_flags};
        answered_[i] = true;
      }
    }
  }
}

}  // namespace tandem
