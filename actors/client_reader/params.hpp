// Typed query-string parameters for the read endpoints (messages, context, directory, relations,
// threads, hierarchy, search, timestamp_to_event): malformed values are 400 M_INVALID_PARAM, never a 500.
#pragma once
#include <algorithm>
#include <charconv>
#include <optional>
#include <string>

#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "storage/tables/timeline.hpp"

namespace myelin::endpoints {

// An integer parameter; nullopt when absent.
inline std::optional<int64_t> int_param(const api_request& req, std::string_view name) {
  auto v = query_param(req, name);
  if (!v) return std::nullopt;
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc{} || ptr != v->data() + v->size())
    throw protocol::errors::invalid_param(std::string(name) + " must be an integer");
  return n;
}

// A "limit" parameter: `fallback` when absent, clamped to [1, max]; zero or negative is 400.
inline size_t limit_param(const api_request& req, size_t fallback, size_t max) {
  auto n = int_param(req, "limit");
  if (!n) return fallback;
  if (*n <= 0) throw protocol::errors::invalid_param("limit must be greater than zero");
  return static_cast<size_t>(std::min<int64_t>(*n, static_cast<int64_t>(max)));
}

// "true" / "false"; nullopt when absent.
inline std::optional<bool> bool_param(const api_request& req, std::string_view name) {
  auto v = query_param(req, name);
  if (!v) return std::nullopt;
  if (*v == "true") return true;
  if (*v == "false") return false;
  throw protocol::errors::invalid_param(std::string(name) + " must be 'true' or 'false'");
}

// "dir": "b" (the default) or "f"; true when paging backwards.
inline bool backwards_param(const api_request& req) {
  auto dir = query_param(req, "dir").value_or("b");
  if (dir != "b" && dir != "f") throw protocol::errors::invalid_param("dir must be 'b' or 'f'");
  return dir == "b";
}

// A room timeline token ("t<topo>_<stream>", as /messages returns); nullopt when absent or empty.
inline std::optional<storage::timeline::point> token_param(const api_request& req, const char* name) {
  auto v = query_param(req, name);
  if (!v || v->empty()) return std::nullopt;
  auto p = storage::timeline::parse_token(*v);
  if (!p) throw protocol::errors::invalid_param(std::string("Invalid ") + name + " token");
  return p;
}

// A position in a room's timeline: a room token, or a /sync next_batch (the spec lets /messages
// start there; clients do). nullopt when absent or empty.
inline std::optional<storage::timeline::point> room_token_param(const api_request& req, const char* name,
                                                                storage::connection& c, const std::string& room_id) {
  auto v = query_param(req, name);
  if (!v || v->empty()) return std::nullopt;
  auto p = rooms::timeline_point(c, room_id, *v);
  if (!p) throw protocol::errors::invalid_param(std::string("Invalid ") + name + " token");
  return p;
}

} // namespace myelin::endpoints
