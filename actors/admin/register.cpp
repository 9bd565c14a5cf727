// Shared-secret registration, as Synapse's `/_synapse/admin/v1/register` (what register_new_matrix_user
// and synadm speak): GET hands out a nonce; POST creates the account when its `mac` is the
// HMAC-SHA1, keyed with `registration_shared_secret`, of
//   nonce \0 username \0 password \0 ("admin" | "notadmin") [\0 user_type].
// Unauthenticated: the secret is the authentication. Disabled while the secret is empty.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <mutex>

#include "actors/endpoint_helpers.hpp"
#include "actors/keys/device_changes.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;

namespace {

constexpr int64_t nonce_lifetime_ms = 60'000;

// Nonces handed out and not yet used, with when they were made. Kept in memory by the instance
// serving the endpoint (main, one instance), as Synapse does; a restart forgets them.
class nonce_store {
public:
  std::string make() {
    auto nonce = protocol::random_token(16);
    std::lock_guard lock(mu_);
    expire(now_ms());
    nonces_[nonce] = now_ms();
    return nonce;
  }
  // True once per nonce, within its lifetime.
  bool take(const std::string& nonce) {
    std::lock_guard lock(mu_);
    expire(now_ms());
    return nonces_.erase(nonce) == 1;
  }

private:
  void expire(int64_t now) {
    std::erase_if(nonces_, [now](const auto& kv) { return now - kv.second > nonce_lifetime_ms; });
  }
  std::mutex mu_;
  std::map<std::string, int64_t> nonces_;
};

nonce_store& nonces() {
  static nonce_store store;
  return store;
}

std::string hmac_sha1_hex(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

void require_enabled(const runtime::handler_context& ctx) {
  if (ctx.config.registration_shared_secret.empty())
    throw protocol::matrix_error(400, "M_UNKNOWN", "Shared secret registration is not enabled");
}

api_response register_with_secret(runtime::handler_context& ctx, const api_request& req) {
  require_enabled(ctx);
  auto body = body_object(ctx, req);
  auto nonce = protocol::req_string(body, "nonce");
  auto username = protocol::req_string(body, "username");
  auto password = protocol::req_string(body, "password");
  auto mac = protocol::req_string(body, "mac");
  auto admin = protocol::opt_bool(body, "admin").value_or(false);
  auto user_type = protocol::opt_string(body, "user_type");
  auto displayname = protocol::opt_string(body, "displayname");
  if (password.empty() || password.size() > 512) throw errors::invalid_param("Invalid password");
  if (!nonces().take(nonce)) throw protocol::matrix_error(400, "M_UNKNOWN", "unrecognised nonce");

  std::string message = nonce + '\0' + username + '\0' + password + '\0' + (admin ? "admin" : "notadmin");
  if (user_type) message += '\0' + *user_type;
  auto expected = hmac_sha1_hex(ctx.config.registration_shared_secret, message);
  if (!protocol::constant_time_equal(expected, mac)) throw errors::forbidden("HMAC incorrect");

  if (username.empty() || !protocol::is_valid_user_localpart(username))
    throw errors::invalid_username("User ID can only contain characters a-z, 0-9, or '=_-./+'");
  auto user_id = "@" + username + ":" + ctx.config.server_name;
  if (user_id.size() > 255) throw errors::invalid_username("User ID is too long");

  auto session = make_session_request(ctx, req, std::nullopt, std::nullopt);
  json::object args{{"user_id", user_id},
                    {"password_hash", protocol::hash_password(password)},
                    {"is_admin", admin},
                    {"displayname", displayname ? *displayname : username},
                    {"session", session.fields}};
  auto w = ctx.writers.write("accounts", user_id, "register", args);
  keys::after_device_changed(ctx, user_id, session.device_id);
  return json_response_after(session_response(ctx, user_id, session), w.position);
}

} // namespace

void register_admin_register(runtime::endpoint_registry& r) {
  r.add({.name = "admin.register.nonce", .method = "GET", .path = "/_synapse/admin/v1/register",
         .auth = auth_mode::none, .rate_limit = "registration"},
        [](runtime::handler_context& ctx, const api_request&) {
          require_enabled(ctx);
          return runtime::json_response(json::object{{"nonce", nonces().make()}});
        });
  r.add({.name = "admin.register", .method = "POST", .path = "/_synapse/admin/v1/register",
         .auth = auth_mode::none, .rate_limit = "registration"},
        register_with_secret);
}

} // namespace myelin::endpoints
