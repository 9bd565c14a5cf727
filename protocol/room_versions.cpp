// The table of known room versions (rooms/v1 … v11): one row per version, each flag switched on
// in the version that introduced the behaviour and kept from then on.
#include "protocol/room_versions.hpp"

namespace myelin::protocol {

namespace {

std::vector<room_version> make_versions() {
  std::vector<room_version> v;
  // v1: server-made event ids, state resolution v1, the m.room.aliases auth rule.
  v.push_back({.id = "1",
               .event_ids = event_id_format::server_made,
               .state_resolution = 1,
               .special_case_aliases_auth = true,
               .enforce_key_validity = false});
  // v2: state resolution v2.
  v.push_back({.id = "2",
               .event_ids = event_id_format::server_made,
               .special_case_aliases_auth = true,
               .enforce_key_validity = false});
  // v3: event ids are the (standard base64) reference hash.
  v.push_back({.id = "3",
               .event_ids = event_id_format::base64,
               .special_case_aliases_auth = true,
               .enforce_key_validity = false});
  // v4: URL-safe base64 event ids. v5: a signing key checks only events sent while it was valid.
  v.push_back({.id = "4", .special_case_aliases_auth = true, .enforce_key_validity = false});
  v.push_back({.id = "5", .special_case_aliases_auth = true});
  // v6: strict canonical JSON, notifications power levels, no more aliases special case.
  room_version v6{.id = "6", .strict_canonical_json = true, .limit_notifications_power_levels = true};
  v.push_back(v6);
  room_version v7 = v6;  // knocking
  v7.id = "7";
  v7.knock = true;
  v.push_back(v7);
  room_version v8 = v7;  // restricted joins
  v8.id = "8";
  v8.restricted_join = true;
  v.push_back(v8);
  room_version v9 = v8;  // redaction keeps join_authorised_via_users_server (no auth change)
  v9.id = "9";
  v.push_back(v9);
  room_version v10 = v9;  // knock_restricted, integer-only power levels
  v10.id = "10";
  v10.knock_restricted = true;
  v10.integer_power_levels = true;
  v.push_back(v10);
  room_version v11 = v10;  // the create event's sender is the creator; redacts moves into content
  v11.id = "11";
  v11.implicit_room_creator = true;
  v.push_back(v11);
  return v;
}

} // namespace

const std::vector<room_version>& known_room_versions() {
  static const std::vector<room_version> versions = make_versions();
  return versions;
}

const room_version* find_room_version(std::string_view id) {
  for (const auto& v : known_room_versions())
    if (v.id == id) return &v;
  return nullptr;
}

} // namespace myelin::protocol
