// GET /_matrix/federation/v1/query/profile: a local user's public profile for another server
// (server-server API "Querying for information"). Only `field` when asked; 404 M_NOT_FOUND for
// an unknown user or an unset field.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void register_federation_query_profile(runtime::endpoint_registry& r) {
  r.add({.name = "federation.query_profile", .method = "GET", .path = "/_matrix/federation/v1/query/profile",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          federation::authenticate_origin(ctx, req);
          auto user_id = query_param(req, "user_id");
          if (!user_id || user_id->empty()) throw protocol::errors::missing_param("Missing user_id");
          auto parts = protocol::split_user_id(*user_id);
          if (!parts || parts->server_name != ctx.config.server_name)
            throw protocol::errors::invalid_param("user_id is not a user of this server");
          auto field = query_param(req, "field");
          if (field && *field != "displayname" && *field != "avatar_url")
            throw protocol::errors::not_found("No such profile field");
          auto c = ctx.db.acquire();
          auto user = storage::accounts::get_user(*c, *user_id);
          if (!user || user->deactivated) throw protocol::errors::not_found("No such user");
          auto profile = storage::accounts::get_profile(*c, *user_id).value_or(storage::accounts::profile_row{});
          json::object out;
          if (profile.displayname && (!field || *field == "displayname")) out["displayname"] = *profile.displayname;
          if (profile.avatar_url && (!field || *field == "avatar_url")) out["avatar_url"] = *profile.avatar_url;
          if (field && out.empty()) throw protocol::errors::not_found("The user has no " + *field);
          return runtime::json_response(out);
        });
}

} // namespace myelin::endpoints
