// The ServingQueue on its own (bounds, closing, failing what is left) and as
// the Streamer's open-ended source: clients on several threads each get the
// answer to their own request, and closing it lets the stream end once every
// accepted request is answered.
#include "dispatcher/serving_queue.h"

#include <catch2/catch.hpp>
#include <thread>

#include "common/net/activation.h"
#include "common/net/protocol.h"

namespace tandem {
namespace {

HostTensor Filled(float v) {
  HostTensor t = HostTensor::Zeros(DType::kFloat32, {2, 2});
  for (int i = 0; i < 4; ++i) t.f32()[i] = v + static_cast<float>(i);
  return t;
}

TEST_CASE("the serving queue bounds what waits, refuses once closed, and answers everything it accepted", "[serve]") {
  ServingQueue q(2, 2);
  auto a = q.Submit({Filled(1)}, "a");
  auto b = q.Submit({Filled(2)}, "b");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto c = q.Submit({Filled(3)}, "c");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == Status::Code::kUnavailable);
  CHECK(c.status().message().find("queue is full") != std::string::npos);
  CHECK(q.count() == 2);
  CHECK(q.queued() == 2);
  // The Streamer takes the tensors once.
  auto got = q.Get(0);
  REQUIRE(got.ok());
  CHECK(got->at(0).f32()[0] == 1.0f);
  Delivery d;
  d.index = 0;
  d.ok = true;
  d.outputs = {Filled(9)};
  REQUIRE(q.Deliver(d).ok());
  CHECK(a->answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
  CHECK(a->answer.get().outputs.at(0).f32()[0] == 9.0f);
  CHECK_FALSE(q.Deliver(d).ok());  // answered once only
  CHECK(q.queued() == 1);
  CHECK(q.open());
  q.Close();
  CHECK_FALSE(q.open());
  auto e = q.Submit({Filled(4)}, "e");
  REQUIRE_FALSE(e.ok());
  CHECK(e.status().message().find("shutting down") != std::string::npos);
  q.FailRemaining("stopped");
  REQUIRE(b->answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
  CHECK_FALSE(b->answer.get().ok);
  CHECK(b->answer.get().not_run);
  CHECK(b->answer.get().error == "stopped");
  CHECK(q.queued() == 0);
}

TEST_CASE("a withdrawn request is answered at once, frees its place, and cannot be taken", "[serve]") {
  ServingQueue q(1);
  auto a = q.Submit({Filled(1)}, "a");
  REQUIRE(a.ok());
  CHECK_FALSE(q.Submit({Filled(2)}, "b").ok());  // full
  CHECK(q.Cancel(a->id));
  REQUIRE(a->answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
  CHECK(a->answer.get().not_run);
  CHECK(q.queued() == 0);
  CHECK_FALSE(q.Cancel(a->id));         // once
  auto b = q.Submit({Filled(2)}, "b");  // its place is free
  REQUIRE(b.ok());
  CHECK(q.count() == 2);  // the Streamer passes the withdrawn one too
  // Requests waiting come before withdrawn ones.
  auto got = q.Get(0);
  REQUIRE(got.ok());
  CHECK(got->at(0).f32()[0] == 2.0f);
  CHECK(q.Name(0) == "b");
  CHECK_FALSE(q.Cancelled(0));
  CHECK_FALSE(q.Cancel(b->id));  // taken: it runs, and is answered as usual
  CHECK_FALSE(q.Get(1).ok());
  CHECK(q.Cancelled(1));
  Delivery skipped;  // what the Streamer delivers for the withdrawn one
  skipped.index = 1;
  skipped.not_run = true;
  REQUIRE(q.Deliver(skipped).ok());
  CHECK(q.queued() == 1);
  CHECK_FALSE(q.Get(0).ok());  // in order, once
}

TEST_CASE("clients take turns, each in its own order, and one client holds at most its share", "[serve]") {
  ServingQueue q(6, 3);
  CHECK(q.max_per_client() == 3);
  for (int k = 0; k < 3; ++k) REQUIRE(q.Submit({Filled(static_cast<float>(k))}, "a" + std::to_string(k), "A").ok());
  auto over = q.Submit({Filled(9)}, "a3", "A");
  REQUIRE_FALSE(over.ok());
  CHECK(over.status().code() == Status::Code::kUnavailable);
  CHECK(over.status().message().find("share") != std::string::npos);
  REQUIRE(q.Submit({Filled(10)}, "b0", "B").ok());
  REQUIRE(q.Submit({Filled(20)}, "c0", "C").ok());
  REQUIRE(q.Submit({Filled(21)}, "c1", "C").ok());
  CHECK_FALSE(q.Submit({Filled(30)}, "d0", "D").ok());  // the queue itself is full
  std::vector<std::string> order;
  for (int i = 0; i < 6; ++i) {
    REQUIRE(q.Get(i).ok());
    order.push_back(q.Name(i));
  }
  CHECK(order == std::vector<std::string>{"a0", "b0", "c0", "a1", "c1", "a2"});
  // A's answer frees a place of A's.
  Delivery d;
  d.index = 0;
  d.ok = true;
  REQUIRE(q.Deliver(d).ok());
  CHECK(q.Submit({Filled(3)}, "a3", "A").ok());
  // The default share: three quarters of the queue.
  CHECK(ServingQueue(64).max_per_client() == 48);
  CHECK(ServingQueue(1).max_per_client() == 1);
}

TEST_CASE("an answer callback runs once per request, however it is answered", "[serve]") {
  ServingQueue q(4);
  std::vector<std::pair<std::string, bool>> seen;  // (name, ok)
  auto note = [&](const std::string& name) {
    return [&seen, name](const Delivery& d) { seen.emplace_back(name, d.ok); };
  };
  auto a = q.Submit({Filled(1)}, "a", "x", note("a"));
  auto b = q.Submit({Filled(2)}, "b", "x", note("b"));
  auto c = q.Submit({Filled(3)}, "c", "x", note("c"));
  REQUIRE((a.ok() && b.ok() && c.ok()));
  REQUIRE(q.Get(0).ok());  // a
  Delivery d;
  d.index = 0;
  d.ok = true;
  REQUIRE(q.Deliver(d).ok());
  CHECK(q.Cancel(b->id));
  q.FailRemaining("stopped");
  CHECK(seen == std::vector<std::pair<std::string, bool>>{{"a", true}, {"b", false}, {"c", false}});
  CHECK(c->answer.get().error == "stopped");
}

TEST_CASE("clients on several threads each get their own answer through the Streamer, and closing ends it", "[serve]") {
  zmq::context_t ctx(1);
  zmq::socket_t fake_stage0(ctx, zmq::socket_type::pull);
  fake_stage0.set(zmq::sockopt::linger, 0);
  fake_stage0.bind("tcp://127.0.0.1:*");
  const std::string first_hop = fake_stage0.get(zmq::sockopt::last_endpoint);
  Streamer streamer(ctx);
  REQUIRE(streamer.Bind("tcp://127.0.0.1:*").ok());
  const uint32_t version = 3;

  // The fake pipeline negates each request, until told to stop.
  std::atomic<bool> fake_stop{false};
  std::thread fake([&] {
    zmq::socket_t out(ctx, zmq::socket_type::push);
    out.set(zmq::sockopt::linger, 1000);
    out.connect(streamer.bound_endpoint());
    zmq::pollitem_t item{static_cast<void*>(fake_stage0), 0, ZMQ_POLLIN, 0};
    while (!fake_stop) {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(20)) <= 0) continue;
      zmq::message_t m;
      (void)fake_stage0.recv(m);
      auto h = DecodeHeader(m.data(), m.size());
      Reader r(static_cast<const uint8_t*>(m.data()) + kHeaderSize, m.size() - kHeaderSize);
      auto ah = DecodeActivationHeader(r);
      HostTensor t = DecodeActivationPayload(r, ah.value(), 1 << 20).value().tensors.at(0);
      for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = -t.f32()[i];
      auto msg = EncodeActivation(h->id, ActivationHeader{version, 1}, {t}, CodecSpec{Codec::kRaw}, {});
      out.send(zmq::buffer(msg.value()), zmq::send_flags::none);
    }
  });

  ServingQueue queue(64);
  // One request withdrawn before the stream starts: skipped, never sent.
  auto withdrawn = queue.Submit({Filled(-1)}, "withdrawn");
  REQUIRE(withdrawn.ok());
  REQUIRE(queue.Cancel(withdrawn->id));
  Route route;
  route.version = version;
  route.first_hop = first_hop;
  route.codec = CodecSpec{Codec::kRaw};
  StaticDirector director(route);
  StreamOptions o;
  o.window = 4;
  o.keep_samples = false;
  std::atomic<bool> stop{false};
  Result<StreamReport> rep = Status::Internal("not run");
  std::thread stream([&] {
    rep = streamer.Run(
        queue, director, o, [&](const Delivery& d) { return queue.Deliver(d); }, stop, nullptr);
  });

  const int clients = 8, each = 25;
  std::atomic<int> wrong{0}, answered{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int k = 0; k < each; ++k) {
        const float v = static_cast<float>(c * 1000 + k);
        auto ticket = queue.Submit({Filled(v)}, "c" + std::to_string(c), "client" + std::to_string(c));
        if (!ticket.ok()) {  // full: try again
          --k;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        if (ticket->answer.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
          ++wrong;
          return;
        }
        const Delivery& d = ticket->answer.get();
        if (!d.ok || d.outputs.size() != 1 || d.outputs[0].f32()[0] != -v || d.outputs[0].f32()[3] != -(v + 3)) ++wrong;
        ++answered;
      }
    });
  }
  for (auto& t : threads) t.join();
  queue.Close();
  stream.join();
  fake_stop = true;
  fake.join();
  CHECK(wrong == 0);
  CHECK(answered == clients * each);
  REQUIRE(rep.ok());
  CHECK(rep->completed == clients * each);
  CHECK(rep->failed == 0);
  CHECK_FALSE(rep->interrupted);
  CHECK(rep->latencies_s.empty());  // keep_samples off
  CHECK(queue.queued() == 0);
}

}  // namespace
}  // namespace tandem
