// The placement file: which nodes exist and where each group's instances run. Every node reads the
// same file; `--node NAME` says which one a process is. Without a file, everything runs in one
// process with one instance per group (all-in-one).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace myelin {
struct listener_config;
}

namespace myelin::runtime {

struct node_spec {
  std::string name;
  std::string host = "127.0.0.1";        // where other nodes reach this node's link
  uint16_t port = 0;                     // node link port (0: single node, no link)
  std::string bind_address = "127.0.0.1";
  int line = 0;                          // where the placement file defines it (0: built in)
};

struct group_assignment {
  std::string node;
  size_t instances = 1;
};

// Mutual TLS on node links (CAF's OpenSSL module): every node presents `certificate` (with its
// `key`) and accepts only peers whose certificate chains to `ca`. Paths are read at start.
struct link_tls {
  std::string certificate, key, ca, passphrase;
  bool enabled() const { return !certificate.empty(); }
};

// Redis pub/sub as the fan-out bus for stream updates between nodes (optional, multi-node only):
// a unix socket `path`, or `host` + `port`. The node links keep working without it (and while it
// is down); see actors/runtime/redis_bus.hpp.
struct redis_settings {
  std::string path;
  std::string host;
  uint16_t port = 0;
  std::string password;
  std::string channel = "myelin.streams";
  bool enabled() const { return !path.empty() || !host.empty(); }
  std::string address() const { return path.empty() ? host + ":" + std::to_string(port) : "unix:" + path; }
};

struct placement {
  std::string origin;                    // file path, "" for the built-in all-in-one
  std::vector<node_spec> nodes;
  std::string shared_secret;             // authenticates node links (multi-node)
  link_tls tls;                          // encrypts them (optional)
  redis_settings redis;                  // fan-out bus for stream updates (optional)
  std::map<std::string, std::vector<group_assignment>> groups;

  const node_spec* find_node(const std::string& name) const;
  size_t instances_on(const std::string& node, const std::string& group) const;
  size_t total_instances(const std::string& group) const;
  // Instances are numbered across the cluster in file order (the first assignment's instances
  // first), so "sync/3" names the same instance on every node and the affinity hashes agree.
  // The global indices of a group's instances on one node:
  std::vector<size_t> indices_on(const std::string& node, const std::string& group) const;
  // The node running instance `index` of a group ("" when there is none).
  std::string node_of(const std::string& group, size_t index) const;
  bool multi_node() const { return nodes.size() > 1; }
};

// One node, every group once.
placement all_in_one_placement(const std::string& node_name = "main");

// Parses and validates. Throws config_error("FILE:LINE: ...") listing what is wrong: unknown
// groups, groups listed twice, singleton groups with more than one instance, unknown nodes,
// nodes without host (or with a wildcard one) or port in a multi-node file, two nodes on one
// host:port.
placement parse_placement(const std::string& yaml_text, const std::string& origin);
placement load_placement(const std::string& path);

// What clashes between a placement and the listeners of the homeserver.yaml its nodes run with:
// a node link port that an HTTP listener binds on an overlapping address. One
// "PLACEMENT:LINE: ..." line per problem, naming `config_origin`; empty when all is well.
std::vector<std::string> listener_conflicts(const placement& p, const std::vector<listener_config>& listeners,
                                            const std::string& config_origin);

} // namespace myelin::runtime
