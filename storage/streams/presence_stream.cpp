// The presence stream: online / unavailable / offline of local users, following Synapse's rules
// (handlers/presence.py) per user rather than per device:
//
//   set {user_id, presence, status_msg?}       PUT /presence/{userId}/status. Sets the state and
//                                              the status message (absent = cleared); online also
//                                              counts as activity.
//   sync_touch {user_id, presence, timeout_ms} sent by /sync when a request starts (set_presence):
//                                              the user counts as syncing until the request's
//                                              long-poll timeout has passed. "online" brings an
//                                              offline user online (an explicit or idle
//                                              "unavailable" stays), "unavailable" makes the user
//                                              unavailable, "offline" changes nothing.
//   active {user_id}                           the user did something (sent, typed, read):
//                                              last_active_ts = now, unavailable → online.
//   timeouts {limit?}                          periodic, every 5 s: online users idle for 5 min
//                                              become unavailable; users neither syncing nor
//                                              active for 30 s become offline; "currently
//                                              active" lapses after a minute without activity.
//                                              At most 200 users per sweep: when thousands of
//                                              clients drop at once, one sweep taking them all
//                                              held the writer (and the presence requests
//                                              queued behind it) for seconds.
//   remote {user_id, presence, status_msg?,    another server's user (m.presence EDU): the state
//           last_active_ago?}                  as their server says, counted as syncing for
//                                              remote_timeout_ms (their server sends updates at
//                                              least that often, else the sweep makes the user
//                                              offline, as Synapse's FEDERATION_TIMEOUT).
// Every operation takes an optional now_ms, for tests.
//
// A change others can see (state, status message, currently_active, or a last-active jump of more
// than a minute while not currently active — Synapse's should_notify) takes a new position and
// publishes {"type":"presence","position","user_id","rooms":[joined room ids]}; the rooms let the
// notifier wake everyone sharing one without a query. Anything else — most syncs — is stored
// without a position and publishes nothing (and the fields that only move, last_active_ts and
// syncing_until_ts, are stored at a 10 s granularity so most syncs write nothing at all).
//
// With presence disabled (presence.enabled: false) every operation does nothing.
#include <boost/json.hpp>

#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/streams/stream_definition.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/presence.hpp"

namespace myelin::storage {
namespace {

namespace json = boost::json;
using presence::presence_record;
using protocol::req_string;

constexpr std::chrono::milliseconds timeout_interval{5000};
constexpr int64_t store_granularity_ms = 10 * 1000;
constexpr int64_t max_sync_timeout_ms = 5 * 60 * 1000;
constexpr int64_t max_timeouts_per_sweep = 200;
constexpr int64_t remote_timeout_ms = 30 * 60 * 1000;

bool valid_state(const std::string& s) { return s == "online" || s == "unavailable" || s == "offline"; }

int64_t now_arg(const json::object& args) { return protocol::opt_int(args, "now_ms").value_or(now_ms()); }

presence_record current(connection& c, const std::string& user_id) {
  if (auto r = presence::get_record(c, user_id)) return *r;
  presence_record fresh;  // never seen: offline, never active
  fresh.shown.user_id = user_id;
  return fresh;
}

bool visible_change(const presence::presence_state& old, const presence::presence_state& now) {
  if (old.state != now.state || old.status_msg != now.status_msg || old.currently_active != now.currently_active)
    return true;
  return now.last_active_ts - old.last_active_ts > presence::last_active_granularity_ms && !now.currently_active;
}

// Stores `next` if anything worth storing changed; a change others can see takes a new position
// and publishes the user's row.
op_output apply(op_context& ctx, const presence_record& old, presence_record next, int64_t now, op_output out = {}) {
  auto& shown = next.shown;
  shown.currently_active =
      shown.state == "online" && now - shown.last_active_ts < presence::last_active_granularity_ms;
  const bool visible = visible_change(old.shown, shown);
  const bool worth_storing =
      visible || shown.last_active_ts - old.shown.last_active_ts >= store_granularity_ms ||
      next.syncing_until_ts - old.syncing_until_ts >= store_granularity_ms;
  if (!worth_storing) return out;
  if (visible) {
    // One position for every user an operation changes (the periodic sweep changes several).
    if (out.rows.empty()) ctx.next_position();
    shown.position = ctx.position;
    json::array rooms;
    for (auto& room_id : events::rooms_for_user(ctx.db, shown.user_id, "join")) rooms.emplace_back(room_id);
    out.rows.push_back(json::object{
        {"type", "presence"}, {"position", shown.position}, {"user_id", shown.user_id}, {"rooms", std::move(rooms)}});
  } else {
    shown.position = old.shown.position;
  }
  presence::put_record(ctx.db, next);
  return out;
}

op_output set(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto state = req_string(args, "presence");
  if (!valid_state(state)) throw protocol::errors::invalid_param("Invalid presence state " + state);
  auto status_msg = protocol::opt_string(args, "status_msg");
  int64_t now = now_arg(args);
  auto old = current(ctx.db, user_id);
  auto next = old;
  next.shown.state = state;
  next.shown.status_msg = status_msg;
  if (state == "online") next.shown.last_active_ts = now;
  return apply(ctx, old, next, now, {json::object{}, {}});
}

op_output sync_touch(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto state = protocol::opt_string(args, "presence").value_or("online");
  if (!valid_state(state)) throw protocol::errors::invalid_param("Invalid presence state " + state);
  if (state == "offline") return {json::object{}, {}};  // set_presence=offline: this sync does not count
  int64_t timeout = std::clamp<int64_t>(protocol::opt_int(args, "timeout_ms").value_or(0), 0, max_sync_timeout_ms);
  int64_t now = now_arg(args);
  auto old = current(ctx.db, user_id);
  auto next = old;
  next.syncing_until_ts = std::max(old.syncing_until_ts, now + timeout);
  if (state == "online" && old.shown.state == "offline") {
    next.shown.state = "online";
    next.shown.last_active_ts = now;
  } else if (state == "unavailable") {
    next.shown.state = "unavailable";
  }
  return apply(ctx, old, next, now, {json::object{}, {}});
}

op_output active(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  int64_t now = now_arg(args);
  auto old = current(ctx.db, user_id);
  auto next = old;
  next.shown.last_active_ts = now;
  if (old.shown.state == "unavailable") next.shown.state = "online";
  return apply(ctx, old, next, now, {json::object{}, {}});
}

op_output timeouts(op_context& ctx, const json::object& args) {
  int64_t now = now_arg(args);
  int64_t limit = protocol::opt_int(args, "limit").value_or(max_timeouts_per_sweep);
  op_output out{json::object{}, {}};
  for (auto& old : presence::timeout_candidates(ctx.db, now, limit)) {
    auto next = old;
    auto& s = next.shown;
    if (std::max(old.syncing_until_ts, s.last_active_ts) < now - presence::sync_online_timeout_ms)
      s.state = "offline";
    else if (s.state == "online" && now - s.last_active_ts > presence::idle_timeout_ms)
      s.state = "unavailable";
    out = apply(ctx, old, next, now, std::move(out));
  }
  return out;
}

op_output remote(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto state = req_string(args, "presence");
  if (!valid_state(state)) throw protocol::errors::invalid_param("Invalid presence state " + state);
  int64_t now = now_arg(args);
  int64_t ago = std::max<int64_t>(0, protocol::opt_int(args, "last_active_ago").value_or(0));
  auto old = current(ctx.db, user_id);
  auto next = old;
  next.shown.state = state;
  next.shown.status_msg = protocol::opt_string(args, "status_msg");
  next.shown.last_active_ts = std::max(old.shown.last_active_ts, now - ago);
  next.syncing_until_ts = state == "offline" ? 0 : now + remote_timeout_ms;
  return apply(ctx, old, next, now, {json::object{}, {}});
}

op_output disabled(op_context&, const json::object&) { return {json::object{}, {}}; }

} // namespace

stream_definition presence_stream(bool enabled) {
  if (!enabled)
    return stream_definition{"presence",
                             {{"set", disabled}, {"sync_touch", disabled}, {"active", disabled}, {"timeouts", disabled},
                              {"remote", disabled}}};
  stream_definition def{"presence", {{"set", set}, {"sync_touch", sync_touch}, {"active", active}, {"timeouts", timeouts},
                        {"remote", remote}}};
  def.periodic = stream_definition::periodic_op{timeout_interval, "timeouts"};
  return def;
}

} // namespace myelin::storage
