// Synapse-compatible admin API, users (docs: Synapse "User Admin API"): server version, list,
// query, create/modify, deactivate, reset password, whois, login as a user. Admins only
// (admin::require_admin); writes go through the accounts writer like the client API's.
#include <boost/json.hpp>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/event_creator/leave_rooms.hpp"
#include "actors/keys/device_changes.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/admin.hpp"
#include "storage/tables/events.hpp"

#ifndef MYELIN_VERSION
#define MYELIN_VERSION "unknown"
#endif

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;

namespace {

constexpr size_t max_password_length = 512;
constexpr size_t max_profile_field = 256;


// One user as the list and the details endpoints show it (Synapse's field names; what Myelin does
// not have — erasure, shadow-bans, locks, approval, user types — has its neutral value).
json::object user_json(const storage::admin::user_entry& e) {
  return json::object{{"name", e.user.user_id},
                      {"displayname", admin::or_null(e.displayname)},
                      {"avatar_url", admin::or_null(e.avatar_url)},
                      {"is_guest", e.user.is_guest},
                      {"admin", e.user.is_admin},
                      {"deactivated", e.user.deactivated},
                      {"erased", false},
                      {"shadow_banned", false},
                      {"locked", false},
                      {"approved", true},
                      {"user_type", nullptr},
                      {"creation_ts", e.user.created_ts},
                      {"last_seen_ts", admin::or_null(e.last_seen_ts)}};
}

json::object user_details(runtime::handler_context& ctx, const std::string& user_id) {
  auto c = ctx.db.acquire();
  auto e = storage::admin::get_user_entry(*c, user_id);
  if (!e) throw errors::not_found("User not found");
  auto out = user_json(*e);
  out["threepids"] = json::array{};
  out["external_ids"] = json::array{};
  out["appservice_id"] = nullptr;
  return out;
}

std::optional<storage::accounts::user_row> find_user(runtime::handler_context& ctx, const std::string& user_id) {
  auto c = ctx.db.acquire();
  return storage::accounts::get_user(*c, user_id);
}

storage::accounts::user_row existing_user(runtime::handler_context& ctx, const std::string& user_id) {
  auto u = find_user(ctx, user_id);
  if (!u) throw errors::not_found("User not found");
  return *u;
}

std::string checked_password(const json::object& body, std::string_view key) {
  auto pw = protocol::opt_string(body, key);
  if (!pw) throw errors::missing_param(std::string("Missing ") + std::string(key));
  if (pw->empty() || pw->size() > max_password_length)
    throw errors::invalid_param("The password must be 1 to 512 characters long");
  return *pw;
}

// A profile field of the PUT body: absent → untouched, null → cleared, a string → set.
bool profile_field(const json::object& body, const char* key, json::object& args) {
  auto* v = body.if_contains(key);
  if (!v) return false;
  if (!v->is_null() && !v->is_string()) throw errors::invalid_param(std::string(key) + " must be a string");
  if (v->is_string() && v->as_string().size() > max_profile_field)
    throw errors::invalid_param(std::string(key) + " is too long");
  if (v->is_string() && std::string_view(key) == "avatar_url" && !v->as_string().empty() &&
      !v->as_string().starts_with("mxc://"))
    throw errors::invalid_param("avatar_url must be an mxc:// URI");
  args[key] = *v;
  return true;
}

std::optional<bool> bool_field(const json::object& body, const char* key) {
  auto* v = body.if_contains(key);
  if (!v) return std::nullopt;
  if (!v->is_bool()) throw errors::invalid_param(std::string(key) + " must be a boolean");
  return v->as_bool();
}

api_response list_users(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  storage::admin::user_filter f;
  f.from = admin::query_count(req, "from", 0);
  f.limit = admin::query_count(req, "limit", 100, 1000);
  f.guests = admin::query_flag(req, "guests", true);
  f.deactivated = admin::query_flag(req, "deactivated", false);
  if (query_param(req, "admins")) f.admins = admin::query_flag(req, "admins", false);
  f.user_id = query_param(req, "user_id");
  f.name = query_param(req, "name");
  auto dir = query_param(req, "dir").value_or("f");
  if (dir != "f" && dir != "b") throw errors::invalid_param("dir must be f or b");
  f.descending = dir == "b";
  // Only the default order (by user id) exists here.
  if (auto order = query_param(req, "order_by"); order && *order != "name")
    throw errors::invalid_param("Unsupported order_by " + *order + " (only name)");
  auto c = ctx.db.acquire();
  auto page = storage::admin::list_users(*c, f);
  json::array users;
  for (const auto& e : page.users) users.push_back(user_json(e));
  json::object out{{"users", std::move(users)}, {"total", page.total}};
  if (f.from + static_cast<int64_t>(page.users.size()) < page.total)
    out["next_token"] = std::to_string(f.from + static_cast<int64_t>(page.users.size()));
  return runtime::json_response(out);
}

// Creates the account, with an optional password and the admin flag, no session.
stream_position create_user(runtime::handler_context& ctx, const std::string& user_id, const json::object& body) {
  auto local = protocol::split_user_id(user_id)->localpart;
  if (!protocol::is_valid_user_localpart(local))
    throw errors::invalid_username("User ID can only contain characters a-z, 0-9, or '=_-./+'");
  json::object args{{"user_id", user_id}, {"is_admin", bool_field(body, "admin").value_or(false)}};
  if (body.contains("password")) args["password_hash"] = protocol::hash_password(checked_password(body, "password"));
  json::object profile{{"user_id", user_id}};
  args["displayname"] = local;
  if (profile_field(body, "displayname", profile) && profile["displayname"].is_string())
    args["displayname"] = profile["displayname"];
  auto pos = ctx.writers.write("accounts", user_id, "register", args).position;
  json::object avatar{{"user_id", user_id}};
  if (profile_field(body, "avatar_url", avatar)) pos = ctx.writers.write("accounts", user_id, "set_profile", avatar).position;
  return pos;
}

// Applies the PUT body to an existing account; returns the last write's position.
std::vector<stream_position> modify_user(runtime::handler_context& ctx, const api_request& req,
                                        const std::string& user_id, const storage::accounts::user_row& user,
                                        const json::object& body) {
  stream_position pos;
  auto admin_flag = bool_field(body, "admin");
  auto deactivated = bool_field(body, "deactivated");
  if (admin_flag && !*admin_flag && user_id == req.user_id) throw errors::invalid_param("You may not demote yourself");
  bool reactivate = deactivated && !*deactivated && user.deactivated;
  // A reactivated account has no password (deactivation dropped it): it needs a new one to log in.
  if (reactivate && !body.contains("password"))
    throw errors::missing_param("Must provide a password to re-activate an account");
  std::optional<std::string> password;
  if (body.contains("password")) password = checked_password(body, "password");
  json::object profile{{"user_id", user_id}};
  bool profile_changed = profile_field(body, "displayname", profile);
  profile_changed = profile_field(body, "avatar_url", profile) || profile_changed;

  if (admin_flag || reactivate) {
    json::object flags{{"user_id", user_id}, {"reactivate", reactivate}};
    if (admin_flag) flags["admin"] = *admin_flag;
    pos = ctx.writers.write("accounts", user_id, "set_user_flags", flags).position;
  }
  if (password) {
    auto w = ctx.writers.write("accounts", user_id, "set_password",
                               {{"user_id", user_id},
                                {"password_hash", protocol::hash_password(*password)},
                                {"logout_devices", bool_field(body, "logout_devices").value_or(true)}});
    keys::after_devices_removed(ctx, user_id, w);
    pos = w.position;
  }
  if (profile_changed) pos = ctx.writers.write("accounts", user_id, "set_profile", profile).position;
  std::vector<stream_position> positions{pos};
  if (deactivated && *deactivated && !user.deactivated)
    for (auto& p : deactivate_account(ctx, user_id)) positions.push_back(std::move(p));
  return positions;
}

api_response put_user(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto user_id = admin::local_user_id(ctx, req.path_params.at(0));
  auto body = body_object(ctx, req, true);
  auto user = find_user(ctx, user_id);
  auto positions = user ? modify_user(ctx, req, user_id, *user, body)
                        : std::vector<stream_position>{create_user(ctx, user_id, body)};
  // Synapse: 201 when the account was created, 200 when it was changed.
  return json_response_after(user_details(ctx, user_id), positions, user ? 200 : 201);
}

api_response deactivate_user(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto user_id = admin::local_user_id(ctx, req.path_params.at(0));
  auto body = body_object(ctx, req, true);
  bool_field(body, "erase");  // checked; deactivation already clears the profile, nothing else is kept
  existing_user(ctx, user_id);
  return json_response_after(json::object{{"id_server_unbind_result", "success"}}, deactivate_account(ctx, user_id));
}

api_response reset_password(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto user_id = admin::local_user_id(ctx, req.path_params.at(0));
  auto body = body_object(ctx, req);
  auto password = checked_password(body, "new_password");
  auto logout = bool_field(body, "logout_devices").value_or(true);
  if (existing_user(ctx, user_id).deactivated) throw errors::invalid_param("The user is deactivated");
  auto w = ctx.writers.write("accounts", user_id, "set_password",
                             {{"user_id", user_id},
                              {"password_hash", protocol::hash_password(password)},
                              {"logout_devices", logout}});
  keys::after_devices_removed(ctx, user_id, w);
  return json_response_after(json::object{}, w.position);
}

// Sessions by device, each with its last connection (Myelin keeps the latest only).
api_response whois_response(runtime::handler_context& ctx, const std::string& user_id) {
  existing_user(ctx, user_id);
  auto c = ctx.db.acquire();
  json::object devices;
  for (const auto& d : storage::accounts::list_devices(*c, user_id)) {
    json::array connections;
    if (d.last_seen_ts)
      connections.push_back(json::object{{"ip", admin::or_null(d.last_seen_ip)},
                                         {"last_seen", *d.last_seen_ts},
                                         {"user_agent", admin::or_null(d.last_seen_user_agent)}});
    devices[d.device_id] = json::object{{"sessions", json::array{json::object{{"connections", connections}}}}};
  }
  return runtime::json_response(json::object{{"user_id", user_id}, {"devices", std::move(devices)}});
}

api_response whois(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  return whois_response(ctx, admin::local_user_id(ctx, req.path_params.at(0)));
}

// The spec's GET /admin/whois: admins may ask about anyone, every user about themselves.
api_response client_whois(runtime::handler_context& ctx, const api_request& req) {
  const auto& user_id = req.path_params.at(0);
  if (user_id != req.user_id) admin::require_admin(ctx, req);
  return whois_response(ctx, admin::local_user_id(ctx, user_id));
}

// Synapse's GET/PUT /users/{userId}/admin: the server-admin flag alone.
api_response set_admin_flag(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto user_id = admin::local_user_id(ctx, req.path_params.at(0));
  auto flag = bool_field(body_object(ctx, req), "admin");
  if (!flag) throw errors::missing_param("Missing key 'admin'");
  if (!*flag && user_id == req.user_id) throw errors::invalid_param("You may not demote yourself");
  existing_user(ctx, user_id);
  auto w = ctx.writers.write("accounts", user_id, "set_user_flags", {{"user_id", user_id}, {"admin", *flag}});
  return json_response_after(json::object{}, w.position);
}

api_response joined_rooms(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto user_id = admin::local_user_id(ctx, req.path_params.at(0));
  existing_user(ctx, user_id);
  auto c = ctx.db.acquire();
  json::array rooms;
  for (auto& r : storage::events::rooms_for_user(*c, user_id, "join")) rooms.emplace_back(r);
  auto total = static_cast<int64_t>(rooms.size());
  return runtime::json_response(json::object{{"joined_rooms", std::move(rooms)}, {"total", total}});
}

// A new device and token for the user (puppeting); never for the admin themselves.
api_response login_as(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto user_id = admin::local_user_id(ctx, req.path_params.at(0));
  if (user_id == req.user_id) throw errors::invalid_param("Cannot use admin API to login as self");
  auto body = body_object(ctx, req, true);
  auto valid_until = protocol::opt_int(body, "valid_until_ms");
  if (valid_until && *valid_until <= 0) throw errors::invalid_param("valid_until_ms must be a positive timestamp");
  existing_user(ctx, user_id);
  auto session = make_session_request(ctx, req, std::nullopt, std::string("Admin login"));
  json::object args = session.fields;
  args["user_id"] = user_id;
  if (valid_until) args["valid_until_ms"] = *valid_until;
  auto w = ctx.writers.write("accounts", user_id, "login", args);
  keys::after_device_changed(ctx, user_id, session.device_id);
  return json_response_after(json::object{{"access_token", session.access_token}}, w.position);
}

} // namespace

void register_admin_users(runtime::endpoint_registry& r) {
  r.add({.name = "admin.server_version", .method = "GET", .path = "/_synapse/admin/v1/server_version"},
        [](runtime::handler_context& ctx, const api_request& req) {
          admin::require_admin(ctx, req);
          return runtime::json_response(json::object{{"server_version", MYELIN_VERSION}});
        });
  r.add({.name = "admin.users.list", .method = "GET", .path = "/_synapse/admin/v2/users"}, list_users);
  r.add({.name = "admin.users.get", .method = "GET", .path = "/_synapse/admin/v2/users/{userId}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          admin::require_admin(ctx, req);
          return runtime::json_response(user_details(ctx, admin::local_user_id(ctx, req.path_params.at(0))));
        });
  r.add({.name = "admin.users.put", .method = "PUT", .path = "/_synapse/admin/v2/users/{userId}"}, put_user);
  r.add({.name = "admin.deactivate", .method = "POST", .path = "/_synapse/admin/v1/deactivate/{userId}"},
        deactivate_user);
  r.add({.name = "admin.reset_password", .method = "POST", .path = "/_synapse/admin/v1/reset_password/{userId}"},
        reset_password);
  r.add({.name = "admin.whois", .method = "GET", .path = "/_synapse/admin/v1/whois/{userId}"}, whois);
  r.add({.name = "admin.whois.client", .method = "GET", .path = "/_matrix/client/{:r0|v3}/admin/whois/{userId}"},
        client_whois);
  r.add({.name = "admin.users.admin.get", .method = "GET", .path = "/_synapse/admin/v1/users/{userId}/admin"},
        [](runtime::handler_context& ctx, const api_request& req) {
          admin::require_admin(ctx, req);
          auto user = existing_user(ctx, admin::local_user_id(ctx, req.path_params.at(0)));
          return runtime::json_response(json::object{{"admin", user.is_admin}});
        });
  r.add({.name = "admin.users.admin.put", .method = "PUT", .path = "/_synapse/admin/v1/users/{userId}/admin"},
        set_admin_flag);
  r.add({.name = "admin.users.joined_rooms", .method = "GET",
         .path = "/_synapse/admin/v1/users/{userId}/joined_rooms"},
        joined_rooms);
  r.add({.name = "admin.login_as", .method = "POST", .path = "/_synapse/admin/v1/users/{userId}/login"}, login_as);
}

} // namespace myelin::endpoints
