// History from before this server joined a room (server-server API "Backfilling"): when a client
// pages back past the earliest event this server has, the events before it are asked of a server
// in the room and stored as history.
#pragma once
#include <string>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"
#include "storage/database.hpp"

namespace myelin::federation {

// The prev events of the room's earliest timeline event that are not on the timeline here (a
// room joined through another server: what came before our join). Empty when the history is
// complete (it starts with the create event) or the room is ours alone.
std::vector<std::string> backfill_points(storage::connection& c, const std::string& room_id,
                                         const std::string& own_server_name);

// Asks the other servers in the room, in turn, for up to `limit` events back from `points`, and
// stores what checks out. False when no server answered.
bool backfill(runtime::handler_context& ctx, const std::string& room_id, const std::vector<std::string>& points,
              size_t limit);

} // namespace myelin::federation
