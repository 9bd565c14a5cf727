// The notary key API (server-server API "Querying Keys Through Another Server"):
// GET /_matrix/key/v2/query/{serverName} and POST /_matrix/key/v2/query. Each answer is the
// server's own key document, as it signed it, countersigned by this server. Our own name is
// answered from our key; other servers from the key cache, fetched when too old.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "protocol/signing.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr size_t max_servers_per_query = 100;
// Fetches are one at a time: past this, a query answers the rest from the cache.
constexpr int64_t fetch_budget_ms = 15000;

// The countersigned document of one server, or nothing when none could be had.
std::optional<json::object> notarised(runtime::handler_context& ctx, const std::string& server_name,
                                      int64_t minimum_valid_until_ts, bool may_fetch = true) {
  if (!ctx.signing_key) throw protocol::errors::unknown("No signing key loaded");
  if (server_name == ctx.config.server_name) return federation::own_key_document(ctx);
  if (!protocol::is_valid_server_name(server_name)) return std::nullopt;
  auto doc = federation::key_document(ctx, server_name, minimum_valid_until_ts, may_fetch);
  if (doc) protocol::sign_json(*doc, ctx.config.server_name, *ctx.signing_key);
  return doc;
}

int64_t minimum_of(const json::value& criteria) {
  // {"key_id": {"minimum_valid_until_ts": n}, …}: the strictest asked for.
  int64_t out = 0;
  if (!criteria.is_object()) return out;
  for (const auto& [_, c] : criteria.as_object())
    if (c.is_object())
      if (const auto* m = c.as_object().if_contains("minimum_valid_until_ts"); m && m->is_int64())
        out = std::max(out, m->as_int64());
  return out;
}

} // namespace

void register_federation_key_query(runtime::endpoint_registry& r) {
  r.add({.name = "federation.key_query_one", .method = "GET", .path = "/_matrix/key/v2/query/{serverName}",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          int64_t minimum = 0;
          if (auto m = query_param(req, "minimum_valid_until_ts")) {
            try {
              minimum = std::stoll(*m);
            } catch (const std::exception&) {
              throw protocol::errors::invalid_param("minimum_valid_until_ts must be an integer");
            }
          }
          json::array keys;
          if (auto doc = notarised(ctx, req.path_params.at(0), minimum)) keys.push_back(std::move(*doc));
          return runtime::json_response(json::object{{"server_keys", std::move(keys)}});
        });
  r.add({.name = "federation.key_query", .method = "POST", .path = "/_matrix/key/v2/query", .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req, false);
          const auto* servers = protocol::opt_object(body, "server_keys");
          if (!servers) throw protocol::errors::missing_param("Missing server_keys");
          if (servers->size() > max_servers_per_query)
            throw protocol::errors::invalid_param("At most " + std::to_string(max_servers_per_query) + " servers");
          json::array keys;
          int64_t deadline = now_ms() + fetch_budget_ms;
          for (const auto& [name, criteria] : *servers)
            if (auto doc = notarised(ctx, std::string(name), minimum_of(criteria), now_ms() < deadline))
              keys.push_back(std::move(*doc));
          return runtime::json_response(json::object{{"server_keys", std::move(keys)}});
        });
}

} // namespace myelin::endpoints
