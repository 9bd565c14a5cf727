// GET /keys/changes?from=&to= (spec: "Key management API"): whose device lists changed between
// two /sync tokens — the same answer as device_lists in the /sync that went from one to the other.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/sync_token.hpp"
#include "protocol/errors.hpp"
#include "storage/tables/device_lists.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

protocol::sync_token token_param(const api_request& req, std::string_view name) {
  auto text = query_param(req, name);
  if (!text || text->empty()) throw protocol::errors::missing_param("Missing '" + std::string(name) + "'");
  auto token = protocol::parse_sync_token(*text);
  if (!token) throw protocol::errors::invalid_param("Invalid '" + std::string(name) + "' token");
  return *token;
}

api_response changes(runtime::handler_context& ctx, const api_request& req) {
  auto from = token_param(req, "from");
  auto to = token_param(req, "to");
  auto c = ctx.db.acquire();
  auto found = storage::device_lists::changes_for_viewer(*c, req.user_id, from.get("device_lists", 0),
                                                         to.get("device_lists", 0), rooms::events_window(&from, to));
  return runtime::json_response(storage::device_lists::to_json(found));
}

} // namespace

void register_keys_changes(runtime::endpoint_registry& r) {
  r.add({.name = "keys.changes", .method = "GET", .path = "/_matrix/client/{:r0|v3|unstable}/keys/changes",
         .allow_guest = true},
        changes);
}

} // namespace myelin::endpoints
