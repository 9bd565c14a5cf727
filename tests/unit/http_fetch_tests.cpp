// outbound/http_fetch against a scripted loopback HTTP server: the address policy before any
// connection (also after redirects), the redirect limit, the body and header caps, the deadline
// against a silent peer, and the request it sends. Plus the url_cache table on both engines.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "outbound/http_fetch.hpp"
#include "storage/tables/url_cache.hpp"
#include "storage_fixture.hpp"

using namespace myelin;
using outbound::fetch_error;
using kind = fetch_error::kind;

namespace {

// A loopback HTTP server on an ephemeral port. Each connection is read up to the end of its
// headers (plus a Content-Length body) and answered with what the script returns for the request,
// after the script's delay; connections are served one at a time.
class scripted_server {
public:
  struct answer {
    std::string bytes;
    int delay_ms = 0;
  };
  using script = std::function<answer(const std::string& request_line, const std::string& request)>;

  explicit scripted_server(script s) : script_(std::move(s)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~scripted_server() {
    {
      std::lock_guard l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    ::close(fd_);
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int requests() const { return requests_; }
  std::string last_request() const {
    std::lock_guard l(m_);
    return last_;
  }

private:
  void serve() {
    while (!stopping()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string req = read_request(c);
      if (!req.empty()) {
        ++requests_;
        {
          std::lock_guard l(m_);
          last_ = req;
        }
        auto a = script_(req.substr(0, req.find("\r\n")), req);
        std::unique_lock l(m_);
        if (!cv_.wait_for(l, std::chrono::milliseconds(a.delay_ms), [&] { return stop_; })) {
          l.unlock();
          for (size_t sent = 0; sent < a.bytes.size();) {
            auto n = ::send(c, a.bytes.data() + sent, a.bytes.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += static_cast<size_t>(n);
          }
        }
      }
      ::close(c);
    }
  }

  // Up to the blank line and any Content-Length body; gives up after half a second of silence
  // (a TLS ClientHello never ends in a blank line).
  static std::string read_request(int c) {
    std::string in;
    char buf[4096];
    while (true) {
      size_t end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t cl = in.find("Content-Length: ");
        size_t want = end + 4 + (cl != std::string::npos && cl < end ? std::stoul(in.substr(cl + 16)) : 0);
        if (in.size() >= want) return in;
      }
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 500) <= 0) return in;
      auto n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return in;
      in.append(buf, static_cast<size_t>(n));
    }
  }

  bool stopping() {
    std::lock_guard l(m_);
    return stop_;
  }

  script script_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<int> requests_{0};
  std::string last_;
};

std::string response(int status, const std::string& body, const std::string& extra_headers = "",
                     const std::string& type = "text/html; charset=utf-8") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

std::string path_of(const std::string& request_line) {
  auto a = request_line.find(' ');
  return request_line.substr(a + 1, request_line.rfind(' ') - a - 1);
}

// Loopback is denied by default; these tests allow exactly 127.0.0.1, as the integration tests do.
const protocol::ip_policy& loopback_only() {
  static const protocol::ip_policy p{protocol::ip_range_set(protocol::default_ip_deny_list()),
                                     protocol::ip_range_set({"127.0.0.1"})};
  return p;
}

outbound::fetch_options options() {
  outbound::fetch_options o;
  o.ip_policy = &loopback_only();
  o.timeout = std::chrono::milliseconds(5000);
  return o;
}

kind error_of(const outbound::fetch_options& o, const std::string& url) {
  try {
    outbound::fetch(o, url);
  } catch (const fetch_error& e) {
    BOOST_TEST_MESSAGE("fetch " << url << ": " << e.what());
    return e.which();
  }
  BOOST_FAIL("fetch of " + url + " succeeded");
  return kind::protocol;
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_fetch_tests)

BOOST_AUTO_TEST_CASE(a_plain_get) {
  scripted_server s([](const std::string&, const std::string&) {
    return scripted_server::answer{response(200, "<p>hi</p>", "X-Extra: 1\r\n")};
  });
  auto o = options();
  o.headers = {{"Accept-Language", "en, fr;q=0.5"}};
  o.user_agent = outbound::fetch_options::default_user_agent("URL preview");
  auto r = outbound::fetch(o, s.url("/page?q=1#frag"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "<p>hi</p>");
  BOOST_TEST(r.content_type == "text/html; charset=utf-8");
  BOOST_TEST(r.url == s.url("/page?q=1#frag"));
  bool extra = false;
  for (const auto& [k, v] : r.headers) extra = extra || (k == "X-Extra" && v == "1");
  BOOST_TEST(extra);
  auto req = s.last_request();
  BOOST_TEST(req.starts_with("GET /page?q=1 HTTP/1.1\r\n"), req);  // no fragment on the wire
  BOOST_TEST(req.find("Host: 127.0.0.1:" + std::to_string(s.port()) + "\r\n") != std::string::npos, req);
  BOOST_TEST(req.find("User-Agent: Myelin/") != std::string::npos, req);
  BOOST_TEST(req.find(" (URL preview)\r\n") != std::string::npos, req);
  BOOST_TEST(req.find("Accept-Language: en, fr;q=0.5\r\n") != std::string::npos, req);
  BOOST_TEST(req.find("Connection: close\r\n") != std::string::npos, req);
}

BOOST_AUTO_TEST_CASE(error_statuses_are_results) {
  scripted_server s([](const std::string&, const std::string&) {
    return scripted_server::answer{response(404, "gone")};
  });
  auto r = outbound::fetch(options(), s.url("/missing"));
  BOOST_TEST(r.status == 404);
  BOOST_TEST(r.body == "gone");
}

BOOST_AUTO_TEST_CASE(denied_addresses_are_never_connected_to) {
  scripted_server s([](const std::string&, const std::string&) { return scripted_server::answer{response(200, "x")}; });
  auto port = std::to_string(s.port());
  protocol::ip_policy defaults{protocol::ip_range_set(protocol::default_ip_deny_list()), {}};
  auto o = options();
  o.ip_policy = &defaults;
  BOOST_TEST((error_of(o, s.url("/")) == kind::blocked));
  BOOST_TEST((error_of(o, "http://localhost:" + port + "/") == kind::blocked));  // by name, too
  BOOST_TEST((error_of(o, "http://[::ffff:127.0.0.1]:" + port + "/") == kind::blocked));
  BOOST_TEST((error_of(o, "http://[::1]:" + port + "/") == kind::blocked));
  BOOST_TEST((error_of(o, "http://0.0.0.0:" + port + "/") == kind::blocked));
  BOOST_TEST((error_of(options(), "http://127.0.0.2:" + port + "/") == kind::blocked));  // not in the allow list
  BOOST_TEST(s.requests() == 0);
  // With no policy at all (destinations the server chose), anything goes.
  o.ip_policy = nullptr;
  BOOST_TEST(outbound::fetch(o, s.url("/")).status == 200);
}

BOOST_AUTO_TEST_CASE(redirects_are_followed_and_rechecked) {
  scripted_server s([](const std::string& line, const std::string&) -> scripted_server::answer {
    auto path = path_of(line);
    if (path == "/a") return {response(302, "", "Location: /b\r\n")};
    if (path == "/b") return {response(301, "", "Location: c?x=1#f\r\n")};                  // relative
    if (path.starts_with("/chain/")) {                                                     // /chain/N → N-1
      int n = std::stoi(path.substr(7));
      return {n == 0 ? response(200, "end") : response(307, "", "Location: /chain/" + std::to_string(n - 1) + "\r\n")};
    }
    if (path == "/elsewhere") return {response(302, "", "Location: http://127.0.0.2:1/secret\r\n")};
    if (path == "/ftp") return {response(302, "", "Location: ftp://example.org/\r\n")};
    if (path == "/post") return {response(303, "", "Location: /c\r\n")};
    return {response(200, "at " + path)};
  });
  auto r = outbound::fetch(options(), s.url("/a"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "at /c?x=1");
  BOOST_TEST(r.url == s.url("/c?x=1"));
  BOOST_TEST(outbound::fetch(options(), s.url("/chain/5")).body == "end");  // five redirects: fine
  BOOST_TEST((error_of(options(), s.url("/chain/6")) == kind::too_many_redirects));
  BOOST_TEST((error_of(options(), s.url("/elsewhere")) == kind::blocked));  // the target is checked again
  BOOST_TEST((error_of(options(), s.url("/ftp")) == kind::protocol));
  auto o = options();
  o.max_redirects = 0;  // the caller handles redirects itself
  BOOST_TEST(outbound::fetch(o, s.url("/a")).status == 302);
  // 303 turns a POST into a GET without its body.
  o = options();
  o.method = "POST";
  o.body = "payload";
  o.headers = {{"Content-Type", "text/plain"}};
  r = outbound::fetch(o, s.url("/post"));
  BOOST_TEST(r.body == "at /c");
  BOOST_TEST(s.last_request().starts_with("GET /c HTTP/1.1"));
  BOOST_TEST(s.last_request().find("payload") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(bodies_and_headers_are_capped) {
  scripted_server s([](const std::string& line, const std::string&) -> scripted_server::answer {
    auto path = path_of(line);
    if (path == "/declared") return {response(200, std::string(5000, 'x'))};
    if (path == "/chunked") {
      std::string chunks;
      for (int i = 0; i < 10; ++i) chunks += "200\r\n" + std::string(512, 'y') + "\r\n";
      return {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n"};
    }
    if (path == "/unframed") return {"HTTP/1.1 200 OK\r\n\r\n" + std::string(5000, 'z')};  // ends at close
    if (path == "/headers") return {response(200, "x", "X-Big: " + std::string(70000, 'h') + "\r\n")};
    return {response(200, std::string(1000, 'o'))};
  });
  auto o = options();
  o.max_bytes = 1000;
  BOOST_TEST(outbound::fetch(o, s.url("/exact")).body.size() == 1000u);
  BOOST_TEST((error_of(o, s.url("/declared")) == kind::too_large));
  BOOST_TEST((error_of(o, s.url("/chunked")) == kind::too_large));
  BOOST_TEST((error_of(o, s.url("/unframed")) == kind::too_large));
  BOOST_TEST((error_of(options(), s.url("/headers")) == kind::too_large));
}

BOOST_AUTO_TEST_CASE(the_deadline_holds_against_a_silent_peer) {
  scripted_server s([](const std::string&, const std::string&) {
    return scripted_server::answer{response(200, "late"), 3000};
  });
  auto o = options();
  o.timeout = std::chrono::milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  BOOST_TEST((error_of(o, s.url("/slow")) == kind::timeout));
  auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST(took < std::chrono::milliseconds(1500));
}

// A loopback port nobody listens on (bound, read, closed).
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

BOOST_AUTO_TEST_CASE(unusable_urls_and_unreachable_hosts) {
  auto o = options();
  for (const char* bad : {"ftp://example.org/", "example.org/page", "http:///path", "http://exa mple.org/",
                          "http://example.org:99999/", "http://[v1.x]/", "mailto:a@example.org", ""})
    BOOST_TEST((error_of(o, bad) == kind::invalid_url), bad);
  BOOST_TEST(!outbound::unfetchable("https://example.org/x?y#z").has_value());
  BOOST_TEST(outbound::unfetchable("javascript:alert(1)").has_value());
  BOOST_TEST((error_of(o, "http://no-such-host.invalid/") == kind::dns));
  BOOST_TEST((error_of(o, "http://127.0.0.1:" + std::to_string(closed_port()) + "/") == kind::connect));
}

BOOST_AUTO_TEST_CASE(https_needs_a_tls_peer) {
  // A plain HTTP server cannot complete a TLS handshake: the https path fails as TLS, not as a
  // garbled response read in the clear.
  scripted_server s([](const std::string&, const std::string&) { return scripted_server::answer{response(200, "x")}; });
  BOOST_TEST((error_of(options(), "https://127.0.0.1:" + std::to_string(s.port()) + "/") == kind::tls));
}

BOOST_AUTO_TEST_CASE(connect_to_replaces_where_but_not_whom) {
  scripted_server s([](const std::string& line, const std::string&) {
    return scripted_server::answer{response(200, "at " + path_of(line))};
  });
  auto o = options();
  o.connect_to = {{"127.0.0.1", s.port()}};
  // The URL's host does not resolve: with connect_to it is only the name the request is for.
  auto r = outbound::fetch(o, "http://fed.example.invalid:8448/x");
  BOOST_TEST(r.body == "at /x");
  BOOST_TEST(s.last_request().find("Host: fed.example.invalid:8448\r\n") != std::string::npos, s.last_request());
  r = outbound::fetch(o, "http://fed.example.invalid/y");
  BOOST_TEST(r.body == "at /y");
  BOOST_TEST(s.last_request().find("Host: fed.example.invalid\r\n") != std::string::npos, s.last_request());
  // Names and bracketed IPv6 literals are accepted as targets.
  o.connect_to = {{"LocalHost", s.port()}};
  BOOST_TEST(outbound::fetch(o, "http://fed.example.invalid/z").body == "at /z");
}

BOOST_AUTO_TEST_CASE(connect_to_tries_the_targets_in_order) {
  scripted_server s([](const std::string&, const std::string&) {
    return scripted_server::answer{response(200, "ok")};
  });
  auto o = options();
  // Refused, not resolving, denied by the policy: each is skipped for the next.
  o.connect_to = {{"127.0.0.1", closed_port()}, {"no-such-host.invalid", 8448}, {"127.0.0.2", s.port()},
                  {"127.0.0.1", s.port()}};
  BOOST_TEST(outbound::fetch(o, "http://fed.example.invalid/").body == "ok");
  BOOST_TEST(s.requests() == 1);
  // The first that accepts is used; later ones are never tried.
  o.connect_to = {{"127.0.0.1", s.port()}, {"127.0.0.1", closed_port()}};
  BOOST_TEST(outbound::fetch(o, "http://fed.example.invalid/").body == "ok");
  // When none accepts, the error names every failure; the kind is the one they share.
  auto refused = closed_port();
  o.connect_to = {{"127.0.0.1", refused}, {"127.0.0.1", closed_port()}};
  try {
    outbound::fetch(o, "http://fed.example.invalid/");
    BOOST_FAIL("connected to a closed port");
  } catch (const fetch_error& e) {
    BOOST_TEST((e.which() == kind::connect));
    BOOST_TEST(std::string(e.what()).find("127.0.0.1:" + std::to_string(refused)) != std::string::npos, e.what());
  }
  o.connect_to = {{"127.0.0.2", s.port()}, {"[::1]", s.port()}, {"0.0.0.0", s.port()}};
  BOOST_TEST((error_of(o, "http://fed.example.invalid/") == kind::blocked));
  o.connect_to = {{"127.0.0.2", s.port()}, {"127.0.0.1", refused}};
  BOOST_TEST((error_of(o, "http://fed.example.invalid/") == kind::connect));
  BOOST_TEST(s.requests() == 2);
}

BOOST_AUTO_TEST_CASE(connect_to_is_checked_like_a_url) {
  scripted_server s([](const std::string&, const std::string&) { return scripted_server::answer{response(200, "x")}; });
  protocol::ip_policy defaults{protocol::ip_range_set(protocol::default_ip_deny_list()), {}};
  auto o = options();
  o.ip_policy = &defaults;
  o.connect_to = {{"localhost", s.port()}};  // a public-looking URL cannot lead into loopback
  BOOST_TEST((error_of(o, "http://example.org/") == kind::blocked));
  o.connect_to = {{"[::ffff:127.0.0.1]", s.port()}};
  BOOST_TEST((error_of(o, "http://example.org/") == kind::blocked));
  BOOST_TEST(s.requests() == 0);
  o = options();
  std::vector<outbound::connect_target> bad_targets{{"exa mple.org", 80}, {"", 80}, {"127.0.0.1", 0}, {"[::1", 1}};
  for (const auto& bad : bad_targets) {
    o.connect_to = {bad};
    BOOST_TEST((error_of(o, "http://example.org/") == kind::invalid_url), bad.host);
  }
}

BOOST_AUTO_TEST_CASE(connect_to_does_not_apply_to_redirects) {
  scripted_server other([](const std::string& line, const std::string&) {
    return scripted_server::answer{response(200, "other " + path_of(line))};
  });
  scripted_server s([&other](const std::string& line, const std::string&) -> scripted_server::answer {
    if (path_of(line) == "/relative") return {response(302, "", "Location: /next\r\n")};
    return {response(302, "", "Location: " + other.url("/there") + "\r\n")};
  });
  auto o = options();
  o.connect_to = {{"127.0.0.1", s.port()}};
  BOOST_TEST(outbound::fetch(o, "http://fed.example.invalid/absolute").body == "other /there");
  // A relative redirect stays on the URL's host, which is resolved for itself this time.
  BOOST_TEST((error_of(o, "http://fed.example.invalid/relative") == kind::dns));
  BOOST_TEST(other.requests() == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(url_cache_tests)

BOOST_AUTO_TEST_CASE(previews_expire) {
  test::for_each_backend([](storage::database& db, storage::dialect) {
    auto c = db.acquire();
    namespace uc = storage::url_cache;
    BOOST_TEST(!uc::get(*c, "https://a.example/", 1000));
    uc::put(*c, "https://a.example/", {1000, R"({"og:title":"A"})", 5000});
    uc::put(*c, "https://b.example/", {1000, "{}", 2000});
    auto e = uc::get(*c, "https://a.example/", 4999);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->response == R"({"og:title":"A"})");
    BOOST_TEST(e->ts == 1000);
    BOOST_TEST(!uc::get(*c, "https://a.example/", 5000));  // expired at expires_ts
    uc::put(*c, "https://a.example/", {6000, R"({"og:title":"A2"})", 9000});  // a fresh fetch replaces it
    BOOST_TEST(uc::get(*c, "https://a.example/", 6000)->response == R"({"og:title":"A2"})");
    BOOST_TEST(uc::delete_expired(*c, 6000) == 1);  // b only
    BOOST_TEST(test::count(*c, "SELECT COUNT(*) FROM url_cache") == 1);
  });
}

BOOST_AUTO_TEST_SUITE_END()
