// Small helpers every endpoint file uses: request body and query access, sessions (device + token).
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"
#include "storage/database.hpp"

namespace myelin::endpoints {

// The request body as a JSON object, within the configured depth limit (M_NOT_JSON / M_BAD_JSON).
boost::json::object body_object(const runtime::handler_context& ctx, const api_request& req, bool allow_empty = false);

std::optional<std::string> query_param(const api_request& req, std::string_view name);

// The session fields for the accounts writer (device_id, display_name, token_hash, …) plus the
// plaintext token to return to the client; the token itself is never stored.
struct session_request {
  boost::json::object fields;
  std::string access_token;
  std::string device_id;
  std::optional<int64_t> expires_in_ms;
};
session_request make_session_request(const runtime::handler_context& ctx, const api_request& req,
                                     std::optional<std::string> device_id,
                                     std::optional<std::string> display_name);

// The response of /login and /register.
boost::json::object session_response(const runtime::handler_context& ctx, const std::string& user_id,
                                     const session_request& s);

// An api_response that also waits for `pos` on the answering node (read-after-write).
api_response json_response_after(const boost::json::value& body, const stream_position& pos, uint16_t status = 200);
// The same after several writes (to different streams or shards).
api_response json_response_after(const boost::json::value& body, const std::vector<stream_position>& positions,
                                 uint16_t status = 200);

// db.transact(fn), run again (five attempts in all) when it fails on a unique constraint: for ids
// that count up per user, where two requests may read the same "next" id and the primary key
// decides — the loser takes the one after.
template <class Fn>
auto transact_retrying_unique(storage::database& db, Fn&& fn) {
  for (int attempt = 0;; ++attempt) {
    try {
      return db.transact(fn);
    } catch (const storage::database_error& e) {
      if (!e.unique_violation() || attempt >= 4) throw;
    }
  }
}

} // namespace myelin::endpoints
