// The requests of `serve`'s clients, as one open-ended InputSource for the
// Streamer: a client submits a request and waits for its own result; the
// Streamer takes requests in submission order and hands every result back
// through Deliver, exactly once.
//
// Bounded: at most `max_queued` requests are accepted and not yet answered
// (waiting to be sent or in the pipeline); Submit refuses more (the HTTP
// layer answers 503), and refuses everything once closed. A request accepted
// is answered: by its result, by its failure, or, if it is withdrawn (its
// client's deadline passed before it was sent) or the dispatcher stops
// before its result comes, by an error saying so (Delivery::not_run; never
// silently dropped). A withdrawn request frees its place at once.
#pragma once

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
  explicit ServingQueue(int max_queued);
  ~ServingQueue() override;
  ServingQueue(const ServingQueue&) = delete;
  ServingQueue& operator=(const ServingQueue&) = delete;

  struct Ticket {
    int64_t index = 0;                    // for Cancel
    std::shared_future<Delivery> answer;  // ready once, when it is answered
  };
  // Accepts a request (one tensor per model input, already checked against
  // the model's inputs). Errors: Unavailable when full or closed (the message
  // says which).
  Result<Ticket> Submit(std::vector<HostTensor> inputs, std::string name);
  // Withdraws a request the Streamer has not taken yet: it is answered now
  // (not_run) and frees its place; the Streamer skips it. Returns false when
  // it was taken already (it runs; its answer comes as usual) or answered.
  bool Cancel(int64_t index);
  // The Streamer's sink: completes the request's future.
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

  int64_t count() const override;
  Result<std::vector<HostTensor>> Get(int64_t i) override;
  std::string Name(int64_t i) const override;
  bool open() const override;
  int wakeup_fd() const override { return wakeup_fd_; }
  bool Cancelled(int64_t i) const override;

 private:
  struct Entry {
    std::vector<HostTensor> inputs;  // until the Streamer takes them
    std::string name;
    std::promise<Delivery> promise;
    bool taken = false;      // by the Streamer (Get)
    bool cancelled = false;  // withdrawn: answered, kept until the Streamer passes it
  };
  void Wake();

  const int max_queued_;
  int wakeup_fd_ = -1;
  mutable std::mutex mu_;
  std::map<int64_t, Entry> entries_;  // by index, until delivered
  int64_t count_ = 0;
  int cancelled_ = 0;  // entries withdrawn and not yet passed
  bool closed_ = false;
};

}  // namespace tandem
