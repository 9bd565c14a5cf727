// myelin: the one binary. Runs a node (all-in-one by default), or an operator tool
// (`myelin placement check FILE`, `myelin placement from-synapse HOMESERVER.yaml WORKER.yaml...`).
// See docs/configuration.md and docs/architecture.md.
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <boost/json/serialize.hpp>

#include "actors/client_reader/versions.hpp"
#include "actors/runtime/groups.hpp"
#include "actors/runtime/live_placement.hpp"
#include "actors/runtime/node.hpp"
#include "actors/runtime/placement.hpp"
#include "actors/runtime/synapse_import.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "gateway/gateway.hpp"
#include "outbound/http_fetch.hpp"
#include "protocol/appservice.hpp"
#include "protocol/crypto.hpp"
#include "protocol/signing_key.hpp"

namespace fs = std::filesystem;
using namespace myelin;

namespace {

constexpr const char* usage = R"(usage:
  myelin [--config FILE | --data-dir DIR] [--placement FILE] [--node NAME] [--expose-instance-header]
  myelin placement check FILE [--config HOMESERVER.yaml] [--running OLD.yaml]
  myelin placement from-synapse HOMESERVER.yaml WORKER.yaml...
  myelin export-signing-key KEYFILE [--expired-ts MS]
  myelin --version

  --config FILE      homeserver.yaml to run with
  --data-dir DIR     all-in-one mode: use DIR/homeserver.yaml, generating it (SQLite database,
                     signing key, listener on 127.0.0.1:8008) on first start
  --server-name N    server_name for a generated config (default: localhost)
  --port P           port for a generated config (default: 8008)
  --placement FILE   placement file (default: the config's placement_file, else all-in-one)
  --node NAME        which node of the placement this process is (default: the first)
  --expose-instance-header   add X-Myelin-Instance (the serving group instance) to responses
  --bench-direct-endpoints   serve /_myelin/direct/{versions,whoami} inside the gateway (bench/)

  placement check    validates a placement file and prints its layout (exit 1 if invalid); with
                     --config, also checks node link ports against that config's listeners;
                     with --running, says whether a cluster running OLD.yaml adopts FILE live
                     (it only adds nodes and instances) or every node must restart with it
  placement from-synapse   translates a Synapse worker deployment (its homeserver.yaml, the worker
                     files, and any conf.d fragments) into a placement file on stdout; notes about
                     what does not translate one to one go to stderr
  export-signing-key prints the old_signing_keys entry for a signing key file that is being
                     retired (expired_ts: now unless given, in milliseconds), to paste into
                     homeserver.yaml after switching signing_key_path to a new key
)";

struct options {
  std::string config;
  std::string data_dir;
  std::string server_name = "localhost";
  uint16_t port = 8008;
  std::string placement;
  std::string node;
  bool expose_instance_header = false;
  bool bench_direct_endpoints = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads the signing key, creating it (mode 0600) on first start.
protocol::signing_key load_or_create_signing_key(const std::string& path, const logger& log) {
  if (fs::exists(path)) {
    try {
      return protocol::parse_signing_key(read_file(path));
    } catch (const std::exception& e) {
      throw config_error(path + ": bad signing key: " + e.what());
    }
  }
  auto key = protocol::generate_signing_key();
  fs::create_directories(fs::path(path).parent_path());
  {
    std::ofstream out(path);
    if (!out) throw config_error(path + ": cannot write signing key");
    out << protocol::encode_signing_key(key);
  }
  ::chmod(path.c_str(), 0600);
  log.info("generated signing key", {{"path", path}, {"key_id", key.key_id()}});
  return key;
}

// Throws config_error when the nodes' link ports clash with the listeners of `config`.
void check_link_ports(const runtime::placement& p, const homeserver_config& cfg) {
  auto conflicts = runtime::listener_conflicts(p, cfg.listeners, cfg.config_path);
  std::string all;
  for (const auto& c : conflicts) all += (all.empty() ? "" : "\n") + c;
  if (!all.empty()) throw config_error(all);
}

int placement_check(const std::string& file, const std::string& config_path, const std::string& running_path) {
  try {
    auto p = runtime::load_placement(file);
    if (!config_path.empty()) check_link_ports(p, load_homeserver_config(config_path));
    if (!running_path.empty()) {
      auto running = runtime::load_placement(running_path);
      auto why = runtime::growth_problem(running, p);
      if (!why.empty()) {
        std::cerr << file << ": a cluster running " << running_path
                  << " will refuse it: " << why << "\n  (restart every node with the new file)\n";
        return 1;
      }
      std::cout << file << ": a cluster running " << running_path
                << " adopts it live: start the nodes it adds or changes\n";
    }
    std::cout << file << ": OK — " << p.nodes.size() << " node(s)\n";
    for (const auto& n : p.nodes) {
      std::cout << "  node " << n.name;
      if (n.port) std::cout << " (" << n.host << ":" << n.port << ")";
      std::cout << ":";
      for (const auto& g : runtime::known_groups()) {
        size_t k = p.instances_on(n.name, g.name);
        if (k) std::cout << " " << g.name << "x" << k;
      }
      std::cout << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}

// Reads the files, prints the placement on stdout and the notes on stderr. Exit 2 on bad input.
int placement_from_synapse(const std::vector<std::string>& paths) {
  std::vector<runtime::synapse_config_file> files;
  for (const auto& path : paths) {
    std::ifstream in(path);
    if (!in) {
      std::cerr << "myelin placement from-synapse: " << path << ": cannot read\n";
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    files.push_back({path, ss.str()});
  }
  try {
    auto shared = files.front();
    files.erase(files.begin());
    auto t = runtime::translate_synapse_deployment(shared, files);
    std::cout << t.placement_yaml;
    for (const auto& n : t.notes) std::cerr << "note: " << n << "\n";
    return 0;
  } catch (const config_error& e) {
    std::cerr << "myelin placement from-synapse:\n" << e.what() << "\n";
    return 2;
  }
}

// `myelin export-signing-key KEYFILE [--expired-ts MS]`: the old_signing_keys entry that keeps
// events signed with a retired key verifiable by other servers after a key rotation.
int export_signing_key(int argc, char** argv) {
  std::vector<std::string> args(argv + 2, argv + argc);
  int64_t expired_ts = now_ms();
  if (args.size() == 3 && args[1] == "--expired-ts") {
    try {
      expired_ts = std::stoll(args[2]);
    } catch (const std::exception&) {
      args.clear();
    }
  } else if (args.size() != 1) {
    args.clear();
  }
  if (args.empty() || expired_ts < 0) {
    std::cerr << usage;
    return 2;
  }
  protocol::signing_key key;
  try {
    key = protocol::parse_signing_key(read_file(args[0]));
  } catch (const std::exception& e) {
    std::cerr << "myelin export-signing-key: " << args[0] << ": " << e.what() << "\n";
    return 2;
  }
  std::cout << "old_signing_keys:\n  \"" << key.key_id() << "\": {key: \""
            << protocol::base64_encode_unpadded(key.public_key) << "\", expired_ts: " << expired_ts << "}\n";
  return 0;
}

// `myelin placement SUBCOMMAND ...`; argv[1] is "placement".
int placement_tool(int argc, char** argv) {
  std::vector<std::string> args(argv + 2, argv + argc);
  if (args.size() >= 2 && args[0] == "check" && args.size() % 2 == 0) {
    std::string config, running;
    bool ok = true;
    for (size_t i = 2; i + 1 < args.size(); i += 2) {
      if (args[i] == "--config") config = args[i + 1];
      else if (args[i] == "--running") running = args[i + 1];
      else ok = false;
    }
    if (ok) return placement_check(args[1], config, running);
  }
  if (args.size() >= 2 && args[0] == "from-synapse")
    return placement_from_synapse(std::vector<std::string>(args.begin() + 1, args.end()));
  std::cerr << usage;
  return 2;
}

std::optional<options> parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument("missing value after " + a);
      return argv[++i];
    };
    if (a == "--config" || a == "-c") o.config = next();
    else if (a == "--data-dir") o.data_dir = next();
    else if (a == "--server-name") o.server_name = next();
    else if (a == "--port") o.port = static_cast<uint16_t>(std::stoi(next()));
    else if (a == "--placement") o.placement = next();
    else if (a == "--node") o.node = next();
    else if (a == "--expose-instance-header") o.expose_instance_header = true;
    else if (a == "--bench-direct-endpoints") o.bench_direct_endpoints = true;
    else if (a == "--help" || a == "-h") {
      std::cout << usage;
      return std::nullopt;
    } else throw std::invalid_argument("unknown argument " + a);
  }
  if (o.config.empty() && o.data_dir.empty()) o.data_dir = "var";
  return o;
}

int run(const options& o) {
  logger log("main");
  protocol::crypto_init();
  std::string config_path = o.config;
  if (config_path.empty()) {
    fs::create_directories(o.data_dir);
    config_path = (fs::path(o.data_dir) / "homeserver.yaml").string();
    if (!fs::exists(config_path)) {
      auto data_dir = fs::absolute(o.data_dir).lexically_normal().string();
      std::ofstream(config_path) << generate_default_config(o.server_name, data_dir, o.port);
      log.info("generated config", {{"path", config_path}});
    }
  }
  homeserver_config cfg = load_homeserver_config(config_path);
  configure_logging(cfg.logging);
  for (const auto& w : cfg.warnings) log.warn(w);
  for (const auto& ca : cfg.federation.custom_ca_files) outbound::add_trusted_ca_file(ca);
  auto key = load_or_create_signing_key(cfg.signing_key_path, log);

  std::string placement_path = !o.placement.empty() ? o.placement : cfg.placement_file;
  runtime::placement layout =
      placement_path.empty() ? runtime::all_in_one_placement() : runtime::load_placement(placement_path);
  std::string node = o.node.empty() ? layout.nodes.front().name : o.node;
  if (!layout.find_node(node)) throw config_error(placement_path + ": no node named '" + node + "'");
  check_link_ports(layout, cfg);

  // Block the signals every thread would otherwise receive; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Standard process_* series and the build, on every scrape.
  auto process_metrics = metrics::registry::global().add_collector([node](metrics::writer& w) {
    metrics::write_process_metrics(w);
    w.header("myelin_build_info", "Version of this node's binary.", metrics::kind::gauge);
    w.sample("myelin_build_info", {{"version", MYELIN_VERSION}, {"node", node}}, 1);
  });
  gateway::rate_limiter limiter(cfg.rate_limits);
  runtime::node_runtime runtime(cfg, layout, runtime::node_options{node, o.expose_instance_header, &limiter, key});
  runtime.start();

  gateway::endpoint_catalog catalog;
  for (const auto& e : runtime.endpoints().entries()) catalog.add(e.spec);
  for (const auto& w : gateway::assign_groups(catalog, gateway::route_table::builtin())) log.warn(w);
  gateway::server http(cfg, catalog, runtime, runtime, limiter);
  if (o.bench_direct_endpoints) http.enable_direct_endpoints(boost::json::serialize(endpoints::versions_body()));
  http.start();
  std::string ports;
  for (auto p : http.bound_ports()) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  log.info("myelin ready", {{"server_name", cfg.server_name}, {"node", node}, {"ports", ports},
                            {"key_id", key.key_id()}, {"config", config_path}});

  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      try {
        auto fresh = load_homeserver_config(config_path);
        configure_logging(fresh.logging);
        limiter.reconfigure(fresh.rate_limits);
        // Every copy of cfg (the runtime's too) shares the holder: one swap reaches them all.
        cfg.appservices->set(fresh.appservices->get());
        log.info("reloaded log levels, rate limits and application services",
                 {{"config", config_path}, {"appservices", std::to_string(fresh.appservices->get()->all().size())}});
      } catch (const std::exception& e) {
        log.error("reload failed; keeping the running configuration", {{"error", e.what()}});
      }
      continue;
    }
    log.info("shutting down", {{"signal", strsignal(sig)}});
    break;
  }
  runtime.release_long_polls();
  http.stop(std::chrono::seconds(10));
  runtime.stop();
  log.info("bye");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 2 && std::string(argv[1]) == "--version") {
      std::cout << "myelin " << MYELIN_VERSION << "\n";
      return 0;
    }
    if (argc >= 2 && std::string(argv[1]) == "placement") return placement_tool(argc, argv);
    if (argc >= 2 && std::string(argv[1]) == "export-signing-key") return export_signing_key(argc, argv);
    auto o = parse_args(argc, argv);
    if (!o) return 0;
    return run(*o);
  } catch (const config_error& e) {
    std::cerr << "myelin: configuration error:\n" << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "myelin: " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "myelin: " << e.what() << "\n";
    return 1;
  }
}
