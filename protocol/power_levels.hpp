// m.room.power_levels read with the spec's defaults (client-server "m.room.power_levels"): what
// level a user has and what level an action needs. Without a power levels event the room creator
// has 100 and everyone else 0.
#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/pdu.hpp"
#include "protocol/room_versions.hpp"

namespace myelin::protocol {

struct power_levels {
  int64_t ban = 50, kick = 50, redact = 50, invite = 0;
  int64_t events_default = 0, state_default = 50, users_default = 0;
  int64_t notifications_room = 50;
  std::map<std::string, int64_t, std::less<>> events;
  std::map<std::string, int64_t, std::less<>> users;
  std::map<std::string, int64_t, std::less<>> notifications;  // every key of `notifications`

  int64_t user_level(std::string_view user_id) const;
  // The level needed to trigger a notification of `key` (push rule condition
  // sender_notification_permission): notifications[key], 50 when absent.
  int64_t notification_level(std::string_view key) const;
  // The level needed to send an event of this type (state or not).
  int64_t event_level(std::string_view type, bool is_state) const;
};

// One power level value as room `version` reads it: a JSON integer; before v10 also a string of
// an integer ("50", " +050 "); in v1–5 (no canonical JSON) also a float, truncated. nullopt when
// the value is none of those (or out of the int64 range).
std::optional<int64_t> parse_power_level_value(const boost::json::value& value, const room_version& version);

// Parses content of a power levels event. Values may be strings of digits before room v10
// (integer_power_levels false); invalid values fall back to the defaults.
power_levels parse_power_levels(const boost::json::object& content, const room_version& version);

// The effective levels given the room's current power levels event (may be null) and create event.
power_levels effective_power_levels(const pdu* power_levels_event, const pdu* create_event,
                                    const room_version& version);

} // namespace myelin::protocol
