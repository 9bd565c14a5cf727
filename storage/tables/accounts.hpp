// Queries over the account tables: users, profiles, devices, access_tokens. One function per query;
// each takes the connection (and so the caller's transaction) explicitly.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::accounts {

struct user_row {
  std::string user_id;
  std::optional<std::string> password_hash;
  bool is_admin = false;
  bool is_guest = false;
  bool deactivated = false;
  int64_t created_ts = 0;
};

std::optional<user_row> get_user(connection& c, const std::string& user_id);
// Whether the user exists and is flagged a server admin.
bool is_server_admin(connection& c, const std::string& user_id);
// Throws database_error{unique_violation} when the id is taken.
void insert_user(connection& c, const user_row& u);
void set_password_hash(connection& c, const std::string& user_id, const std::optional<std::string>& hash);
void set_deactivated(connection& c, const std::string& user_id);
// Admin API: the server-admin flag, and undoing a deactivation.
void set_admin(connection& c, const std::string& user_id, bool is_admin);
void set_reactivated(connection& c, const std::string& user_id);

struct profile_row {
  std::optional<std::string> displayname;
  std::optional<std::string> avatar_url;
};
std::optional<profile_row> get_profile(connection& c, const std::string& user_id);

void upsert_profile(connection& c, const std::string& user_id, const std::optional<std::string>& displayname,
                    const std::optional<std::string>& avatar_url);

struct device_row {
  std::string user_id;
  std::string device_id;
  std::optional<std::string> display_name;
  std::optional<int64_t> last_seen_ts;
  std::optional<std::string> last_seen_ip;
  std::optional<std::string> last_seen_user_agent;
};

std::vector<device_row> list_devices(connection& c, const std::string& user_id);
std::optional<device_row> get_device(connection& c, const std::string& user_id, const std::string& device_id);
// Creates the device or, if it exists, refreshes its last-seen fields (display name only if given).
void upsert_device(connection& c, const device_row& d);
bool set_device_display_name(connection& c, const std::string& user_id, const std::string& device_id,
                             const std::optional<std::string>& name);
// Deletes the devices (and their dehydrated-device record); returns those that existed.
std::vector<std::string> delete_devices(connection& c, const std::string& user_id,
                                        const std::vector<std::string>& device_ids);

// The user's dehydrated device (MSC3814), if any.
struct dehydrated_device_row {
  std::string device_id;
  std::string device_data;  // JSON text
};
std::optional<dehydrated_device_row> get_dehydrated_device(connection& c, const std::string& user_id);
void put_dehydrated_device(connection& c, const std::string& user_id, const dehydrated_device_row& d);

int64_t insert_access_token(connection& c, const std::string& token_hash, const std::string& user_id,
                            const std::string& device_id, std::optional<int64_t> valid_until_ms, bool is_guest);
// Deletes tokens and returns their hashes (for cache revocation).
std::vector<std::string> delete_tokens_for_devices(connection& c, const std::string& user_id,
                                                   const std::vector<std::string>& device_ids);
std::vector<std::string> delete_tokens_for_user(connection& c, const std::string& user_id);

} // namespace myelin::storage::accounts
