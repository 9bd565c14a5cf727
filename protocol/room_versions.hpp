// Room versions as data: every behaviour difference between versions 1–11 is one field here, so
// the auth rules, redaction and event formats read a flag instead of comparing version strings.
#pragma once
#include <string_view>
#include <vector>

namespace myelin::protocol {

enum class event_id_format { server_made, base64, url_safe_base64 };  // v1–2, v3, v4+

struct room_version {
  std::string_view id;
  bool stable = true;
  event_id_format event_ids = event_id_format::url_safe_base64;
  int state_resolution = 2;                  // 1 for v1, 2 from v2
  bool special_case_aliases_auth = false;    // v1–5: m.room.aliases has its own auth rule
  bool enforce_key_validity = true;          // v5+: an event's signing key must be valid at its origin_server_ts
  bool strict_canonical_json = false;        // v6+: integers in range, no floats
  bool limit_notifications_power_levels = false;  // v6+: notifications.* needs that power to change
  bool knock = false;                        // v7+: knock membership and join rule
  bool restricted_join = false;              // v8+: restricted join rule, join_authorised_via_users_server
  bool knock_restricted = false;             // v10+: knock_restricted join rule
  bool integer_power_levels = false;         // v10+: power level values must be integers, not strings
  bool implicit_room_creator = false;        // v11: the create event's sender is the creator
};

// Versions 1–11. nullptr for an unknown id.
const room_version* find_room_version(std::string_view id);
const std::vector<room_version>& known_room_versions();
// What createRoom uses without `room_version` (like Synapse).
inline constexpr std::string_view default_room_version = "10";

} // namespace myelin::protocol
