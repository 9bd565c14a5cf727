#include "actors/runtime/placement.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "actors/runtime/groups.hpp"
#include "common/config.hpp"

namespace myelin::runtime {

const node_spec* placement::find_node(const std::string& name) const {
  for (const auto& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

size_t placement::instances_on(const std::string& node, const std::string& group) const {
  auto it = groups.find(group);
  if (it == groups.end()) return 0;
  size_t n = 0;
  for (const auto& a : it->second)
    if (a.node == node) n += a.instances;
  return n;
}

size_t placement::total_instances(const std::string& group) const {
  auto it = groups.find(group);
  if (it == groups.end()) return 0;
  size_t n = 0;
  for (const auto& a : it->second) n += a.instances;
  return n;
}

std::vector<size_t> placement::indices_on(const std::string& node, const std::string& group) const {
  std::vector<size_t> out;
  auto it = groups.find(group);
  if (it == groups.end()) return out;
  size_t next = 0;
  for (const auto& a : it->second) {
    for (size_t i = 0; i < a.instances; ++i, ++next)
      if (a.node == node) out.push_back(next);
  }
  return out;
}

std::string placement::node_of(const std::string& group, size_t index) const {
  auto it = groups.find(group);
  if (it == groups.end()) return {};
  for (const auto& a : it->second) {
    if (index < a.instances) return a.node;
    index -= a.instances;
  }
  return {};
}

placement all_in_one_placement(const std::string& node_name) {
  placement p;
  p.nodes.push_back(node_spec{node_name});
  for (const auto& g : known_groups()) p.groups[g.name] = {group_assignment{node_name, 1}};
  return p;
}

namespace {

struct checker {
  std::string origin;
  std::vector<std::string> problems;
  void fail(const YAML::Node& at, const std::string& msg) {
    std::ostringstream os;
    os << origin << ":" << (at.Mark().line + 1) << ": " << msg;
    problems.push_back(os.str());
  }
};

// Keys must be plain scalars; anything else (a YAML complex key) is reported, not thrown.
std::string key_of(checker& c, const YAML::Node& k) {
  if (!k.IsScalar()) {
    c.fail(k, "keys must be plain names");
    return {};
  }
  return k.Scalar();
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

bool is_wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

// Two binds on one port clash when their addresses can be the same socket.
bool addresses_overlap(const std::string& a, const std::string& b) {
  return a == b || is_wildcard(a) || is_wildcard(b) || (is_loopback(a) && is_loopback(b));
}

size_t read_instances(checker& c, const YAML::Node& n, const std::string& group) {
  try {
    long v = n.as<long>();
    if (v < 0 || v > 1024) {
      c.fail(n, "group '" + group + "': instances must be between 0 and 1024");
      return 0;
    }
    return static_cast<size_t>(v);
  } catch (const YAML::Exception&) {
    c.fail(n, "group '" + group + "': instances must be a number");
    return 0;
  }
}

void read_assignment(checker& c, const YAML::Node& n, const std::string& group, const std::string& default_node,
                     std::vector<group_assignment>& out) {
  if (n.IsScalar()) {  // "sync: 4"
    out.push_back({default_node, read_instances(c, n, group)});
    return;
  }
  if (!n.IsMap()) {
    c.fail(n, "group '" + group + "': expected a number, a mapping {node, instances} or a list of them");
    return;
  }
  group_assignment a{default_node, 1};
  for (auto kv : n) {
    auto key = key_of(c, kv.first);
    if (key == "node") {
      if (kv.second.IsScalar()) a.node = kv.second.Scalar();
      else c.fail(kv.second, "group '" + group + "': node must be a name");
    }
    else if (key == "instances") a.instances = read_instances(c, kv.second, group);
    else c.fail(kv.first, "group '" + group + "': unknown key '" + key + "' (expected node, instances)");
  }
  out.push_back(a);
}

// A mapping of named fields (tls:, redis:): each string field takes a non-empty scalar
// ("SECTION.KEY must be `requirement`" otherwise); `other` may take a key that is not a string field
// (it returns whether it knew the key); any other key is reported with the `expected` list.
void read_fields(checker& c, const YAML::Node& m, const std::string& section,
                 std::initializer_list<std::pair<std::string_view, std::string*>> strings,
                 const std::string& requirement, const std::string& expected,
                 const std::function<bool(const std::string&, const YAML::Node&)>& other = {}) {
  for (auto f : m) {
    auto k = key_of(c, f.first);
    std::string* field = nullptr;
    for (const auto& [name, target] : strings)
      if (k == name) field = target;
    if (!field) {
      if (!other || !other(k, f.second))
        c.fail(f.first, section + ": unknown key '" + k + "' (expected " + expected + ")");
    } else if (!f.second.IsScalar() || f.second.Scalar().empty()) {
      c.fail(f.second, section + "." + k + " must be " + requirement);
    } else {
      *field = f.second.Scalar();
    }
  }
}

// tls: {certificate, key, ca}, optional passphrase.
void read_tls(checker& c, const YAML::Node& t, link_tls& out) {
  if (!t.IsMap()) {
    c.fail(t, "'tls' must be a mapping with certificate, key and ca");
    return;
  }
  read_fields(c, t, "tls",
              {{"certificate", &out.certificate}, {"key", &out.key}, {"ca", &out.ca}, {"passphrase", &out.passphrase}},
              "a path", "certificate, key, ca, passphrase");
  if (out.certificate.empty() || out.key.empty() || out.ca.empty())
    c.fail(t, "tls needs certificate, key and ca (every node presents its certificate and checks its peers' "
              "against the ca: mutual TLS)");
}

// redis: {path} or {host, port}, optional password and channel.
void read_redis(checker& c, const YAML::Node& r, redis_settings& out) {
  if (!r.IsMap()) {
    c.fail(r, "'redis' must be a mapping with path (a unix socket) or host and port");
    return;
  }
  bool has_port = false;
  read_fields(c, r, "redis",
              {{"path", &out.path}, {"host", &out.host}, {"password", &out.password}, {"channel", &out.channel}},
              "a non-empty string", "path, host, port, password, channel",
              [&](const std::string& k, const YAML::Node& v) {
                if (k != "port") return false;
                try {
                  out.port = v.as<uint16_t>();
                  has_port = out.port != 0;
                } catch (const YAML::Exception&) {
                }
                if (!has_port) c.fail(v, "redis.port must be a port number (1-65535)");
                return true;
              });
  if (!out.path.empty() && (!out.host.empty() || has_port))
    c.fail(r, "redis: give either path (a unix socket) or host and port, not both");
  else if (out.path.empty() && (out.host.empty() || !has_port))
    c.fail(r, "redis needs path (a unix socket) or host and port");
}

} // namespace

namespace {
placement parse_checked(const std::string& yaml_text, const std::string& origin);
}

placement parse_placement(const std::string& yaml_text, const std::string& origin) {
  try {
    return parse_checked(yaml_text, origin);
  } catch (const YAML::Exception& e) {
    // Whatever slipped past the checks below still names its line.
    throw config_error(origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

namespace {
placement parse_checked(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw config_error(origin + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  checker c{origin, {}};
  placement p;
  p.origin = origin;
  if (!root.IsMap()) throw config_error(origin + ": a placement file must be a mapping with 'nodes' and 'groups'");

  for (auto kv : root) {
    auto key = key_of(c, kv.first);
    if (key != "nodes" && key != "groups" && key != "shared_secret" && key != "tls" && key != "redis")
      c.fail(kv.first, "unknown key '" + key + "' (expected nodes, groups, shared_secret, tls, redis)");
  }
  if (auto s = root["shared_secret"]) {
    if (s.IsScalar()) p.shared_secret = s.Scalar();
    else c.fail(s, "'shared_secret' must be a string");
  }
  if (auto t = root["tls"]) read_tls(c, t, p.tls);
  if (auto r = root["redis"]) read_redis(c, r, p.redis);

  auto nodes = root["nodes"];
  std::set<std::string> nodes_with_host;   // the 127.0.0.1 default only suits a single node
  if (!nodes || !nodes.IsMap() || nodes.size() == 0) {
    c.fail(nodes ? nodes : root, "'nodes' must map at least one node name to its address");
  } else {
    for (auto kv : nodes) {
      node_spec n;
      n.name = key_of(c, kv.first);
      n.line = kv.first.Mark().line + 1;
      if (kv.second.IsMap()) {
        for (auto f : kv.second) {
          auto k = key_of(c, f.first);
          try {
            if (k == "host") {
              n.host = f.second.as<std::string>();
              nodes_with_host.insert(n.name);
            }
            else if (k == "port") n.port = f.second.as<uint16_t>();
            else if (k == "bind_address") n.bind_address = f.second.as<std::string>();
            else c.fail(f.first, "node '" + n.name + "': unknown key '" + k + "' (expected host, port, bind_address)");
          } catch (const YAML::Exception&) {
            c.fail(f.second, "node '" + n.name + "': bad value for '" + k + "'");
          }
        }
      } else if (!kv.second.IsNull()) {
        c.fail(kv.second, "node '" + n.name + "': expected a mapping {host, port, bind_address}");
      }
      if (p.find_node(n.name)) c.fail(kv.first, "node '" + n.name + "' is defined twice");
      p.nodes.push_back(n);
    }
  }

  if (p.redis.enabled() && p.nodes.size() < 2)
    c.fail(root["redis"], "redis is a fan-out bus between nodes: a single-node placement has nothing to fan out to");

  if (p.nodes.size() > 1) {
    std::map<std::pair<std::string, uint16_t>, std::string> endpoints;
    for (auto kv : nodes) {
      auto name = key_of(c, kv.first);
      const node_spec* n = p.find_node(name);
      if (!n) continue;
      if (n->port == 0) c.fail(kv.first, "node '" + name + "': a multi-node placement needs a link 'port'");
      if (!nodes_with_host.count(name) || n->host.empty())
        c.fail(kv.first, "node '" + name + "': a multi-node placement needs its 'host' (the address other nodes "
                         "reach it at)");
      else if (is_wildcard(n->host))
        c.fail(kv.first, "node '" + name + "': host " + n->host + " is not an address other nodes can reach (the "
                         "address to listen on is 'bind_address')");
      // localhost and 127.0.0.1 are one machine: compare them as one.
      std::string host = is_loopback(n->host) ? "127.0.0.1" : n->host;
      auto [it, fresh] = endpoints.emplace(std::make_pair(host, n->port), name);
      if (!fresh)
        c.fail(kv.first, "node '" + name + "': " + n->host + ":" + std::to_string(n->port) +
                             " is already used by node '" + it->second + "'");
    }
  }

  std::string default_node = p.nodes.empty() ? "main" : p.nodes.front().name;
  if (auto groups = root["groups"]) {
    if (!groups.IsMap()) {
      c.fail(groups, "'groups' must map group names to instance counts");
    } else {
      std::map<std::string, int> seen_at;   // yaml-cpp keeps duplicate keys; the file means one of them
      for (auto kv : groups) {
        auto name = key_of(c, kv.first);
        int line = kv.first.Mark().line + 1;
        if (auto [it, fresh] = seen_at.emplace(name, line); !fresh && !name.empty()) {
          c.fail(kv.first, "group '" + name + "' is listed twice (first on line " + std::to_string(it->second) + ")");
          continue;
        }
        const group_info* info = find_group(name);
        if (!info) {
          std::string known;
          for (const auto& g : known_groups()) known += (known.empty() ? "" : ", ") + g.name;
          c.fail(kv.first, "unknown group '" + name + "' (known groups: " + known + ")");
          continue;
        }
        std::vector<group_assignment> assignments;
        if (kv.second.IsSequence()) {
          for (auto item : kv.second) read_assignment(c, item, name, default_node, assignments);
        } else {
          read_assignment(c, kv.second, name, default_node, assignments);
        }
        size_t total = 0;
        for (const auto& a : assignments) {
          if (!p.find_node(a.node)) c.fail(kv.second, "group '" + name + "': unknown node '" + a.node + "'");
          total += a.instances;
        }
        if (info->singleton && total > 1)
          c.fail(kv.second, "group '" + name + "' is a singleton: it must have exactly one instance (has " +
                                std::to_string(total) + ")");
        if (info->kind == group_kind::writer && total == 0)
          c.fail(kv.second, "group '" + name + "' is a stream writer: it needs at least one instance");
        else if (info->singleton && total == 0)
          c.fail(kv.second, "group '" + name + "' is a singleton: it must have exactly one instance");
        p.groups[name] = std::move(assignments);
      }
    }
  }
  // Groups the file does not mention run once on the first node.
  for (const auto& g : known_groups())
    if (!p.groups.count(g.name)) p.groups[g.name] = {group_assignment{default_node, 1}};

  if (!c.problems.empty()) {
    std::string all;
    for (const auto& pr : c.problems) all += (all.empty() ? "" : "\n") + pr;
    throw config_error(all);
  }
  return p;
}
} // namespace

std::vector<std::string> listener_conflicts(const placement& p, const std::vector<listener_config>& listeners,
                                            const std::string& config_origin) {
  std::vector<std::string> out;
  for (const auto& n : p.nodes) {
    if (n.port == 0) continue;   // no link
    for (const auto& l : listeners) {
      if (!l.path.empty() || l.port != n.port) continue;
      for (const auto& a : l.bind_addresses)
        if (addresses_overlap(a, n.bind_address)) {
          out.push_back(p.origin + ":" + std::to_string(n.line) + ": node '" + n.name + "': link port " +
                        std::to_string(n.port) + " is also the port of a listener in " + config_origin + " (bound on " +
                        a + ")");
          break;
        }
    }
  }
  return out;
}

placement load_placement(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw config_error(path + ": cannot read placement file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_placement(ss.str(), path);
}

} // namespace myelin::runtime
