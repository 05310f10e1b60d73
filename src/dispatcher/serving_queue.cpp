#include "dispatcher/serving_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

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

ServingQueue::ServingQueue(int max_queued, int max_per_client)
    : max_queued_(max_queued),
      max_per_client_(max_per_client > 0 ? max_per_client : std::max(1, max_queued * 3 / 4)),
      wakeup_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

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

void ServingQueue::Answer(Entry& e, const Delivery& d, Answers* done) {
  e.promise.set_value(d);
  if (e.on_answer) done->emplace_back(std::move(e.on_answer), d);
}

void ServingQueue::RunCallbacks(Answers& done) {
  for (auto& [callback, delivery] : done) callback(delivery);
}

void ServingQueue::Release(const Entry& e) {
  --queued_;
  auto h = held_.find(e.client);
  if (h != held_.end() && --h->second <= 0) held_.erase(h);
}

Result<ServingQueue::Ticket> ServingQueue::Submit(std::vector<HostTensor> inputs, std::string name,
                                                  const std::string& client, AnswerCallback on_answer) {
  Ticket ticket;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Status::Unavailable("shutting down: no new requests are taken");
    if (queued_ >= max_queued_)
      return Status::Unavailable("the queue is full (" + std::to_string(max_queued_) + " requests waiting)");
    int& held = held_[client];
    if (held >= max_per_client_)
      return Status::Unavailable("this client has " + std::to_string(held) +
                                 " requests waiting, its share of the queue (the rest is kept for others)");
    ++held;
    ++queued_;
    ticket.id = next_id_++;
    Entry& e = entries_[ticket.id];
    e.inputs = std::move(inputs);
    e.name = std::move(name);
    e.client = client;
    e.on_answer = std::move(on_answer);
    ticket.answer = e.promise.get_future().share();
    waiting_[client].push_back(ticket.id);
  }
  Wake();
  return ticket;
}

bool ServingQueue::Cancel(int64_t id) {
  Answers done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.slot >= 0 || it->second.cancelled) return false;
    Entry& e = it->second;
    e.cancelled = true;
    e.inputs.clear();
    e.inputs.shrink_to_fit();
    auto w = waiting_.find(e.client);
    if (w != waiting_.end()) {
      w->second.erase(std::find(w->second.begin(), w->second.end(), id));
      if (w->second.empty()) waiting_.erase(w);
    }
    withdrawn_.push_back(id);
    Release(e);
    Answer(e, NotRun(id, "withdrawn: its deadline passed before it was sent"), &done);
  }
  RunCallbacks(done);
  return true;
}

Status ServingQueue::Deliver(const Delivery& delivery) {
  Answers done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto s = slots_.find(delivery.index);
    if (s == slots_.end())
      return Status::Internal("a result for request " + std::to_string(delivery.index) + " that is not waiting");
    auto it = entries_.find(s->second);
    slots_.erase(s);
    if (it == entries_.end()) return Status::OK();  // answered by FailRemaining
    if (!it->second.cancelled) {                    // a withdrawn one was answered then
      Release(it->second);
      Answer(it->second, delivery, &done);
    }
    entries_.erase(it);
  }
  RunCallbacks(done);
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
  Answers done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    for (auto& [id, e] : entries_)
      if (!e.cancelled) Answer(e, NotRun(e.slot >= 0 ? e.slot : id, why), &done);
    entries_.clear();
    waiting_.clear();
    withdrawn_.clear();
    held_.clear();
    queued_ = 0;
  }
  RunCallbacks(done);
}

int ServingQueue::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

bool ServingQueue::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

int64_t ServingQueue::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_id_;
}

Result<std::vector<HostTensor>> ServingQueue::Get(int64_t i) {
  std::lock_guard<std::mutex> lock(mu_);
  if (i != next_slot_)
    return Status::Internal("request " + std::to_string(i) + " taken out of order (next is " +
                            std::to_string(next_slot_) + ")");
  if (waiting_.empty()) {
    // Only withdrawn ones are left: the Streamer passes one of them.
    if (withdrawn_.empty()) return Status::Internal("request " + std::to_string(i) + " is not waiting");
    const int64_t id = withdrawn_.front();
    withdrawn_.pop_front();
    entries_.at(id).slot = i;
    slots_[i] = id;
    ++next_slot_;
    return Status::NotFound("request " + std::to_string(i) + " was withdrawn");
  }
  // The next client after the one served last, in name order, round.
  auto w = waiting_.upper_bound(last_turn_);
  if (w == waiting_.end()) w = waiting_.begin();
  last_turn_ = w->first;
  const int64_t id = w->second.front();
  w->second.pop_front();
  if (w->second.empty()) waiting_.erase(w);
  Entry& e = entries_.at(id);
  e.slot = i;
  slots_[i] = id;
  ++next_slot_;
  return std::move(e.inputs);
}

std::string ServingQueue::Name(int64_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = slots_.find(i);
  auto it = s != slots_.end() ? entries_.find(s->second) : entries_.end();
  return it != entries_.end() ? it->second.name : "request-" + std::to_string(i);
}

bool ServingQueue::open() const { return !closed(); }

bool ServingQueue::Cancelled(int64_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = slots_.find(i);
  auto it = s != slots_.end() ? entries_.find(s->second) : entries_.end();
  return it != entries_.end() && it->second.cancelled;
}

}  // namespace tandem
