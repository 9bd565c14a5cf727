// A fixed pool of plain threads for work that blocks (database calls, password hashing). Group
// instances hand their handlers to it so that the actor scheduler and the Asio threads never block.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace myelin::runtime {

class blocking_pool {
public:
  blocking_pool(size_t threads, std::string name);
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  // Queues a job. After stop(), jobs are dropped (their owners answer by timeout/monitor).
  void post(std::function<void()> job);
  // Finishes queued jobs, then joins the threads. Idempotent.
  void stop();
  size_t queued() const;
  size_t threads() const { return workers_.size(); }

private:
  void run();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  std::string name_;
};

} // namespace myelin::runtime
