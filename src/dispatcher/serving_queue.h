// The requests of `serve`'s clients, as one open-ended InputSource for the
// Streamer: a client submits a request and waits for its own result; the
// Streamer takes requests and hands every result back through Deliver,
// exactly once.
//
// Bounded: at most `max_queued` requests are accepted and not yet answered
// (waiting to be sent or in the pipeline); Submit refuses more (the HTTP
// layer answers 503), and refuses everything once closed. A request accepted
// is answered: by its result, by its failure, or, if it is withdrawn (its
// client's deadline passed before it was sent) or the dispatcher stops
// before its result comes, by an error saying so (Delivery::not_run; never
// silently dropped). A withdrawn request frees its place at once.
//
// Fair between clients (each request names its client: an address, a key):
// the Streamer takes the clients' requests in turn, one from each client
// that has any waiting (each client's own in the order it sent them), so a
// client that keeps the queue full delays another's request by at most one
// of its own per turn; and one client holds at most `max_per_client` of the
// places, so the others can still get in while it floods.
//
// Thread-safe: clients call Submit/Cancel from any thread, the Streamer
// calls the InputSource methods and Deliver from its own.
#pragma once

#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/tensor/tensor.h"
#include "common/util/status.h"
#include "dispatcher/input_source.h"
#include "dispatcher/streamer.h"

namespace tandem {

class ServingQueue : public InputSource {
 public:
  // max_per_client: requests of one client accepted and not answered, at
  // most; 0: three quarters of max_queued (at least 1).
  explicit ServingQueue(int max_queued, int max_per_client = 0);
  ~ServingQueue() override;
  ServingQueue(const ServingQueue&) = delete;
  ServingQueue& operator=(const ServingQueue&) = delete;

  // Called once with the request's answer, on the thread that answers it
  // (the Streamer's, Cancel's caller's, or FailRemaining's), with no lock
  // held. It must not block.
  using AnswerCallback = std::function<void(const Delivery&)>;
  struct Ticket {
    int64_t id = 0;                       // for Cancel
    std::shared_future<Delivery> answer;  // ready once, when it is answered
  };
  // Accepts a request (one tensor per model input, already checked against
  // the model's inputs) from `client`. Errors: Unavailable when full, when
  // the client holds its share, or when closed (the message says which).
  Result<Ticket> Submit(std::vector<HostTensor> inputs, std::string name, const std::string& client = "",
                        AnswerCallback on_answer = nullptr);
  // Withdraws a request the Streamer has not taken yet: it is answered now
  // (not_run) and frees its place; the Streamer skips it. Returns false when
  // it was taken already (it runs; its answer comes as usual) or answered.
  bool Cancel(int64_t id);
  // The Streamer's sink: answers the request the Streamer took as
  // delivery.index.
  Status Deliver(const Delivery& delivery);
  // No more requests: Submit refuses from now on; the Streamer ends once
  // every accepted request is delivered.
  void Close();
  // Answers every request still waiting with `why` (after the Streamer has
  // stopped without delivering them).
  void FailRemaining(const std::string& why);

  // Accepted and not yet answered (withdrawn ones not counted).
  int queued() const;
  bool closed() const;
  int max_per_client() const { return max_per_client_; }

  // The InputSource: count() is every request accepted (withdrawn ones
  // included: the Streamer passes them as failed); Get(i) takes the next
  // request in the clients' turn and makes it the stream's request i, so it
  // must be called for i = 0, 1, ... in order.
  int64_t count() const override;
  Result<std::vector<HostTensor>> Get(int64_t i) override;
  std::string Name(int64_t i) const override;
  bool open() const override;
  int wakeup_fd() const override { return wakeup_fd_; }
  bool Cancelled(int64_t i) const override;

 private:
  struct Entry {
    std::vector<HostTensor> inputs;  // until the Streamer takes them
    std::string name, client;
    std::promise<Delivery> promise;
    AnswerCallback on_answer;
    int64_t slot = -1;       // the stream's index once taken
    bool cancelled = false;  // withdrawn: answered, kept until the Streamer passes it
  };
  using Answers = std::vector<std::pair<AnswerCallback, Delivery>>;
  // Completes e's promise and queues its callback for `done` (run unlocked).
  static void Answer(Entry& e, const Delivery& d, Answers* done);
  static void RunCallbacks(Answers& done);
  void Release(const Entry& e);  // e no longer holds a place
  void Wake();

  const int max_queued_, max_per_client_;
  int wakeup_fd_ = -1;
  mutable std::mutex mu_;
  std::map<int64_t, Entry> entries_;                    // by ticket id, until delivered
  std::map<std::string, std::deque<int64_t>> waiting_;  // per client: not taken, not withdrawn, in order
  std::deque<int64_t> withdrawn_;                       // withdrawn before they were taken, in order
  std::map<int64_t, int64_t> slots_;                    // the stream's index -> ticket id, until delivered
  std::map<std::string, int> held_;                     // per client: accepted, not answered
  std::string last_turn_;                               // the client whose request was taken last
  int64_t next_id_ = 0, next_slot_ = 0;
  int queued_ = 0;
  bool closed_ = false;
};

}  // namespace tandem
