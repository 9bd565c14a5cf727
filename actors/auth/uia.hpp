// User-interactive authentication (spec: Client-Server API, "User-Interactive Authentication API").
// A handler calls require_uia() before doing a protected operation; it returns once one of the
// offered flows is complete, and otherwise throws the 401 challenge the client must answer.
// Sessions live in the database (ui_auth_sessions) because the steps of one session may reach
// different instances of a group.
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"

namespace myelin::auth {

using flow = std::vector<std::string>;  // stage types, e.g. {"m.login.password"}

struct uia_outcome {
  std::string session;
  boost::json::object clientdict;  // the body the session started with
  // The token whose use the m.login.registration_token stage reserved: the registration must
  // complete it (accounts "register" with "registration_token") or give it back
  // ("release_registration_token").
  std::optional<std::string> registration_token;
};

// `user_id`: the account a m.login.password stage must prove ("" when registering).
// Stages: m.login.password, m.login.dummy, m.login.registration_token (a use of the token is
// reserved through the accounts writer; an invalid one is a challenge with M_UNAUTHORIZED).
uia_outcome require_uia(runtime::handler_context& ctx, const api_request& req, const boost::json::object& body,
                        const std::vector<flow>& flows, const std::string& user_id);

// Checks a user's password in constant-ish time (a missing user still costs one hash check).
// Returns false for unknown, deactivated or password-less users.
bool check_password(runtime::handler_context& ctx, const std::string& user_id, const std::string& password);

// The user id named by a login/UIA body: identifier {type: m.id.user, user} or legacy "user".
// Throws 400 for identifier types Myelin does not support.
std::string identified_user(const boost::json::object& body, const std::string& server_name);

} // namespace myelin::auth
