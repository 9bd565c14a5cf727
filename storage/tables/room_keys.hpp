// Queries over room_key_versions and room_keys (storage/schema/0011_room_keys.cpp): server-side key
// backups. Written directly by the key backup endpoints (actors/keys/room_key*.cpp), each change
// in its own transaction; nothing here opens one.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "protocol/key_backup.hpp"
#include "storage/database.hpp"

namespace myelin::storage::room_keys {

using protocol::key_backup::key_metadata;
using protocol::key_backup::session_key;

// ---- versions ----

// A backup as GET /room_keys/version answers it; `count` is the number of keys it holds.
struct version_info {
  int64_t version = 0;
  std::string algorithm;
  std::string auth_data;  // JSON text
  int64_t etag = 0;
  int64_t count = 0;
};

// A live (not deleted) backup, with its key count read in the same statement.
std::optional<version_info> get_version(connection& c, const std::string& user_id, int64_t version);
// The user's current backup: the newest one not deleted.
std::optional<version_info> current_version(connection& c, const std::string& user_id);
std::optional<int64_t> current_version_number(connection& c, const std::string& user_id);

// A backup's row, deleted or not. With `lock` it is locked until the transaction ends
// (PostgreSQL: FOR UPDATE; SQLite writers already hold the database lock), so the writes of one
// backup's keys and etag, and its deletion, take turns.
struct version_row {
  std::string algorithm;
  int64_t etag = 0;
  bool deleted = false;
};
std::optional<version_row> find_version(connection& c, const std::string& user_id, int64_t version, bool lock = false);

// The number a new backup takes: one more than any the user ever had, deleted ones included.
int64_t next_version(connection& c, const std::string& user_id);
// Fails with a unique violation when a concurrent request took `version` first.
void insert_version(connection& c, const std::string& user_id, int64_t version, const std::string& algorithm,
                    const std::string& auth_data);
void set_auth_data(connection& c, const std::string& user_id, int64_t version, const std::string& auth_data);
void mark_deleted(connection& c, const std::string& user_id, int64_t version);
// Moves the backup's etag on by one and returns the new value.
int64_t bump_etag(connection& c, const std::string& user_id, int64_t version);

// ---- keys ----

int64_t count_keys(connection& c, const std::string& user_id, int64_t version);
// The stored key's metadata, nullopt when the session is not backed up.
std::optional<key_metadata> get_key_metadata(connection& c, const std::string& user_id, int64_t version,
                                             const std::string& room_id, const std::string& session_id);
// Inserts or overwrites one session key (the caller has applied the replacement rule).
void put_key(connection& c, const std::string& user_id, int64_t version, const session_key& key);
// The keys of a backup, of one room, or one session (room_id / session_id narrow it), ordered by
// room and session.
std::vector<session_key> get_keys(connection& c, const std::string& user_id, int64_t version,
                                  const std::optional<std::string>& room_id = std::nullopt,
                                  const std::optional<std::string>& session_id = std::nullopt);
// Deletes the same selection; returns how many keys went.
int64_t delete_keys(connection& c, const std::string& user_id, int64_t version,
                    const std::optional<std::string>& room_id = std::nullopt,
                    const std::optional<std::string>& session_id = std::nullopt);

// ---- one upload ----

// Stores each key the replacement rule lets in (protocol::key_backup::should_replace): one lookup
// and at most one write per key. Returns how many keys were written. Call inside the transaction
// that checked the version and holds its lock (find_version with lock).
size_t store_keys(connection& c, const std::string& user_id, int64_t version, const std::vector<session_key>& keys);

} // namespace myelin::storage::room_keys
