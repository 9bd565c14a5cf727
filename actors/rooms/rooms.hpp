// What every room endpoint needs, whichever group serves it: resolving a room id or alias, the
// caller's membership, the client event format, and history visibility (spec: client-server
// "History visibility"), enforced on every read.
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "protocol/event_filter.hpp"
#include "storage/database.hpp"
#include "protocol/sync_token.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/room_sync.hpp"
#include "storage/tables/timeline.hpp"

namespace myelin::rooms {

// "!room:server" as is (404 M_NOT_FOUND if unknown), "#alias:server" through the directory
// (404 if not found); anything else is 400 M_INVALID_PARAM.
std::string resolve_room(storage::connection& c, const std::string& room_id_or_alias);

// 404 M_NOT_FOUND unless the room exists here.
storage::events::room_row require_room(storage::connection& c, const std::string& room_id);

// 403 M_FORBIDDEN unless `user_id` is joined to the room now.
void require_joined(storage::connection& c, const std::string& room_id, const std::string& user_id);

// Who is asking, for the client format (unsigned.transaction_id goes to the sending device only).
struct viewer {
  std::string user_id;
  std::string device_id;
};

// The content of a stored event (an empty object if it has none).
boost::json::object content_of(const storage::events::event_row& e);

// Whether a stored event passes a RoomEventFilter (content is parsed only for contains_url).
bool matches_filter(const protocol::room_event_filter& f, const storage::events::event_row& e);

// Events as clients see them (ClientEvent): content (pruned if redacted, with
// unsigned.redacted_because), unsigned.age, prev_content / replaces_state for state events,
// transaction_id for the sending device. One query fetches all the redaction events.
boost::json::array client_events(storage::connection& c, const std::vector<storage::events::event_row>& events,
                                 const viewer& v);

// Visibility of events of one room to `user_id` (history_visibility and membership at each
// event, plus the user's membership now for "shared" and "world_readable"). Returns the visible
// subset in the given order.
std::vector<storage::events::event_row> filter_visible(storage::connection& c, const std::string& room_id,
                                                       const std::string& user_id,
                                                       std::vector<storage::events::event_row> events);
bool can_see_event(storage::connection& c, const std::string& user_id, const storage::events::event_row& e);

// For reads of room state (/state, /members, /state/{type}/{key}): the state group the user may
// see — the current state when joined, the state at their leave when they left (and the room's
// history is not world_readable), nothing otherwise (403 M_FORBIDDEN). nullopt = current state.
std::optional<int64_t> readable_state_group(storage::connection& c, const std::string& room_id,
                                            const std::string& user_id);

// The events stream between two /sync tokens, per persister: (since, upto]; since = null: (0, upto].
storage::room_sync::window events_window(const protocol::sync_token* since, const protocol::sync_token& upto);

// A point in the room's timeline named by a token: a room token ("t…", what /messages returns and
// /sync gives as prev_batch) as is, or a /sync next_batch ("m…"), which clients also send to
// /messages and /members — the point just after the room's last event at that token. nullopt for
// anything else.
std::optional<storage::timeline::point> timeline_point(storage::connection& c, const std::string& room_id,
                                                       std::string_view token);

} // namespace myelin::rooms
