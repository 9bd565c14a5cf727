// GET /_matrix/client/versions, /.well-known/matrix/client and /capabilities: what this server
// speaks. No database access.
#include <boost/json.hpp>

#include "actors/client_reader/versions.hpp"
#include "actors/endpoint_helpers.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

// The spec versions whose endpoints clients rely on at startup. v1.11 is left out until
// authenticated media exists: clients that see it switch to /_matrix/client/v1/media.
const json::object& versions_body() {
  static const json::object body{
      {"versions", json::array{"r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
                               "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10"}},
      {"unstable_features", json::object{{"org.matrix.msc3814", true}, {"org.matrix.simplified_msc3575", true}}},
  };
  return body;
}

void register_versions(runtime::endpoint_registry& r) {
  r.add({.name = "versions", .method = "GET", .path = "/_matrix/client/versions", .auth = auth_mode::optional,
         .nonblocking = true},
        [](runtime::handler_context&, const api_request&) { return runtime::json_response(versions_body()); });

  r.add({.name = "well_known.client", .method = "GET", .path = "/.well-known/matrix/client", .auth = auth_mode::none,
         .nonblocking = true},
        [](runtime::handler_context& ctx, const api_request&) {
          if (ctx.config.public_baseurl.empty() || !ctx.config.serve_well_known_client)
            throw protocol::errors::not_found("No .well-known configured");
          return runtime::json_response(json::object{{"m.homeserver", {{"base_url", ctx.config.public_baseurl}}}});
        });

  // Delegation of federation (server-server API "Resolving server names"): other servers asking
  // https://<server_name>/.well-known/matrix/server are sent to public_baseurl's host, port 443.
  r.add({.name = "well_known.server", .method = "GET", .path = "/.well-known/matrix/server", .auth = auth_mode::none,
         .nonblocking = true},
        [](runtime::handler_context& ctx, const api_request&) {
          // public_baseurl is checked at startup to be an http(s) URL: its host is what follows the
          // scheme up to a port, path or the end.
          std::string_view url = ctx.config.public_baseurl;
          if (auto scheme = url.find("://"); scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
          url = url.substr(0, url.find('/'));
          if (auto colon = url.rfind(':'); colon != std::string_view::npos && url.find(']', colon) == std::string_view::npos)
            url = url.substr(0, colon);
          if (!ctx.config.serve_server_wellknown || url.empty())
            throw protocol::errors::not_found("No .well-known configured");
          return runtime::json_response(json::object{{"m.server", std::string(url) + ":443"}});
        });

  r.add({.name = "capabilities", .method = "GET", .path = "/_matrix/client/{:r0|v3}/capabilities", .nonblocking = true},
        [](runtime::handler_context& ctx, const api_request&) {
          json::object caps{
              {"m.change_password", {{"enabled", ctx.config.password_login_enabled}}},
              {"m.set_displayname", {{"enabled", true}}},
              {"m.set_avatar_url", {{"enabled", true}}},
              {"m.3pid_changes", {{"enabled", false}}},
              {"m.get_login_token", {{"enabled", false}}},
              {"m.room_versions", {{"default", "10"}, {"available", {{"10", "stable"}, {"11", "stable"}}}}},
          };
          return runtime::json_response(json::object{{"capabilities", std::move(caps)}});
        });
}

} // namespace myelin::endpoints
