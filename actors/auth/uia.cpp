#include "actors/auth/uia.hpp"

#include <boost/json.hpp>

#include "actors/runtime/writer_client.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::auth {

namespace json = boost::json;
using protocol::matrix_error;

namespace {

constexpr int64_t session_lifetime_ms = 60 * 60 * 1000;

json::array flows_json(const std::vector<flow>& flows) {
  json::array out;
  for (const auto& f : flows) {
    json::array stages;
    for (const auto& s : f) stages.emplace_back(s);
    out.push_back(json::object{{"stages", std::move(stages)}});
  }
  return out;
}

[[noreturn]] void challenge(const std::vector<flow>& flows, const std::string& session, const json::array& completed,
                            const std::string& errcode = {}, const std::string& error = {}) {
  json::object body{{"flows", flows_json(flows)}, {"params", json::object{}}, {"session", session},
                    {"completed", completed}};
  if (!errcode.empty()) {
    body["errcode"] = errcode;
    body["error"] = error;
  }
  throw matrix_error(401, "", "User-interactive authentication required", std::move(body));
}

bool flow_complete(const std::vector<flow>& flows, const json::array& completed) {
  for (const auto& f : flows) {
    bool all = true;
    for (const auto& stage : f) {
      bool done = false;
      for (const auto& c : completed)
        if (c.is_string() && c.as_string() == stage) done = true;
      all = all && done;
    }
    if (all) return true;
  }
  return false;
}

bool offered(const std::vector<flow>& flows, std::string_view stage) {
  for (const auto& f : flows)
    for (const auto& s : f)
      if (s == stage) return true;
  return false;
}

std::string request_uri(const api_request& req) { return req.endpoint; }

// The m.login.registration_token stage: reserves one use of the token for the session through the
// accounts writer (which serialises it with every other use); `refuse` throws the challenge.
template <class Refuse>
std::string reserve_token(runtime::handler_context& ctx, const json::object& auth, const std::string& session,
                          int64_t now, Refuse refuse) {
  auto* v = auth.if_contains("token");
  if (!v) throw protocol::errors::missing_param("Missing token");
  if (!v->is_string()) throw protocol::errors::invalid_param("token must be a string");
  std::string token(v->as_string());
  auto w = ctx.writers.write("accounts", token, "reserve_registration_token",
                             {{"token", token}, {"session", session}, {"expired_before", now - session_lifetime_ms}});
  auto result = protocol::parse_object(w.result);
  if (!protocol::opt_bool(result, "reserved").value_or(false)) refuse();
  return token;
}

} // namespace

std::string identified_user(const json::object& body, const std::string& server_name) {
  if (auto* id = protocol::opt_object(body, "identifier")) {
    auto type = protocol::req_string(*id, "type");
    if (type != "m.id.user")
      throw matrix_error(400, "M_UNKNOWN", "Identifier type " + type + " is not supported by this server");
    return protocol::qualify_user_id(protocol::req_string(*id, "user"), server_name);
  }
  if (auto user = protocol::opt_string(body, "user")) return protocol::qualify_user_id(*user, server_name);
  throw protocol::errors::missing_param("Missing 'identifier'");
}

bool check_password(runtime::handler_context& ctx, const std::string& user_id, const std::string& password) {
  // Verified against a fixed hash when the user is unknown, so timing does not reveal who exists.
  static const std::string dummy_hash = protocol::hash_password("myelin-timing-equaliser");
  std::optional<storage::accounts::user_row> user;
  {
    auto c = ctx.db.acquire();
    user = storage::accounts::get_user(*c, user_id);
  }
  bool usable = user && !user->deactivated && user->password_hash;
  bool ok = protocol::verify_password(password, usable ? *user->password_hash : dummy_hash);
  return usable && ok;
}

uia_outcome require_uia(runtime::handler_context& ctx, const api_request& req, const json::object& body,
                        const std::vector<flow>& flows, const std::string& user_id) {
  const json::object* auth = protocol::opt_object(body, "auth");
  auto now = now_ms();
  std::string session;
  json::array completed;
  std::optional<std::string> registration_token;
  json::object clientdict = body;
  clientdict.erase("auth");

  std::optional<std::string> given_session = auth ? protocol::opt_string(*auth, "session") : std::nullopt;
  if (given_session) {
    auto c = ctx.db.acquire();
    auto r = c->exec("SELECT created_ts, method, uri, user_id, clientdict, completed, registration_token "
                     "FROM ui_auth_sessions WHERE session_id = $1",
                     {*given_session});
    if (r.empty() || now - r[0].as_int(0) > session_lifetime_ms)
      throw matrix_error(400, "M_UNKNOWN", "Unknown session ID");
    if (r[0].as_text(1) != req.method || r[0].as_text(2) != request_uri(req))
      throw protocol::errors::forbidden("Requested operation has changed during the UI authentication session");
    if (!r[0].is_null(3) && r[0].as_text(3) != user_id)
      throw protocol::errors::forbidden("This session belongs to another user");
    session = *given_session;
    clientdict = protocol::parse_object(r[0].as_text(4), 64, true);
    completed = protocol::parse_value(r[0].as_text(5)).as_array();
    registration_token = r[0].opt_text(6);
  } else {
    // A new session (clients may send a stage with no session, e.g. m.login.dummy at once).
    session = protocol::random_alnum(24);
    auto c = ctx.db.acquire();
    c->exec("INSERT INTO ui_auth_sessions (session_id, created_ts, method, uri, user_id, clientdict, completed) "
            "VALUES ($1, $2, $3, $4, $5, $6, '[]')",
            {session, now, req.method, request_uri(req),
             user_id.empty() ? storage::sql_value(nullptr) : storage::sql_value(user_id), protocol::to_string(clientdict)});
    // Sessions holding a registration token's use are left to the accounts writer, which gives
    // the use back as it deletes them (reserve_registration_token).
    c->exec("DELETE FROM ui_auth_sessions WHERE created_ts < $1 AND registration_token IS NULL",
            {now - session_lifetime_ms});
  }

  if (!auth) challenge(flows, session, completed);

  auto type = protocol::opt_string(*auth, "type");
  if (type) {
    if (!offered(flows, *type)) throw matrix_error(400, "M_UNRECOGNIZED", "Unrecognised authentication type " + *type);
    if (*type == "m.login.password") {
      auto who = identified_user(*auth, ctx.config.server_name);
      if (who != user_id) throw protocol::errors::forbidden("Requested user ID does not match the authenticated user");
      auto password = protocol::opt_string(*auth, "password");
      if (!password || !check_password(ctx, who, *password))
        challenge(flows, session, completed, "M_FORBIDDEN", "Invalid password");
    } else if (*type != "m.login.dummy" && *type != "m.login.registration_token") {
      throw matrix_error(400, "M_UNRECOGNIZED", "Unsupported authentication type " + *type);
    }
    bool already = false;
    for (const auto& c : completed)
      if (c.is_string() && c.as_string() == *type) already = true;
    if (*type == "m.login.registration_token" && !already)
      registration_token = reserve_token(ctx, *auth, session, now, [&] {
        challenge(flows, session, completed, "M_UNAUTHORIZED", "Invalid registration token");
      });
    if (!already) {
      completed.emplace_back(*type);
      auto c = ctx.db.acquire();
      c->exec("UPDATE ui_auth_sessions SET completed = $2 WHERE session_id = $1",
              {session, protocol::to_string(completed)});
    }
  }

  if (!flow_complete(flows, completed)) challenge(flows, session, completed);
  // A session authorises one operation.
  {
    auto c = ctx.db.acquire();
    c->exec("DELETE FROM ui_auth_sessions WHERE session_id = $1", {session});
  }
  return {session, std::move(clientdict), std::move(registration_token)};
}

} // namespace myelin::auth
