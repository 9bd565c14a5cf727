// Registration tokens (migration 21): reads for the admin API and /register's validity check, and
// the writes the accounts stream writer makes. A token is valid while it has uses left (pending and
// completed together below uses_allowed, or no limit) and has not expired.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::registration_tokens {

struct token_row {
  std::string token;
  std::optional<int64_t> uses_allowed;   // null: unlimited
  int64_t pending = 0;
  int64_t completed = 0;
  std::optional<int64_t> expiry_time;    // ms since the epoch; null: never
};

std::optional<token_row> get(connection& c, const std::string& token);
// All tokens by name; `valid` keeps only valid (true) or only invalid (false) ones at `now_ms`.
std::vector<token_row> list(connection& c, std::optional<bool> valid, int64_t now_ms);
bool is_valid(connection& c, const std::string& token, int64_t now_ms);

// False when the token exists already.
bool insert(connection& c, const token_row& row);
// Sets uses_allowed and/or expiry_time (each only when `set_*`); false for an unknown token.
bool update(connection& c, const std::string& token, bool set_uses, std::optional<int64_t> uses_allowed,
            bool set_expiry, std::optional<int64_t> expiry_time);
bool remove(connection& c, const std::string& token);

// Takes one use of a valid token for a UIA session (pending + 1, one conditional UPDATE, so two
// sessions racing for a token's last use cannot both get it) and records it on the session.
// False when the token is unknown, used up or expired.
bool reserve(connection& c, const std::string& token, const std::string& session_id, int64_t now_ms);
// A reserved use becomes a registration (pending - 1, completed + 1) / is given back (pending - 1).
void complete(connection& c, const std::string& token);
void release(connection& c, const std::string& token);
// UIA sessions created before `cutoff_ms` that hold a token: their uses are given back and the
// sessions deleted (the UIA code's own cleanup leaves them for this).
void release_expired_sessions(connection& c, int64_t cutoff_ms);

} // namespace myelin::storage::registration_tokens
