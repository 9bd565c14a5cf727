// Private to gateway/*.cpp: the hop from an HTTP coroutine to the actor runtime and back. The
// runtime (dispatcher, authenticator) completes on its own threads; a hop posts that completion
// back to the connection's strand, so no Asio thread ever blocks on an actor.
//
// The runtime may answer after the server has stopped (its requests time out on their own clock),
// so every pending hop is registered: at shutdown the server completes the stragglers itself with
// a "cancelled" result and closes the registry, and a late answer then touches nothing of Asio.
//
// The initiations are named function objects called from ordinary functions: never a capturing
// lambda written inside a co_await expression (g++ 12 destroys those twice; asio#1007).
#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_set>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "gateway/gateway.hpp"
#include "protocol/errors.hpp"

namespace myelin::gateway::detail {
namespace asio = boost::asio;

class hop_registry {
public:
  struct pending {
    virtual void cancel_locked() = 0;  // called with `mu` held

  protected:
    ~pending() = default;
  };

  // Completes every pending hop with its cancelled result; later hops complete at once.
  void close_and_cancel_all() {
    std::lock_guard lock(mu);
    closed = true;
    auto ops = std::move(pending_ops);
    pending_ops.clear();
    for (auto* op : ops) op->cancel_locked();
  }

  std::mutex mu;
  bool closed = false;
  std::unordered_set<pending*> pending_ops;
};

template <class Result>
class hop final : public hop_registry::pending {
public:
  using handler_type = asio::any_completion_handler<void(Result)>;

  hop(std::shared_ptr<hop_registry> registry, asio::any_io_executor ex, handler_type handler, Result if_cancelled)
      : registry_(std::move(registry)), ex_(ex), guard_(std::in_place, ex), handler_(std::move(handler)),
        if_cancelled_(std::move(if_cancelled)) {
    std::lock_guard lock(registry_->mu);
    if (registry_->closed) deliver_locked(if_cancelled_);
    else registry_->pending_ops.insert(this);
  }

  hop(const hop&) = delete;
  hop& operator=(const hop&) = delete;

  // A runtime that drops its callback without calling it must not leave a connection hanging.
  ~hop() {
    std::lock_guard lock(registry_->mu);
    deliver_locked(if_cancelled_);
  }

  // The runtime's answer, from any thread. Only the first delivery counts.
  void deliver(Result r) {
    std::lock_guard lock(registry_->mu);
    deliver_locked(std::move(r));
  }

  void cancel_locked() override { deliver_locked(if_cancelled_); }

  // False when the registry was already closed: the hop completed at once, skip the runtime.
  // Only meaningful right after construction, before the runtime has seen the hop.
  bool registered() const { return ex_.has_value(); }

private:
  void deliver_locked(Result r) {
    if (!ex_) return;
    registry_->pending_ops.erase(this);
    asio::post(*ex_, completion{std::move(handler_), std::move(r)});
    ex_.reset();
    guard_.reset();
  }

  struct completion {
    handler_type handler;
    Result result;
    void operator()() { std::move(handler)(std::move(result)); }
  };

  std::shared_ptr<hop_registry> registry_;
  std::optional<asio::any_io_executor> ex_;  // empty once delivered
  std::optional<asio::executor_work_guard<asio::any_io_executor>> guard_;
  handler_type handler_;
  Result if_cancelled_;
};

template <class Result, class Handler>
std::shared_ptr<hop<Result>> make_hop(const std::shared_ptr<hop_registry>& registry, Handler&& handler,
                                      Result if_cancelled) {
  asio::any_io_executor ex = asio::get_associated_executor(handler);
  return std::make_shared<hop<Result>>(registry, ex, typename hop<Result>::handler_type(std::move(handler)),
                                       std::move(if_cancelled));
}

// ---- dispatcher.dispatch ----
struct dispatch_outcome {
  api_response response;
  std::string instance;
};

inline dispatch_outcome failed_dispatch(const protocol::matrix_error& e) {
  dispatch_outcome o;
  o.response.status = static_cast<uint16_t>(e.status());
  o.response.body = e.body();
  return o;
}

struct dispatch_initiation {
  std::shared_ptr<hop_registry> registry;
  dispatcher* target;

  template <class Handler>
  void operator()(Handler&& handler, std::string group, std::string affinity_key, api_request req) const {
    auto op = make_hop<dispatch_outcome>(registry, std::forward<Handler>(handler),
                                         failed_dispatch(protocol::errors::unavailable("Server is shutting down")));
    if (!op->registered()) return;
    try {
      target->dispatch(group, affinity_key, std::move(req), [op](api_response r, std::string instance) {
        op->deliver(dispatch_outcome{std::move(r), std::move(instance)});
      });
    } catch (const std::exception& e) {
      op->deliver(failed_dispatch(protocol::errors::unknown(std::string("dispatch failed: ") + e.what())));
    }
  }
};

template <class Token>
auto async_dispatch(std::shared_ptr<hop_registry> registry, dispatcher& d, std::string group,
                    std::string affinity_key, api_request req, Token&& token) {
  return asio::async_initiate<Token, void(dispatch_outcome)>(dispatch_initiation{std::move(registry), &d}, token,
                                                              std::move(group), std::move(affinity_key),
                                                              std::move(req));
}

// ---- authenticator.authenticate ----
inline auth_result auth_unavailable() {
  auth_result r;
  r.result = auth_result::outcome::unavailable;
  return r;
}

struct authenticate_initiation {
  std::shared_ptr<hop_registry> registry;
  authenticator* target;

  template <class Handler>
  void operator()(Handler&& handler, std::string access_token, std::string as_user_id) const {
    auto op = make_hop<auth_result>(registry, std::forward<Handler>(handler),
                                    auth_unavailable());
    if (!op->registered()) return;
    try {
      target->authenticate(std::move(access_token), std::move(as_user_id),
                           [op](auth_result r) { op->deliver(std::move(r)); });
    } catch (const std::exception&) {
      op->deliver(auth_unavailable());
    }
  }
};

template <class Token>
auto async_authenticate(std::shared_ptr<hop_registry> registry, authenticator& a, std::string access_token,
                        std::string as_user_id, Token&& token) {
  return asio::async_initiate<Token, void(auth_result)>(authenticate_initiation{std::move(registry), &a}, token,
                                                         std::move(access_token), std::move(as_user_id));
}

// ---- dispatcher.wait_for_positions (read-after-write) ----
struct wait_initiation {
  std::shared_ptr<hop_registry> registry;
  dispatcher* target;

  template <class Handler>
  void operator()(Handler&& handler, std::vector<stream_position> positions, std::chrono::milliseconds timeout) const {
    // bool: whether the wait ended normally; a cancelled wait still lets the response go out.
    auto op = make_hop<bool>(registry, std::forward<Handler>(handler), false);
    if (!op->registered()) return;
    try {
      target->wait_for_positions(std::move(positions), timeout, [op] { op->deliver(true); });
    } catch (const std::exception&) {
      op->deliver(false);
    }
  }
};

template <class Token>
auto async_wait_for_positions(std::shared_ptr<hop_registry> registry, dispatcher& d,
                              std::vector<stream_position> positions, std::chrono::milliseconds timeout,
                              Token&& token) {
  return asio::async_initiate<Token, void(bool)>(wait_initiation{std::move(registry), &d}, token,
                                                  std::move(positions), timeout);
}

} // namespace myelin::gateway::detail
