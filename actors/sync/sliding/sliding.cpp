// POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync: one computation (the sync
// instance adds the long-poll), and the connection state around it. A request without `pos`
// starts the connection over; with `pos`, the position must be one this (user, device, conn_id)
// holds, else 400 M_UNKNOWN_POS and the client starts over. Each answer with something new is a
// new position; the one the request came from is kept (a retried request finds it), older ones
// are pruned, so a connection holds at most two positions.
#include "actors/sync/sliding/sliding.hpp"

#include "actors/endpoint_helpers.hpp"
#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "storage/tables/account_data.hpp"
#include "storage/tables/receipts.hpp"

namespace myelin::sync {

namespace json = boost::json;
namespace ss = protocol::sliding;
namespace store = storage::sliding_sync;
using namespace sliding;

namespace {

protocol::matrix_error unknown_pos() {
  return {400, "M_UNKNOWN_POS", "Unknown or expired pos: start the connection again without pos"};
}

std::optional<ss::position> pos_param(const api_request& req) {
  auto text = endpoints::query_param(req, "pos");
  if (!text || text->empty()) return std::nullopt;
  auto p = ss::parse_position(*text);
  if (!p) throw unknown_pos();
  return p;
}

// Rooms whose read receipt of the user moved since `pos`: their notification counts changed.
std::set<std::string> own_receipts_moved(sync_context& s, const list_result& lists) {
  std::set<std::string> out;
  std::vector<std::string> ids;
  for (const auto& [room_id, _] : lists.configs) ids.push_back(room_id);
  if (ids.empty() || !s.since) return out;
  for (const auto& r : storage::receipts::changed(s.c, ids, s.since_of("receipts"), s.upto_of("receipts")))
    if (r.user_id == s.viewer.user_id) out.insert(r.room_id);
  return out;
}

// What the computation leaves to write: the connection's next position, if any.
struct next_position {
  bool write = false;
  std::optional<store::connection_state> prev;
  std::string lists;
  std::map<std::string, store::room_entry> rooms;
};

} // namespace

sync_params parse_sliding_params(const api_request& req) {
  sync_params p;
  if (auto pos = pos_param(req)) p.since = std::move(pos->token);
  p.timeout_ms = parse_timeout(req);
  return p;
}

sync_outcome compute_sliding(runtime::handler_context& ctx, const api_request& req, const sync_params& params,
                             const protocol::sync_token& upto) {
  auto body = endpoints::body_object(ctx, req, /*allow_empty=*/true);
  auto request = ss::parse_request(json::value(std::move(body)));
  auto pos = pos_param(req);
  sync_outcome out;
  out.upto = upto;
  out.interest.user_id = req.user_id;
  next_position next;
  json::object response;
  bool any = false;
  {
    auto conn = ctx.db.acquire();
    if (pos) {
      next.prev = store::load(*conn, req.user_id, req.device_id, request.conn_id, pos->id, now_ms());
      if (!next.prev) throw unknown_pos();
    }
    sync_context s{.ctx = ctx,
                   .c = *conn,
                   .req = req,
                   .params = params,
                   .viewer = rooms::viewer{req.user_id, req.device_id},
                   .since = pos ? &pos->token : nullptr,
                   .upto = upto};
    s.window = rooms::events_window(s.since, upto);
    s.everything = rooms::events_window(nullptr, upto);
    s.ignored = storage::account_data::ignored_users(*conn, {req.user_id})[req.user_id];
    sliding_context x{s, request, pos};

    auto memberships = storage::room_sync::memberships_of(*conn, req.user_id);
    auto candidates = candidate_rooms(x, memberships);
    std::map<std::string, const room_entry*> by_id;
    for (const auto& r : candidates) {
      by_id[r.m->room_id] = &r;
      // A left room shows nothing newer than the leave: its events need not wake the long-poll.
      if (r.m->membership != "leave" && r.m->membership != "ban") out.interest.room_ids.push_back(r.m->room_id);
    }
    auto lists = select_rooms(x, candidates);
    auto receipts_moved = own_receipts_moved(s, lists);

    // Rooms the client had up to the previous position's token now have that token written out:
    // the new position's own token is later.
    const auto& prev = next.prev;
    if (prev)
      for (const auto& [room_id, e] : prev->rooms) {
        auto& kept = next.rooms[room_id] = e;
        if (kept.sent_token.empty()) kept.sent_token = protocol::format_sync_token(pos->token);
      }

    json::object rooms;
    std::set<std::string> initial, joined;
    for (const auto& [room_id, config] : lists.configs) {
      room_plan plan{.room = by_id.at(room_id), .config = config};
      if (prev)
        if (auto it = prev->rooms.find(room_id); it != prev->rooms.end()) {
          plan.since = it->second.sent_token.empty() ? std::optional(pos->token)
                                                     : protocol::parse_sync_token(it->second.sent_token);
          plan.config_changed = it->second.config != config.key();
          plan.sent_timeline_limit = it->second.timeline_limit;
          plan.lazy_sent = it->second.lazy_members;
        }
      plan.unread_changed = receipts_moved.count(room_id) > 0;
      if (plan.room->m->membership == "join") joined.insert(room_id);
      std::set<std::string> lazy_sent;
      if (auto r = room_response(x, plan, lazy_sent)) {
        if (r->contains("initial")) initial.insert(room_id);
        rooms[room_id] = std::move(*r);
      }
      // The client has it up to this answer's token ("").
      next.rooms[room_id] = {"", config.key(), config.timeline_limit, std::move(lazy_sent)};
    }
    add_unread_counts(x, rooms);

    json::object lists_json, counts;
    for (const auto& [name, count] : lists.counts) {
      lists_json[name] = json::object{{"count", count}};
      counts[name] = count;
    }
    next.lists = json::serialize(counts);
    any = !rooms.empty() || !prev || next.lists != prev->lists;
    auto ext = extensions(x, extension_rooms{lists, std::move(initial), std::move(joined)}, any);
    next.write = any || !prev || next.rooms != prev->rooms;

    response["lists"] = std::move(lists_json);
    response["rooms"] = std::move(rooms);
    response["extensions"] = std::move(ext);
  }

  int64_t position_id = pos ? pos->id : 0;
  if (next.write)
    position_id = ctx.db.transact([&](storage::connection& c) {
      int64_t now = now_ms();
      int64_t connection = next.prev ? next.prev->connection_id
                                     : store::open(c, req.user_id, req.device_id, request.conn_id, now);
      return store::save(c, connection, next.prev ? next.prev->position_id : 0, next.lists, next.rooms, now);
    });
  response["pos"] = ss::format_position({position_id, upto});
  out.empty = !any;
  out.response = runtime::json_response(response);
  return out;
}

} // namespace myelin::sync

namespace myelin::endpoints {

void register_sliding_sync(runtime::endpoint_registry& r) {
  r.add({.name = "sliding_sync", .method = "POST", .path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"},
        [](runtime::handler_context& ctx, const api_request& req) {
          // One computation without waiting; the sync instance adds the long-poll.
          auto params = sync::parse_sliding_params(req);
          return sync::compute_sliding(ctx, req, params, sync::current_token(ctx, params.since)).response;
        });
}

} // namespace myelin::endpoints
