// The requests of `serve`'s clients, as one open-ended InputSource for the
// Streamer: a client submits a request and waits for its own result; the
// Streamer takes requests in submission order and hands every result back
// through Deliver, exactly once.
//
// Bounded: at most `max_queued` requests are accepted and not yet answered
// (waiting to be sent or in the pipeline); Submit refuses more (the HTTP
// layer answers 503), and refuses everything once closed. A request accepted
// is answered: by its result, by its failure, or, if the dispatcher stops
// before its result comes, by an error saying so (never silently dropped).
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

  // Accepts a request (one tensor per model input, already checked against
  // the model's inputs). Errors: Unavailable when full or closed (the message
  // says which).
  Result<std::shared_future<Delivery>> Submit(std::vector<HostTensor> inputs, std::string name);
  // The Streamer's sink: completes the request's future.
  Status Deliver(const Delivery& delivery);
  // No more requests: Submit refuses from now on; the Streamer ends once
  // every accepted request is delivered.
  void Close();
  // Answers every request still waiting with `why` (after the Streamer has
  // stopped without delivering them).
  void FailRemaining(const std::string& why);

  // Accepted and not yet answered.
  int queued() const;
  bool closed() const;

  int count() const override;
  Result<std::vector<HostTensor>> Get(int i) override;
  std::string Name(int i) const override;
  bool open() const override;
  int wakeup_fd() const override { return wakeup_fd_; }

 private:
  struct Entry {
    std::vector<HostTensor> inputs;  // until the Streamer takes them
    std::string name;
    std::promise<Delivery> promise;
  };
  void Wake();

  const int max_queued_;
  int wakeup_fd_ = -1;
  mutable std::mutex mu_;
  std::map<int, Entry> entries_;  // by index, until delivered
  int count_ = 0;
  bool closed_ = false;
};

}  // namespace tandem
