// Server-side key backups (spec: client-server "Server-side key backups"), the parts without I/O:
// request bodies parsed and checked, backup version strings, and the rule that decides whether an
// uploaded session key replaces the one already stored.
#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::protocol::key_backup {

// What the replacement rule compares (KeyBackupData without its opaque session_data).
struct key_metadata {
  int64_t first_message_index = 0;
  int64_t forwarded_count = 0;
  bool is_verified = false;
};

// The spec's rule for a session already backed up: a verified key beats an unverified one; then the
// lower first_message_index wins; then the lower forwarded_count. A tie keeps what is stored.
bool should_replace(const key_metadata& stored, const key_metadata& uploaded);

// One session key of a backup: KeyBackupData and where it belongs.
struct session_key {
  std::string room_id;
  std::string session_id;
  key_metadata meta;
  std::string session_data;  // the session_data object as compact JSON text; opaque to the server
};

// The bodies of PUT /room_keys/keys/{roomId}/{sessionId} (KeyBackupData), …/keys/{roomId}
// (RoomKeyBackup: {"sessions": {…}}) and …/keys ({"rooms": {roomId: RoomKeyBackup}}). Missing
// fields → 400 M_MISSING_PARAM, wrong types → M_BAD_JSON, a negative count or an id that cannot
// be a room or session id → M_INVALID_PARAM; messages say where in the body.
session_key parse_session(const std::string& room_id, const std::string& session_id, const boost::json::object& body);
std::vector<session_key> parse_room(const std::string& room_id, const boost::json::object& body);
std::vector<session_key> parse_rooms(const boost::json::object& body);

// The ids the backup accepts: a room id starts with '!' (room version 12 ids have no server
// part, so nothing more is required), a session id is not empty; both at most 255 bytes.
void check_room_id(const std::string& room_id);
void check_session_id(const std::string& session_id);

// The body of POST /room_keys/version and PUT /room_keys/version/{version}.
struct version_body {
  std::string algorithm;
  boost::json::object auth_data;
  std::optional<std::string> version;  // PUT only: must equal the path's version when present
};
version_body parse_version_body(const boost::json::object& body);

// Backup versions are opaque strings to clients; Myelin's are the decimal numbers it hands out
// (1, 2, …). Anything else — "01", "-1", "abc", "" — names no backup: nullopt.
std::optional<int64_t> parse_version(std::string_view text);

} // namespace myelin::protocol::key_backup
