// The typing stream: who is typing in which room. Kept in memory only, as in Synapse — nothing
// survives a restart and nothing is worth keeping; only the stream position is stored (so sync
// tokens keep increasing). Each change publishes one row per room with the room's whole typing
// list, {"type":"typing","position","room_id","user_ids"}, which the nodes' typing caches
// (actors/runtime/node_views) take as the room's new state.
//
// Operations: set {room_id, user_id, typing, timeout_ms} (typing again only moves the expiry: no
// row), expire {} (the periodic operation, every second when something may have expired). Both
// take an optional now_ms, for tests.
//
// The writer may run a batch twice (a retried transaction, or again with savepoints after a
// failed write), so operations change a staged copy of the rooms they touch; the transaction
// hooks commit or drop it. Operations check their arguments before staging anything, so a
// refused write leaves nothing behind.
#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <unordered_map>

#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/streams/stream_definition.hpp"

namespace myelin::storage {
namespace {

namespace json = boost::json;

constexpr std::chrono::milliseconds expiry_interval{1000};

class typing_rooms {
public:
  using members = std::map<std::string, int64_t>;  // user → expiry (ms since the epoch)

  // The room as this transaction sees it.
  members current(const std::string& room_id) const {
    if (auto s = staged_.find(room_id); s != staged_.end()) return s->second;
    if (auto c = committed_.find(room_id); c != committed_.end()) return c->second;
    return {};
  }
  void stage(const std::string& room_id, members m) { staged_[room_id] = std::move(m); }

  // Rooms with a member whose expiry is at or before now (staged view).
  std::vector<std::string> rooms_expiring(int64_t now) const {
    std::vector<std::string> out;
    auto scan = [&](const auto& rooms, bool skip_staged) {
      for (const auto& [room_id, m] : rooms) {
        if (skip_staged && staged_.count(room_id)) continue;
        if (std::any_of(m.begin(), m.end(), [&](const auto& e) { return e.second <= now; })) out.push_back(room_id);
      }
    };
    scan(staged_, false);
    scan(committed_, true);
    return out;
  }
  bool any_expired(int64_t now) const { return earliest_ <= now; }

  void begin() { staged_.clear(); }
  void abort() { staged_.clear(); }
  void commit() {
    for (auto& [room_id, m] : staged_) {
      if (m.empty()) committed_.erase(room_id);
      else committed_[room_id] = std::move(m);
    }
    staged_.clear();
    earliest_ = INT64_MAX;
    for (const auto& [room_id, m] : committed_)
      for (const auto& [user, until] : m) earliest_ = std::min(earliest_, until);
  }

private:
  std::unordered_map<std::string, members> committed_;
  std::unordered_map<std::string, members> staged_;
  int64_t earliest_ = INT64_MAX;  // the first expiry among committed entries, for the periodic tick
};

json::object room_row(int64_t position, const std::string& room_id, const typing_rooms::members& m) {
  json::array users;
  for (const auto& [user, until] : m) users.emplace_back(user);
  return {{"type", "typing"}, {"position", position}, {"room_id", room_id}, {"user_ids", std::move(users)}};
}

op_output set(typing_rooms& rooms, op_context& ctx, const json::object& args) {
  auto room_id = protocol::req_string(args, "room_id");
  auto user_id = protocol::req_string(args, "user_id");
  auto typing = protocol::opt_bool(args, "typing");
  if (!typing) throw protocol::errors::missing_param("Missing 'typing'");
  int64_t timeout = std::clamp<int64_t>(protocol::opt_int(args, "timeout_ms").value_or(30000), 0, 120000);
  int64_t now = protocol::opt_int(args, "now_ms").value_or(now_ms());

  auto m = rooms.current(room_id);
  bool was_typing = m.count(user_id) > 0;
  if (*typing) m[user_id] = now + timeout;
  else m.erase(user_id);
  rooms.stage(room_id, m);
  if (was_typing == *typing) return {json::object{}, {}};  // only the expiry moved: nothing to tell
  return {json::object{}, {room_row(ctx.next_position(), room_id, m)}};
}

op_output expire(typing_rooms& rooms, op_context& ctx, const json::object& args) {
  int64_t now = protocol::opt_int(args, "now_ms").value_or(now_ms());
  op_output out{json::object{}, {}};
  auto expiring = rooms.rooms_expiring(now);
  if (expiring.empty()) return out;
  int64_t position = ctx.next_position();
  for (const auto& room_id : expiring) {
    auto m = rooms.current(room_id);
    std::erase_if(m, [&](const auto& e) { return e.second <= now; });
    rooms.stage(room_id, m);
    out.rows.push_back(room_row(position, room_id, m));
  }
  return out;
}

} // namespace

stream_definition typing_stream() {
  auto rooms = std::make_shared<typing_rooms>();
  stream_definition def{"typing",
                        {{"set", [rooms](op_context& ctx, const json::object& a) { return set(*rooms, ctx, a); }},
                         {"expire", [rooms](op_context& ctx, const json::object& a) { return expire(*rooms, ctx, a); }}}};
  // Typing rows are ephemeral: a subscriber catching up wants the rooms' state now, not a log.
  def.log_rows = false;
  def.hooks.on_begin = [rooms] { rooms->begin(); };
  def.hooks.on_commit = [rooms] { rooms->commit(); };
  def.hooks.on_abort = [rooms] { rooms->abort(); };
  def.periodic = stream_definition::periodic_op{expiry_interval, "expire", [rooms] { return rooms->any_expired(now_ms()); }};
  return def;
}

} // namespace myelin::storage
