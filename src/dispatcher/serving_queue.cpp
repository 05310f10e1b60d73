#include "dispatcher/serving_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace tandem {
namespace {

Delivery NotRun(int64_t index, const std::string& why) {
  Delivery d;
  d.index = index;
  d.error = why;
  d.not_run = true;
  return d;
}

}  // namespace

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

Result<ServingQueue::Ticket> ServingQueue::Submit(std::vector<HostTensor> inputs, std::string name) {
  Ticket ticket;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Status::Unavailable("shutting down: no new requests are taken");
    if (static_cast<int>(entries_.size()) - cancelled_ >= max_queued_)
      return Status::Unavailable("the queue is full (" + std::to_string(max_queued_) + " requests waiting)");
    ticket.index = count_++;
    Entry& e = entries_[ticket.index];
    e.inputs = std::move(inputs);
    e.name = std::move(name);
    ticket.answer = e.promise.get_future().share();
  }
  Wake();
  return ticket;
}

bool ServingQueue::Cancel(int64_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(index);
  if (it == entries_.end() || it->second.taken || it->second.cancelled) return false;
  Entry& e = it->second;
  e.cancelled = true;
  ++cancelled_;
  e.inputs.clear();
  e.inputs.shrink_to_fit();
  e.promise.set_value(NotRun(index, "withdrawn: its deadline passed before it was sent"));
  return true;
}

Status ServingQueue::Deliver(const Delivery& delivery) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(delivery.index);
  if (it == entries_.end())
    return Status::Internal("a result for request " + std::to_string(delivery.index) + " that is not waiting");
  if (it->second.cancelled)
    --cancelled_;  // answered when withdrawn
  else
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
  for (auto& [index, e] : entries_)
    if (!e.cancelled) e.promise.set_value(NotRun(index, why));
  entries_.clear();
  cancelled_ = 0;
}

int ServingQueue::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(entries_.size()) - cancelled_;
}

bool ServingQueue::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

int64_t ServingQueue::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

Result<std::vector<HostTensor>> ServingQueue::Get(int64_t i) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(i);
  if (it == entries_.end()) return Status::Internal("request " + std::to_string(i) + " is not waiting");
  if (it->second.cancelled) return Status::NotFound("request " + std::to_string(i) + " was withdrawn");
  it->second.taken = true;
  return std::move(it->second.inputs);
}

std::string ServingQueue::Name(int64_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(i);
  return it != entries_.end() ? it->second.name : "request-" + std::to_string(i);
}

bool ServingQueue::open() const { return !closed(); }

bool ServingQueue::Cancelled(int64_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(i);
  return it != entries_.end() && it->second.cancelled;
}

}  // namespace tandem
