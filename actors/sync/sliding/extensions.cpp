// Sliding sync extensions (MSC3884/3885/3960/3961/4186): to_device (its own `since`), e2ee
// (device list changes since `pos`, key counts), account_data (global and per room), receipts and
// typing. The room-scoped ones cover the rooms of the answer's lists and subscriptions (narrowed
// by their `lists` / `rooms`); a room seen for the first time gets its current receipts and all
// its account data, the others what changed since `pos`.
#include "actors/sync/sliding/sliding.hpp"
#include "protocol/json.hpp"
#include "storage/tables/device_lists.hpp"
#include "storage/tables/receipts.hpp"

namespace myelin::sync::sliding {

namespace json = boost::json;

namespace {

// The rooms an extension reaches, split into first-seen and already known ones.
struct scoped_rooms {
  std::vector<std::string> initial, known;
};

// `joined_only`: leave out rooms the user is not in (invited, knocking, left), whose receipts and
// typing they may not see.
scoped_rooms rooms_in_scope(const ss::extension_scope& scope, const extension_rooms& r, bool joined_only) {
  scoped_rooms out;
  std::set<std::string> all;
  for (const auto& [room_id, _] : r.lists.configs) all.insert(room_id);
  for (const auto& room_id : all) {
    if (joined_only && !r.joined.count(room_id)) continue;
    static const std::vector<std::string> none;
    auto lists = r.lists.in_range.find(room_id);
    if (!scope.covers(room_id, lists == r.lists.in_range.end() ? none : lists->second, r.lists.subscribed.count(room_id)))
      continue;
    (r.initial.count(room_id) ? out.initial : out.known).push_back(room_id);
  }
  return out;
}

json::object to_device(sliding_context& x, bool& any) {
  auto& s = x.s;
  const auto& req = x.request.to_device;
  int64_t upto = s.upto_of("to_device");
  int64_t since = std::min(req.since.value_or(0), upto);
  auto batch = to_device_messages(s, since, upto, static_cast<size_t>(req.limit));
  any |= !batch.events.empty();
  return json::object{{"next_batch", std::to_string(batch.next)}, {"events", std::move(batch.events)}};
}

json::object e2ee(sliding_context& x, bool& any) {
  auto& s = x.s;
  json::object out;
  storage::device_lists::changes found;
  if (x.pos)  // after a connection's first answer the client queries every member it tracks
    found = storage::device_lists::changes_for_viewer(s.c, s.viewer.user_id, s.since_of("device_lists"),
                                                      s.upto_of("device_lists"), s.window);
  any |= !found.changed.empty() || !found.left.empty();
  out["device_lists"] = storage::device_lists::to_json(found);
  add_key_counts(s, out);
  return out;
}

// Account data events of the user: room_id "" for global ones; changed after `after`.
std::map<std::string, json::array> account_data_events(sync_context& s, const std::vector<std::string>& room_ids,
                                                        int64_t after) {
  std::map<std::string, json::array> out;
  for (const auto& room_id : room_ids) {
    auto r = s.c.exec("SELECT type, content FROM account_data WHERE user_id = $1 AND room_id = $2 AND position > $3 "
                      "AND position <= $4",
                      {s.viewer.user_id, room_id, after, s.upto_of("account_data")});
    for (size_t i = 0; i < r.size(); ++i)
      out[room_id].push_back(json::object{{"type", r[i].as_text(0)}, {"content", protocol::parse_value(r[i].as_text(1))}});
  }
  return out;
}

json::object account_data(sliding_context& x, const extension_rooms& r, bool& any) {
  auto& s = x.s;
  auto scoped = rooms_in_scope(x.request.account_data, r, /*joined_only=*/false);
  int64_t since = s.since_of("account_data");
  auto global = account_data_events(s, {""}, since);
  auto rooms = account_data_events(s, scoped.initial, 0);
  rooms.merge(account_data_events(s, scoped.known, since));
  json::object by_room;
  for (auto& [room_id, events] : rooms) by_room[room_id] = std::move(events);
  json::array global_events = std::move(global[""]);
  any |= !global_events.empty() || !by_room.empty();
  return json::object{{"global", std::move(global_events)}, {"rooms", std::move(by_room)}};
}

json::object receipts(sliding_context& x, const extension_rooms& r, bool& any) {
  auto& s = x.s;
  auto scoped = rooms_in_scope(x.request.receipts, r, /*joined_only=*/true);
  std::vector<storage::receipts::receipt> found;
  if (!scoped.initial.empty()) found = storage::receipts::changed(s.c, scoped.initial, 0, s.upto_of("receipts"));
  if (!scoped.known.empty()) {
    auto more = storage::receipts::changed(s.c, scoped.known, s.since_of("receipts"), s.upto_of("receipts"));
    found.insert(found.end(), more.begin(), more.end());
  }
  std::erase_if(found, [&](const storage::receipts::receipt& rc) { return s.ignored.count(rc.user_id) > 0; });
  json::object rooms;
  for (auto& [room_id, event] : storage::receipts::receipt_events(found, s.viewer.user_id)) rooms[room_id] = std::move(event);
  any |= !rooms.empty();
  return json::object{{"rooms", std::move(rooms)}};
}

json::object typing(sliding_context& x, const extension_rooms& r, bool& any) {
  auto& s = x.s;
  auto scoped = rooms_in_scope(x.request.typing, r, /*joined_only=*/true);
  json::object rooms;
  auto add = [&](const std::vector<std::string>& ids, int64_t since) {
    for (const auto& room_id : ids)
      if (auto t = typing_events(s, room_id, since); !t.empty()) rooms[room_id] = std::move(t[0]);
  };
  add(scoped.initial, 0);
  add(scoped.known, s.since_of("typing"));
  any |= !rooms.empty();
  return json::object{{"rooms", std::move(rooms)}};
}

} // namespace

json::object extensions(sliding_context& x, const extension_rooms& rooms, bool& any) {
  json::object out;
  const auto& req = x.request;
  if (req.to_device.enabled) out["to_device"] = to_device(x, any);
  if (req.e2ee) out["e2ee"] = e2ee(x, any);
  if (req.account_data.enabled) out["account_data"] = account_data(x, rooms, any);
  if (req.receipts.enabled) out["receipts"] = receipts(x, rooms, any);
  if (req.typing.enabled) out["typing"] = typing(x, rooms, any);
  return out;
}

} // namespace myelin::sync::sliding
