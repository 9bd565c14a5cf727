// Registration tokens (docs: Synapse "Registration Tokens" admin API): list (optionally only valid
// or only invalid ones), show, create (given or generated), change uses_allowed / expiry_time,
// delete. Admins only; writes go through the accounts writer (ops *_registration_token), sharded
// by the token. /register's m.login.registration_token stage uses them (actors/auth/uia.cpp).
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/clock.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/registration_tokens.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;
namespace tokens = storage::registration_tokens;

namespace {

constexpr size_t max_token_length = 64;  // the spec's opaque identifier limit

json::object token_json(const tokens::token_row& t) {
  return json::object{{"token", t.token},
                      {"uses_allowed", admin::or_null(t.uses_allowed)},
                      {"pending", t.pending},
                      {"completed", t.completed},
                      {"expiry_time", admin::or_null(t.expiry_time)}};
}

// Opaque identifier grammar (spec appendix): [A-Za-z0-9._~-], 1 to 64 characters.
bool valid_token(std::string_view t) {
  if (t.empty() || t.size() > max_token_length) return false;
  for (char ch : t)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '~' && ch != '-') return false;
  return true;
}

struct nullable_int {
  bool present = false;
  std::optional<int64_t> value;  // null when present and null
};

// An optional body field that is null or a non-negative integer (400 M_INVALID_PARAM otherwise).
nullable_int int_field(const json::object& body, const char* key) {
  auto* v = body.if_contains(key);
  if (!v) return {};
  if (v->is_null()) return {true, std::nullopt};
  if (!v->is_int64() && !v->is_uint64()) throw errors::invalid_param(std::string(key) + " must be an integer or null");
  auto n = v->is_int64() ? v->as_int64() : static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
  if (n < 0) throw errors::invalid_param(std::string(key) + " must not be negative");
  return {true, n};
}

// expiry_time, when given, must lie in the future.
nullable_int expiry_field(const json::object& body) {
  auto e = int_field(body, "expiry_time");
  if (e.value && *e.value < now_ms()) throw errors::invalid_param("expiry_time must not be in the past");
  return e;
}

tokens::token_row existing(runtime::handler_context& ctx, const std::string& token) {
  auto c = ctx.db.acquire();
  auto t = tokens::get(*c, token);
  if (!t) throw errors::not_found("No such registration token: " + token);
  return *t;
}

api_response after_write(runtime::handler_context& ctx, const std::string& token, const write_result& w) {
  return json_response_after(token_json(existing(ctx, token)), w.position);
}

api_response list(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  std::optional<bool> valid;
  if (query_param(req, "valid")) valid = admin::query_flag(req, "valid", true);
  auto c = ctx.db.acquire();
  json::array out;
  for (const auto& t : tokens::list(*c, valid, now_ms())) out.push_back(token_json(t));
  return runtime::json_response(json::object{{"registration_tokens", std::move(out)}});
}

api_response create(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto body = body_object(ctx, req, true);
  auto uses = int_field(body, "uses_allowed");
  auto expiry = expiry_field(body);
  std::string token;
  if (auto* t = body.if_contains("token"); t && !t->is_null()) {
    if (!t->is_string() || !valid_token(t->as_string()))
      throw errors::invalid_param("token must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '~' and '-'");
    token = t->as_string();
  } else {
    auto length = int_field(body, "length");  // null: the default (synadm sends it so)
    if (length.value && (*length.value < 1 || *length.value > int64_t(max_token_length)))
      throw errors::invalid_param("length must be an integer between 1 and 64");
    token = protocol::random_alnum(static_cast<size_t>(length.value.value_or(16)));
  }
  json::object args{{"token", token}};
  if (uses.value) args["uses_allowed"] = *uses.value;
  if (expiry.value) args["expiry_time"] = *expiry.value;
  return after_write(ctx, token, ctx.writers.write("accounts", token, "create_registration_token", args));
}

api_response update(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  const auto& token = req.path_params.at(0);
  auto body = body_object(ctx, req, true);
  auto uses = int_field(body, "uses_allowed");
  auto expiry = expiry_field(body);
  existing(ctx, token);
  json::object args{{"token", token}};
  if (uses.present) args["uses_allowed"] = admin::or_null(uses.value);
  if (expiry.present) args["expiry_time"] = admin::or_null(expiry.value);
  return after_write(ctx, token, ctx.writers.write("accounts", token, "update_registration_token", args));
}

} // namespace

void register_admin_registration_tokens(runtime::endpoint_registry& r) {
  const std::string base = "/_synapse/admin/v1/registration_tokens";
  r.add({.name = "admin.registration_tokens.list", .method = "GET", .path = base}, list);
  r.add({.name = "admin.registration_tokens.new", .method = "POST", .path = base + "/new"}, create);
  r.add({.name = "admin.registration_tokens.get", .method = "GET", .path = base + "/{token}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          admin::require_admin(ctx, req);
          return runtime::json_response(token_json(existing(ctx, req.path_params.at(0))));
        });
  r.add({.name = "admin.registration_tokens.put", .method = "PUT", .path = base + "/{token}"}, update);
  r.add({.name = "admin.registration_tokens.delete", .method = "DELETE", .path = base + "/{token}"},
        [](runtime::handler_context& ctx, const api_request& req) {
          admin::require_admin(ctx, req);
          const auto& token = req.path_params.at(0);
          auto w = ctx.writers.write("accounts", token, "delete_registration_token", {{"token", token}});
          return json_response_after(json::object{}, w.position);
        });
}

} // namespace myelin::endpoints
