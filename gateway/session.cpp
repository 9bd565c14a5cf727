// One HTTP/1.1 connection: a coroutine on the connection's strand that reads requests one after
// the other (so pipelined requests are answered in order), enforces the size and time limits,
// and answers each request itself (gateway errors, CORS preflight) or through the runtime.
// Expected failures travel as error codes (as_tuple), never as exceptions.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "gateway/detail_server.hpp"
#include "gateway/detail_text.hpp"

namespace myelin::gateway::detail {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace errors = protocol::errors;
using beast::error_code;
using request_parser = http::request_parser<http::string_body>;
using request = http::request<http::string_body>;
using std::chrono::seconds;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// The three kinds of connection: plain TCP, TLS over TCP (`tls: true` listeners), unix socket.
// Every function below is templated on the stream; timeouts and closing act on the TCP (or unix)
// layer underneath, which for the first and last is the stream itself.
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using unix_stream = beast::basic_stream<asio::local::stream_protocol>;

template <class Stream>
auto& lowest(Stream& stream) {
  return beast::get_lowest_layer(stream);
}
constexpr std::chrono::milliseconds read_after_write_timeout{5000};

// What the gateway sends back, before it becomes a Beast response.
struct reply {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string group = "gateway";  // who answered, for the access log
  std::string instance;
  std::string file_path;  // the body is this file, streamed (media downloads)
};

reply json_reply(unsigned status, std::string body) {
  reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

reply error_reply(const protocol::matrix_error& e) { return json_reply(static_cast<unsigned>(e.status()), e.body()); }

enum class direct_endpoint { none, versions, whoami, health, metrics };

// One request's context from its header to its access-log line. The views point into the
// parser's message, which outlives the exchange.
struct exchange {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::string_view method = "-";
  std::string_view raw_path = "-";
  std::string_view raw_query;
  std::string client_ip;
  std::string request_id;
  endpoint_match match;
  direct_endpoint direct = direct_endpoint::none;
  bool head = false;  // the answer to HEAD has headers only
  bool authenticated = false;
  auth_result who;
  std::vector<std::pair<std::string, std::string>> query;  // decoded, access_token taken out
};

// ---- small rules ----

std::string client_ip_of(const request& req, const listener_info& listener, const std::string& peer_ip) {
  if (listener.x_forwarded) {
    auto it = req.find("X-Forwarded-For");
    if (it != req.end()) {
      std::string_view first = first_forwarded_for(it->value());
      if (!first.empty()) return std::string(first);
    }
  }
  return peer_ip;
}

direct_endpoint direct_endpoint_of(const server_state& st, const request& req, std::string_view path,
                                   const listener_info& listener) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) return direct_endpoint::none;
  // Load balancers probe every listener, as in Synapse.
  if (path == "/health") return direct_endpoint::health;
  if (listener.metrics && (path == "/metrics" || path == "/_synapse/metrics")) return direct_endpoint::metrics;
  if (!st.direct_versions_body || req.method() != http::verb::get) return direct_endpoint::none;
  if (path == "/_myelin/direct/versions") return direct_endpoint::versions;
  if (path == "/_myelin/direct/whoami") return direct_endpoint::whoami;
  return direct_endpoint::none;
}

exchange begin_exchange(server_state& st, const request& req, const listener_info& listener,
                        const std::string& peer_ip) {
  exchange x;
  x.method = req.method_string();
  x.raw_path = split_target(req.target(), x.raw_query);
  x.client_ip = client_ip_of(req, listener, peer_ip);
  x.request_id = st.new_request_id();
  x.head = req.method() == http::verb::head;
  st.requests.fetch_add(1, std::memory_order_relaxed);
  if (req.method() == http::verb::options) return x;
  x.direct = direct_endpoint_of(st, req, x.raw_path, listener);
  // Always the raw path: decoding first would let "%2F" inside a parameter split it.
  // HEAD is GET without the body (RFC 9110 §9.3.2): the GET endpoint answers, make_response drops the body.
  std::string_view match_method = x.head ? std::string_view("GET") : x.method;
  if (x.direct == direct_endpoint::none && listener.serves(x.raw_path))
    x.match = st.catalog.match(match_method, x.raw_path);
  return x;
}

size_t body_limit_for(const server_state& st, const exchange& x) {
  bool large = x.match.spec && x.match.spec->large_body;
  return large ? st.limits.max_upload_size : st.limits.max_request_body_size;
}

bool expects_continue(const request& req) {
  auto it = req.find(http::field::expect);
  return it != req.end() && iequals(trim(it->value()), "100-continue");
}

enum class token_state { absent, present, malformed };

// The Authorization header wins over ?access_token=; a header that is not "Bearer <token>" is
// refused rather than silently ignored.
token_state find_token(const request& req, std::string& query_token, std::string& token) {
  auto it = req.find(http::field::authorization);
  if (it != req.end()) return parse_bearer(it->value(), token) ? token_state::present : token_state::malformed;
  if (query_token.empty()) return token_state::absent;
  token = std::move(query_token);
  return token_state::present;
}

reply method_not_allowed(const std::vector<std::string>& allowed) {
  reply r = error_reply(errors::method_not_allowed());
  std::string allow;
  for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
  r.headers.emplace_back("Allow", std::move(allow));
  return r;
}

reply limit_exceeded(int64_t retry_after_ms) {
  reply r = error_reply(errors::limit_exceeded(retry_after_ms));
  r.headers.emplace_back("Retry-After", std::to_string((retry_after_ms + 999) / 1000));
  return r;
}

reply auth_unavailable_reply() {
  reply r = error_reply(errors::unavailable("Authentication is temporarily unavailable"));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

std::optional<reply> check_rate_limits(server_state& st, const exchange& x, const endpoint_spec& spec) {
  // Before login there is only the address; "message" is per user (Synapse: rc_message).
  // An application service registered with rate_limited: false is never limited (as Synapse).
  if (x.authenticated && !x.who.rate_limited) return std::nullopt;
  const std::string& per_user = x.authenticated ? x.who.user_id : x.client_ip;
  int64_t wait = 0;
  bool per_address = spec.rate_limit == "registration" || spec.rate_limit == "login";
  if (!spec.rate_limit.empty()) wait = st.limiter.take(spec.rate_limit, per_address ? x.client_ip : per_user);
  if (wait == 0 && x.authenticated) wait = st.limiter.take("client", x.who.user_id);
  if (wait > 0) return limit_exceeded(wait);
  return std::nullopt;
}

std::string header_value(const request& req, http::field f) {
  auto it = req.find(f);
  return it == req.end() ? std::string() : std::string(it->value());
}

api_request build_api_request(exchange& x, request& req) {
  api_request a;
  a.endpoint = x.match.spec->name;
  a.method = std::string(x.method);
  a.path_params = std::move(x.match.params);
  a.query = std::move(x.query);
  a.body = std::move(req.body());
  a.content_type = header_value(req, http::field::content_type);
  if (x.authenticated) {
    a.user_id = x.who.user_id;
    a.device_id = x.who.device_id;
    a.token_id = x.who.token_id;
    a.is_guest = x.who.is_guest;
    a.appservice_id = x.who.appservice_id;
  }
  a.client_ip = x.client_ip;
  a.user_agent = header_value(req, http::field::user_agent);
  a.request_id = x.request_id;
  // Another server's request: its handler checks the signature, which covers the raw target.
  if (auto auth = req[http::field::authorization]; auth.size() > 9 && beast::iequals(auth.substr(0, 9), "X-Matrix ")) {
    a.authorization = std::string(auth);
    a.target = std::string(req.target());
  }
  return a;
}

// The instance-picking key: the endpoint's affinity parameter (a room), else the user. Sync needs
// the user (its long-polls and caches are per user), and so do the other user-balanced groups
// (keys); round-robin groups ignore the key, so passing it everywhere costs nothing.
std::string affinity_key_for(const exchange& x) {
  if (!x.match.spec->affinity_param.empty()) return x.match.affinity_value;
  if (x.authenticated) return x.who.user_id;
  return {};
}

reply from_api_response(api_response&& r) {
  reply out;
  out.status = r.status;
  out.body = std::move(r.body);
  out.content_type = std::move(r.content_type);
  out.headers = std::move(r.headers);
  out.file_path = std::move(r.file_path);
  return out;
}

// ---- the response on the wire ----

bool safe_header(std::string_view name, std::string_view value) {
  return !name.empty() && name.find_first_of(":\r\n") == std::string_view::npos &&
         value.find_first_of("\r\n") == std::string_view::npos;
}

template <class Body>
void set_reply_headers(http::response<Body>& res, const reply& r, unsigned version, bool keep_alive) {
  res.version(version);
  res.result(r.status >= 100 && r.status <= 599 ? r.status : 500);
  res.set(http::field::content_type, r.content_type);
  // Browsers (Element web) call the API cross-origin; the spec requires these on every response.
  res.set(http::field::access_control_allow_origin, "*");
  res.set(http::field::access_control_allow_methods, "GET, HEAD, POST, PUT, DELETE, OPTIONS");
  res.set(http::field::access_control_allow_headers, "X-Requested-With, Content-Type, Authorization, Date");
  bool has_cache_control = false;
  for (auto& [name, value] : r.headers) {
    if (!safe_header(name, value)) continue;
    has_cache_control = has_cache_control || iequals(name, "Cache-Control");
    res.insert(name, value);
  }
  // API answers are per user and change constantly: no proxy or browser may keep them.
  if (!has_cache_control && r.content_type.rfind("application/json", 0) == 0)
    res.set(http::field::cache_control, "no-cache, no-store, must-revalidate");
  res.keep_alive(keep_alive);
}

http::response<http::string_body> make_response(reply&& r, unsigned version, bool keep_alive, bool head) {
  http::response<http::string_body> res;
  set_reply_headers(res, r, version, keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length stays: it describes what GET would send
  return res;
}

// Methods as a closed set: a label must not take whatever token a client sends.
std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"})
    if (m == known) return known;
  return "other";
}

void record_metrics(server_state& st, const exchange& x, unsigned status, const reply& r, double seconds) {
  char code[8];
  std::snprintf(code, sizeof code, "%u", status);
  std::string_view endpoint = x.match.spec ? std::string_view(x.match.spec->name) : std::string_view("-");
  st.requests_metric.with({r.group, endpoint, method_label(x.method), code}).inc();
  st.latency_metric.with({r.group}).observe(seconds);
}

void log_access(server_state& st, const exchange& x, unsigned status, size_t bytes, const reply& r) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - x.start).count();
  record_metrics(st, x, status, r, seconds);
  if (!st.access_log || !st.access.enabled(log_level::info)) return;
  double ms = seconds * 1000;
  char ms_text[32];
  std::snprintf(ms_text, sizeof ms_text, "%.1f", ms);
  // The path without its query: access tokens in ?access_token= must never reach a log.
  st.access.info("request", {{"method", std::string(x.method)},
                             {"path", std::string(x.raw_path)},
                             {"status", std::to_string(status)},
                             {"group", r.group},
                             {"instance", r.instance.empty() ? std::string("-") : r.instance},
                             {"ms", ms_text},
                             {"ip", x.client_ip.empty() ? std::string("-") : x.client_ip},
                             {"request_id", x.request_id.empty() ? std::string("-") : x.request_id},
                             {"bytes", std::to_string(bytes)}});
}

template <class Stream>
asio::awaitable<bool> send_reply(server_state& st, Stream& stream, const exchange& x, unsigned version, reply r,
                                 bool keep_alive) {
  reply meta;
  meta.group = std::move(r.group);
  meta.instance = std::move(r.instance);
  auto res = make_response(std::move(r), version, keep_alive, x.head);
  size_t bytes = res.body().size();
  lowest(stream).expires_after(seconds(st.limits.request_timeout_seconds));  // a client that never reads is dropped
  auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
  log_access(st, x, res.result_int(), bytes, meta);
  co_return !ec;
}

// After refusing a request whose body we did not read: stop sending, swallow what the client is
// still sending for a moment, then close. Closing at once would reset the connection and the
// client might never see the error.
template <class Stream>
asio::awaitable<void> linger_close(Stream& stream, beast::flat_buffer& buffer) {
  error_code ec;
  lowest(stream).socket().shutdown(asio::socket_base::shutdown_send, ec);
  lowest(stream).expires_after(seconds(1));
  size_t drained = 0;
  while (drained < (1u << 20)) {
    buffer.clear();
    auto [rec, n] = co_await stream.async_read_some(buffer.prepare(16 * 1024), use_tuple);
    if (rec) break;
    drained += n;
  }
  buffer.clear();
  lowest(stream).close();
}

// ---- answering ----

asio::awaitable<std::optional<reply>> authenticate(server_state& st, exchange& x, auth_mode mode, bool allow_guest,
                                                   token_state ts, std::string token) {
  if (mode == auth_mode::none) co_return std::nullopt;
  if (ts == token_state::malformed) co_return error_reply(errors::missing_token());
  if (ts == token_state::absent) {
    if (mode == auth_mode::required) co_return error_reply(errors::missing_token());
    co_return std::nullopt;
  }
  // Only an application service's token may act as another user; the runtime decides.
  bool appservice_login = x.match.spec && x.match.spec->appservice_login;
  std::string as_user_id;
  if (!appservice_login)
    for (const auto& [k, v] : x.query)
      if (k == "user_id") as_user_id = v;
  auth_result who =
      co_await async_authenticate(st.hops, st.auth, std::move(token), std::move(as_user_id), asio::use_awaitable);
  if (appservice_login &&
      (who.result == auth_result::outcome::unknown || who.result == auth_result::outcome::expired))
    co_return std::nullopt;
  switch (who.result) {
    case auth_result::outcome::ok: break;
    case auth_result::outcome::unknown: co_return error_reply(errors::unknown_token(false));
    case auth_result::outcome::expired: co_return error_reply(errors::unknown_token(true));
    case auth_result::outcome::unavailable: co_return auth_unavailable_reply();
    case auth_result::outcome::forbidden: co_return error_reply(errors::forbidden(who.message));
  }
  if (who.is_guest && !allow_guest) co_return error_reply(errors::guest_access_forbidden());
  x.who = std::move(who);
  x.authenticated = true;
  co_return std::nullopt;
}

// Answered inside the gateway: /health, /metrics, and the benchmark's baseline without the actor
// hop (enable_direct_endpoints).
asio::awaitable<reply> answer_direct(server_state& st, exchange& x, const request& req) {
  if (x.direct == direct_endpoint::health) {
    reply r;
    r.body = "OK";
    r.content_type = "text/plain; charset=utf-8";
    co_return r;
  }
  if (x.direct == direct_endpoint::metrics) {
    reply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    // Collectors read /proc and take registry locks: off the Asio thread.
    auto [e] = co_await async_on_pool(
        st.file_pool, [&r] { r.body = metrics::registry::global().render(); }, use_tuple);
    if (e) std::rethrow_exception(e);
    co_return r;
  }
  if (x.direct == direct_endpoint::versions) co_return json_reply(200, *st.direct_versions_body);
  std::string query_token, token;
  parse_query(x.raw_query, &query_token);
  token_state ts = find_token(req, query_token, token);
  if (auto denied = co_await authenticate(st, x, auth_mode::required, true, ts, std::move(token)))
    co_return std::move(*denied);
  boost::json::object o;
  o["user_id"] = x.who.user_id;
  o["device_id"] = x.who.device_id;
  co_return json_reply(200, boost::json::serialize(o));
}

// What every request to an endpoint passes before the runtime sees it: authentication and rate
// limits. Fills x.query; a refusal comes back as the reply to send.
asio::awaitable<std::optional<reply>> admit(server_state& st, exchange& x, const request& req) {
  const endpoint_spec& spec = *x.match.spec;
  std::string query_token, token;
  // An endpoint that does not authenticate may use ?access_token= for its own token (OpenID
  // userinfo does), so it is passed on there; everywhere else it is taken out.
  bool authenticates = spec.auth != auth_mode::none;
  x.query = parse_query(x.raw_query, authenticates ? &query_token : nullptr);
  token_state ts = authenticates ? find_token(req, query_token, token) : token_state::absent;
  if (auto denied = co_await authenticate(st, x, spec.auth, spec.allow_guest, ts, std::move(token)))
    co_return std::move(*denied);
  if (auto limited = check_rate_limits(st, x, spec)) co_return std::move(*limited);
  co_return std::nullopt;
}

// Sends an admitted request to its group and waits for the answer.
asio::awaitable<reply> forward(server_state& st, exchange& x, api_request ar) {
  const std::string& group = st.catalog.group_of(x.match.spec->name);
  std::string key = affinity_key_for(x);
  dispatch_outcome out =
      co_await async_dispatch(st.hops, st.runtime, group, std::move(key), std::move(ar), asio::use_awaitable);
  // Read-after-write: the client must see its own write on its next request, whichever
  // instance serves it, so the answer waits until this node has caught up.
  if (!out.response.wait_for.empty())
    co_await async_wait_for_positions(st.hops, st.runtime, std::move(out.response.wait_for), read_after_write_timeout,
                                      asio::use_awaitable);
  reply r = from_api_response(std::move(out.response));
  r.group = group;
  r.instance = std::move(out.instance);
  co_return r;
}

asio::awaitable<reply> answer(server_state& st, exchange& x, request& req) {
  if (req.method() == http::verb::options) co_return json_reply(200, "{}");  // CORS preflight: no auth
  if (x.direct != direct_endpoint::none) co_return co_await answer_direct(st, x, req);
  if (!x.match.spec) {
    if (x.match.path_known) co_return method_not_allowed(x.match.allowed_methods);
    co_return error_reply(errors::unrecognized());
  }
  if (auto denied = co_await admit(st, x, req)) co_return std::move(*denied);
  co_return co_await forward(st, x, build_api_request(x, req));
}

asio::awaitable<reply> answer_safely(server_state& st, exchange& x, request& req) {
  try {
    co_return co_await answer(st, x, req);
  } catch (const std::exception& e) {
    st.log.error("request failed", {{"request_id", x.request_id}, {"error", e.what()}});
  }
  co_return error_reply(errors::unknown());
}

// ---- streamed bodies: uploads to a spool file, downloads from a file ----

constexpr size_t file_chunk = 256 * 1024;  // per pool job: few hops, bounded memory per transfer

struct open_file_job {
  std::shared_ptr<file_source> file;
  std::string path;
  void operator()() const {
    if (!file->open(path)) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  }
};

struct read_file_job {
  std::shared_ptr<file_source> file;
  uint64_t offset;
  size_t max;
  std::string* out;
  void operator()() const { file->read_at(offset, max, *out); }
};

reply range_not_satisfiable(uint64_t size) {
  reply r = error_reply(protocol::matrix_error(416, "M_UNKNOWN", "Requested range not satisfiable"));
  r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
  return r;
}

// Sends `r.file_path` as the body: the whole file, or the one byte range asked for (206), read in
// chunks on the file pool so neither memory nor an Asio thread is held by a large file.
template <class Stream>
asio::awaitable<bool> send_file_reply(server_state& st, Stream& stream, const exchange& x, const request& req, reply r,
                                      bool keep_alive) {
  auto file = std::make_shared<file_source>();
  auto [open_failed] = co_await async_on_pool(st.file_pool, open_file_job{file, r.file_path}, use_tuple);
  if (open_failed) {
    // The database knows the media but the store does not have it (deleted by hand, shared
    // storage not mounted on this node): an operator's problem, the client sees not found.
    st.log.error("media file missing", {{"path", r.file_path}, {"request_id", x.request_id}});
    co_return co_await send_reply(st, stream, x, req.version(), error_reply(errors::not_found("Media not found")),
                                  keep_alive);
  }
  byte_range range;
  if (r.status == 200) range = parse_byte_range(header_value(req, http::field::range), file->size);
  if (range.result == byte_range::kind::unsatisfiable)
    co_return co_await send_reply(st, stream, x, req.version(), range_not_satisfiable(file->size), keep_alive);
  uint64_t first = 0, length = file->size;
  http::response<http::buffer_body> res;
  set_reply_headers(res, r, req.version(), keep_alive);
  res.set(http::field::accept_ranges, "bytes");
  if (range.result == byte_range::kind::part) {
    first = range.first;
    length = range.last - range.first + 1;
    res.result(http::status::partial_content);
    res.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) +
                                            "/" + std::to_string(file->size));
  }
  res.content_length(length);
  res.body().data = nullptr;
  res.body().more = !x.head && length > 0;
  http::response_serializer<http::buffer_body> sr{res};
  lowest(stream).expires_after(seconds(st.limits.request_timeout_seconds));
  auto [hec, hn] = co_await http::async_write_header(stream, sr, use_tuple);
  reply meta;
  meta.group = std::move(r.group);
  meta.instance = std::move(r.instance);
  if (hec) {
    log_access(st, x, res.result_int(), 0, meta);
    co_return false;
  }
  uint64_t sent = 0;
  std::string chunk;
  while (!x.head && sent < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(length - sent, file_chunk));
    auto [read_failed] =
        co_await async_on_pool(st.file_pool, read_file_job{file, first + sent, want, &chunk}, use_tuple);
    if (read_failed || chunk.empty()) {
      // The header promised more than the file gives: closing is the only honest end.
      st.log.error("media file read failed", {{"request_id", x.request_id}});
      log_access(st, x, res.result_int(), sent, meta);
      co_return false;
    }
    sent += chunk.size();
    res.body().data = chunk.data();
    res.body().size = chunk.size();
    res.body().more = sent < length;
    lowest(stream).expires_after(seconds(st.limits.request_timeout_seconds));  // per chunk: a slow reader is fine
    auto [wec, wn] = co_await http::async_write(stream, sr, use_tuple);
    if (wec == http::error::need_buffer) wec = {};
    if (wec) {
      log_access(st, x, res.result_int(), sent, meta);
      co_return false;
    }
  }
  if (!x.head && !sr.is_done()) {  // an empty body still ends the message
    auto [wec, wn] = co_await http::async_write(stream, sr, use_tuple);
    if (wec && wec != http::error::need_buffer) co_return false;
  }
  log_access(st, x, res.result_int(), sent, meta);
  co_return true;
}

struct begin_spool_job {
  std::shared_ptr<body_spool> spool;
  void operator()() const { spool->file.emplace(spool->store->begin_upload(spool->max_size)); }
};

struct append_spool_job {
  std::shared_ptr<body_spool> spool;
  const std::string* bytes;
  void operator()() const { spool->file->append(*bytes); }
};

struct seal_spool_job {
  std::shared_ptr<body_spool> spool;
  void operator()() const {
    spool->done = spool->file->seal();
    spool->file.reset();
  }
};

// Drops whatever the spool holds: the unfinished file, or the sealed one nobody adopted.
struct discard_spool_job {
  std::shared_ptr<body_spool> spool;
  void operator()() const {
    spool->file.reset();
    if (!spool->done.spool_name.empty()) spool->store->discard_spool(spool->done.spool_name);
  }
};

template <class Stream>
asio::awaitable<bool> refuse_and_close(server_state& st, Stream& stream, beast::flat_buffer& buffer,
                                       const exchange& x, unsigned version, reply r) {
  co_await send_reply(st, stream, x, version, std::move(r), false);
  co_await linger_close(stream, buffer);
  co_return false;
}

// A media upload: admitted (authenticated, rate-limited) on its header alone, so a refused upload
// is never read; then its body goes to a spool file as it arrives, in chunks, never whole in
// memory; the media group gets the file's name, size and hash instead of the bytes.
template <class Stream>
asio::awaitable<bool> serve_upload(server_state& st, Stream& stream, beast::flat_buffer& buffer,
                                   request_parser& parser, exchange& x, size_t limit) {
  request& req = parser.get();
  std::optional<reply> denied;
  try {
    denied = co_await admit(st, x, req);
  } catch (const std::exception& e) {
    st.log.error("request failed", {{"request_id", x.request_id}, {"error", e.what()}});
    denied = error_reply(errors::unknown());
  }
  if (denied) co_return co_await refuse_and_close(st, stream, buffer, x, req.version(), std::move(*denied));
  if (!parser.is_done() && expects_continue(req)) {
    static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(go_on.data(), go_on.size()), use_tuple);
    if (ec) co_return false;
  }
  auto spool = std::make_shared<body_spool>();
  spool->store = &*st.media_store;
  spool->max_size = limit;
  auto [begin_failed] = co_await async_on_pool(st.file_pool, begin_spool_job{spool}, use_tuple);
  if (begin_failed) {
    st.log.error("cannot spool an upload", {{"request_id", x.request_id}});
    co_return co_await refuse_and_close(st, stream, buffer, x, req.version(), error_reply(errors::unknown()));
  }
  std::string& body = req.body();  // the parser appends here; emptied after each spooled chunk
  // The parser reserved the whole Content-Length for it when the header arrived: give that back,
  // only a chunk at a time is ever held.
  std::string().swap(body);
  // Beast reads at most the buffer's free capacity per call: give it room for 64 KiB reads
  // (run_connection shrinks it again after a large body).
  buffer.reserve(buffer.size() + 64 * 1024);
  enum class failure { none, client, too_large, disk } failed = failure::none;
  while (!parser.is_done()) {
    lowest(stream).expires_after(seconds(st.limits.request_timeout_seconds));  // per read: a slow sender is fine
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, use_tuple);
    if (ec) {
      failed = ec == http::error::body_limit ? failure::too_large : failure::client;
      break;
    }
    if (body.size() < file_chunk && !parser.is_done()) continue;
    auto [append_failed] = co_await async_on_pool(st.file_pool, append_spool_job{spool, &body}, use_tuple);
    body.clear();
    if (append_failed) {
      failed = failure::disk;
      break;
    }
  }
  if (failed == failure::none) {
    auto [seal_failed] = co_await async_on_pool(st.file_pool, seal_spool_job{spool}, use_tuple);
    if (seal_failed) failed = failure::disk;
  }
  lowest(stream).expires_never();
  if (failed != failure::none) {
    co_await async_on_pool(st.file_pool, discard_spool_job{spool}, use_tuple);
    switch (failed) {
      case failure::client: co_return false;  // the client left or sent garbage: nobody to answer
      case failure::too_large:
        co_return co_await refuse_and_close(st, stream, buffer, x, req.version(), error_reply(errors::too_large()));
      default:
        st.log.error("cannot spool an upload", {{"request_id", x.request_id}});
        co_return co_await refuse_and_close(st, stream, buffer, x, req.version(),
                                            error_reply(errors::unknown("Could not store the upload")));
    }
  }
  api_request ar = build_api_request(x, req);
  ar.body_file = spool->done.spool_name;
  ar.body_size = static_cast<int64_t>(spool->done.size);
  ar.body_sha256 = spool->done.sha256;
  reply r;
  try {
    r = co_await forward(st, x, std::move(ar));
  } catch (const std::exception& e) {
    st.log.error("request failed", {{"request_id", x.request_id}, {"error", e.what()}});
    r = error_reply(errors::unknown());
  }
  // The media group adopts the file only on success; after a failure (or no answer) it is ours.
  if (r.status >= 300) co_await async_on_pool(st.file_pool, discard_spool_job{spool}, use_tuple);
  bool keep_alive = req.keep_alive() && !st.stopping.load();
  bool sent = co_await send_reply(st, stream, x, req.version(), std::move(r), keep_alive);
  co_return sent && keep_alive;
}

// ---- reading ----

// Between keep-alive requests: wait for the next request's first bytes, for at most the
// keep-alive timeout. The header timeout starts only once the client has begun a request.
template <class Stream>
asio::awaitable<bool> wait_for_next_request(server_state& st, Stream& stream, beast::flat_buffer& buffer) {
  lowest(stream).expires_after(seconds(st.limits.keepalive_timeout_seconds));
  auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
  if (ec) co_return false;
  buffer.commit(n);
  co_return true;
}

bool is_quiet_close(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == beast::error::timeout ||
         ec.category() != http::make_error_code(http::error::bad_method).category();
}

// A request whose header could not be read: answer when a response is possible, then close.
template <class Stream>
asio::awaitable<void> refuse_unreadable(server_state& st, Stream& stream, beast::flat_buffer& buffer,
                                        const error_code& ec) {
  if (is_quiet_close(ec)) co_return;  // the client left, timed out, or the socket failed
  reply r;
  if (ec == http::error::header_limit)
    r = error_reply(protocol::matrix_error(431, "M_TOO_LARGE", "Request headers too large"));
  else if (ec == http::error::body_limit) r = error_reply(errors::too_large());
  else r = error_reply(protocol::matrix_error(400, "M_UNRECOGNIZED", "Malformed HTTP request"));
  exchange x;
  x.client_ip = "-";
  co_await send_reply(st, stream, x, 11, std::move(r), false);
  co_await linger_close(stream, buffer);
}

// Reads the rest of one request (its header is parsed), answers it. Returns whether the
// connection may carry another request.
template <class Stream>
asio::awaitable<bool> serve_request(server_state& st, Stream& stream, beast::flat_buffer& buffer,
                                    request_parser& parser, const listener_info& listener,
                                    const std::string& peer_ip) {
  request& req = parser.get();
  exchange x = begin_exchange(st, req, listener, peer_ip);
  size_t limit = body_limit_for(st, x);
  auto length = parser.content_length();
  if (length && *length > limit) {
    co_await send_reply(st, stream, x, req.version(), error_reply(errors::too_large()), false);
    co_await linger_close(stream, buffer);
    co_return false;
  }
  parser.body_limit(limit);  // enforces the limit on chunked bodies
  if (x.match.spec && x.match.spec->large_body && st.media_store)
    co_return co_await serve_upload(st, stream, buffer, parser, x, limit);
  if (!parser.is_done()) {
    if (expects_continue(req)) {
      static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(go_on.data(), go_on.size()), use_tuple);
      if (ec) co_return false;
    }
    lowest(stream).expires_after(seconds(st.limits.request_timeout_seconds));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec == http::error::body_limit) {
      co_await send_reply(st, stream, x, req.version(), error_reply(errors::too_large()), false);
      co_await linger_close(stream, buffer);
      co_return false;
    }
    if (ec) co_return false;
  }
  lowest(stream).expires_never();  // the runtime has its own timeouts
  reply r = co_await answer_safely(st, x, req);
  bool keep_alive = req.keep_alive() && !st.stopping.load();
  bool sent = r.file_path.empty() ? co_await send_reply(st, stream, x, req.version(), std::move(r), keep_alive)
                                  : co_await send_file_reply(st, stream, x, req, std::move(r), keep_alive);
  co_return sent && keep_alive;
}

// Counts the connection and makes it reachable by stop() for as long as its coroutine lives.
class connection_registration {
public:
  connection_registration(server_state& st, std::shared_ptr<connection_control> ctl)
      : st_(st), ctl_(std::move(ctl)), id_(st.add_connection(ctl_)) {}
  ~connection_registration() {
    ctl_->close = nullptr;
    st_.remove_connection(id_);
    st_.open_connections.fetch_sub(1);
  }
  connection_registration(const connection_registration&) = delete;
  connection_registration& operator=(const connection_registration&) = delete;

private:
  server_state& st_;
  std::shared_ptr<connection_control> ctl_;
  uint64_t id_;
};

class in_flight_mark {
public:
  in_flight_mark(server_state& st, connection_control& ctl) : st_(st), ctl_(ctl) {
    ctl_.busy = true;
    st_.in_flight.fetch_add(1);
  }
  ~in_flight_mark() {
    ctl_.busy = false;
    st_.in_flight.fetch_sub(1);
  }
  in_flight_mark(const in_flight_mark&) = delete;
  in_flight_mark& operator=(const in_flight_mark&) = delete;

private:
  server_state& st_;
  connection_control& ctl_;
};

template <class Stream>
std::function<void()> closer_of(Stream& stream) {
  return [&stream] { lowest(stream).close(); };
}

// Before the first request: nothing to do on plain streams; TLS shakes hands, within the header
// timeout (a client that never finishes it, or speaks plain HTTP to a TLS port, is dropped).
template <class Stream>
asio::awaitable<bool> start_stream(server_state&, Stream&) {
  co_return true;
}

asio::awaitable<bool> start_stream(server_state& st, tls_stream& stream) {
  lowest(stream).expires_after(seconds(st.limits.header_timeout_seconds));
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
  co_return !ec;
}

template <class Stream>
asio::awaitable<void> run_connection(std::shared_ptr<server_state> st, Stream stream,
                                     std::shared_ptr<const listener_info> listener, std::string peer_ip) {
  auto ctl = std::make_shared<connection_control>();
  ctl->strand = stream.get_executor();
  ctl->close = closer_of(stream);
  connection_registration registration(*st, ctl);
  if (!co_await start_stream(*st, stream)) co_return;
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    if (st->stopping.load()) break;  // checked on the strand, where stop()'s close requests run
    if (!first && buffer.size() == 0 && !co_await wait_for_next_request(*st, stream, buffer)) break;
    first = false;
    request_parser parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<size_t>(st->limits.max_header_size, UINT32_MAX)));
    // The endpoint (hence its limit) is known only after the header: start with the largest.
    parser.body_limit(std::max(st->limits.max_request_body_size, st->limits.max_upload_size));
    lowest(stream).expires_after(seconds(st->limits.header_timeout_seconds));  // slowloris: a deadline, not an idle timer
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    if (ec) {
      co_await refuse_unreadable(*st, stream, buffer, ec);
      break;
    }
    bool again;
    {
      in_flight_mark mark(*st, *ctl);
      again = co_await serve_request(*st, stream, buffer, parser, *listener, peer_ip);
    }
    if (!again) break;
    // One large upload must not pin its buffer for the rest of a long keep-alive connection.
    if (buffer.size() == 0 && buffer.capacity() > 64 * 1024) buffer.shrink_to_fit();
  }
  error_code ignored;
  lowest(stream).socket().shutdown(asio::socket_base::shutdown_both, ignored);
  lowest(stream).close();
}

std::string peer_address(const asio::ip::tcp::socket& socket) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "-";
  auto addr = ep.address();
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; log and rate-limit them as a.b.c.d.
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string();
  return addr.to_string();
}

} // namespace

void spawn_session(std::shared_ptr<server_state> st, asio::ip::tcp::socket socket,
                   std::shared_ptr<const listener_info> listener) {
  error_code ec;
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  std::string peer = peer_address(socket);
  auto ex = socket.get_executor();
  if (listener->tls) {
    tls_stream stream(beast::tcp_stream(std::move(socket)), *listener->tls);
    asio::co_spawn(ex, run_connection(st, std::move(stream), std::move(listener), std::move(peer)),
                   report_exception{st, "connection failed"});
    return;
  }
  asio::co_spawn(ex,
                 run_connection(st, beast::tcp_stream(std::move(socket)), std::move(listener), std::move(peer)),
                 report_exception{st, "connection failed"});
}

void spawn_session(std::shared_ptr<server_state> st, asio::local::stream_protocol::socket socket,
                   std::shared_ptr<const listener_info> listener) {
  auto ex = socket.get_executor();
  asio::co_spawn(ex, run_connection(st, unix_stream(std::move(socket)), std::move(listener), std::string("unix")),
                 report_exception{st, "connection failed"});
}

} // namespace myelin::gateway::detail
