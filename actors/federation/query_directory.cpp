// GET /_matrix/federation/v1/query/directory: which room a local alias names, for another server
// (server-server API "Room Directory"). 404 M_NOT_FOUND for an unknown alias; an alias of another
// server is not ours to answer (400 M_INVALID_PARAM).
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

void register_federation_query_directory(runtime::endpoint_registry& r) {
  r.add({.name = "federation.query_directory", .method = "GET", .path = "/_matrix/federation/v1/query/directory",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          federation::authenticate_origin(ctx, req);
          auto alias = query_param(req, "room_alias");
          if (!alias || alias->empty()) throw protocol::errors::missing_param("Missing room_alias");
          if (!protocol::is_valid_room_alias(*alias)) throw protocol::errors::invalid_param("Not a room alias");
          if (alias->substr(alias->find(':') + 1) != ctx.config.server_name)
            throw protocol::errors::invalid_param("The alias is not of this server");
          auto c = ctx.db.acquire();
          auto room = storage::events::room_for_alias(*c, *alias);
          if (!room) throw protocol::errors::not_found("Room alias not found");
          // The servers to join through: only this one until rooms span servers.
          return runtime::json_response(boost::json::object{
              {"room_id", *room}, {"servers", boost::json::array{boost::json::value(ctx.config.server_name)}}});
        });
}

} // namespace myelin::endpoints
