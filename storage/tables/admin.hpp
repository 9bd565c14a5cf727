// Reads for the admin API (actors/admin): listings over every user and every room. Writes go
// through the stream writers like any other change.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::storage::admin {

struct user_filter {
  int64_t from = 0;
  int64_t limit = 100;
  bool guests = true;
  bool deactivated = false;               // include deactivated users
  std::optional<std::string> user_id;     // substring of the user id
  std::optional<std::string> name;        // substring of the user id or the display name
  std::optional<bool> admins;             // only admins / only non-admins
  bool descending = false;                // by user id
};

struct user_entry {
  accounts::user_row user;
  std::optional<std::string> displayname;
  std::optional<std::string> avatar_url;
  std::optional<int64_t> last_seen_ts;    // latest of the user's devices
};

struct user_page {
  std::vector<user_entry> users;
  int64_t total = 0;                      // matching users, all pages
};

user_page list_users(connection& c, const user_filter& f);
std::optional<user_entry> get_user_entry(connection& c, const std::string& user_id);

// One room as the admin room list shows it: its row plus what its current state says.
struct room_summary {
  std::string room_id;
  std::string version;
  std::string creator;
  bool is_public = false;
  std::optional<std::string> name, canonical_alias, topic, avatar, join_rules, guest_access,
      history_visibility, encryption, room_type;
  bool federatable = true;
  int64_t joined_members = 0;
  int64_t joined_local_members = 0;
  int64_t state_events = 0;
};

// content[key] of a stored event's JSON, if it is a string (room names, aliases, topics).
std::optional<std::string> content_string(const std::string& event_json, std::string_view key);

// Every room (a handful of queries over all rooms, not one per room); `room_id` limits it to one.
std::vector<room_summary> room_summaries(connection& c, const std::string& server_name,
                                         const std::optional<std::string>& room_id = std::nullopt);

// The users whose current membership in the room is "join", by user id.
std::vector<std::string> joined_members(connection& c, const std::string& room_id);

// Event reports (storage/schema/0017_event_reports.cpp).
struct event_report {
  int64_t id = 0;
  int64_t received_ts = 0;
  std::string room_id;
  std::string event_id;
  std::string user_id;
  std::optional<std::string> reason;
  std::optional<int64_t> score;
  std::optional<std::string> sender;  // of the reported event, when it is known
};

struct report_filter {
  int64_t from = 0;
  int64_t limit = 100;
  bool newest_first = true;              // Synapse's default (dir=b)
  std::optional<std::string> user_id;    // substring of the reporter's id
  std::optional<std::string> room_id;    // substring of the room id
};

struct report_page {
  std::vector<event_report> reports;
  int64_t total = 0;
};

// Writes (accounts stream writer only).
int64_t insert_event_report(connection& c, const event_report& r);
bool delete_event_report(connection& c, int64_t id);
// Reads.
report_page list_event_reports(connection& c, const report_filter& f);
std::optional<event_report> get_event_report(connection& c, int64_t id);

} // namespace myelin::storage::admin
