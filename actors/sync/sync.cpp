// GET /sync: parameters, the token window, and the top-level sections (account data, presence,
// to-device, device lists and key counts); the rooms are in sync_rooms.cpp. The long-poll around this lives in
// the sync instance actor (sync_instance.cpp): the handler registered here computes once.
#include "actors/sync/sync.hpp"

#include <charconv>

#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/node_views.hpp"
#include "actors/runtime/writer_client.hpp"
#include "actors/sync/sync_context.hpp"
#include "protocol/errors.hpp"
#include "common/clock.hpp"
#include "protocol/json.hpp"
#include "storage/tables/account_data.hpp"
#include "storage/tables/device_lists.hpp"
#include "storage/tables/e2e_keys.hpp"
#include "storage/tables/filters.hpp"
#include "storage/tables/presence.hpp"
#include "storage/tables/to_device.hpp"

namespace myelin::sync {

namespace json = boost::json;
using storage::events::event_row;

uint32_t writer_index(const std::string& label) {
  auto slash = label.rfind('/');
  if (slash == std::string::npos) return 0;
  uint32_t n = 0;
  std::from_chars(label.data() + slash + 1, label.data() + label.size(), n);
  return n;
}

int64_t parse_timeout(const api_request& req) {
  auto t = endpoints::query_param(req, "timeout");
  if (!t || t->empty()) return 0;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(t->data(), t->data() + t->size(), v);
  if (ec != std::errc{} || ptr != t->data() + t->size() || v < 0)
    throw protocol::errors::invalid_param("timeout must be a non-negative integer");
  return std::min(v, max_timeout_ms);
}

sync_params parse_sync_params(const api_request& req) {
  sync_params p;
  if (auto since = endpoints::query_param(req, "since"); since && !since->empty()) {
    p.since = protocol::parse_sync_token(*since);
    if (!p.since) throw protocol::errors::invalid_param("Invalid since token");
  }
  p.timeout_ms = parse_timeout(req);
  if (auto fs = endpoints::query_param(req, "full_state")) {
    if (*fs != "true" && *fs != "false") throw protocol::errors::invalid_param("full_state must be 'true' or 'false'");
    p.full_state = *fs == "true";
  }
  if (auto sp = endpoints::query_param(req, "set_presence")) {
    if (*sp != "online" && *sp != "unavailable" && *sp != "offline")
      throw protocol::errors::invalid_param("set_presence must be online, unavailable or offline");
    p.set_presence = *sp;
  }
  if (auto f = endpoints::query_param(req, "filter"); f && !f->empty()) p.filter = *f;
  return p;
}

protocol::sync_token current_token(const runtime::handler_context& ctx,
                                   const std::optional<protocol::sync_token>& since) {
  protocol::sync_token t;
  if (ctx.views) {
    const auto& streams = protocol::sync_token_streams();
    for (const auto& [stream, writers] : ctx.views->positions.snapshot()) {
      if (!streams.count(stream)) continue;
      for (const auto& [label, position] : writers) t.set(stream, writer_index(label), position);
    }
  }
  if (since)
    for (const auto& [stream, writers] : since->positions)
      for (const auto& [w, p] : writers)
        if (p > t.get(stream, w)) t.set(stream, w, p);
  return t;
}

namespace {

// The filter: inline JSON or the id of one the user stored (POST /user/{userId}/filter).
protocol::filter load_filter(storage::connection& c, const std::string& user_id, const std::optional<std::string>& text,
                             bool& unread_thread_notifications) {
  if (!text) return {};
  json::object o;
  if ((*text)[0] == '{') {
    o = protocol::parse_object(*text);
  } else {
    auto stored = storage::filters::get(c, user_id, *text);
    if (!stored) throw protocol::errors::invalid_param("No such filter");
    o = protocol::parse_object(*stored);
  }
  auto f = protocol::parse_filter(o);
  if (auto* room = o.if_contains("room"); room && room->is_object())
    if (auto* tl = room->as_object().if_contains("timeline"); tl && tl->is_object())
      if (auto* u = tl->as_object().if_contains("unread_thread_notifications"); u && u->is_bool())
        unread_thread_notifications = u->as_bool();
  return f;
}

json::object global_account_data(sync_context& s, bool& any) {
  auto r = s.c.exec(
      "SELECT type, content FROM account_data WHERE user_id = $1 AND room_id = '' AND position <= $2 AND position > $3",
      {s.viewer.user_id, s.upto_of("account_data"), s.since_of("account_data")});
  json::array events;
  for (size_t i = 0; i < r.size(); ++i)
    if (rooms::matches_filter(s.filter.account_data, event_row{.type = r[i].as_text(0), .sender = s.viewer.user_id}))
      events.push_back(json::object{{"type", r[i].as_text(0)}, {"content", protocol::parse_value(r[i].as_text(1))}});
  any |= !events.empty();
  return json::object{{"events", std::move(events)}};
}

// The to_device section: when cut at max_messages_per_sync, the token's to_device position stops at
// the last message sent so the next sync continues there.
json::object to_device_section(sync_context& s, protocol::sync_token& upto, bool& any) {
  auto batch = to_device_messages(s, s.since_of("to_device"), s.upto_of("to_device"),
                                  storage::to_device::max_messages_per_sync);
  if (batch.next < s.upto_of("to_device")) upto.set("to_device", 0, batch.next);
  any |= !batch.events.empty();
  return json::object{{"events", std::move(batch.events)}};
}

// Presence of the users sharing a room with the syncing user (and their own), changed in the window.
json::object presence_section(sync_context& s, bool& any) {
  json::array events;
  int64_t now = now_ms();
  for (const auto& p : storage::presence::changed_for_viewer(s.c, s.viewer.user_id, s.since_of("presence"),
                                                             s.upto_of("presence"))) {
    if (s.ignored.count(p.user_id)) continue;
    if (!rooms::matches_filter(s.filter.presence, event_row{.type = "m.presence", .sender = p.user_id})) continue;
    events.push_back(storage::presence::presence_event(p, now));
  }
  any |= !events.empty();
  return json::object{{"events", std::move(events)}};
}

// Whose keys the client should fetch again, and whom it no longer shares a room with (incremental
// syncs only: after an initial sync the client queries every member it tracks).
json::object device_lists_section(sync_context& s, bool& any) {
  storage::device_lists::changes found;
  if (!s.initial())
    found = storage::device_lists::changes_for_viewer(s.c, s.viewer.user_id, s.since_of("device_lists"),
                                                      s.upto_of("device_lists"), s.window);
  any |= !found.changed.empty() || !found.left.empty();
  return storage::device_lists::to_json(found);
}

} // namespace

to_device_batch to_device_messages(sync_context& s, int64_t since, int64_t upto, size_t limit) {
  namespace td = storage::to_device;
  to_device_batch out;
  out.next = upto;
  const auto& device = s.viewer.device_id;
  if (device.empty()) return out;
  auto msgs = td::pending(s.c, s.viewer.user_id, device, since, upto, limit);
  if (msgs.size() >= limit) out.next = msgs.back().position;
  for (const auto& m : msgs) out.events.push_back(td::client_event(m));
  if (since > 0 && !td::pending(s.c, s.viewer.user_id, device, 0, since, 1).empty())
    s.ctx.writers.send("to_device", s.viewer.user_id, "ack",
                       json::object{{"user_id", s.viewer.user_id}, {"device_id", device}, {"upto", since}});
  return out;
}

// The syncing device's unclaimed one-time keys (signed_curve25519 always present, as clients
// expect) and the algorithms of its fallback keys not used yet.
void add_key_counts(sync_context& s, json::object& body) {
  json::object counts{{"signed_curve25519", 0}};
  json::array unused;
  if (const auto& device = s.viewer.device_id; !device.empty()) {
    counts = storage::e2e_keys::one_time_key_counts_json(s.c, s.viewer.user_id, device);
    for (auto& algorithm : storage::e2e_keys::unused_fallback_key_types(s.c, s.viewer.user_id, device))
      unused.emplace_back(algorithm);
  }
  body["device_one_time_keys_count"] = std::move(counts);
  body["device_unused_fallback_key_types"] = std::move(unused);
}

void sync_context::apply_event_fields(json::object& event) const {
  if (!filter.event_fields) return;
  json::object out;
  for (const auto& field : *filter.event_fields) {
    // Dotted paths; "\." is a literal dot in a key.
    std::vector<std::string> path{""};
    for (size_t i = 0; i < field.size(); ++i) {
      if (field[i] == '\\' && i + 1 < field.size() && field[i + 1] == '.') path.back() += field[++i];
      else if (field[i] == '.') path.emplace_back();
      else path.back() += field[i];
    }
    const json::value* v = nullptr;
    const json::object* at = &event;
    for (size_t i = 0; i < path.size() && at; ++i) {
      v = at->if_contains(path[i]);
      if (!v) break;
      at = i + 1 < path.size() ? v->if_object() : nullptr;
    }
    if (!v) continue;
    json::object* dst = &out;
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      auto& next = (*dst)[path[i]];
      if (!next.is_object()) next = json::object{};
      dst = &next.as_object();
    }
    (*dst)[path.back()] = *v;
  }
  event = std::move(out);
}

json::array sync_context::format_events(const std::vector<event_row>& events) const {
  json::array out;
  if (filter.event_format == "federation") {
    for (const auto& e : events) out.push_back(protocol::parse_value(e.json));
  } else {
    out = rooms::client_events(c, events, viewer);
    // In /sync the room is the key the events sit under (spec: ClientEventWithoutRoomID).
    for (auto& e : out) e.as_object().erase("room_id");
  }
  if (filter.event_fields)
    for (auto& e : out) apply_event_fields(e.as_object());
  return out;
}

sync_outcome compute_sync(runtime::handler_context& ctx, const api_request& req, const sync_params& params,
                          const protocol::sync_token& upto) {
  auto conn = ctx.db.acquire();
  const protocol::sync_token* since = params.since ? &*params.since : nullptr;
  sync_context s{.ctx = ctx,
                 .c = *conn,
                 .req = req,
                 .params = params,
                 .viewer = rooms::viewer{req.user_id, req.device_id},
                 .since = since,
                 .upto = upto};
  s.filter = load_filter(*conn, req.user_id, params.filter, s.unread_thread_notifications);
  s.window = rooms::events_window(since, upto);
  s.everything = rooms::events_window(nullptr, upto);
  s.ignored = storage::account_data::ignored_users(*conn, {req.user_id})[req.user_id];

  sync_outcome out;
  out.upto = upto;
  out.interest.user_id = req.user_id;
  bool any = false;
  json::object body;
  body["rooms"] = rooms_section(s, out.interest, any);
  body["account_data"] = global_account_data(s, any);
  body["presence"] = presence_section(s, any);
  body["to_device"] = to_device_section(s, out.upto, any);
  body["device_lists"] = device_lists_section(s, any);
  add_key_counts(s, body);
  body["next_batch"] = protocol::format_sync_token(out.upto);
  out.empty = !any;
  out.response = runtime::json_response(body);
  return out;
}

const long_poll_endpoint* long_poll_for(const std::string& endpoint_name) {
  static const long_poll_endpoint sync_endpoint{parse_sync_params, compute_sync};
  static const long_poll_endpoint events_endpoint{parse_events_params, compute_events};
  static const long_poll_endpoint sliding_endpoint{parse_sliding_params, compute_sliding};
  if (endpoint_name == "sync") return &sync_endpoint;
  if (endpoint_name == "sliding_sync") return &sliding_endpoint;
  if (endpoint_name == "events") return &events_endpoint;
  return nullptr;
}

} // namespace myelin::sync

namespace myelin::endpoints {

void register_sync(runtime::endpoint_registry& r) {
  r.add({.name = "sync", .method = "GET", .path = "/_matrix/client/{:r0|v3}/sync", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          // One computation without waiting; the sync instance adds the long-poll.
          auto params = sync::parse_sync_params(req);
          return sync::compute_sync(ctx, req, params, sync::current_token(ctx, params.since)).response;
        });
}

} // namespace myelin::endpoints
