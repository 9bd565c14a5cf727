// The outbound HTTP client (see http_fetch.hpp). Each request gets its own io_context and runs one
// asynchronous operation at a time to completion on the calling thread; every operation on the
// TCP stream carries the request's absolute deadline (Beast closes the stream when it passes), so
// the call returns by then whatever the peer does — trickling bytes included.
#include "outbound/http_fetch.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <cstring>
#include <future>
#include <iterator>
#include <memory>
#include <thread>

namespace myelin::outbound {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using error_kind = fetch_error::kind;

// ---- what to connect to ----

struct target {
  bool https = false;
  std::string host;         // a DNS name (lowercase) or an IP literal without brackets
  bool host_is_ip = false;
  uint16_t port = 0;
  std::string host_header;  // as the Host header wants it: brackets for IPv6, port when not the default
  std::string path_and_query;
};

bool valid_dns_name(std::string_view host) {
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

target parse_target(const std::string& text) {
  auto u = urls::parse_uri(text);
  if (!u) throw fetch_error(error_kind::invalid_url, "not an absolute URL: " + text);
  target t;
  if (u->scheme_id() == urls::scheme::https) t.https = true;
  else if (u->scheme_id() != urls::scheme::http)
    throw fetch_error(error_kind::invalid_url, "only http and https URLs can be fetched: " + text);
  switch (u->host_type()) {
  case urls::host_type::ipv4: t.host = u->host_ipv4_address().to_string(); t.host_is_ip = true; break;
  case urls::host_type::ipv6: t.host = u->host_ipv6_address().to_string(); t.host_is_ip = true; break;
  case urls::host_type::name: {
    t.host = u->host();
    std::transform(t.host.begin(), t.host.end(), t.host.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!valid_dns_name(t.host)) throw fetch_error(error_kind::invalid_url, "not a valid host name: " + text);
    break;
  }
  default: throw fetch_error(error_kind::invalid_url, "the URL has no usable host: " + text);
  }
  uint16_t default_port = t.https ? 443 : 80;
  t.port = default_port;
  t.host_header = std::string(u->encoded_host());
  if (u->has_port() && !u->port().empty()) {
    // Parsed here: Boost.URL 1.81's port_number() wraps some values past 65535 instead of failing.
    auto digits = u->port();
    unsigned port = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535)
      throw fetch_error(error_kind::invalid_url, "not a valid port: " + text);
    t.port = static_cast<uint16_t>(port);
    if (t.port != default_port) t.host_header += ":" + std::to_string(t.port);
  }
  t.path_and_query = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
  if (u->has_query()) t.path_and_query += "?" + std::string(u->encoded_query());
  return t;
}

protocol::ip_address to_checked(const asio::ip::address& a) {
  if (a.is_v4()) return protocol::ip_address::from_v4(a.to_v4().to_bytes());
  protocol::ip_address out;
  out.bytes = a.to_v6().to_bytes();
  return out;
}

struct resolution {
  std::vector<asio::ip::address> addresses;
  std::string error;
};

resolution resolve_now(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list); rc != 0) return {{}, ::gai_strerror(rc)};
  resolution out;
  for (auto* p = list; p; p = p->ai_next) {
    asio::ip::address a;
    if (p->ai_family == AF_INET) {
      asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in*>(p->ai_addr)->sin_addr, b.size());
      a = asio::ip::address_v4(b);
    } else if (p->ai_family == AF_INET6) {
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(p->ai_addr)->sin6_addr, b.size());
      a = asio::ip::address_v6(b);
    } else {
      continue;
    }
    if (std::find(out.addresses.begin(), out.addresses.end(), a) == out.addresses.end()) out.addresses.push_back(a);
  }
  ::freeaddrinfo(list);
  return out;
}

// getaddrinfo cannot be cancelled, so it runs on a thread of its own that the caller stops waiting
// for at the deadline; a late answer then goes nowhere.
resolution resolve_by(const std::string& host, steady::time_point deadline) {
  auto promise = std::make_shared<std::promise<resolution>>();
  auto answer = promise->get_future();
  std::thread([promise, host] { promise->set_value(resolve_now(host)); }).detach();
  if (answer.wait_until(deadline) != std::future_status::ready)
    throw fetch_error(error_kind::timeout, "timed out resolving " + host);
  return answer.get();
}

// One place to connect to: the URL's host and port, or one of fetch_options::connect_to.
struct peer {
  std::string host;  // a DNS name (lowercase) or an IP literal without brackets
  bool host_is_ip = false;
  uint16_t port = 0;
};

peer url_peer(const target& t) { return {t.host, t.host_is_ip, t.port}; }

peer checked_peer(const connect_target& c) {
  peer p{c.host, false, c.port};
  if (p.host.size() >= 2 && p.host.front() == '[' && p.host.back() == ']') p.host = p.host.substr(1, p.host.size() - 2);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(p.host, ec);
  if (!ec && p.host.find('%') != std::string::npos)  // a zone ("fe80::1%eth0"), refused as in URLs
    throw fetch_error(error_kind::invalid_url, "not a valid host to connect to: " + c.host);
  if (!ec) {
    p.host = ip.to_string();
    p.host_is_ip = true;
  } else {
    std::transform(p.host.begin(), p.host.end(), p.host.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!valid_dns_name(p.host))
      throw fetch_error(error_kind::invalid_url, "not a valid host to connect to: " + c.host);
  }
  if (p.port == 0) throw fetch_error(error_kind::invalid_url, "no port to connect to on " + c.host);
  return p;
}

// The addresses to try, each one allowed by the policy. Resolved here and only here: the socket
// connects to exactly these.
std::vector<tcp::endpoint> checked_endpoints(const peer& p, const fetch_options& opt, steady::time_point deadline) {
  resolution r;
  if (p.host_is_ip) {
    r.addresses.push_back(asio::ip::make_address(p.host));
  } else {
    r = resolve_by(p.host, deadline);
    if (r.addresses.empty())
      throw fetch_error(error_kind::dns, "cannot resolve " + p.host + (r.error.empty() ? "" : ": " + r.error));
  }
  std::vector<tcp::endpoint> out;
  for (const auto& a : r.addresses)
    if (!opt.ip_policy || opt.ip_policy->allows(to_checked(a))) out.emplace_back(a, p.port);
  if (out.empty())
    throw fetch_error(error_kind::blocked, p.host_is_ip ? "IP address " + p.host + " is blocked"
                                                        : "every address of " + p.host + " is blocked");
  return out;
}

// ---- one request on one connection ----

// Starts one asynchronous operation and runs the io_context until it has completed.
template <class Initiate>
boost::system::error_code run_one(asio::io_context& io, Initiate&& initiate) {
  boost::system::error_code result;
  initiate([&result](boost::system::error_code ec, auto&&...) { result = ec; });
  io.restart();
  io.run();
  return result;
}

[[noreturn]] void fail(boost::system::error_code ec, error_kind otherwise, const std::string& doing) {
  if (ec == beast::error::timeout) throw fetch_error(error_kind::timeout, "timed out " + doing);
  throw fetch_error(otherwise, doing + ": " + ec.message());
}

ssl::context& tls_context() {
  // One context for the process: loading the system's trust store per request would cost more
  // than the handshake. SSL_CTX may create connections from several threads at once.
  static ssl::context ctx = [] {
    ssl::context c(ssl::context::tls_client);
    c.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    c.set_default_verify_paths();
    c.set_verify_mode(ssl::verify_peer);
    return c;
  }();
  return ctx;
}

} // namespace

void add_trusted_ca_file(const std::string& path) {
  boost::system::error_code ec;
  tls_context().load_verify_file(path, ec);
  if (ec) throw std::runtime_error("cannot load the certificate authorities in " + path + ": " + ec.message());
}

namespace {

template <class Stream>
fetch_result exchange(asio::io_context& io, Stream& stream, const http::request<http::string_body>& req,
                      const fetch_options& opt) {
  if (auto ec = run_one(io, [&](auto handler) { http::async_write(stream, req, std::move(handler)); }))
    fail(ec, error_kind::connect, "sending the request");

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<uint32_t>(std::min<size_t>(opt.max_header_bytes, UINT32_MAX)));
  parser.body_limit(opt.max_bytes);
  if (req.method() == http::verb::head) parser.skip(true);
  if (auto ec = run_one(io, [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); })) {
    if (ec == http::error::body_limit)
      throw fetch_error(error_kind::too_large, "the response is larger than " + std::to_string(opt.max_bytes) + " bytes");
    if (ec == http::error::header_limit) throw fetch_error(error_kind::too_large, "the response headers are too large");
    fail(ec, error_kind::protocol, "reading the response");
  }
  auto res = parser.release();
  fetch_result out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  return out;
}

// Connects `tcp` to the first of `peers` that accepts. One peer: its own error as it is. Several:
// each but the last may use an equal share of the time left, and when none connects, the error
// names every failure (its kind the one they share, else connect).
void connect_first(asio::io_context& io, beast::tcp_stream& tcp, const std::vector<peer>& peers,
                   const fetch_options& opt, steady::time_point deadline) {
  if (peers.size() == 1) {
    auto endpoints = checked_endpoints(peers.front(), opt, deadline);
    tcp.expires_at(deadline);  // kept by every later operation on the stream, TLS ones included
    auto ec = run_one(io, [&](auto handler) { tcp.async_connect(endpoints, std::move(handler)); });
    if (ec) fail(ec, error_kind::connect, "connecting to " + peers.front().host);
    return;
  }
  std::string failures;
  std::optional<error_kind> shared_kind;
  auto failed = [&](const peer& p, error_kind k, const std::string& why) {
    failures += (failures.empty() ? "" : "; ") + p.host + ":" + std::to_string(p.port) + ": " + why;
    shared_kind = !shared_kind || *shared_kind == k ? k : error_kind::connect;
  };
  for (size_t i = 0; i < peers.size(); ++i) {
    auto now = steady::now();
    if (now >= deadline) throw fetch_error(error_kind::timeout, "timed out connecting (" + failures + ")");
    auto until = i + 1 == peers.size() ? deadline : now + (deadline - now) / static_cast<int>(peers.size() - i);
    std::vector<tcp::endpoint> endpoints;
    try {
      endpoints = checked_endpoints(peers[i], opt, until);
    } catch (const fetch_error& e) {
      failed(peers[i], e.which() == error_kind::timeout ? error_kind::dns : e.which(), e.what());
      continue;
    }
    tcp.expires_at(until);
    auto ec = run_one(io, [&](auto handler) { tcp.async_connect(endpoints, std::move(handler)); });
    if (!ec) {
      tcp.expires_at(deadline);
      return;
    }
    failed(peers[i], error_kind::connect, ec == beast::error::timeout ? "timed out" : ec.message());
  }
  if (steady::now() >= deadline) throw fetch_error(error_kind::timeout, "timed out connecting (" + failures + ")");
  throw fetch_error(shared_kind.value_or(error_kind::connect), "no target accepted a connection: " + failures);
}

fetch_result request_once(const target& t, const std::vector<peer>& peers, const http::request<http::string_body>& req,
                          const fetch_options& opt, steady::time_point deadline) {
  asio::io_context io;
  auto connect = [&](beast::tcp_stream& tcp) { connect_first(io, tcp, peers, opt, deadline); };
  if (!t.https) {
    beast::tcp_stream stream(io);
    connect(stream);
    return exchange(io, stream, req, opt);
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, tls_context());
  if (!t.host_is_ip && !SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str()))  // SNI
    throw fetch_error(error_kind::tls, "cannot set the TLS server name " + t.host);
  stream.set_verify_callback(ssl::host_name_verification(t.host));
  connect(beast::get_lowest_layer(stream));
  if (auto ec = run_one(io, [&](auto handler) { stream.async_handshake(ssl::stream_base::client, std::move(handler)); }))
    fail(ec, error_kind::tls, "TLS handshake with " + t.host);
  return exchange(io, stream, req, opt);
}

std::string header_value(const fetch_result& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (beast::iequals(k, name)) return v;
  return {};
}

// A Location header (possibly relative) against the URL that answered with it.
std::string follow(const std::string& from, const std::string& location) {
  auto base = urls::parse_uri(from);
  auto ref = urls::parse_uri_reference(location);
  urls::url next;
  if (!base || !ref || !urls::resolve(*base, *ref, next))
    throw fetch_error(error_kind::protocol, "bad redirect location '" + location.substr(0, 200) + "'");
  next.remove_fragment();
  return std::string(next.buffer());
}

bool is_redirect(int status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }

} // namespace

std::string fetch_options::default_user_agent(const std::string& purpose) {
  return std::string("Myelin/") + MYELIN_VERSION + (purpose.empty() ? "" : " (" + purpose + ")");
}

std::optional<std::string> unfetchable(const std::string& url) {
  try {
    (void)parse_target(url);
    return std::nullopt;
  } catch (const fetch_error& e) {
    return e.what();
  }
}

fetch_result fetch(const fetch_options& opt, const std::string& url) {
  const auto deadline = steady::now() + opt.timeout;
  auto verb = http::string_to_verb(opt.method);
  if (verb == http::verb::unknown) throw std::invalid_argument("unknown HTTP method " + opt.method);
  std::string current = url;
  std::string body = opt.body;
  for (int redirects = 0;; ++redirects) {
    target t;
    try {
      t = parse_target(current);
    } catch (const fetch_error& e) {
      if (redirects == 0) throw;
      throw fetch_error(error_kind::protocol, "redirected to an unusable URL: " + std::string(e.what()));
    }
    std::vector<peer> peers;
    if (redirects == 0 && !opt.connect_to.empty())
      std::transform(opt.connect_to.begin(), opt.connect_to.end(), std::back_inserter(peers), checked_peer);
    else
      peers.push_back(url_peer(t));

    http::request<http::string_body> req{verb, t.path_and_query, 11};
    req.set(http::field::host, t.host_header);
    req.set(http::field::user_agent, opt.user_agent);
    req.set(http::field::connection, "close");
    for (const auto& [name, value] : opt.headers) req.set(name, value);
    if (!body.empty()) {
      req.body() = body;
      req.prepare_payload();
    }

    auto res = request_once(t, peers, req, opt, deadline);
    auto location = header_value(res, "Location");
    if (opt.max_redirects > 0 && is_redirect(res.status) && !location.empty()) {
      if (redirects >= opt.max_redirects)
        throw fetch_error(error_kind::too_many_redirects, "more than " + std::to_string(opt.max_redirects) + " redirects");
      current = follow(current, location);
      if (res.status == 303 || ((res.status == 301 || res.status == 302) && verb == http::verb::post)) {
        verb = http::verb::get;
        body.clear();
      }
      continue;
    }
    res.url = current;
    return res;
  }
}

} // namespace myelin::outbound
