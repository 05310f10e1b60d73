// tandem-delayer: holds every packet an iptables NFQUEUE rule hands it for a
// fixed time, then accepts it. The emulated cluster (scripts/emulate-cluster.py)
// runs one per node, inside the node's network namespace, on its incoming
// traffic: delay on the receiving side, since holding packets in a sender's
// OUTPUT chain throttles TCP. tc netem would do this in the kernel; it is not
// available everywhere.
//
//   tandem-delayer --queue N --delay-ms D
//
// Packets keep their order (one delay for all), are queued whole as the
// sender's GSO segments where the kernel allows, and are accepted in batches.
// If it cannot keep up, the kernel passes packets undelayed rather than
// dropping them (fail-open).
// Stops on SIGTERM/SIGINT and accepts what it still holds.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}

namespace {

using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Held {
  uint32_t id;
  Clock::time_point due;
};

struct State {
  std::deque<Held> held;
  Clock::duration delay;
};

int OnPacket(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void* data) {
  auto* st = static_cast<State*>(data);
  nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph) st->held.push_back(Held{ntohl(ph->packet_id), Clock::now() + st->delay});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tandem-delayer: hold every packet of an NFQUEUE queue for a fixed time, then accept it"};
  int queue = 0;
  double delay_ms = 0;
  app.add_option("--queue", queue, "the NFQUEUE queue number (iptables ... -j NFQUEUE --queue-num N)")
      ->required()
      ->check(CLI::Range(0, 65535));
  app.add_option("--delay-ms", delay_ms, "how long each packet is held, ms")
      ->required()
      ->check(CLI::Range(0.0, 60000.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  State st;
  st.delay = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(delay_ms));
  nfq_handle* h = nfq_open();
  if (!h) {
    std::fprintf(stderr, "tandem-delayer: cannot open the netfilter queue interface: %s\n", std::strerror(errno));
    return 1;
  }
  nfq_q_handle* qh = nfq_create_queue(h, static_cast<uint16_t>(queue), &OnPacket, &st);
  if (!qh) {
    std::fprintf(stderr, "tandem-delayer: cannot bind queue %d (is another program on it?)\n", queue);
    nfq_close(h);
    return 1;
  }
  nfq_set_mode(qh, NFQNL_COPY_META, 0);
  nfq_set_queue_maxlen(qh, 65536);
  // When this process falls behind (the machine is busy), packets must not
  // be dropped: a dropped packet costs TCP a retransmission timeout, which is
  // no part of the emulated link. A large socket buffer absorbs bursts
  // (gigabit is ~80k packets/s); beyond it, fail open: the kernel accepts the
  // packet undelayed (counted in /proc/net/netfilter/nfnetlink_queue).
  nfnl_rcvbufsiz(nfq_nfnlh(h), 32u << 20);
  // GSO: a TCP sender on the emulated network hands the kernel segments of
  // up to 64 kB, which bridge, veth and tbf (its burst is larger) keep
  // whole; without this flag the kernel cuts each into MTU packets before
  // queueing them here, and this process, the kernel's reinjection and the
  // host's two cores pay per packet, 40x over.
  const uint32_t flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
  if (nfq_set_queue_flags(qh, flags, flags) < 0) nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  const int fd = nfq_fd(h);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  static char buf[1 << 16];
  while (!g_stop) {
    int timeout_ms = 100;
    if (!st.held.empty()) {
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(st.held.front().due - Clock::now());
      timeout_ms = left.count() <= 0 ? 0 : static_cast<int>((left.count() + 999) / 1000);
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) > 0) {
      // Drain what is there without blocking.
      while (true) {
        const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) break;
        nfq_handle_packet(h, buf, static_cast<int>(n));
      }
    }
    // Every packet is held equally long, so the due ones are the oldest:
    // one batch verdict accepts them all (ids up to the newest due one).
    const auto now = Clock::now();
    bool due = false;
    uint32_t last = 0;
    while (!st.held.empty() && st.held.front().due <= now) {
      last = st.held.front().id;
      due = true;
      st.held.pop_front();
    }
    if (due) nfq_set_verdict_batch(qh, last, NF_ACCEPT);
  }
  for (const auto& x : st.held) nfq_set_verdict(qh, x.id, NF_ACCEPT, 0, nullptr);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
