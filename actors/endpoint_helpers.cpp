#include "actors/endpoint_helpers.hpp"

#include <boost/json.hpp>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

json::object body_object(const runtime::handler_context& ctx, const api_request& req, bool allow_empty) {
  return protocol::parse_object(req.body, ctx.config.limits.max_json_depth, allow_empty);
}

std::optional<std::string> query_param(const api_request& req, std::string_view name) {
  for (const auto& [k, v] : req.query)
    if (k == name) return v;
  return std::nullopt;
}

session_request make_session_request(const runtime::handler_context& ctx, const api_request& req,
                                     std::optional<std::string> device_id, std::optional<std::string> display_name) {
  session_request s;
  s.device_id = device_id ? *device_id : protocol::random_device_id();
  if (!protocol::is_valid_device_id(s.device_id)) throw protocol::errors::invalid_param("Invalid device_id");
  // "mye_" + 256 random bits; only its SHA-256 is stored, so a database leak leaks no tokens.
  s.access_token = "mye_" + protocol::random_token(32);
  s.fields["device_id"] = s.device_id;
  if (display_name) s.fields["display_name"] = *display_name;
  s.fields["token_hash"] = protocol::sha256_hex(s.access_token);
  s.fields["ip"] = req.client_ip;
  s.fields["user_agent"] = req.user_agent;
  if (ctx.config.access_token_lifetime_ms) {
    s.expires_in_ms = *ctx.config.access_token_lifetime_ms;
    s.fields["valid_until_ms"] = now_ms() + *s.expires_in_ms;
  }
  return s;
}

json::object session_response(const runtime::handler_context& ctx, const std::string& user_id,
                              const session_request& s) {
  json::object out{{"user_id", user_id},
                   {"access_token", s.access_token},
                   {"device_id", s.device_id},
                   {"home_server", ctx.config.server_name}};
  if (s.expires_in_ms) out["expires_in_ms"] = *s.expires_in_ms;
  return out;
}

api_response json_response_after(const json::value& body, const stream_position& pos, uint16_t status) {
  auto r = runtime::json_response(body, status);
  if (pos.position > 0) r.wait_for.push_back(pos);
  return r;
}

api_response json_response_after(const json::value& body, const std::vector<stream_position>& positions,
                                 uint16_t status) {
  auto r = runtime::json_response(body, status);
  for (const auto& p : positions)
    if (p.position > 0) r.wait_for.push_back(p);
  return r;
}

} // namespace myelin::endpoints
