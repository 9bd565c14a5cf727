// Private to gateway/*.cpp: file work for streamed bodies, off the Asio threads. Upload bodies are
// spooled into the media store's tmp directory and downloads are read from disk in chunks; every
// open, write, read, fsync and unlink runs on the gateway's small file pool, and the connection's
// coroutine awaits it like any other asynchronous operation.
//
// As in detail_hop.hpp, the initiation is a named function object built outside co_await
// expressions (g++ 12 destroys capturing lambdas written inside them twice; asio#1007).
#pragma once
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "storage/media/media_store.hpp"

namespace myelin::gateway::detail {
namespace asio = boost::asio;

template <class Handler>
struct pool_job {
  std::function<void()> work;
  Handler handler;
  asio::executor_work_guard<asio::associated_executor_t<Handler>> guard;

  void operator()() {
    std::exception_ptr failure;
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
    auto ex = guard.get_executor();
    asio::post(ex, completion{std::move(handler), failure});
    guard.reset();
  }

  struct completion {
    Handler handler;
    std::exception_ptr failure;
    void operator()() { std::move(handler)(failure); }
  };
};

struct pool_initiation {
  asio::thread_pool* pool;

  template <class Handler>
  void operator()(Handler&& handler, std::function<void()> work) const {
    using H = std::decay_t<Handler>;
    auto ex = asio::get_associated_executor(handler);
    asio::post(*pool, pool_job<H>{std::move(work), std::forward<Handler>(handler), asio::make_work_guard(ex)});
  }
};

// Runs `work` on the pool; completes on the caller's executor with the exception it threw, if any.
template <class Token>
auto async_on_pool(asio::thread_pool& pool, std::function<void()> work, Token&& token) {
  return asio::async_initiate<Token, void(std::exception_ptr)>(pool_initiation{&pool}, token, std::move(work));
}

// One upload body on its way to disk. Touched only from pool jobs, one at a time.
struct body_spool {
  const storage::media::media_store* store = nullptr;
  uint64_t max_size = 0;
  std::optional<storage::media::media_store::upload> file;
  storage::media::media_store::upload::sealed done;
};

// A file being sent as a response body. Touched only from pool jobs, one at a time.
struct file_source {
  int fd = -1;
  uint64_t size = 0;
  ~file_source();
  // Opens `path` and reads its size; false (errno set) when it cannot be opened.
  bool open(const std::string& path);
  // Reads up to `max` bytes at `offset` into `out` (resized to what was read).
  void read_at(uint64_t offset, size_t max, std::string& out) const;
};

} // namespace myelin::gateway::detail
