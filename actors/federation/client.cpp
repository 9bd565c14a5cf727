// Outbound server-server requests: resolve the destination, sign with X-Matrix, send over HTTPS
// (outbound::fetch: the federation IP policy, bounded time and size), and turn what comes back
// into JSON or a Matrix error.
#include <boost/json.hpp>

#include "actors/federation/federation.hpp"
#include "common/config.hpp"
#include "outbound/http_fetch.hpp"
#include "protocol/errors.hpp"
#include "protocol/federation_auth.hpp"
#include "protocol/identifiers.hpp"

namespace myelin::federation {

namespace json = boost::json;

namespace {

protocol::matrix_error unreachable(const std::string& destination, const std::string& why) {
  return {502, "M_UNKNOWN", "Cannot reach " + destination + ": " + why};
}

// Sends a signed request; the answer whatever its status. Network failures are unreachable (502),
// a body past max_bytes is 502 M_TOO_LARGE.
outbound::fetch_result send_signed(runtime::handler_context& ctx, const std::string& destination,
                                   const std::string& method, const std::string& target, const json::value* body,
                                   std::chrono::milliseconds timeout, size_t max_bytes) {
  if (!ctx.signing_key) throw protocol::errors::unknown("No signing key loaded");
  if (destination == ctx.config.server_name) throw protocol::errors::invalid_param("That is this server");
  auto opt = federation_fetch_options(ctx.config, timeout, max_bytes);
  opt.method = method;
  opt.headers = {{"Authorization", protocol::federation::authorization_header(method, target, ctx.config.server_name,
                                                                              destination, body, *ctx.signing_key)}};
  if (body) {
    opt.headers.emplace_back("Content-Type", "application/json");
    opt.body = json::serialize(*body);
  }
  try {
    return fetch_from(ctx.config, destination, std::move(opt), target);
  } catch (const outbound::fetch_error& e) {
    if (e.which() == outbound::fetch_error::kind::too_large)
      throw protocol::matrix_error(502, "M_TOO_LARGE", "The answer of " + destination + " is too large");
    throw unreachable(destination, e.what());
  }
}

// The error for a non-200 answer. A Matrix error from the remote about the question (400, 403,
// 404) is the client's answer too; a 401 is about our signature, which is the servers' business,
// not the client's token.
protocol::matrix_error answer_error(const outbound::fetch_result& r, const std::string& destination) {
  boost::system::error_code ec;
  auto answer = json::parse(r.body, ec);
  if ((r.status == 400 || r.status == 403 || r.status == 404) && !ec && answer.is_object())
    if (const auto* code = answer.as_object().if_contains("errcode"); code && code->is_string()) {
      const auto* msg = answer.as_object().if_contains("error");
      return protocol::matrix_error(r.status, std::string(code->as_string()),
                                    msg && msg->is_string() ? std::string(msg->as_string()) : "Remote error");
    }
  return unreachable(destination, "status " + std::to_string(r.status));
}

} // namespace

json::value request(runtime::handler_context& ctx, const std::string& destination, const std::string& method,
                    const std::string& target, const json::value* body, std::chrono::milliseconds timeout,
                    size_t max_bytes) {
  auto r = send_signed(ctx, destination, method, target, body, timeout, max_bytes);
  if (r.status != 200) throw answer_error(r, destination);
  boost::system::error_code ec;
  auto answer = json::parse(r.body, ec);
  if (ec) throw unreachable(destination, "the answer is not JSON");
  return answer;
}

outbound::fetch_result request_raw(runtime::handler_context& ctx, const std::string& destination,
                                   const std::string& method, const std::string& target,
                                   std::chrono::milliseconds timeout, size_t max_bytes) {
  auto r = send_signed(ctx, destination, method, target, nullptr, timeout, max_bytes);
  if (r.status != 200) throw answer_error(r, destination);
  return r;
}

alias_answer query_alias(runtime::handler_context& ctx, const std::string& alias) {
  auto answer = request(ctx, alias.substr(alias.find(':') + 1), "GET",
                        "/_matrix/federation/v1/query/directory?room_alias=" + protocol::percent_encode(alias), nullptr);
  const auto* room = answer.is_object() ? answer.as_object().if_contains("room_id") : nullptr;
  if (!room || !room->is_string()) throw protocol::errors::not_found("Room alias " + alias + " not found");
  alias_answer out{std::string(room->as_string()), {}};
  if (const auto* s = answer.as_object().if_contains("servers"); s && s->is_array())
    for (const auto& v : s->as_array())
      if (v.is_string()) out.servers.emplace_back(v.as_string());
  return out;
}

} // namespace myelin::federation
