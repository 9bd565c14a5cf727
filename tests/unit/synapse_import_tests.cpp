// actors/runtime/synapse_import: the Synapse deployments in tests/data/synapse/ translate into
// placement files parse_placement accepts, with the instance counts and nodes they imply; broken
// inputs are refused with FILE:LINE.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "actors/runtime/groups.hpp"
#include "actors/runtime/placement.hpp"
#include "actors/runtime/synapse_import.hpp"
#include "common/config.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using namespace myelin::runtime;

namespace {

const fs::path data_dir = fs::path(MYELIN_SOURCE_DIR) / "tests" / "data" / "synapse";

// Named relative to tests/data/synapse, so messages read "broken/malformed.yaml:6: ...".
synapse_config_file read_fixture(const fs::path& path) {
  std::ifstream in(path);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return {fs::relative(path, data_dir).string(), ss.str()};
}

std::vector<synapse_config_file> fixtures_in(const fs::path& dir) {
  std::vector<fs::path> paths;
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".yaml") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());   // as a shell glob lists them
  std::vector<synapse_config_file> out;
  for (const auto& p : paths) out.push_back(read_fixture(p));
  return out;
}

struct translated {
  synapse_translation result;
  placement layout;
};

translated translate(const synapse_config_file& shared, const std::vector<synapse_config_file>& others) {
  auto result = translate_synapse_deployment(shared, others);
  // The point of the tool: its output is a placement file Myelin accepts as is.
  auto layout = parse_placement(result.placement_yaml, "translated.yaml");
  return {std::move(result), std::move(layout)};
}

// A deployment directory as an operator passes it: homeserver.yaml conf.d/*.yaml workers/*.yaml.
translated translate_dir(const std::string& name) {
  auto dir = data_dir / name;
  auto others = fixtures_in(dir / "conf.d");
  for (auto& w : fixtures_in(dir / "workers")) others.push_back(std::move(w));
  return translate(read_fixture(dir / "homeserver.yaml"), others);
}

translated translate_texts(const std::string& shared, const std::vector<std::pair<std::string, std::string>>& workers) {
  std::vector<synapse_config_file> others;
  for (const auto& [name, text] : workers) others.push_back({name, text});
  return translate({"homeserver.yaml", shared}, others);
}

std::string error_of(const std::string& shared, const std::vector<std::pair<std::string, std::string>>& workers) {
  try {
    translate_texts(shared, workers);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

std::string note_with(const synapse_translation& t, const std::string& text) {
  for (const auto& n : t.notes)
    if (n.find(text) != std::string::npos) return n;
  return "";
}

std::string all_notes(const synapse_translation& t) {
  std::string out;
  for (const auto& n : t.notes) out += n + "\n";
  return out;
}

// Every group line of the output is preceded by the comment saying where it came from.
void check_every_group_explained(const std::string& yaml) {
  std::istringstream in(yaml);
  std::string line, previous;
  size_t groups = 0;
  bool in_groups = false;
  while (std::getline(in, line)) {
    if (line == "groups:") in_groups = true;
    else if (in_groups && line.rfind("  ", 0) == 0 && line[2] != ' ' && line[2] != '#') {
      ++groups;
      BOOST_TEST(previous.find("#") != std::string::npos, "no comment before: " << line);
    }
    previous = line;
  }
  BOOST_TEST(groups == known_groups().size());
}

} // namespace

BOOST_AUTO_TEST_SUITE(synapse_import_tests)

BOOST_AUTO_TEST_CASE(one_machine_deployment_becomes_one_node) {
  auto [t, p] = translate_dir("one-machine");
  BOOST_REQUIRE(p.nodes.size() == 1u);
  BOOST_TEST(p.nodes[0].name == "main");
  BOOST_TEST(p.nodes[0].port == 9300);  // the workers listen on unix sockets only
  BOOST_TEST(p.total_instances("main") == 1u);
  BOOST_TEST(p.total_instances("sync") == 5u);           // initial_sync1-2 and normal_sync1-3
  BOOST_TEST(p.total_instances("client_reader") == 1u);  // login
  BOOST_TEST(p.total_instances("media") == 1u);          // mediaworker (synapse.app.media_repository)
  BOOST_TEST(p.total_instances("user_dir") == 1u);
  BOOST_TEST(p.total_instances("federation_sender") == 1u);
  BOOST_TEST(p.total_instances("pusher") == 1u);
  for (const char* g : {"writer.account_data", "writer.presence", "writer.receipts", "writer.to_device",
                        "writer.typing", "writer.push_rules", "writer.events", "writer.device_lists"})
    BOOST_TEST(p.total_instances(g) == 1u, g);
  // The comments say which Synapse process each group replaces.
  const auto& y = t.placement_yaml;
  BOOST_TEST(y.find("# sync: initial_sync1, initial_sync2, normal_sync1, normal_sync2, normal_sync3") != std::string::npos, y);
  BOOST_TEST(y.find("# writer.typing: typing (stream_writers.typing)") != std::string::npos, y);
  BOOST_TEST(y.find("# media: mediaworker (worker_app synapse.app.media_repository)") != std::string::npos, y);
  BOOST_TEST(y.find("# writer.events: not in stream_writers: Synapse's main process wrote this stream") !=
             std::string::npos);
  check_every_group_explained(y);
  // The notes tell the operator what changes in kind.
  BOOST_TEST(!note_with(t, "17 Synapse processes (main and 16 workers) ran on one machine").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "14 unix socket(s)").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "initial_sync1, initial_sync2: Synapse's separate initial-sync pool").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "conf.d/listeners.yaml: no worker_app: read as more shared configuration").empty());
  // conf.d was read: enable_media_repo: false is there, and a media worker exists, so no media note.
  BOOST_TEST(note_with(t, "enable_media_repo").empty(), all_notes(t));
}

BOOST_AUTO_TEST_CASE(two_hosts_become_two_nodes) {
  auto [t, p] = translate_dir("two-hosts");
  BOOST_REQUIRE(p.nodes.size() == 2u);
  const node_spec& a = p.nodes[0];
  const node_spec& b = p.nodes[1];
  BOOST_TEST(a.name == "main");
  BOOST_TEST(a.host == "10.0.0.1");
  BOOST_TEST(b.name == "node-10-0-0-2");
  BOOST_TEST(b.host == "10.0.0.2");
  BOOST_TEST(b.bind_address == "10.0.0.2");
  // 9300 is event_persister1's replication port: the link takes the next free one.
  BOOST_TEST(a.port == 9301);
  BOOST_TEST(b.port == 9301);
  // Two event persisters, one per machine, as in stream_writers.events.
  BOOST_TEST(p.instances_on("main", "writer.events") == 1u);
  BOOST_TEST(p.instances_on(b.name, "writer.events") == 1u);
  BOOST_TEST(p.instances_on("main", "sync") == 1u);
  BOOST_TEST(p.instances_on(b.name, "sync") == 1u);
  BOOST_TEST(p.instances_on("main", "federation_sender") == 1u);
  BOOST_TEST(p.instances_on(b.name, "federation_sender") == 1u);
  BOOST_TEST(p.instances_on(b.name, "client_reader") == 2u);  // client_reader1 and the unrecognised worker7
  BOOST_TEST(p.instances_on("main", "client_reader") == 0u);
  BOOST_TEST(p.instances_on(b.name, "federation_inbound") == 1u);
  BOOST_TEST(p.instances_on("main", "event_creator") == 1u);
  for (const char* g : {"writer.typing", "writer.to_device", "writer.presence", "writer.receipts"})
    BOOST_TEST(p.instances_on(b.name, g) == 1u, g);
  BOOST_TEST(p.instances_on("main", "background") == 1u);
  BOOST_TEST(p.instances_on("main", "appservice") == 1u);
  BOOST_TEST(p.instances_on("main", "pusher") == 1u);  // pusher1 has no file: main's machine
  check_every_group_explained(t.placement_yaml);
  BOOST_TEST(t.placement_yaml.find("do-not-copy-me") == std::string::npos);  // worker_replication_secret
  BOOST_TEST(t.placement_yaml.find("# shared_secret:") != std::string::npos);

  BOOST_TEST(!note_with(t, "ran on 2 machines").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "worker_replication_secret is not copied").empty());
  BOOST_TEST(!note_with(t, "writer.receipts has a single instance in Myelin: on node node-10-0-0-2 (stream_writer); "
                           "event_persister1 (stream_writers.receipts) does not add instances").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "stream_writers.quarantined_media_changes: Myelin has no writer group").empty());
  BOOST_TEST(!note_with(t, "pusher1 (named in pusher_instances) has no worker file").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "worker7: generic worker(s) whose name and listeners do not say").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "background_worker: not in instance_map").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "ports 8035, 8083, 8084, 8085, 8086, 8087").empty(), all_notes(t));
}

BOOST_AUTO_TEST_CASE(historical_worker_apps) {
  auto [t, p] = translate_dir("legacy");
  BOOST_REQUIRE(p.nodes.size() == 1u);  // worker_replication_host 127.0.0.1 everywhere
  BOOST_TEST(p.total_instances("sync") == 2u);
  for (const char* g : {"client_reader", "federation_reader", "event_creator", "media", "user_dir", "keys",
                        "federation_sender", "pusher", "appservice"})
    BOOST_TEST(p.total_instances(g) == 1u, g);
  BOOST_TEST(t.placement_yaml.find("synchrotron-1, synchrotron-2 (worker_app synapse.app.synchrotron)") !=
             std::string::npos);
  BOOST_TEST(t.placement_yaml.find("frontend_proxy1 (worker_app synapse.app.frontend_proxy)") != std::string::npos);
  // Files without worker_name are named after the file, and said so once.
  auto n = note_with(t, "no worker_name");
  BOOST_TEST(n.find("legacy/workers/synchrotron-1.yaml") != std::string::npos, n);
  BOOST_TEST(n.find("legacy/workers/event_creator.yaml") == std::string::npos, n);  // it has one
  BOOST_TEST(!note_with(t, "ports 8011, 8083, 8084, 8085, 8086, 8087, 8088, 8102").empty(), all_notes(t));
}

BOOST_AUTO_TEST_CASE(broken_inputs_name_file_and_line) {
  auto shared = read_fixture(data_dir / "broken" / "homeserver.yaml");
  auto error = [&](const char* file) {
    try {
      translate_synapse_deployment(shared, {read_fixture(data_dir / "broken" / file)});
    } catch (const config_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto e = error("missing-name.yaml");
  BOOST_TEST(e.find("broken/missing-name.yaml:2: worker_name is missing") != std::string::npos, e);
  e = error("unknown-app.yaml");
  BOOST_TEST(e.find("broken/unknown-app.yaml:3: unknown worker_app 'synapse.app.fancy_worker' (known: "
                    "synapse.app.generic_worker") != std::string::npos, e);
  e = error("malformed.yaml");
  BOOST_TEST(e.find("broken/malformed.yaml:6: invalid YAML") != std::string::npos, e);
  e = error("bad-values.yaml");
  BOOST_TEST(e.find("broken/bad-values.yaml:5: worker_listeners.port must be a port number") != std::string::npos, e);
  // All problems at once, one line each.
  try {
    auto others = fixtures_in(data_dir / "broken");
    others.erase(std::remove_if(others.begin(), others.end(),
                                [](auto& f) { return f.name == "broken/homeserver.yaml"; }),
                 others.end());
    translate_synapse_deployment(shared, others);
    BOOST_FAIL("broken inputs were accepted");
  } catch (const config_error& x) {
    std::string all = x.what();
    BOOST_TEST(std::count(all.begin(), all.end(), '\n') == 3, all);
  }
}

// shared/seeds/001: grantm/synapse-workers-config-example, three generic workers behind nginx.
BOOST_AUTO_TEST_CASE(generic_workers_without_a_telling_name) {
  auto [t, p] = translate_texts(R"(
server_name: example.com
instance_map:
  main:
    host: localhost
    port: 9093
  events_persister1:
    host: localhost
    port: 9111
  receipts_writer:
    host: localhost
    port: 9112
federation_sender_instances:
    - federation_sender1
stream_writers:
  events:
    - events_persister1
  receipts: receipts_writer
  typing: receipts_writer
)", {
      {"generic1.yaml", "worker_app: synapse.app.generic_worker\nworker_name: generic1\nworker_listeners:\n"
                        "  - type: http\n    port: 8081\n    resources:\n      - names: [client, federation]\n"},
      {"generic2.yaml", "worker_app: synapse.app.generic_worker\nworker_name: generic2\nworker_listeners:\n"
                        "  - type: http\n    port: 8082\n    resources:\n      - names: [client, federation]\n"},
      {"generic3.yaml", "worker_app: synapse.app.generic_worker\nworker_name: generic3\nworker_listeners:\n"
                        "  - type: http\n    port: 8083\n    resources:\n      - names: [client, federation]\n"},
      {"events_persister1.yaml", "worker_app: synapse.app.generic_worker\nworker_name: events_persister1\n"
                                 "worker_listeners:\n  - type: http\n    port: 9111\n    resources:\n"
                                 "      - names: [replication]\n"},
      {"receipts_writer.yaml", "worker_app: synapse.app.generic_worker\nworker_name: receipts_writer\n"
                               "worker_listeners:\n  - type: http\n    port: 9112\n    resources:\n"
                               "      - names: [replication]\n  - type: http\n    port: 8112\n    resources:\n"
                               "      - names: [client]\n"},
      {"federation_sender1.yaml", "worker_app: synapse.app.generic_worker\nworker_name: federation_sender1\n"},
  });
  BOOST_TEST(p.nodes.size() == 1u);
  BOOST_TEST(p.total_instances("client_reader") == 3u);
  BOOST_TEST(p.total_instances("writer.events") == 1u);
  BOOST_TEST(p.total_instances("writer.receipts") == 1u);
  BOOST_TEST(p.total_instances("writer.typing") == 1u);
  BOOST_TEST(p.total_instances("federation_sender") == 1u);
  auto n = note_with(t, "generic worker(s) whose name and listeners do not say");
  BOOST_TEST(n.find("generic1, generic2, generic3:") == 0u, n);
  BOOST_TEST(n.find("receipts_writer") == std::string::npos, n);  // its client listener serves its streams
}

BOOST_AUTO_TEST_CASE(names_listeners_and_jobs) {
  auto [t, p] = translate_texts(R"(
instance_map:
  main: {host: matrix1.example.org, port: 9093}
  persister: {host: matrix2.example.org, port: 9093}
  fed_inbound: {host: matrix2.example.org, port: 9094}
stream_writers:
  events: [main, persister]
update_user_directory_from_worker: userdir_a
)", {
      {"w/media_gen.yaml", "worker_app: synapse.app.generic_worker\nworker_name: w1\nworker_listeners:\n"
                           "  - {type: http, port: 8085, resources: [{names: [media]}]}\n"},
      {"w/fed.yaml", "worker_app: synapse.app.generic_worker\nworker_name: fed_inbound\nworker_listeners:\n"
                     "  - {type: http, port: 8086, resources: [{names: [federation]}]}\n"},
      {"w/x.yaml", "worker_app: synapse.app.generic_worker\nworker_name: x9\nworker_listeners:\n"
                   "  - {type: http, port: 8087, resources: [{names: [federation]}]}\n"},
      {"w/creator.yaml", "worker_app: synapse.app.generic_worker\nworker_name: EventCreator-2\nworker_listeners:\n"
                         "  - {type: http, port: 8088, resources: [{names: [client]}]}\n"},
      {"w/keys.yaml", "worker_app: synapse.app.generic_worker\nworker_name: e2e_keys\nworker_listeners:\n"
                      "  - {type: http, port: 8089, resources: [{names: [client]}]}\n"},
      {"w/ud1.yaml", "worker_app: synapse.app.user_dir\nworker_name: userdir_a\n"},
      {"w/ud2.yaml", "worker_app: synapse.app.user_dir\nworker_name: userdir_b\n"},
      {"w/pusher2.yaml", "worker_app: synapse.app.generic_worker\nworker_name: pusher2\n"},
      {"w/fs3.yaml", "worker_app: synapse.app.generic_worker\nworker_name: federation_sender3\nworker_listeners:\n"
                     "  - {type: http, port: 8090, resources: [{names: [client]}]}\n"},
      {"w/idle.yaml", "worker_app: synapse.app.generic_worker\nworker_name: idle1\nstream_writers: {typing: idle1}\n"},
  });
  // Hosts by name: the node is called after the first label and listens on every interface.
  BOOST_REQUIRE(p.nodes.size() == 2u);
  BOOST_TEST(p.nodes[0].host == "matrix1.example.org");
  BOOST_TEST(p.nodes[1].name == "matrix2");
  BOOST_TEST(p.nodes[1].host == "matrix2.example.org");
  BOOST_TEST(p.nodes[1].bind_address == "0.0.0.0");
  BOOST_TEST(p.instances_on("main", "writer.events") == 1u);   // "main" in stream_writers
  BOOST_TEST(p.instances_on("matrix2", "writer.events") == 1u);
  BOOST_TEST(p.instances_on("main", "media") == 1u);            // only the media resource
  BOOST_TEST(p.instances_on("matrix2", "federation_inbound") == 1u);  // "fed_inbound"
  BOOST_TEST(p.instances_on("main", "federation_reader") == 1u);      // x9: only the federation resource
  BOOST_TEST(p.total_instances("event_creator") == 1u);
  BOOST_TEST(p.total_instances("keys") == 1u);
  BOOST_TEST(p.total_instances("user_dir") == 1u);    // a singleton, however many user_dir workers
  BOOST_TEST(p.total_instances("pusher") == 1u);      // pusher2 is not in pusher_instances: the default one
  BOOST_TEST(p.total_instances("client_reader") == 1u);  // federation_sender3, for its listener
  BOOST_TEST(t.placement_yaml.find("userdir_a (update_user_directory_from_worker)") != std::string::npos);
  BOOST_TEST(!note_with(t, "user_dir has a single instance in Myelin: on node main (userdir_a); userdir_b").empty(),
             all_notes(t));
  BOOST_TEST(!note_with(t, "pusher2 (w/pusher2.yaml) is named like a pusher but is not in pusher_instances").empty(),
             all_notes(t));
  BOOST_TEST(!note_with(t, "federation_sender3 (w/fs3.yaml) is named like a federation sender").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "idle1 (w/idle.yaml) is a generic worker with no job").empty(), all_notes(t));
  BOOST_TEST(!note_with(t, "w/idle.yaml: stream_writers in a worker file: ignored").empty(), all_notes(t));
}

BOOST_AUTO_TEST_CASE(a_monolith_is_all_in_one) {
  auto [t, p] = translate_texts("server_name: example.com\nlisteners:\n  - port: 8008\n    type: http\n", {});
  BOOST_TEST(p.nodes.size() == 1u);
  for (const auto& g : known_groups()) BOOST_TEST(p.total_instances(g.name) == 1u, g.name);
  // A conf.d fragment with the (shared) replication secret is not a worker missing its worker_app.
  auto with_fragment = translate_texts("server_name: example.com\n", {{"conf.d/secret.yaml", "worker_replication_secret: s\n"}});
  BOOST_TEST(!note_with(with_fragment.result, "conf.d/secret.yaml: no worker_app: read as more shared").empty());
}

BOOST_AUTO_TEST_CASE(refused_inputs) {
  const std::string worker = "worker_app: synapse.app.generic_worker\nworker_name: sync1\n";
  auto e = error_of("server_name: x\n", {{"a.yaml", worker}, {"b.yaml", worker}});
  BOOST_TEST(e.find("b.yaml:2: worker_name 'sync1' is already used by a.yaml") != std::string::npos, e);
  e = error_of(worker, {});
  BOOST_TEST(e.find("homeserver.yaml:1: this is a worker's config") != std::string::npos, e);
  e = error_of("server_name: x\n", {{"w.yaml", "worker_name: sync1\nworker_listeners: []\n"}});
  BOOST_TEST(e.find("w.yaml:1: worker_app is missing") != std::string::npos, e);
  e = error_of("server_name: x\n", {{"w.yaml", "worker_app: synapse.app.generic_worker\nworker_name: main\n"}});
  BOOST_TEST(e.find("w.yaml:2: worker_name 'main' is reserved") != std::string::npos, e);
  e = error_of("server_name: x\n", {{"w.yaml", "worker_app: synapse.app.homeserver\nworker_name: m\n"}});
  BOOST_TEST(e.find("w.yaml:1: worker_app synapse.app.homeserver is the main process") != std::string::npos, e);
  e = error_of("instance_map:\n  w1:\n    host: 'a b'\n", {});
  BOOST_TEST(e.find("homeserver.yaml:3: instance_map.w1.host must be a host name or address") != std::string::npos, e);
  e = error_of("stream_writers:\n  events:\n    persister: 1\n", {});
  BOOST_TEST(e.find("homeserver.yaml:3: stream_writers.events must be a worker name or a list") != std::string::npos, e);
  e = error_of("enable_media_repo: perhaps\n", {});
  BOOST_TEST(e.find("homeserver.yaml:1: enable_media_repo must be true or false") != std::string::npos, e);
  e = error_of("- just\n- a list\n", {});
  BOOST_TEST(e.find("homeserver.yaml:1: expected a mapping") != std::string::npos, e);
  e = error_of("server_name: x\n", {{"empty.yaml", ""}});
  BOOST_TEST(e.find("empty.yaml:1: expected a mapping") != std::string::npos, e);
}

BOOST_AUTO_TEST_SUITE_END()
