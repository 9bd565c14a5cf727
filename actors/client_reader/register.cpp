// POST /register (users through UIA with m.login.dummy, or m.login.registration_token when
// registration_requires_token; guests when allowed), GET /register/available and the registration
// token validity check (spec: Client-Server API, "Account registration").
#include <boost/json.hpp>

#include "actors/keys/device_changes.hpp"
#include "actors/auth/uia.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/appservice.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/registration_tokens.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using protocol::matrix_error;

namespace {

constexpr size_t max_password_length = 512;

// Validates a requested localpart the way Synapse does and returns the full user id.
std::string checked_user_id(const runtime::handler_context& ctx, const std::string& username) {
  if (username.empty()) throw protocol::errors::invalid_username("User ID cannot be empty");
  if (!protocol::is_valid_user_localpart(username))
    throw protocol::errors::invalid_username("User ID can only contain characters a-z, 0-9, or '=_-./+'");
  if (username.front() == '_') throw protocol::errors::invalid_username("User ID may not begin with _");
  if (std::all_of(username.begin(), username.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw protocol::errors::invalid_username("Numeric user IDs are reserved for guest users");
  std::string user_id = "@" + username + ":" + ctx.config.server_name;
  if (user_id.size() > 255) throw protocol::errors::invalid_username("User ID is too long");
  return user_id;
}

// Ordinary registration may not take a name an application service claims exclusively.
void check_not_reserved(const runtime::handler_context& ctx, const std::string& user_id) {
  if (current_appservices(ctx.config)->exclusive_owner_of_user(user_id))
    throw protocol::errors::exclusive("This user ID is reserved by an application service.");
}

bool user_exists(runtime::handler_context& ctx, const std::string& user_id) {
  auto c = ctx.db.acquire();
  return storage::accounts::get_user(*c, user_id).has_value();
}

void check_password_policy(const runtime::handler_context& ctx, const std::string& password) {
  if (password.size() > max_password_length) throw protocol::errors::invalid_param("Password too long");
  if (password.size() < ctx.config.password_min_length)
    throw protocol::errors::weak_password("Password must be at least " +
                                          std::to_string(ctx.config.password_min_length) + " characters");
}

// Gives a reserved use of a registration token back. Never fails the request (the registration
// has failed already); a use that cannot be given back is logged.
void release_token(runtime::handler_context& ctx, const std::string& token) {
  try {
    ctx.writers.write("accounts", token, "release_registration_token", {{"token", token}});
  } catch (const std::exception& e) {
    ctx.log.warn("registration token use not given back", {{"error", e.what()}});
  }
}

// A use of a registration token reserved by the UIA stage: given back when the request ends
// without the registration having been written (the accounts register op completes it).
class reserved_token_use {
public:
  reserved_token_use(runtime::handler_context& ctx, std::optional<std::string> token)
      : ctx_(ctx), token_(std::move(token)) {}
  reserved_token_use(const reserved_token_use&) = delete;
  reserved_token_use& operator=(const reserved_token_use&) = delete;
  ~reserved_token_use() {
    if (token_ && !used_) release_token(ctx_, *token_);
  }
  const std::optional<std::string>& token() const { return token_; }
  void used() { used_ = true; }

private:
  runtime::handler_context& ctx_;
  std::optional<std::string> token_;
  bool used_ = false;
};

// Writes the account (and, unless inhibited, its first session) through the accounts writer.
api_response create_account(runtime::handler_context& ctx, const api_request& req, const std::string& user_id,
                            const std::optional<std::string>& password, bool is_guest, const json::object& body,
                            reserved_token_use* token_use = nullptr) {
  json::object args{{"user_id", user_id}, {"is_guest", is_guest}};
  if (token_use && token_use->token()) args["registration_token"] = *token_use->token();
  if (password) args["password_hash"] = protocol::hash_password(*password);
  args["displayname"] = protocol::split_user_id(user_id)->localpart;
  bool inhibit_login = protocol::opt_bool(body, "inhibit_login").value_or(false);
  std::optional<session_request> session;
  if (!inhibit_login) {
    session = make_session_request(ctx, req, protocol::opt_string(body, "device_id"),
                                   protocol::opt_string(body, "initial_device_display_name"));
    args["session"] = session->fields;
  }
  auto w = ctx.writers.write("accounts", user_id, "register", args);
  if (token_use) token_use->used();
  if (session) keys::after_device_changed(ctx, user_id, session->device_id);
  json::object out = session ? session_response(ctx, user_id, *session)
                             : json::object{{"user_id", user_id}, {"home_server", ctx.config.server_name}};
  return json_response_after(out, w.position);
}

api_response register_guest(runtime::handler_context& ctx, const api_request& req, const json::object& body) {
  if (!ctx.config.allow_guest_access) throw protocol::errors::forbidden("Guest access is disabled");
  // Guests get numeric localparts, which ordinary registration refuses.
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::string local;
    for (char c : protocol::random_alnum(12)) local += static_cast<char>('0' + (static_cast<unsigned char>(c) % 10));
    auto user_id = "@" + local + ":" + ctx.config.server_name;
    try {
      return create_account(ctx, req, user_id, std::nullopt, true, body);
    } catch (const matrix_error& e) {
      if (e.errcode() != "M_USER_IN_USE") throw;
    }
  }
  throw protocol::errors::unknown("Could not allocate a guest user id");
}

// m.login.application_service (spec: Application Service API, "Server admin style permissions"):
// a passwordless user in the service's namespace, no UIA. As Synapse: the service's own namespace
// decides, so "_"-prefixed localparts (usual for bridges) are allowed here.
api_response register_appservice_user(runtime::handler_context& ctx, const api_request& req, const json::object& body) {
  if (req.appservice_id.empty()) {
    if (req.user_id.empty()) throw protocol::errors::missing_token();
    throw protocol::errors::unknown_token();  // a user's token is not an as_token
  }
  auto services = current_appservices(ctx.config);
  const auto* as = services->by_id(req.appservice_id);
  if (!as) throw protocol::errors::unknown_token();  // removed by a reload since the gateway looked
  auto username = protocol::opt_string(body, "username");
  if (!username) throw protocol::errors::missing_param("Missing 'username'");
  if (username->empty() || !protocol::is_valid_user_localpart(*username))
    throw protocol::errors::invalid_username("User ID can only contain characters a-z, 0-9, or '=_-./+'");
  std::string user_id = "@" + *username + ":" + ctx.config.server_name;
  if (user_id.size() > 255) throw protocol::errors::invalid_username("User ID is too long");
  if (!as->is_interested_in_user(user_id))
    throw protocol::errors::exclusive("Invalid user localpart for this application service.");
  if (const auto* owner = services->exclusive_owner_of_user(user_id); owner && owner->id != as->id)
    throw protocol::errors::exclusive("This user ID is reserved by an application service.");
  if (user_exists(ctx, user_id)) throw protocol::errors::user_in_use();
  return create_account(ctx, req, user_id, std::nullopt, false, body);
}

api_response register_authenticated(runtime::handler_context& ctx, const api_request& req, const json::object& body,
                                    const auth::uia_outcome& uia, reserved_token_use& token_use) {
  // The final request may omit what the first one carried: fall back to the session's body.
  auto field = [&](std::string_view key) {
    auto v = protocol::opt_string(body, key);
    return v ? v : protocol::opt_string(uia.clientdict, key);
  };
  auto username = field("username");
  auto password = field("password");
  if (!password) throw protocol::errors::missing_param("Missing password");
  check_password_policy(ctx, *password);
  std::string user_id;
  if (username) {
    user_id = checked_user_id(ctx, *username);
    check_not_reserved(ctx, user_id);
  } else {
    auto local = protocol::random_alnum(10);
    for (auto& c : local) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    user_id = "@" + local + ":" + ctx.config.server_name;
  }
  json::object merged = uia.clientdict;
  for (const auto& kv : body) merged[kv.key()] = kv.value();
  return create_account(ctx, req, user_id, password, false, merged, &token_use);
}

api_response register_user(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req, true);
  if (protocol::opt_string(body, "type") == std::optional<std::string>("m.login.application_service"))
    return register_appservice_user(ctx, req, body);
  auto kind = query_param(req, "kind").value_or("user");
  if (kind == "guest") return register_guest(ctx, req, body);
  if (kind != "user") throw protocol::errors::invalid_param("Invalid kind " + kind);
  if (!ctx.config.enable_registration) throw protocol::errors::forbidden("Registration has been disabled");

  // Refuse a bad or taken username before asking the client to authenticate (as Synapse does).
  auto early_username = protocol::opt_string(body, "username");
  if (early_username) {
    auto id = checked_user_id(ctx, *early_username);
    check_not_reserved(ctx, id);
    if (user_exists(ctx, id)) throw protocol::errors::user_in_use();
  }
  if (auto pw = protocol::opt_string(body, "password")) check_password_policy(ctx, *pw);

  // With registration_requires_token, the token stage replaces the dummy one (spec: "Token-
  // authenticated registration").
  auto uia = auth::require_uia(
      ctx, req, body, {{ctx.config.registration_requires_token ? "m.login.registration_token" : "m.login.dummy"}}, "");
  reserved_token_use token_use(ctx, uia.registration_token);
  return register_authenticated(ctx, req, body, uia, token_use);
}

api_response register_available(runtime::handler_context& ctx, const api_request& req) {
  auto username = query_param(req, "username");
  if (!username) throw protocol::errors::missing_param("Missing 'username' query parameter");
  auto user_id = checked_user_id(ctx, *username);
  check_not_reserved(ctx, user_id);
  if (user_exists(ctx, user_id)) throw protocol::errors::user_in_use();
  return runtime::json_response(json::object{{"available", true}});
}

// Spec: "Token-authenticated registration". A point-in-time answer; unknown tokens are invalid.
api_response token_validity(runtime::handler_context& ctx, const api_request& req) {
  if (!ctx.config.enable_registration)
    throw protocol::errors::forbidden("Registration is not enabled on this homeserver");
  auto token = query_param(req, "token");
  if (!token) throw protocol::errors::missing_param("Missing 'token' query parameter");
  auto c = ctx.db.acquire();
  return runtime::json_response(json::object{{"valid", storage::registration_tokens::is_valid(*c, *token, now_ms())}});
}

} // namespace

void register_registration(runtime::endpoint_registry& r) {
  // Optional auth: an application service registers its users with its as_token.
  r.add({.name = "register", .method = "POST", .path = "/_matrix/client/{:r0|v3}/register",
         .auth = auth_mode::optional, .allow_guest = true, .rate_limit = "registration",
         .appservice_login = true},
        register_user);
  r.add({.name = "register.available", .method = "GET", .path = "/_matrix/client/{:r0|v3}/register/available",
         .auth = auth_mode::none, .rate_limit = "registration"},
        register_available);
  r.add({.name = "register.token_validity", .method = "GET",
         .path = "/_matrix/client/v1/register/m.login.registration_token/validity", .auth = auth_mode::none,
         .rate_limit = "registration"},
        token_validity);
}

} // namespace myelin::endpoints
