// GET /_myelin/admin/v1/cluster (server admins only): the cluster as the node serving it sees it —
// every node of the placement with the health of its link to this node, every group's instances
// with where they run and whether they are reachable from here, and every stream writer's position
// (committed in the database, and published to this node: a gap that stays means this node is
// behind). Served by `main`, like Synapse's admin API.
#include <boost/json.hpp>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/groups.hpp"
#include "actors/runtime/instance_registry.hpp"
#include "actors/runtime/live_placement.hpp"
#include "actors/runtime/node_link.hpp"
#include "actors/runtime/node_views.hpp"
#include "actors/runtime/placement.hpp"
#include "actors/runtime/redis_bus.hpp"
#include "actors/runtime/stream_writer.hpp"
#include "protocol/errors.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;

namespace {

json::array nodes_json(const runtime::cluster_view& cv, const runtime::placement& layout) {
  std::vector<runtime::peer_link_status> links;
  if (cv.links) links = cv.links->status();
  json::array out;
  for (const auto& n : layout.nodes) {
    json::object node{{"name", n.name}, {"self", n.name == cv.node}};
    if (n.port) node["address"] = n.host + ":" + std::to_string(n.port);
    for (const auto& l : links) {
      if (l.peer != n.name) continue;
      node["link"] = json::object{{"state", l.linked ? "linked" : "down"},
                                  {"inbound", l.inbound},
                                  {"changed_ms", l.changed_ms},
                                  {"links", l.links},
                                  {"failed_attempts", l.failed_attempts},
                                  {"refused", l.refused},
                                  {"last_error", l.last_error}};
    }
    out.push_back(std::move(node));
  }
  return out;
}

json::array groups_json(const runtime::cluster_view& cv, const runtime::placement& layout) {
  json::array out;
  for (const auto& g : runtime::known_groups()) {
    auto total = layout.total_instances(g.name);
    if (total == 0) continue;
    auto refs = cv.registry->all(g.name);
    json::array instances;
    size_t available = 0;
    for (size_t i = 0; i < total; ++i) {
      bool up = i < refs.size() && refs[i].handle;
      available += up;
      instances.push_back(json::object{{"instance", runtime::instance_label(g.name, i)},
                                       {"node", layout.node_of(g.name, i)},
                                       {"available", up}});
    }
    // Idle groups (federation_sender, appservice, background: no work yet) start no instances:
    // listed, never available.
    const char* kind = g.kind == runtime::group_kind::writer ? "stream_writer"
                       : g.kind == runtime::group_kind::api  ? "api"
                                                             : "background";
    out.push_back(json::object{{"name", g.name},
                               {"kind", kind},
                               {"instances", std::move(instances)},
                               {"available", available},
                               {"total", total}});
  }
  return out;
}

// out[stream][writer], created empty when missing.
json::object& writer_entry(json::object& out, const std::string& stream, const std::string& writer) {
  auto& s = out[stream];
  if (!s.is_object()) s = json::object{};
  auto& w = s.as_object()[writer];
  if (!w.is_object()) w = json::object{};
  return w.as_object();
}

json::object streams_json(runtime::handler_context& ctx) {
  json::object out;
  for (const auto& p : runtime::load_all_stream_positions(ctx.db))
    writer_entry(out, p.stream, p.writer)["committed"] = p.position;
  for (const auto& [stream, writers] : ctx.views->positions.snapshot())
    for (const auto& [writer, position] : writers) writer_entry(out, stream, writer)["published_here"] = position;
  return out;
}

// The Redis fan-out as this node sees it (the node serving the request, i.e. main's).
json::object redis_json(const runtime::cluster_view& cv) {
  if (!cv.redis) return json::object{{"configured", false}};
  auto s = cv.redis->status();
  json::object peers;
  for (const auto& [peer, subscribed] : s.peers) peers[peer] = json::object{{"subscribed", subscribed}};
  return json::object{{"configured", true},
                      {"address", s.address},
                      {"channel", s.channel},
                      {"publisher", s.publisher_up ? "up" : "down"},
                      {"subscriber", s.subscriber_up ? "subscribed" : "down"},
                      {"published", s.published},
                      {"received", s.received},
                      {"returned", s.returned},
                      {"failures", s.failures},
                      {"catch_ups", s.catch_ups},
                      {"last_error", s.last_error},
                      {"changed_ms", s.changed_ms},
                      {"peers", std::move(peers)}};
}

} // namespace

void register_cluster_status(runtime::endpoint_registry& r) {
  r.add({.name = "admin.cluster", .method = "GET", .path = "/_myelin/admin/v1/cluster"},
        [](runtime::handler_context& ctx, const api_request& req) {
          admin::require_admin(ctx, req);
          if (!ctx.views || !ctx.views->cluster.layout) throw errors::unknown("cluster status is not available");
          const auto& cv = ctx.views->cluster;
          auto layout = cv.layout->get();  // one snapshot: the placement may grow meanwhile
          return runtime::json_response(json::object{
              {"node", cv.node},
              {"answered_by", ctx.instance},
              {"multi_node", layout->multi_node()},
              {"placement", layout->origin.empty() ? json::value(nullptr) : json::value(layout->origin)},
              {"layout_digest", cv.layout->digest()},
              {"started_ms", cv.started_ms},
              {"nodes", nodes_json(cv, *layout)},
              {"groups", groups_json(cv, *layout)},
              {"streams", streams_json(ctx)},
              {"redis", redis_json(cv)},
          });
        });
}

} // namespace myelin::endpoints
