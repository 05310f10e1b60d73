#include "dispatcher/serving_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace tandem {

ServingQueue::ServingQueue(int max_queued)
    : max_queued_(max_queued), wakeup_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

ServingQueue::~ServingQueue() {
  FailRemaining("the dispatcher stopped before this request was answered");
  if (wakeup_fd_ >= 0) ::close(wakeup_fd_);
}

void ServingQueue::Wake() {
  const uint64_t one = 1;
  if (wakeup_fd_ >= 0 && ::write(wakeup_fd_, &one, sizeof one) < 0) {
    // EAGAIN: the counter is full, so the Streamer is woken anyway.
  }
}

Result<std::shared_future<Delivery>> ServingQueue::Submit(std::vector<HostTensor> inputs, std::string name) {
  std::shared_future<Delivery> future;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Status::Unavailable("shutting down: no new requests are taken");
    if (static_cast<int>(entries_.size()) >= max_queued_)
      return Status::Unavailable("the queue is full (" + std::to_string(max_queued_) + " requests waiting)");
    Entry& e = entries_[count_];
    e.inputs = std::move(inputs);
    e.name = std::move(name);
    future = e.promise.get_future().share();
    ++count_;
  }
  Wake();
  return future;
}

Status ServingQueue::Deliver(const Delivery& delivery) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(delivery.index);
  if (it == entries_.end())
    return Status::Internal("a result for request " + std::to_string(delivery.index) + " that is not waiting");
  it->second.promise.set_value(delivery);
  entries_.erase(it);
  return Status::OK();
}

void ServingQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  Wake();
}

void ServingQueue::FailRemaining(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  for (auto& [index, e] : entries_) {
    Delivery d;
    d.index = index;
    d.error = why;
    e.promise.set_value(std::move(d));
  }
  entries_.clear();
}

int ServingQueue::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(entries_.size());
}

bool ServingQueue::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

int ServingQueue::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

Result<std::vector<HostTensor>> ServingQueue::Get(int i) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(i);
  if (it == entries_.end()) return Status::Internal("request " + std::to_string(i) + " is not waiting");
  return std::move(it->second.inputs);
}

std::string ServingQueue::Name(int i) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(i);
  return it != entries_.end() ? it->second.name : "request-" + std::to_string(i);
}

bool ServingQueue::open() const { return !closed(); }

}  // namespace tandem
