// GET /notifications (spec: client-server "Listing Notifications"): the events that notified the
// user (event_push_actions, written by the persisters), newest first, each with its actions, the
// room, when it happened and whether a read receipt already covers it. `from` continues after a
// previous page's `next_token`; `only=highlight` keeps the highlights.
#include <boost/json.hpp>
#include <unordered_map>

#include "actors/client_reader/params.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/json.hpp"
#include "storage/database.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/notifications.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace notifications = storage::notifications;

namespace {

constexpr size_t default_limit = 50;
constexpr size_t max_limit = 500;

api_response list(runtime::handler_context& ctx, const api_request& req) {
  std::optional<notifications::page_token> from;
  if (auto f = query_param(req, "from"); f && !f->empty()) {
    from = notifications::parse_page_token(*f);
    if (!from) throw protocol::errors::invalid_param("Invalid from token");
  }
  size_t limit = limit_param(req, default_limit, max_limit);
  bool only_highlight = query_param(req, "only") == "highlight";

  auto c = ctx.db.acquire();
  // One more than asked: whether it exists says if there is a next page.
  auto page = notifications::page(*c, req.user_id, from, only_highlight, limit + 1);
  bool more = page.size() > limit;
  if (more) page.resize(limit);

  std::vector<std::string> ids;
  for (const auto& n : page) ids.push_back(n.action.event_id);
  auto rows = storage::events::get_events(*c, ids);
  std::unordered_map<std::string, size_t> index;  // event id → position in rows / events
  for (size_t i = 0; i < rows.size(); ++i) index.emplace(rows[i].event_id, i);
  auto events = rooms::client_events(*c, rows, {req.user_id, req.device_id});

  json::array out;
  for (const auto& n : page) {
    auto it = index.find(n.action.event_id);
    if (it == index.end()) continue;
    auto event = events[it->second].as_object();
    event.erase("room_id");  // ClientEventWithoutRoomID
    json::value actions = protocol::parse_value(n.action.actions);
    out.push_back(json::object{{"actions", std::move(actions)},
                               {"event", std::move(event)},
                               {"read", n.read},
                               {"room_id", n.action.room_id},
                               {"ts", n.action.ts}});
  }
  json::object body{{"notifications", std::move(out)}};
  if (more) {
    const auto& last = page.back().action;
    body["next_token"] = notifications::to_string({last.ts, last.stream_ordering, last.persister});
  }
  return runtime::json_response(body);
}

} // namespace

void register_notifications(runtime::endpoint_registry& r) {
  r.add({.name = "notifications.list", .method = "GET", .path = "/_matrix/client/{:r0|v3}/notifications"}, list);
}

} // namespace myelin::endpoints
