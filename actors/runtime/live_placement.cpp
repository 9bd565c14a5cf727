#include "actors/runtime/live_placement.hpp"

#include <boost/json.hpp>

#include <stdexcept>

#include "actors/runtime/groups.hpp"
#include "protocol/crypto.hpp"

namespace myelin::runtime {

namespace json = boost::json;

std::string layout_text(const placement& p) {
  json::array nodes;
  for (const auto& n : p.nodes) nodes.push_back(json::array{json::string(n.name), json::string(n.host), n.port});
  json::object groups;
  for (const auto& [group, assignments] : p.groups) {
    json::array as;
    for (const auto& a : assignments) as.push_back(json::array{json::string(a.node), a.instances});
    groups[group] = std::move(as);
  }
  json::object o;
  o["nodes"] = std::move(nodes);
  o["tls"] = p.tls.enabled();
  o["groups"] = std::move(groups);
  return json::serialize(o);
}

std::string placement_digest(const placement& p) { return protocol::sha256_hex(layout_text(p)); }

placement layout_from_text(const std::string& text, const placement& base) {
  placement p;
  p.origin = base.origin;
  p.shared_secret = base.shared_secret;
  p.tls = base.tls;
  try {
    auto o = json::parse(text).as_object();
    if (o.at("tls").as_bool() != base.tls.enabled()) throw std::invalid_argument("the links' TLS setting differs");
    for (const auto& v : o.at("nodes").as_array()) {
      const auto& a = v.as_array();
      node_spec n;
      n.name = json::value_to<std::string>(a.at(0));
      n.host = json::value_to<std::string>(a.at(1));
      n.port = static_cast<uint16_t>(a.at(2).to_number<uint64_t>());
      if (const node_spec* known = base.find_node(n.name)) {
        n.bind_address = known->bind_address;
        n.line = known->line;
      }
      p.nodes.push_back(std::move(n));
    }
    for (const auto& [group, v] : o.at("groups").as_object()) {
      if (!find_group(group)) throw std::invalid_argument("unknown group " + std::string(group));
      auto& out = p.groups[std::string(group)];
      for (const auto& av : v.as_array()) {
        const auto& a = av.as_array();
        group_assignment ga{json::value_to<std::string>(a.at(0)), static_cast<size_t>(a.at(1).to_number<uint64_t>())};
        if (!p.find_node(ga.node)) throw std::invalid_argument("group " + std::string(group) + " names an unknown node");
        out.push_back(std::move(ga));
      }
    }
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("malformed placement layout: ") + e.what());
  }
  return p;
}

namespace {

// The node of each instance of a group, in instance-number order.
std::vector<std::string> instance_nodes(const placement& p, const std::string& group) {
  std::vector<std::string> out;
  if (auto it = p.groups.find(group); it != p.groups.end())
    for (const auto& a : it->second) out.insert(out.end(), a.instances, a.node);
  return out;
}

// Groups whose instance count may change under running traffic: any instance serves any request
// (round robin), or a user's requests merely move to another instance (sync, keys keep no state a
// moved user needs). Room-affinity groups and persisters decide who orders a room's events.
bool may_grow(const group_info& g) {
  return g.kind == group_kind::api && (g.balance == balance_policy::round_robin || g.balance == balance_policy::user);
}

} // namespace

std::string growth_problem(const placement& from, const placement& to) {
  if (from.tls.enabled() != to.tls.enabled()) return "the links' TLS setting differs";
  if (to.nodes.size() < from.nodes.size()) return "it has fewer nodes (removing a node needs a restart of every node)";
  for (size_t i = 0; i < from.nodes.size(); ++i) {
    const auto &a = from.nodes[i], &b = to.nodes[i];
    if (a.name != b.name || a.host != b.host || a.port != b.port)
      return "node '" + a.name + "' differs or moved (new nodes may only be appended to the node list)";
  }
  for (const auto& g : known_groups()) {
    auto old_nodes = instance_nodes(from, g.name), new_nodes = instance_nodes(to, g.name);
    if (old_nodes == new_nodes) continue;
    if (!may_grow(g))
      return "group '" + g.name + "' changed (only stateless or user-affinity groups may change while running)";
    if (new_nodes.size() < old_nodes.size() || !std::equal(old_nodes.begin(), old_nodes.end(), new_nodes.begin()))
      return "group '" + g.name + "' is renumbered (new instances may only come after the existing ones)";
  }
  return {};
}

live_placement::live_placement(placement initial)
    : current_(std::make_shared<const placement>(std::move(initial))),
      text_(layout_text(*current_)),
      digest_(protocol::sha256_hex(text_)) {}

std::shared_ptr<const placement> live_placement::get() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::string live_placement::text() const {
  std::lock_guard lock(mu_);
  return text_;
}

std::string live_placement::digest() const {
  std::lock_guard lock(mu_);
  return digest_;
}

std::shared_ptr<const placement> live_placement::grow(const placement& newer, std::string& why) {
  std::lock_guard lock(mu_);
  why = growth_problem(*current_, newer);
  if (!why.empty()) return nullptr;
  auto previous = current_;
  current_ = std::make_shared<const placement>(newer);
  text_ = layout_text(*current_);
  digest_ = protocol::sha256_hex(text_);
  return previous;
}

} // namespace myelin::runtime
