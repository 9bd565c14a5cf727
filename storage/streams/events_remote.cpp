// The persister's federation operations: storing events other servers made, which arrive already
// built, hashed and signed (the federation handlers checked format, signatures and hashes). Here,
// in the room's one writer, they are authorised against their auth events and the state before
// them, soft-failed against the current state (server-server API "Checks performed on receipt of
// a PDU"), and placed in the DAG: forward extremities, the state after forks (state resolution
// v2) and the current state.
//
//   persist_remote {room_id, event: pdu, event_id, state_before?: [[type, state_key, event_id]…],
//                   relay_for?: origin (a membership taken through our send_join/leave/knock, which
//                   the federation sender passes on to the room's other servers)}
//     → {outcome: "accepted" | "soft_failed" | "rejected" | "known" | "missing", reason?, missing?,
//        position?}. "missing": some prev_events are unknown and no state_before was given (the
//        caller fetches them, or the state, and asks again).
//   persist_remote_batch {room_id, events: [{event_id, event}…]} → {results: {event_id: as above}}:
//     a transaction's events of one room, in order, in one write.
//   persist_outliers {room_id, events: [{event_id, event}]} (auth chains, fetched state)
//     → {stored: [ids], rejected: {id: reason}}; the room must exist.
//   join_remote {room_id, room_version, origin, state: [{event_id, event}], auth_chain: [...],
//                join: {event_id, event}}
//     → {event_id, stream_ordering}: a room joined through another server (send_join's answer).
//     The room's state becomes `state` plus the join; its one forward extremity the join.
//   store_backfill {room_id, events: [{event_id, event}]} → {stored, rejected, missing_auth}:
//     history from another server's /backfill, on the timeline for /messages only.
//   store_out_of_room_membership {room_id, room_version, event_id, event, unsigned?}
//     → {outcome, position}: a local user's membership in a room this server is not in (another
//     server's invite; our user's rejection of it), on the timeline for /sync; the room a stub.
#include <boost/json.hpp>
#include <set>

#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/redaction.hpp"
#include "protocol/state_res.hpp"
#include "storage/streams/events_persister.hpp"
#include "storage/tables/sliding_sync.hpp"

namespace myelin::storage::persister {
namespace {

namespace json = boost::json;
using protocol::req_string;

// Events of one room by id, loaded once per operation: what auth checks and state resolution look
// up. A redacted event counts as what survives its redaction.
class event_loader {
public:
  event_loader(connection& c, const room_append& ra) : c_(c), ra_(ra) {}

  const protocol::pdu* get(const std::string& event_id) {
    if (auto it = cache_.find(event_id); it != cache_.end()) return it->second.get();
    auto row = events::get_event(c_, event_id);
    std::unique_ptr<protocol::pdu> p;
    if (row && row->room_id == ra_.room.room_id) {
      p = std::make_unique<protocol::pdu>(to_pdu(*row));
      if (row->redacted_by) p->json = protocol::redact(p->json, ra_.room.room_version);
      state_groups_[event_id] = row->state_group;
      outlier_[event_id] = row->stream_ordering < 0;
    }
    return cache_.emplace(event_id, std::move(p)).first->second.get();
  }
  // Adds an event this operation just stored.
  void add(const protocol::pdu& p, std::optional<int64_t> state_group, bool outlier) {
    cache_[p.event_id] = std::make_unique<protocol::pdu>(p);
    state_groups_[p.event_id] = state_group;
    outlier_[p.event_id] = outlier;
  }
  // The state group after a known event (nullopt: unknown event, or an outlier without state).
  std::optional<int64_t> state_group_after(const std::string& event_id) {
    if (!get(event_id)) return std::nullopt;
    auto it = state_groups_.find(event_id);
    return it == state_groups_.end() ? std::nullopt : it->second;
  }
  protocol::event_lookup lookup() {
    return [this](const std::string& id) { return get(id); };
  }

private:
  connection& c_;
  const room_append& ra_;
  std::unordered_map<std::string, std::unique_ptr<protocol::pdu>> cache_;
  std::unordered_map<std::string, std::optional<int64_t>> state_groups_;
  std::unordered_map<std::string, bool> outlier_;
};

protocol::pdu parse_pdu(const json::object& entry) {
  protocol::pdu p;
  p.event_id = req_string(entry, "event_id");
  auto* ev = protocol::opt_object(entry, "event");
  if (!ev) throw protocol::errors::bad_json("missing event");
  p.json = *ev;
  return p;
}

bool already_stored(connection& c, const std::string& event_id) {
  return !c.exec("SELECT 1 FROM events WHERE event_id = $1", {event_id}).empty();
}

std::optional<std::string> rejection_of(connection& c, const std::string& event_id) {
  auto r = c.exec("SELECT reason FROM rejected_events WHERE event_id = $1", {event_id});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

void record_rejection(connection& c, const std::string& room_id, const protocol::pdu& p, const std::string& reason) {
  std::string origin;
  if (auto colon = p.sender().find(':'); colon != std::string_view::npos) origin = std::string(p.sender().substr(colon + 1));
  c.exec("INSERT INTO rejected_events (event_id, room_id, origin, reason, json, received_ts) "
         "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
         {p.event_id, room_id, origin, reason, json::serialize(p.json), now_ms()});
}

// Rule 2 and the rest of the auth rules against the event's own auth events (all must be known).
// nullopt when allowed, else the reason.
std::optional<std::string> check_against_auth_events(room_append& ra, event_loader& loader, const protocol::pdu& ev) {
  std::vector<const protocol::pdu*> auth_events;
  protocol::auth_state auth;
  for (const auto& id : ev.auth_events()) {
    const protocol::pdu* a = loader.get(id);
    if (!a) return "unknown auth event " + id;
    auth_events.push_back(a);
    if (auto sk = a->state_key()) auth[{std::string(a->type()), std::string(*sk)}] = a;
  }
  if (auto why = protocol::check_auth_events(*ra.version, ev, auth_events)) return why;
  return protocol::check_auth(*ra.version, ev, auth);
}

// The auth rules' view of a state map (only the keys the event's rules look at are loaded).
protocol::auth_state auth_state_from(const room_append& ra, event_loader& loader, const events::state_ids& state,
                                     const protocol::pdu& ev) {
  protocol::auth_state out;
  for (const auto& key : protocol::auth_types_for_event(*ra.version, ev))
    if (auto it = state.find(key); it != state.end())
      if (const protocol::pdu* p = loader.get(it->second)) out[key] = p;
  return out;
}

// Stores `ev` as an outlier after checking it against its auth events. Returns the rejection
// reason, or nullopt when stored (or known already).
std::optional<std::string> store_outlier(op_context& ctx, persister_state& ps, room_append& ra, event_loader& loader,
                                         protocol::pdu ev) {
  if (already_stored(ctx.db, ev.event_id)) return std::nullopt;
  if (auto why = rejection_of(ctx.db, ev.event_id)) return why;
  if (ev.room_id() != ra.room.room_id) return std::string("event of another room");
  if (auto why = check_against_auth_events(ra, loader, ev)) {
    record_rejection(ctx.db, ra.room.room_id, ev, *why);
    return why;
  }
  event_placement where;
  where.outlier = true;
  auto row = store_event(ctx, ps, ra, ev, where);
  loader.add(ev, row.state_group, true);
  return std::nullopt;
}

// Events ordered so that each comes after its auth events among them (by depth, then id: auth
// events always have a smaller depth in well-formed rooms, and ties are harmless).
std::vector<protocol::pdu> by_depth(const json::array& entries) {
  std::vector<protocol::pdu> out;
  for (const auto& e : entries)
    if (e.is_object()) out.push_back(parse_pdu(e.as_object()));
  std::sort(out.begin(), out.end(), [](const protocol::pdu& a, const protocol::pdu& b) {
    return a.depth() != b.depth() ? a.depth() < b.depth() : a.event_id < b.event_id;
  });
  return out;
}

// Makes `state` the room's current state: changed and new keys written, vanished keys deleted.
void replace_current_state(connection& c, room_append& ra, event_loader& loader, const events::state_ids& state) {
  auto before = events::current_state(c, ra.room.room_id);
  for (const auto& [key, id] : state) {
    auto it = before.find(key);
    if (it != before.end() && it->second == id) continue;
    std::optional<std::string> membership;
    if (key.first == "m.room.member")
      if (const protocol::pdu* p = loader.get(id)) membership = std::string(p->membership());
    events::set_current_state(c, ra.room.room_id, key.first, key.second, id, membership);
  }
  for (const auto& [key, id] : before)
    if (!state.count(key))
      c.exec("DELETE FROM current_state_events WHERE room_id = $1 AND type = $2 AND state_key = $3",
             {ra.room.room_id, key.first, key.second});
  // The cached auth state and members follow the database again on their next use.
  ra.state.clear();
  ra.members.reset();
}

// Advances the head after a timeline event from another server.
void advance_head(op_context& ctx, room_append& ra, const events::event_row& row, std::vector<std::string> extremities,
                  std::optional<int64_t> current_group) {
  ra.head.forward_extremities = std::move(extremities);
  ra.head.depth = std::max(ra.head.depth, row.topological_ordering);
  ra.head.state_group = current_group;
  ra.head.last_persister = ctx.writer;
  ra.head.last_stream_ordering = row.stream_ordering;
  if (storage::sliding_sync::is_bump_event_type(row.type)) ra.head.bump_stamp = row.stream_ordering;
  ra.event_ids.push_back(row.event_id);
}

op_output persist_remote(op_context& ctx, persister_state& ps, const json::object& args) {
  connection& c = ctx.db;
  auto room_id = req_string(args, "room_id");
  auto ra = open_room(ps, c, room_id);
  auto* ev_json = protocol::opt_object(args, "event");
  if (!ev_json) throw protocol::errors::bad_json("missing event");
  protocol::pdu ev{req_string(args, "event_id"), *ev_json};
  if (already_stored(c, ev.event_id)) return {json::object{{"outcome", "known"}}, {}};
  if (auto why = rejection_of(c, ev.event_id)) return {json::object{{"outcome", "rejected"}, {"reason", *why}}, {}};
  if (ev.room_id() != room_id) throw protocol::errors::bad_json("event of another room");

  event_loader loader(c, ra);
  auto reject = [&](const std::string& why) {
    record_rejection(c, room_id, ev, why);
    return op_output{json::object{{"outcome", "rejected"}, {"reason", why}}, {}};
  };
  // Auth events must all be known (the caller fetched them first).
  json::array missing_auth;
  for (const auto& id : ev.auth_events())
    if (!loader.get(id)) missing_auth.emplace_back(id);
  if (!missing_auth.empty())
    return {json::object{{"outcome", "missing"}, {"missing_auth", std::move(missing_auth)}}, {}};
  if (auto why = check_against_auth_events(ra, loader, ev)) return reject(*why);

  // The state before the event: given (fetched from another server for a gap), the state after
  // its one prev event, or the resolution of the states after several.
  events::state_ids before;
  std::optional<int64_t> group_before;
  bool before_is_current = false;  // `before` left empty: it is the room's current state
  if (auto* given = protocol::opt_array(args, "state_before")) {
    for (const auto& entry : *given) {
      const auto& a = entry.as_array();
      before[{std::string(a.at(0).as_string()), std::string(a.at(1).as_string())}] = std::string(a.at(2).as_string());
    }
  } else {
    json::array missing;
    std::vector<int64_t> groups;
    for (const auto& prev : ev.prev_events()) {
      auto g = loader.state_group_after(prev);
      if (!g) missing.emplace_back(prev);
      else groups.push_back(*g);
    }
    if (!missing.empty()) return {json::object{{"outcome", "missing"}, {"missing", std::move(missing)}}, {}};
    std::sort(groups.begin(), groups.end());
    groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
    if (groups.size() == 1 && groups[0] == ra.head.state_group) {
      // On top of the head (the common case): the state before it is the current state, which
      // the persister has cached — no state read per event.
      group_before = groups[0];
      before_is_current = true;
    } else if (groups.size() == 1) {
      group_before = groups[0];
      before = events::state_at_group(c, groups[0]);
    } else {
      std::vector<protocol::state_map> sets;
      for (auto g : groups) sets.push_back(events::state_at_group(c, g));
      before = protocol::resolve_state_v2(*ra.version, sets, loader.lookup());
    }
  }
  if (!group_before && !before.empty())
    group_before = events::add_state_group(c, room_id, ev.event_id, std::nullopt, before);
  // Soft fail: allowed by its own history, but not by the room's current state (a banned user's
  // server still sending). Kept as an outlier so later events may point at it; never shown.
  auto current_auth = load_auth_state(c, ra, ev);
  bool soft_failed = false;
  if (before_is_current) {
    if (auto why = protocol::check_auth(*ra.version, ev, current_auth)) return reject(*why);
  } else {
    if (auto why = protocol::check_auth(*ra.version, ev, auth_state_from(ra, loader, before, ev))) return reject(*why);
    soft_failed = protocol::check_auth(*ra.version, ev, current_auth).has_value();
  }

  event_placement where;
  where.state_group_before = group_before;
  where.outlier = soft_failed;
  where.soft_failed = soft_failed;
  if (auto sk = ev.state_key()) {
    protocol::state_key_pair key{std::string(ev.type()), std::string(*sk)};
    if (!before_is_current) {
      if (auto it = before.find(key); it != before.end()) where.replaces = it->second;
    } else if (auto it = ra.state.find(key); it != ra.state.end()) {
      if (it->second) where.replaces = it->second->event_id;
    } else {
      where.replaces = events::current_state_event_id(c, room_id, key.first, key.second);
    }
  }
  // Push evaluation keeps the room's members cached; a member event reloads them as of before it.
  if (ev.type() == "m.room.member") ra.members.reset();
  auto row = store_event(ctx, ps, ra, ev, where);
  loader.add(ev, row.state_group, soft_failed);
  if (soft_failed) {
    ps.cache.stage(std::move(ra));
    return {json::object{{"outcome", "soft_failed"}}, {}};
  }

  // Forward extremities: the event replaces the ones it points at.
  std::vector<std::string> extremities;
  auto prevs = ev.prev_events();
  for (const auto& x : ra.head.forward_extremities)
    if (std::find(prevs.begin(), prevs.end(), x) == prevs.end()) extremities.push_back(x);
  bool extends_head = extremities.empty() && group_before == ra.head.state_group;
  extremities.push_back(ev.event_id);
  std::optional<int64_t> current_group = row.state_group;
  if (extends_head) {
    // The common case: on top of everything we had, so the current state changes by this event
    // alone, as for a local event.
    if (row.state_key) {
      events::set_current_state(c, room_id, row.type, *row.state_key, ev.event_id, row.membership);
      ra.state[{row.type, *row.state_key}] = std::make_shared<protocol::pdu>(ev);
    }
  } else if (extremities.size() > 1) {
    // A fork (another server's events and ours concurrently): the current state is the resolution
    // of the states after every extremity.
    std::vector<protocol::state_map> sets;
    for (const auto& x : extremities)
      if (auto g = loader.state_group_after(x)) sets.push_back(events::state_at_group(c, *g));
    auto resolved = protocol::resolve_state_v2(*ra.version, sets, loader.lookup());
    current_group = events::add_state_group(c, room_id, ev.event_id, std::nullopt, resolved);
    replace_current_state(c, ra, loader, resolved);
  } else if (row.state_group) {
    // One extremity again, after a fork: the state after this event.
    replace_current_state(c, ra, loader, events::state_at_group(c, *row.state_group));
  }
  if (auto relay_for = protocol::opt_string(args, "relay_for"))
    c.exec("INSERT INTO federation_relayed_events (event_id, origin) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING",
           {ev.event_id, *relay_for});
  advance_head(ctx, ra, row, std::move(extremities), current_group);
  ps.cache.stage(std::move(ra));
  return {json::object{{"outcome", "accepted"}, {"position", row.stream_ordering}}, {published_row(row)}};
}

// Several events of one room in one transaction (a /send/ transaction's PDUs, in order): each as
// persist_remote, its result under its id; one refused for its shape does not stop the others.
op_output persist_remote_batch(op_context& ctx, persister_state& ps, const json::object& args) {
  auto room_id = req_string(args, "room_id");
  op_output out{json::object{}, {}};
  json::object results;
  if (auto* events = protocol::opt_array(args, "events"))
    for (const auto& e : *events) {
      if (!e.is_object()) continue;
      json::object one = e.as_object();
      one["room_id"] = room_id;
      auto id = req_string(one, "event_id");
      try {
        auto r = persist_remote(ctx, ps, one);
        for (auto& row : r.rows) out.rows.push_back(std::move(row));
        results[id] = std::move(r.result);
      } catch (const protocol::matrix_error& err) {
        results[id] = json::object{{"outcome", "rejected"}, {"reason", err.what()}};
      }
    }
  out.result = json::object{{"results", std::move(results)}};
  return out;
}

op_output persist_outliers(op_context& ctx, persister_state& ps, const json::object& args) {
  auto room_id = req_string(args, "room_id");
  auto ra = open_room(ps, ctx.db, room_id);
  event_loader loader(ctx.db, ra);
  json::array stored;
  json::object rejected;
  auto* entries = protocol::opt_array(args, "events");
  if (entries)
    for (auto& ev : by_depth(*entries)) {
      auto id = ev.event_id;
      if (auto why = store_outlier(ctx, ps, ra, loader, std::move(ev))) rejected[id] = *why;
      else stored.emplace_back(id);
    }
  ps.cache.stage(std::move(ra));
  return {json::object{{"stored", std::move(stored)}, {"rejected", std::move(rejected)}}, {}};
}

op_output join_remote(op_context& ctx, persister_state& ps, const json::object& args) {
  connection& c = ctx.db;
  auto room_id = req_string(args, "room_id");
  auto room_version = req_string(args, "room_version");
  const auto* version = protocol::find_room_version(room_version);
  if (!version) throw protocol::matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version " + room_version);
  auto* join_entry = protocol::opt_object(args, "join");
  if (!join_entry) throw protocol::errors::bad_json("missing join");
  protocol::pdu join = parse_pdu(*join_entry);

  room_append ra;
  if (auto known = events::get_room(c, room_id)) {
    ra = open_room(ps, c, room_id);
  } else {
    ra.room = events::room_row{room_id, room_version, "", false, now_ms()};
    ra.version = version;
    ra.head.room_id = room_id;
  }
  event_loader loader(c, ra);
  // The auth chain and the state, as outliers, each checked against its own auth events.
  std::vector<protocol::pdu> all;
  for (const char* key : {"auth_chain", "state"})
    if (auto* a = protocol::opt_array(args, key))
      for (auto& p : by_depth(*a)) all.push_back(std::move(p));
  std::sort(all.begin(), all.end(), [](const protocol::pdu& a, const protocol::pdu& b) {
    return a.depth() != b.depth() ? a.depth() < b.depth() : a.event_id < b.event_id;
  });
  const protocol::pdu* create = nullptr;
  for (const auto& p : all)
    if (p.type() == "m.room.create" && p.state_key() == std::string_view("")) create = &p;
  if (!create || create->room_id() != room_id) throw protocol::errors::bad_json("The room's state has no create event");
  if (ra.room.creator.empty()) {
    ra.room.creator = std::string(create->sender());
    events::insert_room(c, ra.room);
  }
  std::set<std::string> rejected;
  for (auto& p : all) {
    auto id = p.event_id;
    if (loader.get(id)) continue;  // in both lists, or known from before
    if (store_outlier(ctx, ps, ra, loader, std::move(p))) rejected.insert(id);
  }
  // The state before the join, without anything rejected.
  events::state_ids before;
  if (auto* state = protocol::opt_array(args, "state"))
    for (const auto& e : *state) {
      auto p = parse_pdu(e.as_object());
      if (auto sk = p.state_key(); sk && !rejected.count(p.event_id) && loader.get(p.event_id))
        before[{std::string(p.type()), std::string(*sk)}] = p.event_id;
    }
  if (auto why = check_against_auth_events(ra, loader, join)) throw protocol::errors::forbidden("Join refused: " + *why);
  if (auto why = protocol::check_auth(*ra.version, join, auth_state_from(ra, loader, before, join)))
    throw protocol::errors::forbidden("Join refused: " + *why);
  int64_t group_before = events::add_state_group(c, room_id, join.event_id, std::nullopt, before);
  // The state events got no state group as outliers; visibility reads need one.
  for (const auto& [key, id] : before)
    c.exec("UPDATE events SET state_group = $1 WHERE event_id = $2 AND state_group IS NULL", {group_before, id});

  event_placement where;
  where.state_group_before = group_before;
  if (auto it = before.find({"m.room.member", std::string(*join.state_key())}); it != before.end()) where.replaces = it->second;
  ra.members.reset();
  auto row = store_event(ctx, ps, ra, join, where);
  loader.add(join, row.state_group, false);
  replace_current_state(c, ra, loader, events::state_at_group(c, *row.state_group));
  advance_head(ctx, ra, row, {join.event_id}, row.state_group);
  ps.cache.stage(std::move(ra));
  return {json::object{{"event_id", join.event_id}, {"stream_ordering", row.stream_ordering}}, {published_row(row)}};
}

// A membership event of a local user in a room this server is not in (an invite from another
// server, or our user's leave that rejects it): stored on the timeline so the user's /sync sees
// it, with the room created as a stub when unknown (no state beyond the membership, no forward
// extremities: a later join through another server replaces both).
op_output store_out_of_room_membership(op_context& ctx, persister_state& ps, const json::object& args) {
  connection& c = ctx.db;
  auto room_id = req_string(args, "room_id");
  auto room_version = req_string(args, "room_version");
  auto* ev_json = protocol::opt_object(args, "event");
  if (!ev_json) throw protocol::errors::bad_json("missing event");
  protocol::pdu ev{req_string(args, "event_id"), *ev_json};
  if (ev.type() != "m.room.member" || !ev.state_key() || ev.room_id() != room_id)
    throw protocol::errors::bad_json("not a membership event of this room");
  if (already_stored(c, ev.event_id)) return {json::object{{"outcome", "known"}}, {}};
  room_append ra;
  if (events::get_room(c, room_id)) {
    ra = open_room(ps, c, room_id);
  } else {
    const auto* version = protocol::find_room_version(room_version);
    if (!version) throw protocol::matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version " + room_version);
    ra.room = events::room_row{room_id, room_version, std::string(ev.sender()), false, now_ms()};
    ra.version = version;
    ra.head.room_id = room_id;
    events::insert_room(c, ra.room);
  }
  event_placement where;
  where.state_group_before = ra.head.state_group;
  where.extra_unsigned = protocol::opt_object(args, "unsigned");
  std::string key(*ev.state_key());
  where.replaces = events::current_state_event_id(c, room_id, "m.room.member", key);
  ra.members.reset();
  auto row = store_event(ctx, ps, ra, ev, where);
  events::set_current_state(c, room_id, "m.room.member", key, ev.event_id, row.membership);
  ra.state.clear();
  ra.head.state_group = row.state_group;
  ra.head.last_persister = ctx.writer;
  ra.head.last_stream_ordering = row.stream_ordering;
  ra.event_ids.push_back(row.event_id);
  ps.cache.stage(std::move(ra));
  return {json::object{{"outcome", "accepted"}, {"position", row.stream_ordering}}, {published_row(row)}};
}

// History another server sent (/backfill), oldest first. Each event is checked against its own
// auth events (those unknown are reported, for the caller to fetch and ask again) and put on the
// timeline under "backfill:<writer>". The state recorded with it is the state before the room's
// earliest timeline event here (for a room joined through another server: the state at our join)
// — an approximation that keeps history visibility conservative without fetching the state at
// every old event. Outliers among them (state we got with the join) move onto the timeline.
op_output store_backfill(op_context& ctx, persister_state& ps, const json::object& args) {
  connection& c = ctx.db;
  auto room_id = req_string(args, "room_id");
  auto ra = open_room(ps, c, room_id);
  event_loader loader(c, ra);
  std::optional<int64_t> group;
  {
    auto r = c.exec("SELECT e.state_group, e.state_key, g.prev_group FROM events e LEFT JOIN state_groups g "
                    "ON g.id = e.state_group WHERE e.room_id = $1 AND e.stream_ordering > 0 "
                    "ORDER BY e.topological_ordering, e.stream_ordering LIMIT 1",
                    {room_id});
    if (!r.empty()) group = !r[0].is_null(1) && !r[0].is_null(2) ? r[0].opt_int(2) : r[0].opt_int(0);
  }
  json::array stored, missing_auth;
  json::object rejected;
  auto* entries = protocol::opt_array(args, "events");
  if (entries)
    for (auto& ev : by_depth(*entries)) {
      if (ev.room_id() != room_id) continue;
      if (rejection_of(c, ev.event_id)) continue;
      auto known = c.exec("SELECT persister FROM events WHERE event_id = $1", {ev.event_id});
      if (!known.empty()) {
        if (known[0].as_text(0).starts_with("outlier:"))
          c.exec("UPDATE events SET persister = $1, stream_ordering = $2, state_group = COALESCE(state_group, $3) "
                 "WHERE event_id = $4",
                 {"backfill:" + ctx.writer, ctx.next_position(), group ? sql_value(*group) : sql_value(nullptr),
                  ev.event_id});
        continue;
      }
      bool auth_known = true;
      for (const auto& id : ev.auth_events()) auth_known = auth_known && loader.get(id) != nullptr;
      if (!auth_known) {
        missing_auth.emplace_back(ev.event_id);
        continue;
      }
      if (auto why = check_against_auth_events(ra, loader, ev)) {
        record_rejection(c, room_id, ev, *why);
        rejected[ev.event_id] = *why;
        continue;
      }
      event_placement where;
      where.backfilled = true;
      where.state_group_before = group;
      auto row = store_event(ctx, ps, ra, ev, where);
      loader.add(ev, row.state_group, false);
      stored.emplace_back(row.event_id);
    }
  ps.cache.stage(std::move(ra));
  return {json::object{{"stored", std::move(stored)}, {"rejected", std::move(rejected)}, {"missing_auth", std::move(missing_auth)}},
          {}};
}

} // namespace

void add_federation_ops(std::map<std::string, stream_op>& ops, const std::shared_ptr<persister_state>& ps) {
  ops["persist_remote"] = [ps](op_context& ctx, const json::object& a) { return persist_remote(ctx, *ps, a); };
  ops["persist_remote_batch"] = [ps](op_context& ctx, const json::object& a) {
    return persist_remote_batch(ctx, *ps, a);
  };
  ops["persist_outliers"] = [ps](op_context& ctx, const json::object& a) { return persist_outliers(ctx, *ps, a); };
  ops["join_remote"] = [ps](op_context& ctx, const json::object& a) { return join_remote(ctx, *ps, a); };
  ops["store_backfill"] = [ps](op_context& ctx, const json::object& a) { return store_backfill(ctx, *ps, a); };
  ops["store_out_of_room_membership"] = [ps](op_context& ctx, const json::object& a) {
    return store_out_of_room_membership(ctx, *ps, a);
  };
}

} // namespace myelin::storage::persister
