#include "actors/event_creator/leave_rooms.hpp"

#include <boost/json.hpp>

#include "actors/event_creator/append.hpp"
#include "actors/keys/device_changes.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

stream_position send_leave(runtime::handler_context& ctx, const std::string& room_id, const std::string& target,
                           const std::string& sender, const std::string& reason) {
  api_request none;  // no client transaction: nothing to deduplicate
  none.user_id = sender;
  auto content = member_content(ctx, target, "leave", reason.empty() ? std::nullopt : std::optional(reason));
  return append_event(ctx, none, room_id, state_template("m.room.member", target, std::move(content), sender)).position;
}

std::vector<stream_position> leave_all_rooms(runtime::handler_context& ctx, const std::string& user_id) {
  std::vector<std::string> rooms;
  {
    auto c = ctx.db.acquire();
    for (const char* m : {"join", "invite", "knock"})
      for (auto& r : storage::events::rooms_for_user(*c, user_id, m)) rooms.push_back(std::move(r));
  }
  std::vector<stream_position> positions;
  for (const auto& room_id : rooms) {
    try {
      positions.push_back(send_leave(ctx, room_id, user_id, user_id));
    } catch (const protocol::matrix_error& e) {
      ctx.log.warn("could not leave room", {{"room_id", room_id}, {"user_id", user_id}, {"error", e.what()}});
    }
  }
  return positions;
}

std::vector<stream_position> deactivate_account(runtime::handler_context& ctx, const std::string& user_id) {
  auto w = ctx.writers.write("accounts", user_id, "deactivate", {{"user_id", user_id}});
  keys::after_devices_removed(ctx, user_id, w);
  // After the deactivation, so the account cannot rejoin in between (its tokens are gone).
  auto positions = leave_all_rooms(ctx, user_id);
  positions.insert(positions.begin(), w.position);
  return positions;
}

} // namespace myelin::endpoints
