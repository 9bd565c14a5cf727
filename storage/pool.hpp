// A connection pool shared by both backends: idle connections are reused, new ones opened up to
// the limit, and callers wait when all are in use. A null connection given back (one that broke)
// frees its slot.
#pragma once
#include <condition_variable>
#include <mutex>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage {

class pooled_database : public database {
public:
  explicit pooled_database(size_t max_connections) : max_(max_connections ? max_connections : 1) {}
  size_t pool_size() const override { return max_; }
  size_t idle_connections() const override {
    std::lock_guard lock(mu_);
    return idle_.size();
  }

protected:
  virtual std::unique_ptr<connection> open_connection() = 0;

  std::unique_ptr<connection> take() override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < max_; });
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
    lock.unlock();
    try {
      return open_connection();
    } catch (...) {
      lock.lock();
      --open_;
      cv_.notify_one();
      throw;
    }
  }

  void give_back(std::unique_ptr<connection> c) override {
    {
      std::lock_guard lock(mu_);
      if (c) idle_.push_back(std::move(c));
      else --open_;
    }
    cv_.notify_one();
  }

private:
  size_t max_;
  size_t open_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<connection>> idle_;
};

} // namespace myelin::storage
