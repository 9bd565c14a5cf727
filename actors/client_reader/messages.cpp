// GET /rooms/{roomId}/messages (paginate the timeline both ways with "t<topo>_<stream>" tokens,
// limit, to, a RoomEventFilter with lazy-loaded members) and GET /rooms/{roomId}/context/{eventId}.
// Every event returned passes history visibility for the caller.
#include <boost/json.hpp>
#include <set>

#include "actors/client_reader/params.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/federation/backfill.hpp"
#include "common/config.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_filter.hpp"
#include "protocol/json.hpp"
#include "storage/tables/account_data.hpp"
#include "storage/tables/timeline.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using storage::events::event_row;
namespace timeline = storage::timeline;

namespace {

constexpr size_t max_limit = 1000;

protocol::room_event_filter filter_param(const api_request& req) {
  auto f = query_param(req, "filter");
  if (!f || f->empty() || (*f)[0] != '{') return {};  // a stored filter id: /sync's filters (issue 4)
  return protocol::parse_room_event_filter(*f);
}

// The member events of the senders in `events`, as of the state at `anchor` (lazy loading).
json::array member_state(storage::connection& c, const std::vector<event_row>& events, const event_row* anchor,
                         const rooms::viewer& v) {
  json::array out;
  if (!anchor || !anchor->state_group || events.empty()) return out;
  std::set<std::string> senders;
  for (const auto& e : events) senders.insert(e.sender);
  return rooms::client_events(c, storage::events::member_events_at(c, *anchor->state_group, senders), v);
}

// Pages until `limit` visible, wanted events are found or the room (or `to`) is exhausted.
struct page_result {
  std::vector<event_row> events;
  std::optional<timeline::point> next;  // where the next page starts; nullopt = no more
};

page_result paginate(storage::connection& c, const std::string& room_id, const std::string& user_id,
                     std::optional<timeline::point> from, std::optional<timeline::point> to, bool backwards,
                     size_t limit, const protocol::room_event_filter& filter) {
  page_result out;
  auto ignored = storage::account_data::ignored_users(c, {user_id})[user_id];
  auto cursor = from;
  auto past_to = [&](const event_row& e) {
    if (!to) return false;
    auto p = timeline::after(e);
    return backwards ? (p.topo < to->topo || (p.topo == to->topo && p.stream <= to->stream))
                     : (p.topo > to->topo || (p.topo == to->topo && p.stream > to->stream));
  };
  // Bounded: a user who left long ago must not make one request scan the whole room.
  for (int round = 0; round < 8 && out.events.size() < limit; ++round) {
    size_t batch = std::max<size_t>(limit * 2, 20);
    auto rows = timeline::page(c, room_id, cursor, backwards, batch);
    if (rows.empty()) return out;  // exhausted
    bool hit_to = false;
    std::vector<event_row> candidates;
    for (auto& e : rows) {
      if (past_to(e)) {
        hit_to = true;
        break;
      }
      candidates.push_back(std::move(e));
    }
    // Take candidates one by one so `next` points right after the last event we return.
    auto visible = rooms::filter_visible(c, room_id, user_id, candidates);
    // Messages of users the reader ignores are left out (their state events stay: they shape the room).
    std::erase_if(visible, [&](const event_row& e) { return !e.state_key && ignored.count(e.sender) > 0; });
    std::set<std::string> visible_ids;
    for (const auto& e : visible) visible_ids.insert(e.event_id);
    for (auto& e : candidates) {
      cursor = backwards ? timeline::before(e) : timeline::after(e);
      if (visible_ids.count(e.event_id) && rooms::matches_filter(filter, e)) out.events.push_back(std::move(e));
      if (out.events.size() >= limit) break;
    }
    if (hit_to) return out;
    if (rows.size() < batch && out.events.size() < limit) return out;  // exhausted
    out.next = cursor;
  }
  out.next = cursor;
  return out;
}

api_response messages(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  bool backwards = backwards_param(req);
  size_t limit = limit_param(req, 10, max_limit);
  auto filter = filter_param(req);
  if (filter.limit) limit = std::min<size_t>(limit, static_cast<size_t>(*filter.limit));

  // One page; nullopt when history has to be fetched from another server first.
  auto page_once = [&](bool may_backfill) -> std::optional<api_response> {
    auto c = ctx.db.acquire();
    auto room = rooms::require_room(*c, room_id);
    // Someone who was never in the room (and it is not world readable) learns nothing.
    rooms::readable_state_group(*c, room_id, req.user_id);
    auto from = room_token_param(req, "from", *c, room_id);
    auto to = room_token_param(req, "to", *c, room_id);
    rooms::viewer v{req.user_id, req.device_id};

    auto page = paginate(*c, room_id, req.user_id, from, to, backwards, limit, filter);
    // Paging back past what this server has of a room joined through another server: fetch the
    // history before it (once per request), then page again.
    if (may_backfill && backwards && !to && page.events.size() < limit) {
      auto points = federation::backfill_points(*c, room_id, ctx.config.server_name);
      if (!points.empty()) return std::optional<api_response>{};
    }
    json::object body;
    body["chunk"] = rooms::client_events(*c, page.events, v);
    // `start` echoes where we began; without `from` that is the room's end (b) or start (f).
    if (from) {
      body["start"] = timeline::to_token(*from);
    } else if (backwards) {
      auto latest = timeline::page(*c, room_id, std::nullopt, true, 1);
      body["start"] = timeline::to_token(latest.empty() ? timeline::point{} : timeline::after(latest[0]));
    } else {
      body["start"] = timeline::to_token(timeline::point{0, 0});
    }
    if (page.next && !page.events.empty()) body["end"] = timeline::to_token(*page.next);
    if (filter.lazy_load_members)
      body["state"] = member_state(*c, page.events, page.events.empty() ? nullptr : &page.events.back(), v);
    return std::optional<api_response>(runtime::json_response(body));
  };
  if (auto r = page_once(true)) return std::move(*r);
  {
    std::vector<std::string> points;
    {
      auto c = ctx.db.acquire();
      points = federation::backfill_points(*c, room_id, ctx.config.server_name);
    }
    federation::backfill(ctx, room_id, points, limit);
  }
  return std::move(*page_once(false));
}

api_response context(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  const auto& event_id = req.path_params.at(1);
  size_t limit = limit_param(req, 10, max_limit);
  auto filter = filter_param(req);
  auto c = ctx.db.acquire();
  rooms::require_room(*c, room_id);
  auto e = storage::events::get_event(*c, event_id);
  if (!e || e->room_id != room_id || !rooms::can_see_event(*c, req.user_id, *e))
    throw protocol::errors::not_found("Event not found");
  rooms::viewer v{req.user_id, req.device_id};
  size_t before_n = limit / 2, after_n = limit - before_n;
  auto before = paginate(*c, room_id, req.user_id, timeline::before(*e), std::nullopt, true, before_n, filter);
  auto after = paginate(*c, room_id, req.user_id, timeline::after(*e), std::nullopt, false, after_n, filter);

  json::object body;
  body["event"] = rooms::client_events(*c, {*e}, v).at(0);
  body["events_before"] = rooms::client_events(*c, before.events, v);
  body["events_after"] = rooms::client_events(*c, after.events, v);
  body["start"] = timeline::to_token(before.events.empty() ? timeline::before(*e) : timeline::before(before.events.back()));
  body["end"] = timeline::to_token(after.events.empty() ? timeline::after(*e) : timeline::after(after.events.back()));
  // State at the event: only the senders' members when lazy loading, else the whole state.
  std::vector<event_row> all = before.events;
  all.push_back(*e);
  all.insert(all.end(), after.events.begin(), after.events.end());
  if (filter.lazy_load_members) {
    body["state"] = member_state(*c, all, &*e, v);
  } else if (e->state_group) {
    std::vector<std::string> ids;
    for (const auto& [k, id] : storage::events::state_at_group(*c, *e->state_group)) ids.push_back(id);
    body["state"] = rooms::client_events(*c, storage::events::get_events(*c, ids), v);
  } else {
    body["state"] = json::array{};
  }
  return runtime::json_response(body);
}

} // namespace

void register_messages(runtime::endpoint_registry& r) {
  r.add({.name = "rooms.messages", .method = "GET", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/messages",
         .allow_guest = true, .affinity_param = "roomId"},
        messages);
  r.add({.name = "rooms.context", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/context/{eventId}", .allow_guest = true,
         .affinity_param = "roomId"},
        context);
}

} // namespace myelin::endpoints
