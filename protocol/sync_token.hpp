// Sync tokens (`next_batch` / `since`): one position per writer of every stream /sync reads, so a
// token names exactly what a client has seen and stays valid across restarts (positions are
// durable). Text form: "m" then items joined by "_", each item a stream code, the writer's index
// and ".position" — "me0.1042_e1.977_a0.12_t0.3". Streams a token does not name are at 0; items
// for unknown stream codes are ignored, so tokens survive new streams and re-sharded writers.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace myelin::protocol {

struct sync_token {
  // stream name ("events", "account_data", …) → writer index → position
  std::map<std::string, std::map<uint32_t, int64_t>> positions;

  int64_t get(const std::string& stream, uint32_t writer) const;
  void set(const std::string& stream, uint32_t writer, int64_t position);
  // Whether any position of this token is beyond `other`'s.
  bool ahead_of(const sync_token& other) const;
};

// The streams a sync token carries, by one-letter code.
const std::map<std::string, char>& sync_token_streams();

std::string format_sync_token(const sync_token& t);
// nullopt for anything malformed.
std::optional<sync_token> parse_sync_token(std::string_view text);

} // namespace myelin::protocol
