#include "actors/federation/backfill.hpp"

#include <boost/json.hpp>

#include "actors/federation/federation.hpp"
#include "actors/federation/room_events.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/events.hpp"

namespace myelin::federation {

namespace json = boost::json;

std::vector<std::string> backfill_points(storage::connection& c, const std::string& room_id,
                                         const std::string& own_server_name) {
  auto r = c.exec("SELECT json FROM events WHERE room_id = $1 AND stream_ordering > 0 "
                  "ORDER BY topological_ordering, stream_ordering LIMIT 1",
                  {room_id});
  if (r.empty()) return {};
  auto pdu = json::parse(r[0].as_text(0)).as_object();
  std::vector<std::string> prevs;
  if (auto* p = pdu.if_contains("prev_events"); p && p->is_array())
    for (const auto& id : p->as_array())
      if (id.is_string()) prevs.emplace_back(id.as_string());
  std::vector<std::string> out;
  for (const auto& id : prevs) {
    auto e = storage::events::get_event(c, id);
    if (!e || e->stream_ordering < 0) out.push_back(id);
  }
  if (!out.empty()) {
    bool others = false;
    for (const auto& s : servers_in_room(c, room_id)) others = others || s != own_server_name;
    if (!others) return {};
  }
  return out;
}

bool backfill(runtime::handler_context& ctx, const std::string& room_id, const std::vector<std::string>& points,
              size_t limit) {
  std::vector<std::string> servers;
  const protocol::room_version* version = nullptr;
  {
    auto c = ctx.db.acquire();
    version = &room_version_of(*c, room_id);
    for (const auto& s : servers_in_room(*c, room_id))
      if (s != ctx.config.server_name) servers.push_back(s);
  }
  std::string query = "?limit=" + std::to_string(std::clamp<size_t>(limit, 1, 100));
  for (const auto& p : points) query += "&v=" + protocol::percent_encode(p);
  for (const auto& server : servers) {
    json::value answer;
    try {
      answer = request(ctx, server, "GET", "/_matrix/federation/v1/backfill/" + protocol::percent_encode(room_id) + query,
                       nullptr, std::chrono::seconds(10));
    } catch (const protocol::matrix_error& e) {
      ctx.log.info("backfill failed", {{"server", server}, {"room_id", room_id}, {"error", e.what()}});
      continue;
    }
    auto* pdus = answer.is_object() ? answer.as_object().if_contains("pdus") : nullptr;
    if (!pdus || !pdus->is_array()) continue;
    auto entries = checked_entries(ctx, *version, pdus->as_array());
    json::object args{{"room_id", room_id}, {"events", entries}};
    auto r = protocol::parse_object(ctx.writers.write("events", room_id, "store_backfill", args).result);
    // Events whose auth events are unknown here: their auth chains, then once more.
    if (auto* missing = r.if_contains("missing_auth"); missing && missing->is_array() && !missing->as_array().empty()) {
      for (const auto& id : missing->as_array()) {
        try {
          auto chain = request(ctx, server, "GET",
                               "/_matrix/federation/v1/event_auth/" + protocol::percent_encode(room_id) + "/" +
                                   protocol::percent_encode(std::string(id.as_string())),
                               nullptr, std::chrono::seconds(10));
          if (auto* list = chain.is_object() ? chain.as_object().if_contains("auth_chain") : nullptr;
              list && list->is_array())
            ctx.writers.write("events", room_id, "persist_outliers",
                              json::object{{"room_id", room_id}, {"events", checked_entries(ctx, *version, list->as_array())}});
        } catch (const protocol::matrix_error&) {
        }
      }
      ctx.writers.write("events", room_id, "store_backfill", args);
    }
    return true;
  }
  return false;
}

} // namespace myelin::federation
