// Private to gateway/server.cpp and gateway/session.cpp: what the listeners, the connection
// coroutines and stop() share. Pulls in Asio, so no other file may include it.
#pragma once
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "gateway/detail_files.hpp"
#include "gateway/detail_hop.hpp"
#include "gateway/gateway.hpp"

namespace boost::asio::ssl { class context; }

namespace myelin::gateway::detail {

struct listener_info {
  std::string name;  // "127.0.0.1:8008" or "unix:/run/myelin.sock", for logs
  bool x_forwarded = false;
  // The listener's `resources`: a path outside them is 404 here, as in Synapse, so a
  // federation-only port never serves the client API and the other way round.
  bool client = false;
  bool federation = false;
  bool media = false;
  bool openid = false;
  bool metrics = false;       // GET /metrics (and /_synapse/metrics) here
  bool metrics_only = false;  // a `type: metrics` listener: /metrics and /health, nothing else
  // `tls: true`: connections start with a TLS handshake (gateway/tls.cpp loads the context).
  std::shared_ptr<asio::ssl::context> tls;

  bool serves(std::string_view raw_path) const {
    if (metrics_only) return false;
    auto starts = [&](std::string_view p) { return raw_path.substr(0, p.size()) == p; };
    if (starts("/_matrix/federation/v1/openid/")) return federation || openid;
    if (starts("/_matrix/federation/") || starts("/_matrix/key/")) return federation;
    // As in Synapse, the media repository comes with the client and federation resources too.
    if (starts("/_matrix/media/")) return media || client || federation;
    return client;  // the client API, /.well-known/matrix/client, /_myelin
  }
};

inline listener_info make_listener_info(std::string name, const listener_config& l,
                                        std::shared_ptr<asio::ssl::context> tls = nullptr) {
  listener_info li{std::move(name), l.x_forwarded};
  li.tls = std::move(tls);
  if (l.type == "metrics") {
    li.metrics = li.metrics_only = true;
    return li;
  }
  for (const auto& r : l.resources) {
    if (r == "client") li.client = true;
    else if (r == "federation") li.federation = true;
    else if (r == "media") li.media = true;
    else if (r == "openid") li.openid = true;
    else if (r == "metrics") li.metrics = true;
  }
  return li;
}

// A connection as stop() sees it from outside the connection's coroutine. Touched only on the
// connection's strand, where stop() posts its requests.
struct connection_control {
  asio::any_io_executor strand;
  bool busy = false;            // between a request's header and its response: in flight
  std::function<void()> close;  // empty once the coroutine has ended
};

struct server_state {
  server_state(const homeserver_config& cfg, const endpoint_catalog& catalog, dispatcher& runtime,
               authenticator& auth, rate_limiter& limiter)
      : limits(cfg.limits), access_log(cfg.logging.access_log), catalog(catalog), runtime(runtime), auth(auth),
        limiter(limiter) {
    if (!cfg.media_store_path.empty()) media_store.emplace(cfg.media_store_path);
    std::random_device rd;
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%06x", static_cast<unsigned>(rd()) & 0xffffffu);
    request_id_prefix = prefix;
  }

  const limits_config limits;
  const bool access_log;
  const endpoint_catalog& catalog;
  dispatcher& runtime;
  authenticator& auth;
  rate_limiter& limiter;
  const std::shared_ptr<hop_registry> hops = std::make_shared<hop_registry>();
  // Upload bodies are spooled into the media store's tmp directory (the media group adopts them);
  // file work (spooling, reading downloads) runs on this pool, never on an Asio thread. Without a
  // media_store_path (unit tests) upload bodies are read into memory like any other.
  std::optional<storage::media::media_store> media_store;
  asio::thread_pool file_pool{2};
  std::optional<std::string> direct_versions_body;  // set before start(), read-only afterwards

  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> open_connections{0};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<int64_t> last_overload_log_ms{0};

  // Every answered request, by the group that answered it ("gateway" when none did), its endpoint
  // ("-" when none matched), method and status; latency by group.
  metrics::family<metrics::counter>& requests_metric = metrics::registry::global().counters(
      "myelin_http_requests_total", "HTTP requests answered, by group, endpoint, method and status code.",
      {"group", "endpoint", "method", "code"});
  metrics::family<metrics::histogram>& latency_metric = metrics::registry::global().histograms(
      "myelin_http_request_duration_seconds", "Time from a request's header to its response written, by group.",
      {"group"});

  const logger log{"gateway"};
  const logger access{"access"};

  std::mutex connections_mu;
  std::unordered_map<uint64_t, std::shared_ptr<connection_control>> connections;
  uint64_t next_connection_id = 0;

  uint64_t add_connection(std::shared_ptr<connection_control> c) {
    std::lock_guard lock(connections_mu);
    uint64_t id = next_connection_id++;
    connections.emplace(id, std::move(c));
    return id;
  }

  void remove_connection(uint64_t id) {
    std::lock_guard lock(connections_mu);
    connections.erase(id);
  }

  std::vector<std::shared_ptr<connection_control>> connection_list() {
    std::lock_guard lock(connections_mu);
    std::vector<std::shared_ptr<connection_control>> out;
    out.reserve(connections.size());
    for (auto& [id, c] : connections) out.push_back(c);
    return out;
  }

  // Short and unique per process: a random boot prefix (to tell restarts apart) and a counter.
  std::string new_request_id() {
    return request_id_prefix + "-" + std::to_string(next_request_id.fetch_add(1, std::memory_order_relaxed));
  }

private:
  std::string request_id_prefix;
  std::atomic<uint64_t> next_request_id{1};
};

// Serves one accepted connection until it closes (gateway/session.cpp). The caller has already
// counted it in `open_connections`; the session uncounts it when it ends.
void spawn_session(std::shared_ptr<server_state> st, asio::ip::tcp::socket socket,
                   std::shared_ptr<const listener_info> listener);
void spawn_session(std::shared_ptr<server_state> st, asio::local::stream_protocol::socket socket,
                   std::shared_ptr<const listener_info> listener);

// The server side of TLS for `tls: true` listeners, from homeserver.yaml's tls_certificate_path (a
// PEM chain) and tls_private_key_path. Throws std::runtime_error naming the key whose file is bad.
std::shared_ptr<asio::ssl::context> make_tls_context(const std::string& certificate_path,
                                                     const std::string& private_key_path);

// Logs a coroutine that ended with an exception instead of dropping it silently.
struct report_exception {
  std::shared_ptr<server_state> st;
  const char* what;
  void operator()(std::exception_ptr e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      st->log.error(what, {{"error", ex.what()}});
    } catch (...) {
      st->log.error(what, {{"error", "unknown exception"}});
    }
  }
};

} // namespace myelin::gateway::detail
