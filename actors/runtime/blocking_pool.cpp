#include "actors/runtime/blocking_pool.hpp"

#include <pthread.h>

#include "common/log.hpp"

namespace myelin::runtime {

blocking_pool::blocking_pool(size_t threads, std::string name) : name_(std::move(name)) {
  if (threads == 0) threads = 1;
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    workers_.emplace_back([this] { run(); });
    pthread_setname_np(workers_.back().native_handle(), name_.substr(0, 15).c_str());
  }
}

blocking_pool::~blocking_pool() { stop(); }

void blocking_pool::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void blocking_pool::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

size_t blocking_pool::queued() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

void blocking_pool::run() {
  static const logger log("runtime");
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      log.error("blocking job threw", {{"pool", name_}, {"error", e.what()}});
    } catch (...) {
      log.error("blocking job threw", {{"pool", name_}});
    }
  }
}

} // namespace myelin::runtime
