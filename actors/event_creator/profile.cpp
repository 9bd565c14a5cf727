// Profiles (spec: client-server "Profiles"): GET /profile/{userId}[/displayname|/avatar_url] and
// the PUTs. A change is written to the accounts stream, then propagated as a new m.room.member
// event into every room the user is joined to, as Synapse does.
#include <boost/json.hpp>

#include "actors/appservice/as_client.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/event_creator/append.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/appservice.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr size_t max_profile_field = 256;

std::optional<storage::accounts::profile_row> find_profile(runtime::handler_context& ctx, const std::string& user_id) {
  auto c = ctx.db.acquire();
  auto p = storage::accounts::get_profile(*c, user_id);
  auto u = storage::accounts::get_user(*c, user_id);
  if (!p || !u || u->deactivated) return std::nullopt;
  return p;
}

// Another server's user: asked of their server (server-server "query/profile"), not cached.
storage::accounts::profile_row remote_profile(runtime::handler_context& ctx, const std::string& user_id,
                                              const std::string& server) {
  auto answer = federation::request(ctx, server, "GET",
                                    "/_matrix/federation/v1/query/profile?user_id=" + protocol::percent_encode(user_id),
                                    nullptr);
  storage::accounts::profile_row p;
  if (!answer.is_object()) return p;
  for (auto [field, into] : {std::pair{"displayname", &p.displayname}, std::pair{"avatar_url", &p.avatar_url}})
    if (const auto* v = answer.as_object().if_contains(field); v && v->is_string()) *into = std::string(v->as_string());
  return p;
}

storage::accounts::profile_row load_profile(runtime::handler_context& ctx, const std::string& user_id) {
  if (!protocol::is_valid_user_id(user_id)) throw protocol::errors::invalid_param("Invalid user id");
  auto server = protocol::split_user_id(user_id)->server_name;
  if (server != ctx.config.server_name) return remote_profile(ctx, user_id, server);
  auto p = find_profile(ctx, user_id);
  // An unknown user in a service's namespace: the service may create it on demand (spec:
  // Application Service API, "Querying"); look again once it says yes.
  if (!p && protocol::split_user_id(user_id)->server_name == ctx.config.server_name)
    for (const auto* as : current_appservices(ctx.config)->user_queriers(user_id))
      if (appservice::query_user(ctx.config, *as, user_id)) {
        p = find_profile(ctx, user_id);
        break;
      }
  if (!p) throw protocol::errors::not_found("Profile not found");
  return *p;
}

json::object profile_json(const storage::accounts::profile_row& p) {
  json::object o;
  if (p.displayname) o["displayname"] = *p.displayname;
  if (p.avatar_url) o["avatar_url"] = *p.avatar_url;
  return o;
}

// Re-sends the user's member event in each joined room with the new profile. A room where it
// fails (e.g. the user lacks power to change their own member event) is logged and skipped, like
// Synapse: the profile change itself has happened.
std::vector<stream_position> propagate(runtime::handler_context& ctx, const api_request& req) {
  std::vector<std::string> rooms;
  {
    auto c = ctx.db.acquire();
    rooms = storage::events::rooms_for_user(*c, req.user_id, "join");
  }
  std::vector<stream_position> positions;
  auto content = member_content(ctx, req.user_id, "join");  // the new profile, read once
  for (const auto& room_id : rooms) {
    try {
      positions.push_back(
          append_event(ctx, req, room_id, state_template("m.room.member", req.user_id, content, req.user_id)).position);
    } catch (const protocol::matrix_error& e) {
      ctx.log.warn("profile change not propagated", {{"room_id", room_id}, {"error", e.what()}});
    }
  }
  return positions;
}

api_response set_field(runtime::handler_context& ctx, const api_request& req, const char* field) {
  const auto& user_id = req.path_params.at(0);
  if (user_id != req.user_id) throw protocol::errors::forbidden("You can only change your own profile");
  auto body = body_object(ctx, req);
  json::object args{{"user_id", user_id}};
  auto* v = body.if_contains(field);
  if (!v || v->is_null()) {
    args[field] = nullptr;
  } else if (v->is_string()) {
    if (v->as_string().size() > max_profile_field)
      throw protocol::errors::invalid_param(std::string(field) + " is too long");
    if (std::string_view(field) == "avatar_url" && !v->as_string().empty() && !v->as_string().starts_with("mxc://"))
      throw protocol::errors::invalid_param("avatar_url must be an mxc:// URI");
    args[field] = *v;
  } else {
    throw protocol::errors::bad_json(std::string(field) + " must be a string");
  }
  auto w = ctx.writers.write("accounts", user_id, "set_profile", args);
  auto positions = propagate(ctx, req);
  auto resp = json_response_after(json::object{}, w.position);
  for (auto& p : positions) resp.wait_for.push_back(std::move(p));
  return resp;
}

} // namespace

void register_profile(runtime::endpoint_registry& r) {
  r.add({.name = "profile.get", .method = "GET", .path = "/_matrix/client/{:r0|v3}/profile/{userId}",
         .auth = auth_mode::optional},
        [](runtime::handler_context& ctx, const api_request& req) {
          return runtime::json_response(profile_json(load_profile(ctx, req.path_params.at(0))));
        });
  for (const char* field : {"displayname", "avatar_url"}) {
    std::string f = field;
    r.add({.name = "profile.get." + f, .method = "GET",
           .path = "/_matrix/client/{:r0|v3}/profile/{userId}/" + f, .auth = auth_mode::optional},
          [field](runtime::handler_context& ctx, const api_request& req) {
            auto p = profile_json(load_profile(ctx, req.path_params.at(0)));
            auto* v = p.if_contains(field);
            if (!v) throw protocol::errors::not_found(std::string("No ") + field + " set");
            return runtime::json_response(json::object{{field, *v}});
          });
    r.add({.name = "profile.set." + f, .method = "PUT", .path = "/_matrix/client/{:r0|v3}/profile/{userId}/" + f,
           .allow_guest = true, .rate_limit = "message"},
          [field](runtime::handler_context& ctx, const api_request& req) { return set_field(ctx, req, field); });
  }
}

} // namespace myelin::endpoints
