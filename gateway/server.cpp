// The gateway server's lifecycle: binding the configured listeners (TCP or unix socket), the
// accept loops, the Asio threads, and the graceful stop (stop accepting, drain in-flight
// requests, close the rest). The per-connection HTTP work lives in session.cpp.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/detail_server.hpp"

namespace myelin::gateway {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using detail::listener_info;
using detail::server_state;
using tcp = asio::ip::tcp;
using unix_protocol = asio::local::stream_protocol;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct tcp_listener {
  tcp::acceptor acceptor;
  std::shared_ptr<const listener_info> info;
};

struct unix_listener {
  unix_protocol::acceptor acceptor;
  std::shared_ptr<const listener_info> info;
  std::string path;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A refusal per rejected connection would flood the log exactly when the server is overloaded.
void log_overload(server_state& st) {
  int64_t now = now_ms(), last = st.last_overload_log_ms.load();
  if (now - last < 1000 || !st.last_overload_log_ms.compare_exchange_strong(last, now)) return;
  st.log.warn("max_connections reached; refusing new connections",
              {{"max_connections", std::to_string(st.limits.max_connections)}});
}

bool transient_accept_error(const error_code& ec) {
  return ec != asio::error::operation_aborted && ec != asio::error::bad_descriptor;
}

template <class Acceptor>
asio::awaitable<void> accept_loop(std::shared_ptr<server_state> st, Acceptor& acceptor,
                                  std::shared_ptr<const listener_info> info, asio::io_context& io) {
  asio::steady_timer backoff(acceptor.get_executor());
  for (;;) {
    // Each connection gets its own strand: Beast's stream timers and the hop completions
    // must not run concurrently with the connection's coroutine.
    auto [ec, socket] = co_await acceptor.async_accept(asio::any_io_executor(asio::make_strand(io)), use_tuple);
    if (ec) {
      if (!acceptor.is_open() || !transient_accept_error(ec)) co_return;
      // EMFILE and friends: pause instead of spinning on an error that persists.
      st->log.warn("accept failed", {{"listener", info->name}, {"error", ec.message()}});
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    if (st->stopping.load()) continue;  // the socket closes as it goes out of scope
    if (st->open_connections.load() >= st->limits.max_connections) {
      log_overload(*st);
      continue;
    }
    st->open_connections.fetch_add(1);
    detail::spawn_session(st, std::move(socket), info);
  }
}

std::string endpoint_name(const asio::ip::address& addr, uint16_t port) {
  std::string a = addr.to_string();
  return (addr.is_v6() ? "[" + a + "]" : a) + ":" + std::to_string(port);
}

bool serves_http(const listener_config& l, const logger& log) {
  if (l.type == "metrics") return true;  // GET /metrics and /health only (detail::listener_info)
  if (l.type != "http") {
    log.info("ignoring listener (not served by the gateway yet)", {{"type", l.type}});
    return false;
  }
  bool any = false;
  std::string ignored;
  for (const auto& r : l.resources) {
    if (r == "client" || r == "federation" || r == "media" || r == "openid" || r == "metrics") any = true;
    else ignored += (ignored.empty() ? "" : ",") + r;
  }
  if (!ignored.empty())
    log.info("ignoring listener resources (not served by the gateway yet)", {{"resources", ignored}});
  return any;
}

// A socket file left by a crashed run is removed; one a live server still answers on is not.
void clear_stale_socket(asio::io_context& io, const std::string& path) {
  struct stat sb {};
  if (::lstat(path.c_str(), &sb) != 0) return;
  if (!S_ISSOCK(sb.st_mode)) throw std::runtime_error("cannot bind unix:" + path + ": file exists and is not a socket");
  unix_protocol::socket probe(io);
  error_code ec;
  probe.connect(unix_protocol::endpoint(path), ec);
  if (!ec) throw std::runtime_error("cannot bind unix:" + path + ": another server is listening on it");
  ::unlink(path.c_str());
}

struct close_connection {
  std::shared_ptr<detail::connection_control> conn;
  bool only_idle;
  void operator()() const {
    if (conn->close && !(only_idle && conn->busy)) conn->close();
  }
};

template <class Pred>
bool wait_until(Pred done, std::chrono::steady_clock::time_point deadline) {
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

} // namespace

struct server::impl {
  impl(const homeserver_config& cfg, const endpoint_catalog& catalog, dispatcher& d, authenticator& a,
       rate_limiter& limiter)
      : listeners(cfg.listeners), tls_certificate_path(cfg.tls_certificate_path),
        tls_private_key_path(cfg.tls_private_key_path), threads_wanted(std::max<size_t>(1, cfg.runtime.gateway_threads)),
        state(std::make_shared<server_state>(cfg, catalog, d, a, limiter)),
        io(static_cast<int>(threads_wanted)) {}

  const std::vector<listener_config> listeners;
  const std::string tls_certificate_path, tls_private_key_path;
  std::shared_ptr<asio::ssl::context> tls_context;  // loaded by the first TLS listener, shared by all
  const size_t threads_wanted;
  std::shared_ptr<server_state> state;
  // Declared after `state` and before the acceptors: Asio objects must die before their context.
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::unique_ptr<tcp_listener>> tcp_listeners;
  std::shared_ptr<void> collector;  // the gateway's gauges in the metrics registry, while started
  std::vector<std::unique_ptr<unix_listener>> unix_listeners;
  std::vector<uint16_t> ports;
  std::vector<std::thread> threads;
  std::mutex lifecycle_mu;
  bool started = false;
  bool stopped = false;

  void bind_all();
  void bind_tcp(const listener_config& l);
  uint16_t bind_tcp_address(const listener_config& l, const asio::ip::address& addr, uint16_t port, bool v6_only);
  void bind_unix(const listener_config& l);
  void unbind_all();
  std::shared_ptr<asio::ssl::context> tls_for(const listener_config& l);
  void run_thread();
  void close_connections(bool only_idle);
  void close_acceptors();
};

void server::impl::bind_all() {
  for (const auto& l : listeners) {
    if (!serves_http(l, state->log)) continue;
    if (l.tls && !l.path.empty())
      throw std::runtime_error("unix:" + l.path + ": tls is for TCP listeners (a unix socket is local already)");
    if (!l.path.empty()) bind_unix(l);
    else bind_tcp(l);
  }
  if (tcp_listeners.empty() && unix_listeners.empty()) state->log.warn("no HTTP listener configured");
}

void server::impl::bind_tcp(const listener_config& l) {
  std::vector<asio::ip::address> addresses;
  for (const auto& a : l.bind_addresses) {
    error_code ec;
    auto addr = asio::ip::make_address(a, ec);
    if (ec) throw std::runtime_error("invalid bind address '" + a + "'");
    addresses.push_back(addr);
  }
  // Synapse's usual ['::', '0.0.0.0'] needs the IPv6 socket to leave IPv4 to the other one.
  if (addresses.empty())
    state->log.warn("listener without bind_addresses or path: not listening", {{"port", std::to_string(l.port)}});
  bool has_v4 = std::any_of(addresses.begin(), addresses.end(), [](const auto& a) { return a.is_v4(); });
  uint16_t port = l.port;
  bool first = true;
  for (const auto& addr : addresses) {
    uint16_t bound = bind_tcp_address(l, addr, port, addr.is_v6() && has_v4);
    if (first) ports.push_back(bound);
    port = bound;  // port 0: the listener's other addresses take the port the first one got
    first = false;
  }
}

uint16_t server::impl::bind_tcp_address(const listener_config& l, const asio::ip::address& addr, uint16_t port,
                                        bool v6_only) {
  tcp::endpoint ep(addr, port);
  auto fail = [&](const error_code& ec) {
    return std::runtime_error("cannot bind " + endpoint_name(addr, port) + ": " + ec.message());
  };
  auto li = std::make_unique<tcp_listener>(tcp_listener{tcp::acceptor(asio::make_strand(io)), nullptr});
  error_code ec;
  li->acceptor.open(ep.protocol(), ec);
  if (ec) throw fail(ec);
  li->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (v6_only) li->acceptor.set_option(asio::ip::v6_only(true), ec);
  li->acceptor.bind(ep, ec);
  if (ec) throw fail(ec);
  li->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw fail(ec);
  uint16_t bound = li->acceptor.local_endpoint(ec).port();
  li->info = std::make_shared<const listener_info>(detail::make_listener_info(endpoint_name(addr, bound), l, tls_for(l)));
  tcp_listeners.push_back(std::move(li));
  return bound;
}

std::shared_ptr<asio::ssl::context> server::impl::tls_for(const listener_config& l) {
  if (!l.tls) return nullptr;
  if (!tls_context) tls_context = detail::make_tls_context(tls_certificate_path, tls_private_key_path);
  return tls_context;
}

void server::impl::bind_unix(const listener_config& l) {
  auto fail = [&](const std::string& what, const error_code& ec) {
    return std::runtime_error("cannot bind unix:" + l.path + ": " + what + ": " + ec.message());
  };
  clear_stale_socket(io, l.path);
  auto li = std::make_unique<unix_listener>(
      unix_listener{unix_protocol::acceptor(asio::make_strand(io)), nullptr, l.path});
  error_code ec;
  li->acceptor.open(unix_protocol(), ec);
  if (ec) throw fail("open", ec);
  li->acceptor.bind(unix_protocol::endpoint(l.path), ec);
  if (ec) throw fail("bind", ec);
  if (::chmod(l.path.c_str(), static_cast<mode_t>(l.mode)) != 0)
    throw fail("chmod", error_code(errno, boost::system::system_category()));
  li->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw fail("listen", ec);
  li->info = std::make_shared<const listener_info>(detail::make_listener_info("unix:" + l.path, l));
  unix_listeners.push_back(std::move(li));
}

void server::impl::unbind_all() {
  tcp_listeners.clear();
  for (auto& u : unix_listeners) {
    error_code ec;
    u->acceptor.close(ec);
    ::unlink(u->path.c_str());
  }
  unix_listeners.clear();
}

void server::impl::run_thread() {
  // A handler that throws must not take the whole gateway down with it.
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      state->log.error("gateway thread caught an exception", {{"error", e.what()}});
    }
  }
}

void server::impl::close_connections(bool only_idle) {
  for (auto& c : state->connection_list()) asio::post(c->strand, close_connection{c, only_idle});
}

void server::impl::close_acceptors() {
  for (auto& l : tcp_listeners) {
    auto* acceptor = &l->acceptor;
    asio::post(acceptor->get_executor(), [acceptor] {
      error_code ec;
      acceptor->close(ec);
    });
  }
  for (auto& l : unix_listeners) {
    auto* acceptor = &l->acceptor;
    asio::post(acceptor->get_executor(), [acceptor] {
      error_code ec;
      acceptor->close(ec);
    });
  }
}

server::server(const homeserver_config& cfg, const endpoint_catalog& catalog, dispatcher& d, authenticator& a,
               rate_limiter& limiter)
    : impl_(std::make_unique<impl>(cfg, catalog, d, a, limiter)) {}

server::~server() { stop(std::chrono::seconds(1)); }

void server::start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started) return;
  if (impl_->stopped) throw std::logic_error("gateway::server cannot be restarted after stop()");
  try {
    impl_->bind_all();
  } catch (...) {
    impl_->unbind_all();
    impl_->ports.clear();
    throw;
  }
  auto& st = impl_->state;
  impl_->work.emplace(impl_->io.get_executor());
  for (auto& l : impl_->tcp_listeners)
    asio::co_spawn(l->acceptor.get_executor(), accept_loop(st, l->acceptor, l->info, impl_->io),
                   detail::report_exception{st, "accept loop failed"});
  for (auto& l : impl_->unix_listeners)
    asio::co_spawn(l->acceptor.get_executor(), accept_loop(st, l->acceptor, l->info, impl_->io),
                   detail::report_exception{st, "accept loop failed"});
  for (size_t i = 0; i < impl_->threads_wanted; ++i) impl_->threads.emplace_back([this] { impl_->run_thread(); });
  impl_->started = true;
  // The gateway's own gauges, read at each scrape.
  impl_->collector = metrics::registry::global().add_collector([st](metrics::writer& w) {
    w.header("myelin_http_in_flight_requests", "Requests between header and response on this node.",
             metrics::kind::gauge);
    w.sample("myelin_http_in_flight_requests", {}, static_cast<double>(st->in_flight.load()));
    w.header("myelin_http_open_connections", "Open client connections on this node.", metrics::kind::gauge);
    w.sample("myelin_http_open_connections", {}, static_cast<double>(st->open_connections.load()));
  });
  for (auto& l : impl_->tcp_listeners) st->log.info("listening", {{"address", l->info->name}});
  for (auto& l : impl_->unix_listeners) st->log.info("listening", {{"address", l->info->name}});
}

// Not to be called from a gateway thread (it joins them).
void server::stop(std::chrono::milliseconds drain) {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  auto& st = *impl_->state;
  using clock = std::chrono::steady_clock;

  // 1. No new connections or requests; idle keep-alive connections go now.
  st.stopping.store(true);
  impl_->close_acceptors();
  impl_->close_connections(true);

  // 2. Requests already being served get up to `drain` to finish; their connections close after.
  bool drained = wait_until([&] { return st.in_flight.load() == 0; }, clock::now() + drain);
  if (!drained)
    st.log.warn("drain timeout; cancelling in-flight requests", {{"in_flight", std::to_string(st.in_flight.load())}});

  // 3. Whatever is left is cut off; answers the runtime still owes us are no longer awaited.
  st.hops->close_and_cancel_all();
  impl_->close_connections(false);
  if (!wait_until([&] { return st.open_connections.load() == 0; }, clock::now() + std::chrono::seconds(2)))
    st.log.warn("connections still open at shutdown", {{"open", std::to_string(st.open_connections.load())}});

  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  st.file_pool.join();  // file jobs finish; their completions go to the stopped io_context
  impl_->unbind_all();
  st.log.info("gateway stopped", {{"requests", std::to_string(st.requests.load())}});
}

std::vector<uint16_t> server::bound_ports() const {
  std::lock_guard lock(impl_->lifecycle_mu);
  return impl_->ports;
}

gateway_stats server::stats() const {
  const auto& st = *impl_->state;
  return gateway_stats{st.requests.load(), st.open_connections.load(), st.in_flight.load()};
}

void server::enable_direct_endpoints(std::string versions_body) {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started) throw std::logic_error("enable_direct_endpoints must be called before start()");
  impl_->state->direct_versions_body = std::move(versions_body);
}

} // namespace myelin::gateway
