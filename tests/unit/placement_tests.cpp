// actors/runtime/placement: the example files, and every validation error an operator can hit.
#include <boost/test/unit_test.hpp>
#include <set>

#include "actors/runtime/groups.hpp"
#include "actors/runtime/live_placement.hpp"
#include "actors/runtime/node_link.hpp"
#include "actors/runtime/placement.hpp"
#include "common/config.hpp"

using namespace myelin;
using namespace myelin::runtime;

namespace {
std::string error_of(const std::string& yaml) {
  try {
    parse_placement(yaml, "p.yaml");
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}
} // namespace

BOOST_AUTO_TEST_SUITE(placement_tests)

BOOST_AUTO_TEST_CASE(example_files_load) {
  auto split = load_placement(std::string(MYELIN_SOURCE_DIR) + "/configs/placement-split.yaml");
  BOOST_TEST(split.total_instances("sync") == 4u);
  BOOST_TEST(split.total_instances("client_reader") == 3u);
  BOOST_TEST(split.instances_on("main", "event_creator") == 2u);
  BOOST_TEST(split.total_instances("user_dir") == 1u);  // unmentioned groups run once
  auto aio = load_placement(std::string(MYELIN_SOURCE_DIR) + "/configs/placement-all-in-one.yaml");
  for (const auto& g : known_groups()) BOOST_TEST(aio.total_instances(g.name) == 1u, g.name);
}

BOOST_AUTO_TEST_CASE(all_in_one_has_every_group_once) {
  auto p = all_in_one_placement();
  BOOST_TEST(p.nodes.size() == 1u);
  for (const auto& g : known_groups()) BOOST_TEST(p.total_instances(g.name) == 1u);
}

BOOST_AUTO_TEST_CASE(tls_and_the_digest) {
  const std::string base = "shared_secret: s\nnodes:\n  a: {host: h1, port: 1}\n  b: {host: h2, port: 1}\n";
  auto plain = parse_placement(base, "p.yaml");
  auto tls = parse_placement(base + "tls: {certificate: c.pem, key: k.pem, ca: ca.pem}\n", "p.yaml");
  BOOST_TEST(!plain.tls.enabled());
  BOOST_TEST(tls.tls.enabled());
  BOOST_TEST(tls.tls.ca == "ca.pem");
  // Nodes of one cluster must agree on TLS (and on everything else the digest covers); the files
  // themselves differ per node.
  BOOST_TEST(placement_digest(plain) != placement_digest(tls));
  auto other_files = parse_placement(base + "tls: {certificate: d.pem, key: e.pem, ca: ca.pem}\n", "p.yaml");
  BOOST_TEST(placement_digest(tls) == placement_digest(other_files));
  auto more_sync = parse_placement(base + "groups:\n  sync: {node: b, instances: 2}\n", "p.yaml");
  BOOST_TEST(placement_digest(plain) != placement_digest(more_sync));
}

// A running cluster adopts a peer's file only when it merely adds: appended nodes, instances of
// stateless or user-affinity groups after the existing ones. Everything else keeps the old file.
BOOST_AUTO_TEST_CASE(live_growth_rules) {
  const std::string nodes = "shared_secret: s\nnodes:\n  a: {host: h1, port: 1}\n  b: {host: h2, port: 1}\n";
  const std::string groups = "groups:\n  sync: [{node: a, instances: 1}, {node: b, instances: 2}]\n";
  auto base = parse_placement(nodes + groups, "p.yaml");
  auto grown = [&](const std::string& extra_nodes, const std::string& extra_groups) {
    return parse_placement(nodes + extra_nodes + groups + extra_groups, "p.yaml");
  };
  BOOST_TEST(growth_problem(base, base) == "");
  // Allowed: a new node with new client_reader and sync instances after the existing ones.
  auto bigger = parse_placement(nodes + "  c: {host: h3, port: 1}\n"
                                "groups:\n  sync: [{node: a, instances: 1}, {node: b, instances: 2}, {node: c}]\n"
                                "  client_reader: [{node: a}, {node: c, instances: 2}]\n", "p.yaml");
  BOOST_TEST(growth_problem(base, bigger) == "");
  BOOST_TEST(growth_problem(bigger, base) != "");  // shrinking is not live
  // The text a node sends reproduces the layout, with this node's own settings kept.
  auto copy = layout_from_text(layout_text(bigger), base);
  BOOST_TEST(layout_text(copy) == layout_text(bigger));
  BOOST_TEST(copy.shared_secret == "s");
  BOOST_TEST(copy.total_instances("client_reader") == 3u);
  BOOST_TEST(copy.node_of("sync", 3) == "c");
  // Refused: renumbering (an instance inserted before existing ones), moved or inserted nodes,
  // persisters and room-affinity groups, TLS.
  auto renumbered = parse_placement(nodes + "groups:\n  sync: [{node: a, instances: 2}, {node: b, instances: 2}]\n",
                                    "p.yaml");
  BOOST_TEST(growth_problem(base, renumbered).find("renumbered") != std::string::npos);
  auto moved = parse_placement("shared_secret: s\nnodes:\n  a: {host: h1, port: 1}\n  b: {host: h9, port: 1}\n" +
                                   groups, "p.yaml");
  BOOST_TEST(growth_problem(base, moved).find("node 'b'") != std::string::npos);
  auto inserted = parse_placement("shared_secret: s\nnodes:\n  a: {host: h1, port: 1}\n  c: {host: h3, port: 1}\n"
                                  "  b: {host: h2, port: 1}\n" + groups, "p.yaml");
  BOOST_TEST(growth_problem(base, inserted) != "");
  BOOST_TEST(growth_problem(base, grown("", "  writer.events: [{node: a, instances: 2}]\n")).find("writer.events") !=
             std::string::npos);
  BOOST_TEST(growth_problem(base, grown("", "  event_creator: [{node: a, instances: 2}]\n")).find("event_creator") !=
             std::string::npos);
  auto tls = parse_placement(nodes + groups + "tls: {certificate: c.pem, key: k.pem, ca: ca.pem}\n", "p.yaml");
  BOOST_TEST(growth_problem(base, tls) != "");
  BOOST_CHECK_THROW(layout_from_text("{\"nodes\":[]}", base), std::invalid_argument);
  BOOST_CHECK_THROW(layout_from_text("not json", base), std::invalid_argument);
  BOOST_CHECK_THROW(layout_from_text(layout_text(bigger), tls), std::invalid_argument);  // TLS differs
  // live_placement: grows once, refuses what does not only add, keeps the current one then.
  live_placement live(base);
  std::string why;
  BOOST_TEST(live.grow(bigger, why) != nullptr);
  BOOST_TEST(live.get()->total_instances("sync") == 4u);
  BOOST_TEST(live.digest() == placement_digest(bigger));
  BOOST_TEST(live.grow(base, why) == nullptr);
  BOOST_TEST(!why.empty());
  BOOST_TEST(live.get()->nodes.size() == 3u);
}

BOOST_AUTO_TEST_CASE(multi_node_assignment) {
  auto p = parse_placement(R"(
nodes:
  a: {host: 10.0.0.1, port: 9300}
  b: {host: 10.0.0.2, port: 9300}
groups:
  sync:
    - {node: a, instances: 2}
    - {node: b, instances: 3}
  client_reader: {node: b, instances: 2}
)", "p.yaml");
  BOOST_TEST(p.instances_on("a", "sync") == 2u);
  BOOST_TEST(p.instances_on("b", "sync") == 3u);
  BOOST_TEST(p.total_instances("sync") == 5u);
  BOOST_TEST(p.instances_on("a", "client_reader") == 0u);
  BOOST_TEST(p.instances_on("a", "main") == 1u);  // default node is the first
  // Global numbering in file order: a's sync instances are 0-1, b's 2-4, on every node alike.
  BOOST_TEST((p.indices_on("a", "sync") == std::vector<size_t>{0, 1}));
  BOOST_TEST((p.indices_on("b", "sync") == std::vector<size_t>{2, 3, 4}));
  BOOST_TEST(p.node_of("sync", 1) == "a");
  BOOST_TEST(p.node_of("sync", 4) == "b");
  BOOST_TEST(p.node_of("sync", 5) == "");
  BOOST_TEST(p.indices_on("a", "client_reader").empty());
  BOOST_TEST(p.multi_node());
  BOOST_TEST(!all_in_one_placement().multi_node());
}

BOOST_AUTO_TEST_CASE(errors_name_the_line_and_problem) {
  auto e = error_of("nodes:\n  main: {}\ngroups:\n  synk: 2\n");
  BOOST_TEST(e.find("p.yaml:4: unknown group 'synk'") != std::string::npos, e);
  e = error_of("nodes:\n  main: {}\ngroups:\n  main: 2\n");
  BOOST_TEST(e.find("p.yaml:4:") != std::string::npos, e);
  BOOST_TEST(e.find("singleton") != std::string::npos, e);
  e = error_of("nodes:\n  main: {}\ngroups:\n  sync: {node: elsewhere, instances: 2}\n");
  BOOST_TEST(e.find("unknown node 'elsewhere'") != std::string::npos, e);
  e = error_of("nodes:\n  a: {host: h, port: 1}\n  b: {host: h, port: 1}\n");
  BOOST_TEST(e.find("already used") != std::string::npos, e);
  e = error_of("nodes:\n  a: {host: h}\n  b: {host: h, port: 2}\n");
  BOOST_TEST(e.find("needs a link 'port'") != std::string::npos, e);
  e = error_of("nodes:\n  a: {}\ngroups:\n  sync: lots\n");
  BOOST_TEST(e.find("instances must be a number") != std::string::npos, e);
  e = error_of("nodez: {}\n");
  BOOST_TEST(e.find("unknown key 'nodez'") != std::string::npos, e);
  e = error_of("nodes: [\n");
  BOOST_TEST(e.find("invalid YAML") != std::string::npos, e);
  // Found by fuzz_placement: a YAML complex key ("? …") used to escape as a yaml-cpp exception.
  e = error_of("nodes:\n  main: {}\ngroups:\n? sync: 4\n: 2\n");
  BOOST_TEST(e.find("p.yaml:") != std::string::npos, e);
  e = error_of("nodes:\n  main:\n    host: [a, b]\n");
  BOOST_TEST(e.find("bad value for 'host'") != std::string::npos, e);
  // TLS on links: all three files, nothing else.
  e = error_of("nodes:\n  main: {}\ntls: {certificate: c.pem, key: k.pem}\n");
  BOOST_TEST(e.find("p.yaml:3: tls needs certificate, key and ca") != std::string::npos, e);
  e = error_of("nodes:\n  main: {}\ntls: {certificate: c.pem, key: k.pem, ca: ca.pem, cipher: x}\n");
  BOOST_TEST(e.find("tls: unknown key 'cipher'") != std::string::npos, e);
  e = error_of("nodes:\n  main: {}\ntls: yes\n");
  BOOST_TEST(e.find("'tls' must be a mapping") != std::string::npos, e);
  // Several problems are reported together.
  e = error_of("nodes:\n  main: {}\ngroups:\n  synk: 2\n  main: 3\n");
  BOOST_TEST(e.find("synk") != std::string::npos);
  BOOST_TEST(e.find("singleton") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(what_placement_check_catches) {
  // yaml-cpp keeps both entries of a duplicated key; the file would silently mean one of them.
  auto e = error_of("nodes:\n  main: {}\ngroups:\n  sync: 2\n  client_reader: 1\n  sync: 3\n");
  BOOST_TEST(e.find("p.yaml:6: group 'sync' is listed twice (first on line 4)") != std::string::npos, e);
  // Several nodes: each must say where the others reach it; the single-node default 127.0.0.1
  // would point every other machine at itself.
  e = error_of("nodes:\n  a: {host: 10.0.0.1, port: 9300}\n  b: {port: 9300}\n");
  BOOST_TEST(e.find("p.yaml:3: node 'b': a multi-node placement needs its 'host'") != std::string::npos, e);
  e = error_of("nodes:\n  a: {host: 10.0.0.1, port: 9300}\n  b: {host: 0.0.0.0, port: 9300}\n");
  BOOST_TEST(e.find("node 'b': host 0.0.0.0 is not an address other nodes can reach") != std::string::npos, e);
  // localhost and 127.0.0.1 are one machine.
  e = error_of("nodes:\n  a: {host: localhost, port: 9300}\n  b: {host: 127.0.0.1, port: 9300}\n");
  BOOST_TEST(e.find("p.yaml:3: node 'b': 127.0.0.1:9300 is already used by node 'a'") != std::string::npos, e);
  e = error_of("nodes:\n  a: {host: h, port: 9300}\n  b: {host: h, port: 9300}\ngroups:\n  sync: {node: c}\n");
  BOOST_TEST(e.find("already used by node 'a'") != std::string::npos, e);
  BOOST_TEST(e.find("p.yaml:5: group 'sync': unknown node 'c'") != std::string::npos, e);
  // One node may leave host out (127.0.0.1), and two nodes on one machine differ by port.
  BOOST_TEST(error_of("nodes:\n  a: {port: 9300}\n") == "");
  BOOST_TEST(error_of("nodes:\n  a: {host: 127.0.0.1, port: 9300}\n  b: {host: 127.0.0.1, port: 9301}\n") == "");
}

BOOST_AUTO_TEST_CASE(redis_fan_out_key) {
  const std::string two = "shared_secret: s\nnodes:\n  a: {host: h1, port: 1}\n  b: {host: h2, port: 1}\n";
  BOOST_TEST(!parse_placement(two, "p.yaml").redis.enabled());
  auto unix_socket = parse_placement(two + "redis: {path: /run/redis.sock}\n", "p.yaml");
  BOOST_TEST(unix_socket.redis.enabled());
  BOOST_TEST(unix_socket.redis.path == "/run/redis.sock");
  BOOST_TEST(unix_socket.redis.channel == "myelin.streams");  // the default
  BOOST_TEST(unix_socket.redis.address() == "unix:/run/redis.sock");
  auto tcp = parse_placement(two + "redis:\n  host: 10.0.0.5\n  port: 6380\n  password: pw\n  channel: c1\n", "p.yaml");
  BOOST_TEST(tcp.redis.address() == "10.0.0.5:6380");
  BOOST_TEST(tcp.redis.password == "pw");
  BOOST_TEST(tcp.redis.channel == "c1");
  // Bad input names the line.
  auto e = error_of(two + "redis: {path: /run/redis.sock, host: h, port: 6379}\n");
  BOOST_TEST(e.find("p.yaml:5: redis: give either path (a unix socket) or host and port, not both") != std::string::npos, e);
  e = error_of(two + "redis:\n  host: h\n  port: lots\n");
  BOOST_TEST(e.find("p.yaml:7: redis.port must be a port number") != std::string::npos, e);
  e = error_of(two + "redis:\n  host: h\n");
  BOOST_TEST(e.find("p.yaml:6: redis needs path (a unix socket) or host and port") != std::string::npos, e);
  e = error_of(two + "redis: {path: /s, db: 2}\n");
  BOOST_TEST(e.find("redis: unknown key 'db'") != std::string::npos, e);
  e = error_of(two + "redis: on\n");
  BOOST_TEST(e.find("p.yaml:5: 'redis' must be a mapping") != std::string::npos, e);
  // One node has no peers to fan out to.
  e = error_of("nodes:\n  main: {}\nredis: {path: /s}\n");
  BOOST_TEST(e.find("p.yaml:3: redis is a fan-out bus between nodes") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(link_ports_against_listeners) {
  auto p = parse_placement("nodes:\n  a: {host: 10.0.0.1, port: 8008, bind_address: 10.0.0.1}\n"
                           "  b: {host: 10.0.0.2, port: 9300, bind_address: 0.0.0.0}\n", "p.yaml");
  auto tcp = [](uint16_t port, std::string bind) {
    listener_config l;
    l.port = port;
    l.bind_addresses = {std::move(bind)};
    return l;
  };
  // A wildcard listener clashes with any link on its port; a listener on another address does not.
  auto c = listener_conflicts(p, {tcp(8008, "0.0.0.0")}, "hs.yaml");
  BOOST_REQUIRE(c.size() == 1u);
  BOOST_TEST(c[0] == "p.yaml:2: node 'a': link port 8008 is also the port of a listener in hs.yaml (bound on 0.0.0.0)");
  BOOST_TEST(listener_conflicts(p, {tcp(8008, "10.0.0.3")}, "hs.yaml").empty());
  BOOST_TEST(listener_conflicts(p, {tcp(9300, "10.0.0.2")}, "hs.yaml").size() == 1u);  // b binds 0.0.0.0
  BOOST_TEST(listener_conflicts(p, {tcp(8448, "0.0.0.0")}, "hs.yaml").empty());
  listener_config unix_socket;
  unix_socket.path = "/run/myelin.sock";
  unix_socket.port = 8008;
  BOOST_TEST(listener_conflicts(p, {unix_socket}, "hs.yaml").empty());
  // No link, no clash: the all-in-one node has port 0.
  BOOST_TEST(listener_conflicts(all_in_one_placement(), {tcp(0, "127.0.0.1")}, "hs.yaml").empty());
}

BOOST_AUTO_TEST_CASE(balancing_policies) {
  BOOST_TEST(pick_instance(balance_policy::singleton, "x", 4, 7) == 0u);
  BOOST_TEST(pick_instance(balance_policy::round_robin, "", 4, 6) == 2u);
  auto u = pick_instance(balance_policy::user, "@alice:test", 4, 0);
  for (uint64_t i = 0; i < 20; ++i) BOOST_TEST(pick_instance(balance_policy::user, "@alice:test", 4, i) == u);
  // Different keys spread over instances.
  std::set<size_t> seen;
  for (int i = 0; i < 64; ++i) seen.insert(pick_instance(balance_policy::room, "!r" + std::to_string(i) + ":t", 4, 0));
  BOOST_TEST(seen.size() == 4u);
  BOOST_TEST(shard_for("!room:test", 1) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(node_link_tests)

BOOST_AUTO_TEST_CASE(handshake_proofs_bind_names_nonces_and_direction) {
  using myelin::runtime::link_client_proof;
  using myelin::runtime::link_server_proof;
  auto server = link_server_proof("s3cret", "a", "b", "n1", "n2");
  BOOST_TEST(server.size() == 64u);
  BOOST_TEST(server == link_server_proof("s3cret", "a", "b", "n1", "n2"));
  // A client proof is never a valid server proof (no reflection), and every input matters.
  BOOST_TEST(server != link_client_proof("s3cret", "a", "b", "n1", "n2"));
  BOOST_TEST(server != link_server_proof("other", "a", "b", "n1", "n2"));
  BOOST_TEST(server != link_server_proof("s3cret", "b", "a", "n1", "n2"));
  BOOST_TEST(server != link_server_proof("s3cret", "a", "b", "n2", "n1"));
  BOOST_TEST(server != link_server_proof("s3cret", "a", "c", "n1", "n2"));
}

BOOST_AUTO_TEST_SUITE_END()
