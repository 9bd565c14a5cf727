// The rooms part of /sync: join (timeline, state, ephemeral, account data, summary, unread counts),
// invite (stripped state), leave and knock. Spec: client-server "Syncing".
//
// Which rooms appear: an initial sync lists every room (left ones only with include_leave); an
// incremental one lists the rooms where something the user can see changed inside the token
// window — events, typing, receipts, room account data — plus rooms whose membership changed.
#include <algorithm>
#include <map>

#include "actors/runtime/node_views.hpp"
#include "actors/sync/sync_context.hpp"
#include "common/clock.hpp"
#include "protocol/json.hpp"
#include "storage/tables/notifications.hpp"
#include "storage/tables/receipts.hpp"
#include "storage/tables/timeline.hpp"

namespace myelin::sync {

namespace json = boost::json;
using storage::events::event_row;
using storage::room_sync::membership;
using storage::room_sync::window;
namespace timeline = storage::timeline;
namespace events = storage::events;

namespace {

constexpr size_t default_timeline_limit = 10;
constexpr size_t max_timeline_limit = 1000;
constexpr size_t max_heroes = 5;

// The state a client is shown before an invite or knock is accepted (Synapse's room_prejoin_state).
const std::vector<std::string> stripped_state_types = {"m.room.create",  "m.room.join_rules", "m.room.name",
                                                       "m.room.avatar",  "m.room.canonical_alias",
                                                       "m.room.encryption", "m.room.topic"};

json::object stripped(const event_row& e) {
  auto pdu = protocol::parse_object(e.json);
  json::object out{{"type", e.type}, {"state_key", e.state_key.value_or("")}, {"sender", e.sender}};
  if (auto* c = pdu.if_contains("content"); c && c->is_object()) out["content"] = *c;
  else out["content"] = json::object{};
  return out;
}

} // namespace

window ending_at(const window& w, const event_row& last) {
  window out = w;
  for (auto& [persister, range] : out.by_persister)
    if (persister == last.persister) range.second = std::min(range.second, last.stream_ordering);
  return out;
}

namespace {

// One try at the newest `limit` events of the window from the newest `fetch` rows; nullopt when
// the rows were not enough to fill the limit and more exist.
std::optional<timeline_result> timeline_from(sync_context& s, const std::string& room_id, const window& w,
                                             size_t limit, size_t fetch, bool last_try) {
  const auto& f = s.filter.room.timeline;
  auto rows = storage::room_sync::newest_in_window(s.c, room_id, w, fetch);
  timeline_result out;
  if (rows.empty()) return out;
  bool capped = rows.size() == fetch;
  auto visible = rooms::filter_visible(s.c, room_id, s.viewer.user_id, rows);
  size_t taken_through = 0;  // how many of `visible` (newest first) were looked at
  for (auto& e : visible) {
    if (out.events.size() >= limit) break;
    ++taken_through;
    bool ignored = !e.state_key && s.ignored.count(e.sender) && e.sender != s.viewer.user_id;
    if (!ignored && rooms::matches_filter(f, e)) out.events.push_back(std::move(e));
  }
  if (out.events.size() < limit && capped && !last_try) return std::nullopt;
  // A gap: visible events were left out below the ones returned, or the fetch itself was cut.
  out.limited = taken_through < visible.size() || capped || (out.events.size() >= limit && visible.size() < rows.size());
  std::reverse(out.events.begin(), out.events.end());
  return out;
}

} // namespace

timeline_result load_timeline(sync_context& s, const std::string& room_id, const window& w, size_t limit) {
  // Most timelines are all visible and unfiltered: limit + 1 rows fill the limit and show whether
  // there is more. Visibility costs a state lookup per state group, so only a timeline that hides
  // or filters events reads the larger window.
  if (auto quick = timeline_from(s, room_id, w, limit, limit + 1, /*last_try=*/false)) return std::move(*quick);
  return *timeline_from(s, room_id, w, limit, limit * 2 + 10, /*last_try=*/true);
}

namespace {

size_t filter_timeline_limit(const sync_context& s) {
  const auto& f = s.filter.room.timeline;
  return f.limit ? static_cast<size_t>(std::clamp<int64_t>(*f.limit, 0, max_timeline_limit)) : default_timeline_limit;
}

// The state group in force just before `e` (the previous event's), nullopt at the room's start.
std::optional<int64_t> state_before(sync_context& s, const event_row& e) {
  auto prev = timeline::page(s.c, e.room_id, timeline::before(e), /*backwards=*/true, 1);
  if (prev.empty()) return std::nullopt;
  return prev[0].state_group;
}

std::optional<int64_t> state_group_at(sync_context& s, const std::string& room_id, const window& w) {
  auto last = storage::room_sync::last_in_window(s.c, room_id, w);
  if (!last) return std::nullopt;
  return last->state_group;
}

// The state entries to send: all of `at` (full) or those that differ from `base` (a gap), without
// events already in the timeline, filtered by the state filter and lazy loading.
std::vector<event_row> state_entries(sync_context& s, std::optional<int64_t> at, std::optional<int64_t> base,
                                     bool full, const timeline_result& tl) {
  if (!at) return {};
  auto now = events::state_at_group(s.c, *at);
  events::state_ids before;
  if (!full && base) before = events::state_at_group(s.c, *base);
  const auto& f = s.filter.room.state;
  bool lazy = f.lazy_load_members || s.filter.room.timeline.lazy_load_members;
  std::set<std::string> senders{s.viewer.user_id};
  for (const auto& e : tl.events) senders.insert(e.sender);
  std::set<std::string> in_timeline;
  for (const auto& e : tl.events) in_timeline.insert(e.event_id);
  std::vector<std::string> ids;
  for (const auto& [key, id] : now) {
    if (!full) {
      auto it = before.find(key);
      if (it != before.end() && it->second == id) continue;
    }
    if (in_timeline.count(id)) continue;
    if (lazy && key.first == "m.room.member" && !senders.count(key.second)) continue;
    ids.push_back(id);
  }
  auto rows = events::get_events(s.c, ids);
  std::vector<event_row> out;
  for (auto& e : rows)
    if (rooms::matches_filter(f, e)) out.push_back(std::move(e));
  return out;
}

// m.heroes and member counts (spec: "summary"); heroes only matter for rooms without a name.
json::object room_summary(sync_context& s, const std::string& room_id) {
  auto m = room_members(s, room_id);
  json::object out{{"m.joined_member_count", m.joined}, {"m.invited_member_count", m.invited}};
  if (!m.named) {
    json::array heroes;
    for (auto& h : m.heroes) heroes.emplace_back(h);
    out["m.heroes"] = std::move(heroes);
  }
  return out;
}

// Room account data changed in the window (all of it for a full room), by room.
std::map<std::string, json::array> room_account_data(sync_context& s) {
  auto r = s.c.exec(
      "SELECT room_id, type, content FROM account_data WHERE user_id = $1 AND room_id <> '' AND position <= $2 "
      "AND position > $3",
      {s.viewer.user_id, s.upto_of("account_data"), s.since_of("account_data")});
  std::map<std::string, json::array> out;
  for (size_t i = 0; i < r.size(); ++i) {
    json::object ev{{"type", r[i].as_text(1)}, {"content", protocol::parse_value(r[i].as_text(2))}};
    if (rooms::matches_filter(s.filter.room.account_data, event_row{.room_id = r[i].as_text(0),
                                                                     .type = r[i].as_text(1),
                                                                     .sender = s.viewer.user_id}))
      out[r[i].as_text(0)].push_back(std::move(ev));
  }
  return out;
}

json::array all_room_account_data(sync_context& s, const std::string& room_id) {
  auto r = s.c.exec("SELECT type, content FROM account_data WHERE user_id = $1 AND room_id = $2 AND position <= $3",
                    {s.viewer.user_id, room_id, s.upto_of("account_data")});
  json::array out;
  for (size_t i = 0; i < r.size(); ++i)
    if (rooms::matches_filter(s.filter.room.account_data,
                              event_row{.room_id = room_id, .type = r[i].as_text(0), .sender = s.viewer.user_id}))
      out.push_back(json::object{{"type", r[i].as_text(0)}, {"content", protocol::parse_value(r[i].as_text(1))}});
  return out;
}

struct room_build {
  const membership& m;
  bool full = false;                       // initial, newly joined or full_state: whole state
  window w;                                // the timeline window
  const std::map<std::string, json::array>* account_data = nullptr;
  const std::map<std::string, json::object>* receipts = nullptr;
};

// The body of rooms.join[room] / rooms.leave[room]; `changed` says whether anything is in it.
json::object joined_or_left_room(sync_context& s, const room_build& b, bool joined, bool& changed) {
  const auto& room_id = b.m.room_id;
  auto tl = load_timeline(s, room_id, b.w, filter_timeline_limit(s));

  std::optional<int64_t> at;
  if (!tl.events.empty()) at = state_before(s, tl.events.front());
  else at = state_group_at(s, room_id, b.w.by_persister.empty() ? s.everything : b.w);
  if (tl.events.empty() && !b.full) at.reset();  // nothing new in the room: no state either
  std::optional<int64_t> base;
  bool send_state = b.full || tl.limited;
  if (!b.full && tl.limited && s.since) {
    window upto_since = s.everything;
    for (auto& [persister, range] : upto_since.by_persister) range.second = s.since->get("events", writer_index(persister));
    base = state_group_at(s, room_id, upto_since);
  }
  std::vector<event_row> state;
  if (send_state) state = state_entries(s, at, base, b.full || !base, tl);
  else if (s.filter.room.state.lazy_load_members || s.filter.room.timeline.lazy_load_members) {
    // Lazy loading: the members of the timeline's senders, as of the timeline's start.
    if (!tl.events.empty()) {
      std::set<std::string> senders;
      for (const auto& e : tl.events)
        if (e.type != "m.room.member" || e.state_key != e.sender) senders.insert(e.sender);
      if (at) state = events::member_events_at(s.c, *at, senders);
    }
  }

  json::object room;
  json::object tl_json{{"events", s.format_events(tl.events)}, {"limited", tl.limited}};
  if (!tl.events.empty()) {
    tl_json["prev_batch"] = timeline::to_token(timeline::before(tl.events.front()));
  } else if (auto last = storage::room_sync::last_in_window(s.c, room_id, s.everything)) {
    tl_json["prev_batch"] = timeline::to_token(timeline::after(*last));
  }
  room["timeline"] = std::move(tl_json);
  room["state"] = json::object{{"events", s.format_events(state)}};

  json::array account_data;
  if (b.full) account_data = all_room_account_data(s, room_id);
  else if (b.account_data)
    if (auto it = b.account_data->find(room_id); it != b.account_data->end()) account_data = it->second;
  bool has_account_data = !account_data.empty();
  room["account_data"] = json::object{{"events", std::move(account_data)}};

  bool has_ephemeral = false;
  if (joined) {
    auto ephemeral = typing_events(s, room_id, s.since_of("typing"));
    if (b.receipts)
      if (auto it = b.receipts->find(room_id); it != b.receipts->end()) ephemeral.push_back(it->second);
    has_ephemeral = !ephemeral.empty();
    room["ephemeral"] = json::object{{"events", std::move(ephemeral)}};
    bool members_changed = b.full;
    for (const auto& e : tl.events) members_changed |= e.type == "m.room.member";
    for (const auto& e : state) members_changed |= e.type == "m.room.member";
    room["summary"] = members_changed ? room_summary(s, room_id) : json::object{};
    // unread_notifications: filled for all rooms at once (add_unread_counts).
  }
  changed = b.full || !tl.events.empty() || !state.empty() || has_account_data || has_ephemeral;
  return room;
}

json::object counts(int64_t notifications, int64_t highlights) {
  return json::object{{"notification_count", notifications}, {"highlight_count", highlights}};
}

// unread_notifications (and per thread, when the filter asks) for every joined room in the answer.
void add_unread_counts(sync_context& s, json::object& join) {
  std::vector<std::string> ids;
  for (const auto& [room_id, _] : join) ids.emplace_back(room_id);
  if (ids.empty()) return;
  auto unread = storage::notifications::unread_for_rooms(s.c, s.viewer.user_id, ids);
  for (auto& [room_id, room] : join) {
    const auto& u = unread[std::string(room_id)];
    auto& body = room.as_object();
    if (s.unread_thread_notifications) {
      body["unread_notifications"] = counts(u.notification_count, u.highlight_count);
      json::object threads;
      for (const auto& [root, n] : u.threads) threads[root] = counts(n.first, n.second);
      body["unread_thread_notifications"] = std::move(threads);
    } else {
      auto [n, h] = u.totals();
      body["unread_notifications"] = counts(n, h);
    }
  }
}

bool room_wanted(const sync_context& s, const std::string& room_id) {
  const auto& rf = s.filter.room;
  if (rf.rooms && std::find(rf.rooms->begin(), rf.rooms->end(), room_id) == rf.rooms->end()) return false;
  return std::find(rf.not_rooms.begin(), rf.not_rooms.end(), room_id) == rf.not_rooms.end();
}

} // namespace

member_summary room_members(sync_context& s, const std::string& room_id) {
  auto r = s.c.exec(
      "SELECT state_key, membership FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
      "AND membership IN ('join', 'invite') ORDER BY state_key",
      {room_id});
  member_summary out;
  for (size_t i = 0; i < r.size(); ++i) {
    const auto& who = r[i].as_text(0);
    (r[i].as_text(1) == "join" ? out.joined : out.invited)++;
    if (who != s.viewer.user_id && out.heroes.size() < max_heroes) out.heroes.push_back(who);
  }
  out.named = events::current_state_event_id(s.c, room_id, "m.room.name", "") ||
              events::current_state_event_id(s.c, room_id, "m.room.canonical_alias", "");
  return out;
}

json::array typing_events(sync_context& s, const std::string& room_id, int64_t since_typing) {
  json::array out;
  if (!s.ctx.views) return out;
  runtime::typing_cache::room_typing t;
  if (!s.ctx.views->typing.changed_since(room_id, since_typing, t)) return out;
  // The hub updates the typing cache just before the position the token is read from: a row past
  // this answer's token belongs to the next answer (whose wake-up it causes), not to this one with
  // a token that does not cover it — a client would then never hear the typing stop.
  if (t.position > s.upto_of("typing")) return out;
  // A first look at the room does not announce that nobody is typing.
  if (since_typing == 0 && t.user_ids.empty()) return out;
  json::array users;
  for (const auto& u : t.user_ids)
    if (!s.ignored.count(u)) users.emplace_back(u);
  out.push_back(json::object{{"type", "m.typing"}, {"content", json::object{{"user_ids", std::move(users)}}}});
  return out;
}

json::array stripped_state(sync_context& s, const membership& m) {
  json::array state;
  // An invite from another server, or a knock through one, carries the room's stripped state as
  // that server sent it (this server has none of the room's state).
  auto pdu = protocol::parse_object(m.event.json);
  if (auto* u = pdu.if_contains("unsigned"); u && u->is_object())
    if (auto* irs = u->as_object().if_contains(m.membership == "knock" ? "knock_room_state" : "invite_room_state");
        irs && irs->is_array()) {
      for (const auto& e : irs->as_array())
        if (auto* t = e.is_object() ? e.as_object().if_contains("type") : nullptr; t && t->is_string()) state.push_back(e);
      state.push_back(stripped(m.event));
      return state;
    }
  for (const auto& e : events::current_state_of_types(s.c, m.room_id, stripped_state_types)) state.push_back(stripped(e));
  state.push_back(stripped(m.event));
  return state;
}

json::object rooms_section(sync_context& s, sync_interest& interest, bool& any) {
  auto memberships = storage::room_sync::memberships_of(s.c, s.viewer.user_id);
  auto forgotten_list = events::forgotten_rooms(s.c, s.viewer.user_id);
  std::set<std::string> forgotten(forgotten_list.begin(), forgotten_list.end());
  bool initial = s.initial() || s.params.full_state;

  // Incremental: the rooms with something new.
  std::set<std::string> touched;
  std::map<std::string, json::array> account_data;
  if (!initial) {
    for (auto& r : storage::room_sync::rooms_with_events(s.c, s.viewer.user_id, s.window)) touched.insert(std::move(r));
    account_data = room_account_data(s);
    for (const auto& [room_id, _] : account_data) touched.insert(room_id);
  }

  // Receipts of the joined rooms inside the window (all current ones for an initial sync).
  std::vector<std::string> joined_ids;
  for (const auto& m : memberships)
    if (m.membership == "join" && s.everything.contains(m.event.persister, m.event.stream_ordering) &&
        room_wanted(s, m.room_id))
      joined_ids.push_back(m.room_id);
  std::map<std::string, json::object> receipts;
  if (!joined_ids.empty()) {
    auto changed = storage::receipts::changed(s.c, joined_ids, initial ? 0 : s.since_of("receipts"),
                                              s.upto_of("receipts"));
    std::erase_if(changed, [&](const storage::receipts::receipt& r) { return s.ignored.count(r.user_id) > 0; });
    receipts = storage::receipts::receipt_events(changed, s.viewer.user_id);
    if (!initial)
      for (const auto& [room_id, _] : receipts) touched.insert(room_id);
  }

  json::object join, invite, leave, knock;
  for (const auto& m : memberships) {
    const auto& room_id = m.room_id;
    // A membership the token window has not reached yet is left for the next sync.
    if (!s.everything.contains(m.event.persister, m.event.stream_ordering)) continue;
    if (!room_wanted(s, room_id)) continue;
    bool changed_membership = !initial && s.window.contains(m.event.persister, m.event.stream_ordering);
    if (m.membership == "join") {
      interest.room_ids.push_back(room_id);
      bool newly_joined = changed_membership;
      bool typing_now = false;
      if (!initial && !newly_joined && !touched.count(room_id)) {
        runtime::typing_cache::room_typing t;
        typing_now = s.ctx.views && s.ctx.views->typing.changed_since(room_id, s.since_of("typing"), t);
        if (!typing_now) continue;
      }
      room_build b{m, initial || newly_joined, initial || newly_joined ? s.everything : s.window, &account_data,
                   &receipts};
      bool changed = false;
      auto body = joined_or_left_room(s, b, /*joined=*/true, changed);
      if (changed || initial) {
        join[room_id] = std::move(body);
        any |= changed;
      }
    } else if (m.membership == "invite") {
      interest.room_ids.push_back(room_id);
      if (!initial && !changed_membership) continue;
      if (s.ignored.count(m.event.sender)) continue;  // invites from ignored users are dropped
      invite[room_id] = json::object{{"invite_state", json::object{{"events", stripped_state(s, m)}}}};
      any = true;
    } else if (m.membership == "knock") {
      if (!initial && !changed_membership) continue;
      knock[room_id] = json::object{{"knock_state", json::object{{"events", stripped_state(s, m)}}}};
      any = true;
    } else if (m.membership == "leave" || m.membership == "ban") {
      if (forgotten.count(room_id)) continue;
      // A left room appears once, in the sync that covers the leave; an initial sync lists left
      // rooms only when the filter asks (include_leave).
      if (initial ? !s.filter.room.include_leave : !changed_membership) continue;
      // Rejecting an invite or withdrawing a knock leaves a room the user never saw: no timeline.
      room_build b{m, initial, ending_at(initial ? s.everything : s.window, m.event), &account_data};
      bool changed = false;
      auto body = joined_or_left_room(s, b, /*joined=*/false, changed);
      leave[room_id] = std::move(body);
      any = true;
    }
  }
  if (!join.empty() || !invite.empty() || !leave.empty() || !knock.empty()) any = true;
  add_unread_counts(s, join);
  return json::object{{"join", std::move(join)}, {"invite", std::move(invite)}, {"leave", std::move(leave)},
                      {"knock", std::move(knock)}};
}

} // namespace myelin::sync
