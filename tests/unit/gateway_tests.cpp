// Tests for the HTTP gateway: endpoint matching, the route table, the rate limiter, and a real
// server on loopback spoken to with raw sockets (so the tests see exactly what a client sees:
// status lines, headers, closes), with a fake runtime that answers from another thread.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/config.hpp"
#include "gateway/detail_text.hpp"
#include "gateway/gateway.hpp"
#include "protocol/crypto.hpp"
#include "protocol/endpoint_spec.hpp"

namespace gw = myelin::gateway;
namespace json = boost::json;
using myelin::auth_mode;
using myelin::endpoint_spec;
using namespace std::chrono_literals;

namespace {

endpoint_spec spec(std::string name, std::string method, std::string path, auth_mode auth = auth_mode::required) {
  endpoint_spec s;
  s.name = std::move(name);
  s.method = std::move(method);
  s.path = std::move(path);
  s.auth = auth;
  return s;
}

std::string name_of(const gw::endpoint_match& m) { return m.spec ? m.spec->name : std::string("<none>"); }

} // namespace

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(gateway_catalog)

BOOST_AUTO_TEST_CASE(literal_paths_and_methods) {
  gw::endpoint_catalog c;
  c.add(spec("versions", "GET", "/_matrix/client/versions", auth_mode::none));
  auto m = c.match("GET", "/_matrix/client/versions");
  BOOST_TEST(name_of(m) == "versions");
  BOOST_TEST(m.params.empty());
  BOOST_TEST(!c.match("GET", "/_matrix/client/version").spec);
  BOOST_TEST(!c.match("GET", "/_matrix/client/versions/extra").spec);
  BOOST_TEST(!c.match("GET", "").spec);
  BOOST_TEST(!c.match("GET", "_matrix/client/versions").spec);
}

BOOST_AUTO_TEST_CASE(trailing_slash_is_another_path) {
  gw::endpoint_catalog c;
  c.add(spec("whoami", "GET", "/_matrix/client/{:r0|v3}/account/whoami"));
  BOOST_TEST(name_of(c.match("GET", "/_matrix/client/v3/account/whoami")) == "whoami");
  auto m = c.match("GET", "/_matrix/client/v3/account/whoami/");
  BOOST_TEST(!m.spec);
  BOOST_TEST(!m.path_known);
}

BOOST_AUTO_TEST_CASE(alternations) {
  gw::endpoint_catalog c;
  c.add(spec("whoami", "GET", "/_matrix/client/{:r0|v3}/account/whoami"));
  BOOST_TEST(name_of(c.match("GET", "/_matrix/client/r0/account/whoami")) == "whoami");
  BOOST_TEST(name_of(c.match("GET", "/_matrix/client/v3/account/whoami")) == "whoami");
  BOOST_TEST(!c.match("GET", "/_matrix/client/v4/account/whoami").spec);
  // Alternatives are not captured.
  BOOST_TEST(c.match("GET", "/_matrix/client/r0/account/whoami").params.empty());
}

BOOST_AUTO_TEST_CASE(parameters_are_decoded_after_matching) {
  gw::endpoint_catalog c;
  auto s = spec("state.put", "PUT", "/_matrix/client/{:r0|v3}/rooms/{roomId}/state/{eventType}/{stateKey}");
  s.affinity_param = "roomId";
  c.add(s);
  auto m = c.match("PUT", "/_matrix/client/v3/rooms/%21abc%3Aexample.org/state/m.room.name/%40u%3Ax");
  BOOST_TEST_REQUIRE(name_of(m) == "state.put");
  BOOST_TEST_REQUIRE(m.params.size() == 3u);
  BOOST_TEST(m.params[0] == "!abc:example.org");
  BOOST_TEST(m.params[1] == "m.room.name");
  BOOST_TEST(m.params[2] == "@u:x");
  BOOST_TEST(m.affinity_value == "!abc:example.org");
}

BOOST_AUTO_TEST_CASE(encoded_slash_stays_inside_one_parameter) {
  gw::endpoint_catalog c;
  c.add(spec("send", "PUT", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"));
  auto m = c.match("PUT", "/_matrix/client/v3/rooms/a%2Fb/send/m.room.message/t%2f1");
  BOOST_TEST_REQUIRE(name_of(m) == "send");
  BOOST_TEST(m.params[0] == "a/b");
  BOOST_TEST(m.params[2] == "t/1");
  // A real slash is a segment boundary, so the path no longer fits the template.
  BOOST_TEST(!c.match("PUT", "/_matrix/client/v3/rooms/a/b/send/m.room.message/t1").spec);
}

BOOST_AUTO_TEST_CASE(empty_parameter) {
  gw::endpoint_catalog c;
  c.add(spec("state.get", "GET", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"));
  auto m = c.match("GET", "/_matrix/client/v3/rooms/!r/state/m.room.name/");
  BOOST_TEST_REQUIRE(name_of(m) == "state.get");
  BOOST_TEST(m.params[2] == "");
}

BOOST_AUTO_TEST_CASE(invalid_escapes_do_not_match) {
  gw::endpoint_catalog c;
  c.add(spec("profile", "GET", "/_matrix/client/v3/profile/{userId}"));
  BOOST_TEST(name_of(c.match("GET", "/_matrix/client/v3/profile/%40a%3Ab")) == "profile");
  BOOST_TEST(!c.match("GET", "/_matrix/client/v3/profile/%zz").spec);
  BOOST_TEST(!c.match("GET", "/_matrix/client/v3/profile/abc%4").spec);
  BOOST_TEST(!c.match("GET", "/_matrix/client/v3/profile/abc%").spec);
}

BOOST_AUTO_TEST_CASE(rest_of_path) {
  gw::endpoint_catalog c;
  c.add(spec("download", "GET", "/_matrix/media/{:r0|v3}/download/{serverName}/{mediaId}/{fileName...}"));
  auto m = c.match("GET", "/_matrix/media/v3/download/example.org/abc/dir/my%20file.png");
  BOOST_TEST_REQUIRE(name_of(m) == "download");
  BOOST_TEST_REQUIRE(m.params.size() == 3u);
  BOOST_TEST(m.params[2] == "dir/my file.png");
  BOOST_TEST(!c.match("GET", "/_matrix/media/v3/download/example.org/abc").spec);
  BOOST_TEST(!c.match("GET", "/_matrix/media/v3/download/example.org/abc/%G0").spec);
}

BOOST_AUTO_TEST_CASE(method_mismatch_is_405_material) {
  gw::endpoint_catalog c;
  c.add(spec("devices.get", "GET", "/_matrix/client/v3/devices/{deviceId}"));
  c.add(spec("devices.put", "PUT", "/_matrix/client/v3/devices/{deviceId}"));
  c.add(spec("devices.delete", "DELETE", "/_matrix/client/v3/devices/{deviceId}"));
  auto m = c.match("POST", "/_matrix/client/v3/devices/ABC");
  BOOST_TEST(!m.spec);
  BOOST_TEST(m.path_known);
  BOOST_TEST(m.allowed_methods == (std::vector<std::string>{"GET", "PUT", "DELETE"}));
  auto none = c.match("POST", "/_matrix/client/v3/nothing");
  BOOST_TEST(!none.path_known);
  BOOST_TEST(none.allowed_methods.empty());
}

BOOST_AUTO_TEST_CASE(literal_beats_parameter_whatever_the_order) {
  gw::endpoint_catalog c;
  c.add(spec("filter.get", "GET", "/_matrix/client/v3/user/{userId}/filter/{filterId}"));
  c.add(spec("account_data.get", "GET", "/_matrix/client/v3/user/{userId}/{kind}/{type}"));
  c.add(spec("logout.all", "POST", "/_matrix/client/v3/logout/{what}"));
  c.add(spec("logout.all.literal", "POST", "/_matrix/client/v3/logout/all"));
  BOOST_TEST(name_of(c.match("GET", "/_matrix/client/v3/user/u/filter/1")) == "filter.get");
  BOOST_TEST(name_of(c.match("GET", "/_matrix/client/v3/user/u/account_data/t")) == "account_data.get");
  BOOST_TEST(name_of(c.match("POST", "/_matrix/client/v3/logout/all")) == "logout.all.literal");
  BOOST_TEST(name_of(c.match("POST", "/_matrix/client/v3/logout/other")) == "logout.all");
}

BOOST_AUTO_TEST_CASE(bad_templates_and_duplicates_are_refused) {
  gw::endpoint_catalog c;
  c.add(spec("a", "GET", "/_matrix/client/{:r0|v3}/a/{x}"));
  BOOST_CHECK_THROW(c.add(spec("a2", "GET", "/_matrix/client/v3/a/{y}")), std::invalid_argument);
  BOOST_CHECK_THROW(c.add(spec("a", "PUT", "/_matrix/client/v3/other")), std::invalid_argument);
  BOOST_CHECK_NO_THROW(c.add(spec("a.put", "PUT", "/_matrix/client/v3/a/{x}")));
  BOOST_CHECK_THROW(c.add(spec("b", "GET", "no/leading/slash")), std::invalid_argument);
  BOOST_CHECK_THROW(c.add(spec("c", "GET", "/x/{unclosed")), std::invalid_argument);
  BOOST_CHECK_THROW(c.add(spec("d", "GET", "/x/pre{p}")), std::invalid_argument);
  BOOST_CHECK_THROW(c.add(spec("e", "GET", "/x/{rest...}/y")), std::invalid_argument);
  BOOST_CHECK_THROW(c.add(spec("f", "GET", "/x/{}")), std::invalid_argument);
  BOOST_CHECK_THROW(c.add(spec("g", "GET", "/x/{:a||b}")), std::invalid_argument);
  auto h = spec("h", "GET", "/x/{roomId}");
  h.affinity_param = "room";
  BOOST_CHECK_THROW(c.add(h), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(groups_default_to_main) {
  gw::endpoint_catalog c;
  c.add(spec("a", "GET", "/a"));
  BOOST_TEST(c.group_of("a") == "main");
  c.set_group("a", "sync");
  BOOST_TEST(c.group_of("a") == "sync");
  BOOST_TEST(c.group_of("unknown") == "main");
}

BOOST_AUTO_TEST_CASE(matching_stays_fast) {
  gw::endpoint_catalog c;
  for (int i = 0; i < 150; ++i)
    c.add(spec("e" + std::to_string(i), "GET", "/_matrix/client/{:r0|v3}/area" + std::to_string(i) + "/{id}/thing"));
  auto start = std::chrono::steady_clock::now();
  int found = 0;
  for (int i = 0; i < 2000; ++i) found += c.match("GET", "/_matrix/client/v3/area149/x%21/thing").spec != nullptr;
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / 2000;
  BOOST_TEST(found == 2000);
  BOOST_TEST_MESSAGE("catalog match over 150 endpoints: " << us << " us");
  BOOST_TEST(us < 200.0);  // generous: sanitizers and a busy machine; unsanitized it is ~1-3 us
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(gateway_routes)

BOOST_AUTO_TEST_CASE(builtin_routes_follow_synapse) {
  auto t = gw::route_table::builtin();
  BOOST_TEST(t.default_group() == "main");
  BOOST_TEST(t.group_for("GET", "/_matrix/client/v3/sync") == "sync");
  BOOST_TEST(t.group_for("GET", "/_matrix/client/r0/sync") == "sync");
  BOOST_TEST(t.group_for("GET", "/_matrix/client/v3/pushrules/") == "client_reader");
  BOOST_TEST(t.group_for("PUT", "/_matrix/client/v3/pushrules/global/override/x") == "client_reader");
  BOOST_TEST(t.group_for("PUT", "/_matrix/client/v3/rooms/x/send/m.room.message/t") == "event_creator");
  BOOST_TEST(t.group_for("POST", "/_matrix/client/v3/createRoom") == "event_creator");
  BOOST_TEST(t.group_for("POST", "/_matrix/client/v3/login") == "client_reader");
  BOOST_TEST(t.group_for("POST", "/_matrix/client/r0/register") == "client_reader");
  BOOST_TEST(t.group_for("GET", "/_matrix/client/v3/rooms/x/messages") == "client_reader");
  BOOST_TEST(t.group_for("POST", "/_matrix/client/v3/keys/upload") == "keys");
  BOOST_TEST(t.group_for("GET", "/_matrix/client/v3/devices") == "keys");
  BOOST_TEST(t.group_for("DELETE", "/_matrix/client/v3/devices/x") == "keys");
  BOOST_TEST(t.group_for("GET", "/.well-known/matrix/client") == "client_reader");
  BOOST_TEST(t.group_for("GET", "/_matrix/media/v3/download/x/x") == "media");
  BOOST_TEST(t.group_for("GET", "/_matrix/federation/v1/media/download/x") == "media");
  BOOST_TEST(t.group_for("PUT", "/_matrix/federation/v1/send/x") == "federation_inbound");
  BOOST_TEST(t.group_for("GET", "/_matrix/federation/v1/event/x") == "federation_reader");
  BOOST_TEST(t.group_for("POST", "/_matrix/client/v3/user_directory/search") == "user_dir");
  BOOST_TEST(t.group_for("POST", "/_matrix/client/v3/logout") == "main");
  BOOST_TEST(t.group_for("GET", "/unknown") == "main");
}

BOOST_AUTO_TEST_CASE(methods_restrict_a_rule) {
  auto t = gw::route_table::parse("default: main\n"
                                  "routes:\n"
                                  "  - match: '^/a/'\n"
                                  "    group: reader\n"
                                  "    methods: [GET]\n",
                                  "t.yaml");
  BOOST_TEST(t.group_for("GET", "/a/x") == "reader");
  BOOST_TEST(t.group_for("PUT", "/a/x") == "main");
  BOOST_TEST(t.rules().size() == 1u);
}

void expect_config_error(const std::string& yaml, const std::string& where) {
  try {
    gw::route_table::parse(yaml, "routes-test.yaml");
    BOOST_ERROR("no config_error for: " << yaml);
  } catch (const myelin::config_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(std::string(e.what()).find(where) != std::string::npos, "'" << e.what() << "' should contain " << where);
  }
}

BOOST_AUTO_TEST_CASE(errors_name_the_line) {
  expect_config_error("default: main\nroutes:\n  - match: '^/(unclosed'\n    group: main\n", "routes-test.yaml:3:");
  expect_config_error("default: main\nroutes: [\n  {match: x\n", "routes-test.yaml:");
  expect_config_error("routes:\n  - match: '^/a'\n    group: main\n    method: [GET]\n", "routes-test.yaml:4:");
  expect_config_error("routes:\n  - match: '^/a'\n", "routes-test.yaml:2:");
  expect_config_error("routes:\n  - match: '^/a'\n    group: main\n    methods: [FETCH]\n", "routes-test.yaml:4:");
  expect_config_error("- just a list\n", "routes-test.yaml:1:");
  expect_config_error("default: 'Bad Group'\n", "routes-test.yaml:1:");
}

BOOST_AUTO_TEST_CASE(assign_groups_uses_sample_paths) {
  gw::endpoint_catalog c;
  c.add(spec("sync", "GET", "/_matrix/client/{:r0|v3}/sync"));
  c.add(spec("send", "PUT", "/_matrix/client/{:r0|v3}/rooms/{roomId}/send/{eventType}/{txnId}"));
  c.add(spec("logout", "POST", "/_matrix/client/{:r0|v3}/logout"));
  c.add(spec("download", "GET", "/_matrix/media/{:r0|v3}/download/{s}/{m}/{f...}"));
  // Synapse routes /threads on v1 only: the v3 alternative falls to main → a warning.
  c.add(spec("threads", "GET", "/_matrix/client/{:v1|v3}/rooms/{roomId}/threads"));
  auto warnings = gw::assign_groups(c, gw::route_table::builtin());
  BOOST_TEST(c.group_of("sync") == "sync");
  BOOST_TEST(c.group_of("send") == "event_creator");
  BOOST_TEST(c.group_of("logout") == "main");
  BOOST_TEST(c.group_of("download") == "media");
  BOOST_TEST(c.group_of("threads") == "client_reader");
  BOOST_TEST_REQUIRE(warnings.size() == 1u);
  BOOST_TEST(warnings[0].find("threads") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(gateway_rate_limits)

BOOST_AUTO_TEST_CASE(burst_then_limited_then_refilled) {
  myelin::rate_limits_config cfg;
  cfg.message = {20, 3};  // 3 at once, then one every 50 ms
  gw::rate_limiter rl(cfg);
  for (int i = 0; i < 3; ++i) BOOST_TEST(rl.take("message", "@a:test") == 0);
  int64_t wait = rl.take("message", "@a:test");
  BOOST_TEST(wait > 0);
  BOOST_TEST(wait <= 50);
  BOOST_TEST(rl.take("message", "@b:test") == 0);  // buckets are per key
  std::this_thread::sleep_for(70ms);
  BOOST_TEST(rl.take("message", "@a:test") == 0);
}

BOOST_AUTO_TEST_CASE(retry_after_reflects_the_rate) {
  myelin::rate_limits_config cfg;
  cfg.login_address = {0.17, 3};
  gw::rate_limiter rl(cfg);
  for (int i = 0; i < 3; ++i) BOOST_TEST(rl.take("login", "10.0.0.1") == 0);
  int64_t wait = rl.take("login", "10.0.0.1");
  BOOST_TEST(wait > 5000);   // ~1/0.17 s
  BOOST_TEST(wait <= 5883);
}

BOOST_AUTO_TEST_CASE(check_consumes_nothing) {
  myelin::rate_limits_config cfg;
  cfg.login_failed_attempts = {0.01, 2};
  gw::rate_limiter rl(cfg);
  for (int i = 0; i < 10; ++i) BOOST_TEST_REQUIRE(rl.check("login_failed", "@a:test") == 0);
  BOOST_TEST(rl.take("login_failed", "@a:test") == 0);
  BOOST_TEST(rl.take("login_failed", "@a:test") == 0);
  BOOST_TEST(rl.check("login_failed", "@a:test") > 0);   // empty now, and check says so
  BOOST_TEST(rl.check("login_failed", "@b:test") == 0);  // other accounts untouched
}

BOOST_AUTO_TEST_CASE(disabled_and_unknown_classes_allow) {
  myelin::rate_limits_config cfg;  // client_requests is {0, 0}: disabled
  gw::rate_limiter rl(cfg);
  for (int i = 0; i < 1000; ++i) BOOST_TEST_REQUIRE(rl.take("client", "@a:test") == 0);
  BOOST_TEST(rl.take("no_such_class", "x") == 0);
  cfg.registration = {0, 0};
  rl.reconfigure(cfg);
  for (int i = 0; i < 100; ++i) BOOST_TEST_REQUIRE(rl.take("registration", "1.2.3.4") == 0);
}

BOOST_AUTO_TEST_CASE(many_keys_do_not_break_it) {
  myelin::rate_limits_config cfg;
  cfg.client_requests = {1000, 1000};
  gw::rate_limiter rl(cfg);
  for (int i = 0; i < 50000; ++i) BOOST_TEST_REQUIRE(rl.take("client", "@u" + std::to_string(i) + ":test") == 0);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
namespace {

// The runtime's side, faked: answers come from other threads, like CAF's.
class fake_authenticator : public gw::authenticator {
public:
  void authenticate(std::string token, std::string as_user_id, std::function<void(gw::auth_result)> done) override {
    gw::auth_result r;
    using o = gw::auth_result::outcome;
    auto who = [&](const char* user, const char* device, int64_t id, bool guest) {
      r.result = o::ok;
      r.user_id = user;
      r.device_id = device;
      r.token_id = id;
      r.is_guest = guest;
    };
    if (token == "good") who("@a:test", "DEVA", 1, false);
    else if (token == "guest") who("@g:test", "DEVG", 2, true);
    else if (token == "as") {  // an application service that may act as @v:test only
      if (as_user_id.empty() || as_user_id == "@v:test") who(as_user_id.empty() ? "@bot:test" : "@v:test", "", 0, false);
      else r = {.result = o::forbidden, .message = "cannot masquerade as " + as_user_id};
      r.appservice_id = "svc";
    }
    else if (token == "expired") r.result = o::expired;
    else if (token == "down") r.result = o::unavailable;
    else r.result = o::unknown;
    done(std::move(r));  // synchronous on purpose: the gateway must cope with both
  }
};

class fake_dispatcher : public gw::dispatcher {
public:
  ~fake_dispatcher() override {
    std::lock_guard lock(mu_);
    for (auto& t : threads_) t.join();
  }

  void dispatch(const std::string& group, const std::string& affinity_key, myelin::api_request req,
                std::function<void(myelin::api_response, std::string)> done) override {
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, group, affinity_key, req = std::move(req), done = std::move(done)]() mutable {
      if (req.endpoint == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms.load()));
      done(answer(group, affinity_key, req), group + "/1");
    });
  }

  void wait_for_positions(std::vector<myelin::stream_position> positions, std::chrono::milliseconds,
                          std::function<void()> done) override {
    waits.fetch_add(1);
    std::lock_guard lock(mu_);
    threads_.emplace_back([done = std::move(done)] { done(); });
  }

  std::atomic<int> slow_ms{500};
  std::atomic<int> waits{0};

private:
  static myelin::api_response answer(const std::string& group, const std::string& key, const myelin::api_request& req) {
    json::object o;
    o["echo"] = req.endpoint;
    json::array params;
    for (const auto& p : req.path_params) params.emplace_back(p);
    o["params"] = std::move(params);
    json::array query;
    for (const auto& [k, v] : req.query) query.emplace_back(json::array{json::string(k), json::string(v)});
    o["query"] = std::move(query);
    o["group"] = group;
    o["key"] = key;
    o["user"] = req.user_id;
    o["device"] = req.device_id;
    o["guest"] = req.is_guest;
    o["ip"] = req.client_ip;
    o["body_size"] = req.body.size();
    o["request_id"] = req.request_id;
    o["body_file"] = req.body_file;
    o["spooled_size"] = req.body_size;
    o["spooled_sha256"] = req.body_sha256;
    myelin::api_response r;
    if (req.endpoint == "file") {  // answers with the file named by ?path=
      for (const auto& [k, v] : req.query)
        if (k == "path") r.file_path = v;
      r.content_type = "application/octet-stream";
      r.headers.emplace_back("Content-Disposition", "attachment");
      return r;
    }
    r.body = json::serialize(o);
    if (req.endpoint == "write") r.wait_for.push_back({"events", "persister/1", 42});
    return r;
  }

  std::mutex mu_;
  std::vector<std::thread> threads_;
};

struct http_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json::value json() const { return json::parse(body); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A deliberately dumb HTTP/1.1 client on a raw socket.
class raw_client {
public:
  explicit raw_client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  explicit raw_client(const std::string& unix_path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, unix_path.c_str(), sizeof a.sun_path - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~raw_client() {
    if (fd_ >= 0) ::close(fd_);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // One response (Content-Length framed, as the gateway always sends); nullopt on close/timeout.
  std::optional<http_response> read_response(std::chrono::milliseconds timeout = 5s, bool head_only = false) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return std::nullopt;
    http_response r;
    std::string head = buf_.substr(0, header_end);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      if (eol == std::string::npos) eol = head.size();
      std::string line = head.substr(pos, eol - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        r.headers[lower(line.substr(0, colon))] = v;
      }
      pos = eol + 2;
    }
    size_t length = r.headers.count("content-length") && !head_only ? std::stoul(r.headers["content-length"]) : 0;
    size_t total = header_end + 4 + length;
    while (buf_.size() < total)
      if (!fill(deadline)) return std::nullopt;
    r.body = buf_.substr(header_end + 4, length);
    buf_.erase(0, total);
    return r;
  }

  // Whether the server closes the connection (EOF or reset) within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int r = wait_readable(deadline);
      if (r <= 0) return false;
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return true;
    }
  }

private:
  int wait_readable(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(left.count()));
  }

  bool fill(std::chrono::steady_clock::time_point deadline) {
    if (wait_readable(deadline) <= 0) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

std::string with_body(const std::string& method, const std::string& target, const std::string& body,
                      const std::string& extra_headers = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

gw::endpoint_catalog test_catalog() {
  gw::endpoint_catalog c;
  c.add(spec("versions", "GET", "/_matrix/client/versions", auth_mode::none));
  c.add(spec("whoami", "GET", "/_matrix/client/{:r0|v3}/account/whoami"));
  auto guest_ok = spec("guest_ok", "GET", "/_matrix/client/v3/guest_ok");
  guest_ok.allow_guest = true;
  c.add(guest_ok);
  c.add(spec("sync", "GET", "/_matrix/client/v3/sync"));
  auto send = spec("send", "PUT", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}");
  send.affinity_param = "roomId";
  send.rate_limit = "message";
  c.add(send);
  auto upload = spec("upload", "POST", "/_matrix/media/v3/upload", auth_mode::none);
  upload.large_body = true;
  c.add(upload);
  c.add(spec("echo_post", "POST", "/_matrix/client/v3/echo", auth_mode::none));
  c.add(spec("file", "GET", "/_matrix/client/v3/file", auth_mode::none));
  c.add(spec("slow", "GET", "/_matrix/client/v3/slow", auth_mode::none));
  c.add(spec("write", "POST", "/_matrix/client/v3/write", auth_mode::none));
  c.add(spec("optional", "GET", "/_matrix/client/v3/optional", auth_mode::optional));
  auto login = spec("login", "POST", "/_matrix/client/v3/login", auth_mode::none);
  login.rate_limit = "login";
  c.add(login);
  c.set_group("sync", "sync");
  c.set_group("send", "event_creator");
  return c;
}

myelin::homeserver_config test_config() {
  myelin::homeserver_config cfg;
  cfg.server_name = "test";
  cfg.listeners.push_back(myelin::listener_config{});  // 127.0.0.1, ephemeral port
  cfg.listeners.back().resources = {"client", "federation", "media"};  // the fixture's echo endpoints span all three
  cfg.limits.max_request_body_size = 1024;
  cfg.limits.max_upload_size = 8192;
  cfg.limits.max_header_size = 4096;
  cfg.limits.header_timeout_seconds = 1;
  cfg.limits.request_timeout_seconds = 5;
  cfg.limits.keepalive_timeout_seconds = 5;
  cfg.runtime.gateway_threads = 2;
  cfg.logging.access_log = false;  // one test turns it on
  cfg.rate_limits.login_address = {0.5, 2};
  return cfg;
}

struct server_fixture {
  explicit server_fixture(myelin::homeserver_config c = test_config(), bool direct = false)
      : cfg(std::move(c)), catalog(test_catalog()), limiter(cfg.rate_limits),
        server(std::make_unique<gw::server>(cfg, catalog, runtime, auth, limiter)) {
    if (direct) server->enable_direct_endpoints(R"({"versions":["v1.11"]})");
    server->start();
    if (!server->bound_ports().empty()) port = server->bound_ports().front();
  }

  http_response request(const std::string& raw) {
    raw_client c(port);
    BOOST_REQUIRE(c.connected());
    BOOST_REQUIRE(c.send(raw));
    auto r = c.read_response();
    BOOST_REQUIRE_MESSAGE(r.has_value(), "no response to " << raw.substr(0, raw.find('\r')));
    return *r;
  }

  myelin::homeserver_config cfg;
  gw::endpoint_catalog catalog;
  fake_dispatcher runtime;
  fake_authenticator auth;
  gw::rate_limiter limiter;
  std::unique_ptr<gw::server> server;  // last: stopped before the fakes go away
  uint16_t port = 0;
};

std::string errcode(const http_response& r) {
  auto v = r.json();
  return v.is_object() && v.as_object().contains("errcode") ? std::string(v.at("errcode").as_string()) : "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_server)

BOOST_FIXTURE_TEST_CASE(unknown_path_and_wrong_method, server_fixture) {
  auto r = request(get("/_matrix/client/v3/nothing"));
  BOOST_TEST(r.status == 404);
  BOOST_TEST(errcode(r) == "M_UNRECOGNIZED");
  BOOST_TEST(r.header("access-control-allow-origin") == "*");
  BOOST_TEST(r.header("cache-control") == "no-cache, no-store, must-revalidate");

  r = request(with_body("POST", "/_matrix/client/versions", "{}"));
  BOOST_TEST(r.status == 405);
  BOOST_TEST(errcode(r) == "M_UNRECOGNIZED");
  BOOST_TEST(r.header("allow") == "GET");
}

BOOST_FIXTURE_TEST_CASE(head_is_answered_without_a_body, server_fixture) {
  raw_client c(port);
  c.send("HEAD /_matrix/client/versions HTTP/1.1\r\nHost: t\r\n\r\n" + get("/_matrix/client/versions"));
  auto head = c.read_response(5s, true);
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST(head->status == 200);  // the GET endpoint answers HEAD
  BOOST_TEST(head->body.empty());
  BOOST_TEST(std::stoi(head->header("content-length")) > 0);
  auto next = c.read_response();  // would be garbled if the HEAD answer carried a body
  BOOST_TEST_REQUIRE(next.has_value());
  BOOST_TEST(next->status == 200);
}

BOOST_FIXTURE_TEST_CASE(options_is_cors_preflight, server_fixture) {
  auto r = request("OPTIONS /_matrix/client/v3/account/whoami HTTP/1.1\r\nHost: test\r\n"
                   "Access-Control-Request-Method: GET\r\n\r\n");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "{}");
  BOOST_TEST(r.header("access-control-allow-origin") == "*");
  BOOST_TEST(r.header("access-control-allow-methods") == "GET, HEAD, POST, PUT, DELETE, OPTIONS");
  BOOST_TEST(r.header("access-control-allow-headers") == "X-Requested-With, Content-Type, Authorization, Date");
  // Even where nothing exists: preflight never fails.
  BOOST_TEST(request("OPTIONS /nowhere HTTP/1.1\r\nHost: t\r\n\r\n").status == 200);
}

BOOST_FIXTURE_TEST_CASE(access_tokens, server_fixture) {
  auto r = request(get("/_matrix/client/v3/account/whoami"));
  BOOST_TEST(r.status == 401);
  BOOST_TEST(errcode(r) == "M_MISSING_TOKEN");

  r = request(get("/_matrix/client/v3/account/whoami", "Authorization: Bearer nope\r\n"));
  BOOST_TEST(r.status == 401);
  BOOST_TEST(errcode(r) == "M_UNKNOWN_TOKEN");
  BOOST_TEST(!r.json().as_object().contains("soft_logout"));

  r = request(get("/_matrix/client/v3/account/whoami", "Authorization: Bearer expired\r\n"));
  BOOST_TEST(r.status == 401);
  BOOST_TEST(errcode(r) == "M_UNKNOWN_TOKEN");
  BOOST_TEST(r.json().at("soft_logout").as_bool() == true);

  r = request(get("/_matrix/client/v3/account/whoami", "Authorization: Basic Zm9vOmJhcg==\r\n"));
  BOOST_TEST(r.status == 401);
  BOOST_TEST(errcode(r) == "M_MISSING_TOKEN");

  r = request(get("/_matrix/client/v3/account/whoami", "Authorization: Bearer down\r\n"));
  BOOST_TEST(r.status == 503);

  r = request(get("/_matrix/client/v3/account/whoami", "Authorization: Bearer good\r\n"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.json().at("user").as_string() == "@a:test");
  BOOST_TEST(r.json().at("device").as_string() == "DEVA");

  // The header wins over the query parameter.
  r = request(get("/_matrix/client/v3/account/whoami?access_token=nope", "Authorization: Bearer good\r\n"));
  BOOST_TEST(r.status == 200);
}

// ?user_id= reaches the authenticator, which decides whether an application service may act as
// that user; a refusal is 403 M_FORBIDDEN with its message.
BOOST_FIXTURE_TEST_CASE(appservice_masquerading, server_fixture) {
  auto r = request(get("/_matrix/client/v3/account/whoami", "Authorization: Bearer as\r\n"));
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("user").as_string() == "@bot:test");
  r = request(get("/_matrix/client/v3/account/whoami?user_id=%40v%3Atest", "Authorization: Bearer as\r\n"));
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("user").as_string() == "@v:test");
  r = request(get("/_matrix/client/v3/account/whoami?user_id=%40x%3Atest", "Authorization: Bearer as\r\n"));
  BOOST_TEST(r.status == 403);
  BOOST_TEST(errcode(r) == "M_FORBIDDEN");
  BOOST_TEST(r.json().at("error").as_string() == "cannot masquerade as @x:test");
}

BOOST_FIXTURE_TEST_CASE(query_parameter_token_is_not_passed_on, server_fixture) {
  auto r = request(get("/_matrix/client/r0/account/whoami?a=1&access_token=good&b=x%20y+z"));
  BOOST_TEST_REQUIRE(r.status == 200);
  auto v = r.json();
  BOOST_TEST(v.at("user").as_string() == "@a:test");
  BOOST_TEST(json::serialize(v.at("query")) == R"([["a","1"],["b","x y z"]])");
}

BOOST_FIXTURE_TEST_CASE(guests, server_fixture) {
  auto r = request(get("/_matrix/client/v3/account/whoami", "Authorization: Bearer guest\r\n"));
  BOOST_TEST(r.status == 403);
  BOOST_TEST(errcode(r) == "M_GUEST_ACCESS_FORBIDDEN");
  r = request(get("/_matrix/client/v3/guest_ok", "Authorization: Bearer guest\r\n"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.json().at("guest").as_bool() == true);
}

BOOST_FIXTURE_TEST_CASE(optional_auth, server_fixture) {
  auto r = request(get("/_matrix/client/v3/optional"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.json().at("user").as_string() == "");
  r = request(get("/_matrix/client/v3/optional", "Authorization: Bearer good\r\n"));
  BOOST_TEST(r.json().at("user").as_string() == "@a:test");
  BOOST_TEST(request(get("/_matrix/client/v3/optional", "Authorization: Bearer nope\r\n")).status == 401);
}

BOOST_FIXTURE_TEST_CASE(parameters_groups_and_affinity, server_fixture) {
  auto r = request(with_body("PUT", "/_matrix/client/v3/rooms/%21r%3Atest/send/m.room.message/t%2F1", "{}",
                             "Authorization: Bearer good\r\n"));
  BOOST_TEST_REQUIRE(r.status == 200);
  auto v = r.json();
  BOOST_TEST(v.at("echo").as_string() == "send");
  BOOST_TEST(json::serialize(v.at("params")) == R"(["!r:test","m.room.message","t/1"])");
  BOOST_TEST(v.at("group").as_string() == "event_creator");
  BOOST_TEST(v.at("key").as_string() == "!r:test");
  BOOST_TEST(v.at("ip").as_string() == "127.0.0.1");
  BOOST_TEST(!v.at("request_id").as_string().empty());

  r = request(get("/_matrix/client/v3/sync", "Authorization: Bearer good\r\n"));
  BOOST_TEST(r.json().at("group").as_string() == "sync");
  BOOST_TEST(r.json().at("key").as_string() == "@a:test");  // user affinity
}

BOOST_FIXTURE_TEST_CASE(body_limits, server_fixture) {
  raw_client c(port);
  c.send(with_body("POST", "/_matrix/client/v3/echo", std::string(2000, 'x')));
  auto r = c.read_response();
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 413);
  BOOST_TEST(errcode(*r) == "M_TOO_LARGE");
  BOOST_TEST(c.closed_within(2s));

  // Announced but not sent: refused from the header alone.
  raw_client c2(port);
  c2.send("POST /_matrix/client/v3/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n");
  r = c2.read_response();
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 413);

  // Chunked bodies are counted as they arrive.
  raw_client c3(port);
  std::string chunk(800, 'y');
  c3.send("POST /_matrix/client/v3/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
          "320\r\n" + chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
  r = c3.read_response();
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 413);

  // Media endpoints get max_upload_size.
  auto up = request(with_body("POST", "/_matrix/media/v3/upload", std::string(5000, 'z')));
  BOOST_TEST(up.status == 200);
  BOOST_TEST(up.json().at("body_size").as_int64() == 5000);
  BOOST_TEST(request(with_body("POST", "/_matrix/client/v3/echo", std::string(1000, 'x'))).status == 200);
}

BOOST_FIXTURE_TEST_CASE(expect_100_continue, server_fixture) {
  raw_client c(port);
  c.send("POST /_matrix/client/v3/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read_response();
  BOOST_TEST_REQUIRE(interim.has_value());
  BOOST_TEST(interim->status == 100);
  c.send("{}");
  auto r = c.read_response();
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 200);
}

BOOST_FIXTURE_TEST_CASE(huge_headers_get_431_or_close, server_fixture) {
  raw_client c(port);
  c.send(get("/_matrix/client/versions", "X-Big: " + std::string(10000, 'a') + "\r\n"));
  auto r = c.read_response(3s);
  if (r) {
    BOOST_TEST(r->status == 431);
    BOOST_TEST(errcode(*r) == "M_TOO_LARGE");
  }
  BOOST_TEST(c.closed_within(3s));
}

BOOST_FIXTURE_TEST_CASE(slowloris_is_cut_off_while_others_are_served, server_fixture) {
  std::atomic<bool> cut{false};
  std::atomic<int64_t> cut_after_ms{-1};
  std::thread slow([&] {
    raw_client c(port);
    std::string trickle = get("/_matrix/client/versions", "X-Padding: " + std::string(40, 'p') + "\r\n");
    auto start = std::chrono::steady_clock::now();
    for (char ch : trickle) {
      if (!c.send(std::string_view(&ch, 1)) || c.closed_within(100ms)) {
        cut = true;
        auto elapsed = std::chrono::steady_clock::now() - start;
        cut_after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
        return;
      }
    }
  });
  for (int i = 0; i < 10; ++i) {
    BOOST_TEST(request(get("/_matrix/client/versions")).status == 200);
    std::this_thread::sleep_for(50ms);
  }
  slow.join();
  BOOST_TEST(cut.load());
  BOOST_TEST(cut_after_ms.load() >= 800);
  BOOST_TEST(cut_after_ms.load() < 2500);
}

BOOST_FIXTURE_TEST_CASE(keep_alive_and_pipelining, server_fixture) {
  raw_client c(port);
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST_REQUIRE(c.send(get("/_matrix/client/v3/account/whoami", "Authorization: Bearer good\r\n")));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 200);
  }
  // Three requests in one write: answered in order on the same connection.
  c.send(get("/_matrix/client/versions") + with_body("POST", "/_matrix/client/v3/echo", "{\"a\":1}") +
         get("/_matrix/client/v3/nothing"));
  auto a = c.read_response(), b = c.read_response(), d = c.read_response();
  BOOST_TEST_REQUIRE((a && b && d));
  BOOST_TEST(a->json().at("echo").as_string() == "versions");
  BOOST_TEST(b->json().at("echo").as_string() == "echo_post");
  BOOST_TEST(d->status == 404);
  BOOST_TEST(server->stats().requests >= 8u);

  // Connection: close is honoured.
  c.send(get("/_matrix/client/versions", "Connection: close\r\n"));
  auto last = c.read_response();
  BOOST_TEST_REQUIRE(last.has_value());
  BOOST_TEST(c.closed_within(2s));
}

BOOST_FIXTURE_TEST_CASE(garbage_does_not_kill_the_server, server_fixture) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 500; ++i) {
    raw_client c(port);
    BOOST_TEST_REQUIRE(c.connected());
    std::string junk(1 + rng() % 300, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    if (i % 5 == 0) junk = "GET /" + junk + " HTTP/1.1\r\n\r\n";  // plausible start, broken target
    c.send(junk);
    c.shutdown_write();
    BOOST_TEST_REQUIRE(c.closed_within(3s));
  }
  BOOST_TEST(request(get("/_matrix/client/versions")).status == 200);
}

BOOST_FIXTURE_TEST_CASE(rate_limits_answer_429, server_fixture) {
  BOOST_TEST(request(with_body("POST", "/_matrix/client/v3/login", "{}")).status == 200);
  BOOST_TEST(request(with_body("POST", "/_matrix/client/v3/login", "{}")).status == 200);
  auto r = request(with_body("POST", "/_matrix/client/v3/login", "{}"));
  BOOST_TEST(r.status == 429);
  BOOST_TEST(errcode(r) == "M_LIMIT_EXCEEDED");
  int64_t ms = r.json().at("retry_after_ms").as_int64();
  BOOST_TEST(ms > 0);
  BOOST_TEST(ms <= 2000);
  BOOST_TEST(r.header("retry-after") == std::to_string((ms + 999) / 1000));
}

BOOST_FIXTURE_TEST_CASE(read_after_write_waits_for_positions, server_fixture) {
  auto r = request(with_body("POST", "/_matrix/client/v3/write", "{}"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(runtime.waits.load() == 1);
}

BOOST_AUTO_TEST_CASE(graceful_stop_finishes_in_flight_requests) {
  server_fixture f;
  f.runtime.slow_ms = 600;
  raw_client c(f.port);
  c.send(get("/_matrix/client/v3/slow"));
  raw_client idle(f.port);  // an idle keep-alive connection is closed at once
  std::this_thread::sleep_for(150ms);
  BOOST_TEST(f.server->stats().in_flight == 1u);
  auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { f.server->stop(5s); });
  auto r = c.read_response(5s);
  stopper.join();
  auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->json().at("echo").as_string() == "slow");
  BOOST_TEST(r->header("connection") == "close");
  BOOST_TEST(idle.closed_within(1s));
  BOOST_CHECK(took < 3s);
  BOOST_TEST(!raw_client(f.port).connected());
  f.server->stop();  // twice is fine
}

BOOST_AUTO_TEST_CASE(stop_cancels_what_does_not_drain) {
  server_fixture f;
  f.runtime.slow_ms = 1500;
  raw_client c(f.port);
  c.send(get("/_matrix/client/v3/slow"));
  std::this_thread::sleep_for(100ms);
  auto start = std::chrono::steady_clock::now();
  f.server->stop(200ms);
  BOOST_CHECK(std::chrono::steady_clock::now() - start < 1500ms);
  BOOST_TEST(c.closed_within(1s));
  // The fake's late answer arrives after the server stopped: it must be dropped harmlessly
  // (the fixture's fake dispatcher joins its threads on destruction).
}

BOOST_AUTO_TEST_CASE(never_started_and_bind_errors) {
  {
    auto cfg = test_config();
    gw::endpoint_catalog c = test_catalog();
    fake_dispatcher d;
    fake_authenticator a;
    gw::rate_limiter l(cfg.rate_limits);
    gw::server s(cfg, c, d, a, l);
    s.stop();
    s.stop();
  }
  server_fixture f;
  auto cfg = test_config();
  cfg.listeners[0].port = f.port;
  try {
    server_fixture clash(cfg);
    BOOST_ERROR("binding a used port should fail");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("127.0.0.1:" + std::to_string(f.port)) != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(max_connections_refuses_extra_clients) {
  auto cfg = test_config();
  cfg.limits.max_connections = 2;
  server_fixture f(cfg);
  raw_client a(f.port), b(f.port);
  BOOST_TEST_REQUIRE(a.send(get("/_matrix/client/versions")));
  BOOST_TEST_REQUIRE(b.send(get("/_matrix/client/versions")));
  BOOST_TEST_REQUIRE(a.read_response().has_value());
  BOOST_TEST_REQUIRE(b.read_response().has_value());
  raw_client extra(f.port);
  BOOST_TEST(extra.closed_within(2s));
}

BOOST_AUTO_TEST_CASE(unix_socket_listener) {
  auto cfg = test_config();
  std::string path = "/tmp/myelin-gw-test-" + std::to_string(::getpid()) + ".sock";
  cfg.listeners[0].path = path;
  cfg.listeners[0].mode = 0600;
  {
    server_fixture f(cfg);
    raw_client c(path);
    BOOST_TEST_REQUIRE(c.connected());
    c.send(get("/_matrix/client/v3/account/whoami", "Authorization: Bearer good\r\n"));
    auto r = c.read_response();
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->json().at("ip").as_string() == "unix");
  }
  // A stale socket file left behind is replaced on the next start.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  BOOST_TEST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  ::close(fd);
  {
    server_fixture f(cfg);
    raw_client c(path);
    BOOST_TEST(c.connected());
  }
}

BOOST_AUTO_TEST_CASE(x_forwarded_for_from_a_trusted_proxy) {
  auto cfg = test_config();
  cfg.listeners[0].x_forwarded = true;
  cfg.logging.access_log = true;  // exercise the access log line once
  server_fixture f(cfg);
  auto r = f.request(get("/_matrix/client/v3/sync?access_token=good", "X-Forwarded-For: 10.1.2.3, 10.0.0.1\r\n"));
  BOOST_TEST(r.json().at("ip").as_string() == "10.1.2.3");
}

BOOST_AUTO_TEST_CASE(direct_endpoints_skip_the_runtime) {
  server_fixture f(test_config(), true);
  auto r = f.request(get("/_myelin/direct/versions"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"({"versions":["v1.11"]})");
  r = f.request(get("/_myelin/direct/whoami", "Authorization: Bearer good\r\n"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.json().at("user_id").as_string() == "@a:test");
  BOOST_TEST(f.request(get("/_myelin/direct/whoami")).status == 401);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- streamed bodies: uploads spooled to the media store, files sent in chunks ----

namespace {

struct temp_dir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("myelin-gw-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  temp_dir() { std::filesystem::create_directories(path); }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

size_t files_in(const std::filesystem::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

myelin::homeserver_config media_config(const temp_dir& dir) {
  auto cfg = test_config();
  cfg.media_store_path = dir.path.string();
  return cfg;
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_streams)

BOOST_AUTO_TEST_CASE(upload_bodies_are_spooled_to_the_media_store) {
  temp_dir dir;
  server_fixture f(media_config(dir));
  std::string body;
  for (int i = 0; i < 7000; ++i) body += static_cast<char>(i * 31);
  body.resize(8000, 'q');  // exactly max_upload_size
  auto r = f.request(with_body("POST", "/_matrix/media/v3/upload", body));
  BOOST_TEST_REQUIRE(r.status == 200);
  auto o = r.json().as_object();
  BOOST_TEST(o.at("body_size").as_int64() == 0);  // not in memory…
  BOOST_TEST(o.at("spooled_size").as_int64() == 8000);  // …but in the spool file
  std::string name(o.at("body_file").as_string());
  BOOST_TEST(name.rfind("upload-", 0) == 0);
  BOOST_TEST(slurp(dir.path / "tmp" / name) == body);
  BOOST_TEST(std::string(o.at("spooled_sha256").as_string()) == myelin::protocol::sha256_hex(body));

  // Chunked and too large: refused while streaming, and the partial spool file is gone.
  raw_client c(f.port);
  std::string chunk(4000, 'y');
  c.send("POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "fa0\r\n" + chunk + "\r\nfa0\r\n" + chunk + "\r\nfa0\r\n" + chunk + "\r\n0\r\n\r\n");
  auto big = c.read_response();
  BOOST_TEST_REQUIRE(big.has_value());
  BOOST_TEST(big->status == 413);
  BOOST_TEST(errcode(*big) == "M_TOO_LARGE");
  for (int i = 0; i < 50 && files_in(dir.path / "tmp") > 1; ++i) std::this_thread::sleep_for(20ms);
  BOOST_TEST(files_in(dir.path / "tmp") == 1u);  // only the first, accepted upload's
}

BOOST_AUTO_TEST_CASE(files_are_sent_whole_or_by_range) {
  temp_dir dir;
  server_fixture f(media_config(dir));
  std::string content;
  for (int i = 0; i < 600000; ++i) content += static_cast<char>('a' + i % 26);  // > one 256 KiB chunk
  auto path = dir.path / "content.bin";
  std::ofstream(path, std::ios::binary) << content;
  std::string target = "/_matrix/client/v3/file?path=" + path.string();

  auto whole = f.request(get(target));
  BOOST_TEST(whole.status == 200);
  BOOST_TEST(whole.body == content);
  BOOST_TEST(whole.header("accept-ranges") == "bytes");
  BOOST_TEST(whole.header("content-disposition") == "attachment");

  auto part = f.request(get(target, "Range: bytes=299990-300009\r\n"));
  BOOST_TEST(part.status == 206);
  BOOST_TEST(part.body == content.substr(299990, 20));
  BOOST_TEST(part.header("content-range") == "bytes 299990-300009/600000");

  auto beyond = f.request(get(target, "Range: bytes=600000-\r\n"));
  BOOST_TEST(beyond.status == 416);
  BOOST_TEST(beyond.header("content-range") == "bytes */600000");

  auto missing = f.request(get("/_matrix/client/v3/file?path=" + (dir.path / "nothing").string()));
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(errcode(missing) == "M_NOT_FOUND");

  // HEAD: the length of what GET would send, then the connection goes on.
  raw_client c(f.port);
  c.send("HEAD " + target + " HTTP/1.1\r\nHost: t\r\n\r\n" + get("/_matrix/client/versions"));
  auto head = c.read_response(5s, true);
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST(head->header("content-length") == "600000");
  BOOST_TEST(head->body.empty());
  auto next = c.read_response();
  BOOST_TEST_REQUIRE(next.has_value());
  BOOST_TEST(next->status == 200);
}

BOOST_AUTO_TEST_CASE(byte_range_header_rules) {
  using myelin::gateway::detail::byte_range;
  using myelin::gateway::detail::parse_byte_range;
  auto r = parse_byte_range("bytes=0-99", 1000);
  BOOST_TEST((r.result == byte_range::kind::part && r.first == 0 && r.last == 99));
  r = parse_byte_range("bytes=900-2000", 1000);
  BOOST_TEST((r.result == byte_range::kind::part && r.first == 900 && r.last == 999));
  r = parse_byte_range("bytes=-100", 1000);
  BOOST_TEST((r.result == byte_range::kind::part && r.first == 900 && r.last == 999));
  r = parse_byte_range("bytes=-5000", 1000);
  BOOST_TEST((r.result == byte_range::kind::part && r.first == 0 && r.last == 999));
  BOOST_TEST((parse_byte_range("bytes=1000-", 1000).result == byte_range::kind::unsatisfiable));
  BOOST_TEST((parse_byte_range("bytes=-0", 1000).result == byte_range::kind::unsatisfiable));
  for (const char* whole : {"", "bytes=", "bytes=5-1", "bytes=a-b", "items=0-1", "bytes=0-1,3-4", "bytes=99999999999999999999-"})
    BOOST_TEST((parse_byte_range(whole, 1000).result == byte_range::kind::whole), whole);
}

BOOST_AUTO_TEST_SUITE_END()

