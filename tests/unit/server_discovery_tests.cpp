// protocol/server_discovery: every step of the server-server API's "Resolving server names", with
// scripted /.well-known and SRV answers, and the RFC 2782 order of SRV targets.
#include <boost/test/unit_test.hpp>

#include <limits>

#include <map>
#include <random>

#include "protocol/server_discovery.hpp"

using namespace myelin::protocol::discovery;

namespace {

// Scripted DNS and /.well-known answers that remember what was asked.
struct fake_network {
  std::map<std::string, std::string> well_known;  // hostname → m.server as served
  std::map<std::string, srv_answer> srv;          // SRV name → answer; absent: none
  std::vector<std::string> asked;                 // "wk <host>" and "srv <name>", in order

  lookups make() {
    return {[this](const std::string& host) -> std::optional<std::string> {
              asked.push_back("wk " + host);
              auto it = well_known.find(host);
              if (it == well_known.end()) return std::nullopt;
              return it->second;
            },
            [this](const std::string& name) {
              asked.push_back("srv " + name);
              auto it = srv.find(name);
              return it == srv.end() ? srv_answer{} : it->second;
            }};
  }
};

srv_answer found(std::vector<srv_record> records, uint32_t ttl = 300) {
  return {srv_answer::outcome::found, std::move(records), ttl};
}

route must_resolve(const std::string& name, fake_network& net) {
  auto r = resolve(name, net.make());
  BOOST_REQUIRE_MESSAGE(r.has_value(), name);
  return *r;
}

std::vector<connect_target> first_order(const route& r) {
  return connection_order(r.targets, [](uint32_t) { return 0u; });
}

} // namespace

BOOST_AUTO_TEST_SUITE(server_discovery_tests)

BOOST_AUTO_TEST_CASE(step1_ip_literals_are_used_as_they_are) {
  fake_network net;
  auto r = must_resolve("192.0.2.7", net);
  BOOST_TEST(r.step == "1");
  BOOST_TEST(r.url == "https://192.0.2.7");  // Host: the IP, no port (the server name has none)
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"192.0.2.7", 8448}}));
  r = must_resolve("192.0.2.7:8000", net);
  BOOST_TEST(r.url == "https://192.0.2.7:8000");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"192.0.2.7", 8000}}));
  r = must_resolve("[2001:db8::1]", net);
  BOOST_TEST(r.url == "https://[2001:db8::1]");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"2001:db8::1", 8448}}));
  r = must_resolve("[2001:db8::1]:9000", net);
  BOOST_TEST(r.url == "https://[2001:db8::1]:9000");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"2001:db8::1", 9000}}));
  BOOST_TEST(net.asked.empty());  // neither /.well-known nor DNS for an IP literal
  BOOST_TEST(!r.delegated);
}

BOOST_AUTO_TEST_CASE(step2_explicit_port_skips_well_known_and_srv) {
  fake_network net;
  net.srv["_matrix-fed._tcp.example.org"] = found({{10, 0, 443, "elsewhere.example.net"}});
  auto r = must_resolve("example.org:8449", net);
  BOOST_TEST(r.step == "2");
  BOOST_TEST(r.url == "https://example.org:8449");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"example.org", 8449}}));
  BOOST_TEST(net.asked.empty());
}

BOOST_AUTO_TEST_CASE(step3_1_delegated_ip_literal) {
  fake_network net;
  net.well_known["example.org"] = "192.0.2.9";
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "3.1");
  BOOST_TEST(r.delegated);
  BOOST_TEST(r.url == "https://192.0.2.9");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"192.0.2.9", 8448}}));
  net.well_known["example.org"] = "[2001:db8::2]:8450";
  r = must_resolve("example.org", net);
  BOOST_TEST(r.url == "https://[2001:db8::2]:8450");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"2001:db8::2", 8450}}));
  BOOST_TEST((net.asked == std::vector<std::string>{"wk example.org", "wk example.org"}));
}

BOOST_AUTO_TEST_CASE(step3_2_delegated_with_port) {
  fake_network net;
  net.well_known["example.org"] = "matrix.example.org:443";
  net.srv["_matrix-fed._tcp.matrix.example.org"] = found({{10, 0, 8448, "unused.example.org"}});
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "3.2");
  BOOST_TEST(r.url == "https://matrix.example.org:443");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"matrix.example.org", 443}}));
  BOOST_TEST((net.asked == std::vector<std::string>{"wk example.org"}));
}

BOOST_AUTO_TEST_CASE(step3_3_delegated_srv_keeps_the_delegated_name_for_tls) {
  fake_network net;
  net.well_known["example.org"] = "matrix.example.org";
  net.srv["_matrix-fed._tcp.matrix.example.org"] = found({{10, 0, 8443, "fed.hosting.example."}}, 120);
  net.srv["_matrix-fed._tcp.example.org"] = found({{10, 0, 1, "wrong.example"}});  // not asked: delegated
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "3.3");
  BOOST_TEST(r.delegated);
  BOOST_TEST(r.url == "https://matrix.example.org");  // certificate and Host: the delegated name, not the target
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"fed.hosting.example", 8443}}));
  BOOST_TEST((r.srv_ttl_seconds == 120u));
  BOOST_TEST((net.asked == std::vector<std::string>{"wk example.org", "srv _matrix-fed._tcp.matrix.example.org"}));
}

BOOST_AUTO_TEST_CASE(step3_4_delegated_deprecated_srv) {
  fake_network net;
  net.well_known["example.org"] = "matrix.example.org";
  net.srv["_matrix._tcp.matrix.example.org"] = found({{0, 0, 8500, "old.example.org"}});
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "3.4");
  BOOST_TEST(r.url == "https://matrix.example.org");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"old.example.org", 8500}}));
  BOOST_TEST((net.asked == std::vector<std::string>{"wk example.org", "srv _matrix-fed._tcp.matrix.example.org",
                                                    "srv _matrix._tcp.matrix.example.org"}));
}

BOOST_AUTO_TEST_CASE(step3_5_delegated_without_srv) {
  fake_network net;
  net.well_known["example.org"] = "Matrix.Example.org";
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "3.5");
  BOOST_TEST(r.url == "https://matrix.example.org");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"matrix.example.org", 8448}}));
  BOOST_TEST(!r.srv_ttl_seconds.has_value());
}

BOOST_AUTO_TEST_CASE(step4_srv_without_well_known) {
  fake_network net;
  net.srv["_matrix-fed._tcp.example.org"] = found({{10, 5, 8448, "a.example.org"}, {20, 0, 8449, "b.example.org"}}, 60);
  net.srv["_matrix._tcp.example.org"] = found({{0, 0, 1, "legacy.example.org"}});  // not asked: the new one answered
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "4");
  BOOST_TEST(!r.delegated);
  BOOST_TEST(r.url == "https://example.org");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"a.example.org", 8448}, {"b.example.org", 8449}}));
  BOOST_TEST((r.srv_ttl_seconds == 60u));
  BOOST_TEST((net.asked == std::vector<std::string>{"wk example.org", "srv _matrix-fed._tcp.example.org"}));
}

BOOST_AUTO_TEST_CASE(step5_deprecated_srv) {
  fake_network net;
  net.srv["_matrix._tcp.example.org"] = found({{0, 0, 8000, "legacy.example.org"}});
  auto r = must_resolve("Example.ORG", net);
  BOOST_TEST(r.step == "5");
  BOOST_TEST(r.url == "https://example.org");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"legacy.example.org", 8000}}));
}

BOOST_AUTO_TEST_CASE(step6_nothing_found) {
  fake_network net;
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "6");
  BOOST_TEST(r.url == "https://example.org");  // Host: example.org, connecting to port 8448
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"example.org", 8448}}));
  BOOST_TEST(!r.dns_failed);
  BOOST_TEST((net.asked == std::vector<std::string>{"wk example.org", "srv _matrix-fed._tcp.example.org",
                                                    "srv _matrix._tcp.example.org"}));
}

BOOST_AUTO_TEST_CASE(invalid_well_known_answers_count_as_none) {
  for (const char* bad : {"", "not a server name", "example.org:99999", "[::1", "exa mple.org"}) {
    fake_network net;
    net.well_known["example.org"] = bad;
    net.srv["_matrix-fed._tcp.example.org"] = found({{0, 0, 8448, "srv.example.org"}});
    auto r = must_resolve("example.org", net);
    BOOST_TEST(r.step == "4", bad);
    BOOST_TEST(!r.delegated);
  }
}

BOOST_AUTO_TEST_CASE(dot_target_means_no_service) {
  fake_network net;
  net.srv["_matrix-fed._tcp.example.org"] = found({{0, 0, 8448, "."}});
  net.srv["_matrix._tcp.example.org"] = found({{0, 0, 8448, ""}});
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "6");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"example.org", 8448}}));
  // Only "." among usable ones: the usable ones count.
  net.srv["_matrix-fed._tcp.example.org"] = found({{0, 0, 8448, "."}, {1, 0, 8448, "ok.example.org"}});
  r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "4");
  BOOST_TEST((first_order(r) == std::vector<connect_target>{{"ok.example.org", 8448}}));
}

BOOST_AUTO_TEST_CASE(failed_queries_fall_through_and_say_so) {
  fake_network net;
  net.srv["_matrix-fed._tcp.example.org"] = srv_answer{srv_answer::outcome::failed, {}, 0};
  net.srv["_matrix._tcp.example.org"] = found({{0, 0, 8000, "legacy.example.org"}});
  auto r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "5");
  BOOST_TEST(r.dns_failed);
  net.srv.erase("_matrix._tcp.example.org");
  r = must_resolve("example.org", net);
  BOOST_TEST(r.step == "6");
  BOOST_TEST(r.dns_failed);
}

BOOST_AUTO_TEST_CASE(not_a_server_name) {
  fake_network net;
  for (const char* bad : {"", "exa mple.org", "example.org:", "example.org:0x10", "[::1"})
    BOOST_TEST(!resolve(bad, net.make()).has_value(), bad);
  BOOST_TEST(net.asked.empty());
}

BOOST_AUTO_TEST_CASE(usable_records_clean_up_what_dns_said) {
  auto out = usable_records({{1, 2, 3, "Host.Example.ORG."},
                             {1, 2, 0, "port0.example.org"},
                             {1, 2, 3, "."},
                             {1, 2, 3, ""},
                             {1, 2, 3, "bad name.example.org"},
                             {1, 2, 3, "a..b"},
                             {1, 2, 3, ".lead"},
                             {1, 2, 3, std::string(254, 'a')},
                             {1, 2, 3, std::string("nul\0byte", 8)},
                             {4, 5, 6, "under_score-ok.example"}});
  BOOST_TEST((out == std::vector<srv_record>{{1, 2, 3, "host.example.org"}, {4, 5, 6, "under_score-ok.example"}}));
}

BOOST_AUTO_TEST_CASE(connection_order_by_priority_then_weight) {
  std::vector<srv_record> records{{20, 0, 1, "late"}, {10, 1, 2, "w1"}, {10, 3, 3, "w3"}, {10, 0, 4, "w0"}};
  // Running sums in the order w0 (0), w1 (1), w3 (4): a draw of 0 picks the weight-0 record,
  // 1 picks w1, 2..4 pick w3.
  std::vector<uint32_t> draws;
  auto scripted = [&](std::vector<uint32_t> script) {
    draws.clear();
    size_t i = 0;
    return [script, i, &draws](uint32_t bound) mutable {
      draws.push_back(bound);
      return script.at(i++);
    };
  };
  auto order = connection_order(records, scripted({4, 1, 0, 0}));
  BOOST_TEST((order == std::vector<connect_target>{{"w3", 3}, {"w1", 2}, {"w0", 4}, {"late", 1}}));
  BOOST_TEST((draws == std::vector<uint32_t>{4, 1, 0, 0}));  // the sums of what was left
  order = connection_order(records, scripted({0, 0, 0, 0}));
  BOOST_TEST((order == std::vector<connect_target>{{"w0", 4}, {"w1", 2}, {"w3", 3}, {"late", 1}}));
  order = connection_order(records, scripted({2, 1, 0, 0}));
  BOOST_TEST((order == std::vector<connect_target>{{"w3", 3}, {"w1", 2}, {"w0", 4}, {"late", 1}}));
  // A random source that overshoots cannot make it read past the end.
  order = connection_order(records, [](uint32_t) { return 1000u; });
  BOOST_TEST(order.size() == 4u);
  BOOST_TEST(order.back().host == "late");
  BOOST_TEST(connection_order({}, [](uint32_t) { return 0u; }).empty());
}

BOOST_AUTO_TEST_CASE(connection_order_follows_the_weights) {
  // Weights 1 and 3 at one priority: RFC 2782 draws from [0, sum] and takes the first running sum
  // at or past the draw, so "light" (running sum 1) wins draws 0 and 1, "heavy" 2, 3 and 4: 3/5.
  std::mt19937 rng(12345);
  auto random = [&rng](uint32_t bound) { return std::uniform_int_distribution<uint32_t>(0, bound)(rng); };
  std::vector<srv_record> records{{5, 1, 1, "light"}, {5, 3, 2, "heavy"}};
  int heavy_first = 0;
  constexpr int runs = 10000;
  for (int i = 0; i < runs; ++i) heavy_first += connection_order(records, random).front().host == "heavy";
  BOOST_TEST(heavy_first > runs * 0.57);
  BOOST_TEST(heavy_first < runs * 0.63);
}

BOOST_AUTO_TEST_CASE(well_known_cache_time_from_cache_control) {
  using myelin::protocol::discovery::cache_max_age_seconds;
  BOOST_TEST(cache_max_age_seconds("max-age=3600").value_or(-1) == 3600);
  BOOST_TEST(cache_max_age_seconds("public, Max-Age=60 , must-revalidate").value_or(-1) == 60);
  BOOST_TEST(cache_max_age_seconds("max-age=\"120\"").value_or(-1) == 120);
  BOOST_TEST(cache_max_age_seconds("no-store").value_or(-1) == 0);
  BOOST_TEST(cache_max_age_seconds("max-age=600, no-cache").value_or(-1) == 0);
  BOOST_TEST(cache_max_age_seconds("max-age=99999999999999999999").value_or(-1) ==
             std::numeric_limits<int64_t>::max());
  BOOST_TEST(!cache_max_age_seconds("public"));
  BOOST_TEST(!cache_max_age_seconds(""));
  BOOST_TEST(!cache_max_age_seconds("max-age=-5"));
  BOOST_TEST(!cache_max_age_seconds("max-age=soon"));
  BOOST_TEST(!cache_max_age_seconds("max-age="));
}

BOOST_AUTO_TEST_SUITE_END()
