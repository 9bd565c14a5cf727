// POST /_matrix/client/v1/appservice/{appserviceId}/ping (client-server "Application service
// ping", spec v1.7): an application service asks the homeserver to call its
// POST /_matrix/app/v1/ping, to check that the homeserver can reach it. Errors as the spec and
// Synapse: M_FORBIDDEN (not that service's as_token), M_URL_NOT_SET, M_BAD_STATUS (with the
// service's status and body), M_CONNECTION_FAILED, M_CONNECTION_TIMEOUT.
#include <boost/json.hpp>

#include "actors/appservice/as_client.hpp"
#include "actors/endpoint_helpers.hpp"
#include "common/config.hpp"
#include "protocol/appservice.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using protocol::matrix_error;

namespace {

api_response ping(runtime::handler_context& ctx, const api_request& req) {
  if (req.appservice_id.empty())
    throw protocol::errors::forbidden("Only application services can use the /appservice/ping endpoint");
  if (req.appservice_id != req.path_params.at(0))
    throw protocol::errors::forbidden("Mismatching application service ID in path");
  auto services = current_appservices(ctx.config);
  const auto* as = services->by_id(req.appservice_id);
  if (!as) throw protocol::errors::unknown_token();  // removed by a reload meanwhile
  if (as->url.empty()) throw matrix_error(400, "M_URL_NOT_SET", "Application service doesn't have a URL configured");
  auto body = body_object(ctx, req);
  json::object out_body;
  if (const auto* txn = body.if_contains("transaction_id")) {
    if (!txn->is_string()) throw protocol::errors::bad_json("transaction_id must be a string");
    out_body["transaction_id"] = *txn;
  }
  auto r = appservice::call(ctx.config, *as, "POST", "/_matrix/app/v1/ping", json::serialize(out_body));
  using kind = appservice::call_result::kind;
  switch (r.result) {
    case kind::ok: break;
    case kind::timeout: throw matrix_error(504, "M_CONNECTION_TIMEOUT", "Timeout while pinging appservice");
    case kind::failed: throw matrix_error(502, "M_CONNECTION_FAILED", "Connection failed");
    case kind::bad_status:
      throw matrix_error(502, "M_BAD_STATUS", "Ping returned status " + std::to_string(r.status),
                         json::object{{"status", r.status}, {"body", r.body}});
  }
  return runtime::json_response(json::object{{"duration_ms", r.took.count()}});
}

} // namespace

void register_appservice_ping(runtime::endpoint_registry& r) {
  r.add({.name = "appservice.ping", .method = "POST", .path = "/_matrix/client/v1/appservice/{appserviceId}/ping"},
        ping);
}

} // namespace myelin::endpoints
