// GET /pushers and POST /pushers/set (client-server "Push Notifications"): a user's HTTP pushers,
// which the pusher group (actors/pusher) sends notifications to. Pushers are not a stream (no
// /sync section depends on them; the pusher group reads the table for each notifying event), so
// the handlers write the table directly, as filters do.
//
// Only `http` pushers are accepted: `email` needs an email sender Myelin does not have.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/pusher/push_gateway.hpp"
#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/database.hpp"
#include "storage/tables/pushers.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr size_t max_pushkey_bytes = 512;
constexpr size_t max_app_id_chars = 64;

json::object to_json(const storage::pushers::pusher& p) {
  json::object o{{"pushkey", p.pushkey},
                 {"kind", p.kind},
                 {"app_id", p.app_id},
                 {"app_display_name", p.app_display_name},
                 {"device_display_name", p.device_display_name},
                 {"lang", p.lang},
                 {"data", protocol::parse_value(p.data)}};
  if (!p.profile_tag.empty()) o["profile_tag"] = p.profile_tag;
  return o;
}

// A string field: absent or null → M_MISSING_PARAM when required, another type → M_INVALID_PARAM.
std::optional<std::string> string_field(const json::object& body, std::string_view key, bool required) {
  const auto* v = body.if_contains(key);
  if (!v || v->is_null()) {
    if (required) throw protocol::errors::missing_param("Missing parameter: " + std::string(key));
    return std::nullopt;
  }
  if (!v->is_string()) throw protocol::errors::invalid_param(std::string(key) + " must be a string");
  return std::string(v->as_string());
}

storage::pushers::pusher parse_pusher(const api_request& req, const json::object& body, const std::string& kind) {
  storage::pushers::pusher p;
  p.user_id = req.user_id;
  p.device_id = req.device_id;
  p.kind = kind;
  p.app_id = *string_field(body, "app_id", true);
  p.pushkey = *string_field(body, "pushkey", true);
  // Required unless deleting; all missing ones are named at once, as in the spec's example.
  std::string missing;
  for (auto key : {"app_display_name", "device_display_name", "lang", "data"}) {
    const auto* v = body.if_contains(key);
    if (!v || v->is_null()) missing += (missing.empty() ? "" : ", ") + std::string(key);
  }
  if (!missing.empty()) throw protocol::errors::missing_param("Missing parameters: " + missing);
  p.app_display_name = *string_field(body, "app_display_name", true);
  p.device_display_name = *string_field(body, "device_display_name", true);
  p.lang = *string_field(body, "lang", true);
  p.profile_tag = string_field(body, "profile_tag", false).value_or("");
  if (p.pushkey.empty() || p.pushkey.size() > max_pushkey_bytes)
    throw protocol::errors::invalid_param("pushkey must be 1 to 512 bytes");
  if (p.app_id.empty() || p.app_id.size() > max_app_id_chars)
    throw protocol::errors::invalid_param("app_id must be 1 to 64 characters");
  if (kind != "http") throw protocol::errors::invalid_param("Unsupported pusher kind '" + kind + "': only http");
  const auto& data = body.at("data");
  if (!data.is_object()) throw protocol::errors::invalid_param("data must be an object");
  const auto* url = data.as_object().if_contains("url");
  if (!url || !url->is_string()) throw protocol::errors::missing_param("data.url is required for http pushers");
  if (auto why = pusher::invalid_gateway_url(std::string(url->as_string())))
    throw protocol::errors::invalid_param("data.url: " + *why);
  if (const auto* format = data.as_object().if_contains("format");
      format && !(format->is_string() && format->as_string() == "event_id_only"))
    throw protocol::errors::invalid_param("data.format must be \"event_id_only\" or absent");
  p.data = json::serialize(data);
  p.pushkey_ts = now_ms();
  return p;
}

} // namespace

void register_pushers(runtime::endpoint_registry& r) {
  r.add({.name = "pushers.get", .method = "GET", .path = "/_matrix/client/{:r0|v3}/pushers"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto c = ctx.db.acquire();
          json::array out;
          for (const auto& p : storage::pushers::for_user(*c, req.user_id)) out.emplace_back(to_json(p));
          return runtime::json_response(json::object{{"pushers", std::move(out)}});
        });
  r.add({.name = "pushers.set", .method = "POST", .path = "/_matrix/client/{:r0|v3}/pushers/set"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req);
          const auto* kind = body.if_contains("kind");
          if (!kind) throw protocol::errors::missing_param("Missing parameter: kind");
          if (!kind->is_null() && !kind->is_string()) throw protocol::errors::invalid_param("kind must be a string or null");
          bool append = false;
          if (const auto* a = body.if_contains("append"); a && !a->is_null()) {
            if (!a->is_bool()) throw protocol::errors::invalid_param("append must be a boolean");
            append = a->as_bool();
          }
          if (kind->is_null()) {
            // Deleting a pusher that does not exist succeeds, as in Synapse.
            auto app_id = *string_field(body, "app_id", true);
            auto pushkey = *string_field(body, "pushkey", true);
            auto c = ctx.db.acquire();
            storage::pushers::remove(*c, req.user_id, app_id, pushkey);
          } else {
            auto p = parse_pusher(req, body, std::string(kind->as_string()));
            ctx.db.transact([&](storage::connection& c) { storage::pushers::set(c, p, append); });
          }
          return runtime::json_response(json::object{});
        });
}

} // namespace myelin::endpoints
