// Other servers' signing keys (storage/schema/0020_server_keys.cpp): read to check their requests
// and events, written when a key document was fetched and checked (actors/federation/server_keys).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::server_keys {

struct key_row {
  std::string public_key;  // unpadded base64, as in the document
  int64_t valid_until_ts = 0;
  std::optional<int64_t> expired_ts;  // set for old_verify_keys
  int64_t fetched_ts = 0;
};

std::optional<key_row> get(connection& c, const std::string& server_name, const std::string& key_id);

// Stores a checked document and its keys, replacing what was known of each key id, except that a
// retired key (old_verify_keys) stays retired, and the stored document is replaced only by one
// valid as long or longer (a notary may hand us an older one).
struct stored_key {
  std::string key_id;
  key_row row;
};
void store(connection& c, const std::string& server_name, const std::string& document, int64_t valid_until_ts,
           const std::vector<stored_key>& keys, int64_t now_ms);

// The newest document fetched from the server, as received (JSON text), and its valid_until_ts.
struct document_row {
  std::string document;
  int64_t valid_until_ts = 0;
};
std::optional<document_row> document(connection& c, const std::string& server_name);

} // namespace myelin::storage::server_keys
