// Queries over url_cache (storage/schema/0014_url_cache.cpp): URL previews already made, so a URL
// that many clients ask about (a link posted in a big room) is fetched once an hour, not once per
// client. Written directly by the preview_url handler, one short statement per change.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "storage/database.hpp"

namespace myelin::storage::url_cache {

struct entry {
  int64_t ts = 0;          // when the preview was made
  std::string response;    // the OpenGraph JSON as answered
  int64_t expires_ts = 0;
};

// The preview of `url` still valid at `now_ms`, if any.
std::optional<entry> get(connection& c, const std::string& url, int64_t now_ms);
// Stores (or replaces) the preview of `url`.
void put(connection& c, const std::string& url, const entry& e);
// Deletes previews expired before `now_ms`; returns how many.
int64_t delete_expired(connection& c, int64_t now_ms);

} // namespace myelin::storage::url_cache
