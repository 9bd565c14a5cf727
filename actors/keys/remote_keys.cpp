// Other servers' users' end-to-end keys for /keys/query and /keys/claim (see keys.hpp): the
// device list cache the /send/ handler keeps (storage/tables/federation_inbound), else a signed
// request to the user's server.
#include <boost/json.hpp>

#include <algorithm>
#include <future>
#include <set>

#include "actors/federation/federation.hpp"
#include "actors/keys/keys.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/federation_inbound.hpp"

namespace myelin::keys {

namespace json = boost::json;
namespace inbound = storage::federation_inbound;

namespace {

constexpr std::chrono::milliseconds default_timeout{10000};
constexpr std::chrono::milliseconds max_timeout{60000};

// One POST per server in `bodies`, all at once; the answers of those that answered, failures
// recorded for the others.
std::map<std::string, json::object> ask_servers(runtime::handler_context& ctx,
                                                const std::map<std::string, json::object>& bodies,
                                                const std::string& path, std::chrono::milliseconds timeout,
                                                json::object& failures) {
  std::map<std::string, std::future<json::value>> pending;
  for (const auto& entry : bodies)
    pending.emplace(entry.first, std::async(std::launch::async, [&ctx, &entry, &path, timeout] {
                      json::value body = entry.second;
                      return federation::request(ctx, entry.first, "POST", path, &body, timeout);
                    }));
  std::map<std::string, json::object> answers;
  for (auto& [server, f] : pending) {
    try {
      auto v = f.get();
      if (!v.is_object()) throw protocol::errors::bad_json("The answer is not an object");
      answers.emplace(server, std::move(v.as_object()));
    } catch (const protocol::matrix_error& e) {
      ctx.log.info("remote key request failed", {{"server", server}, {"path", path}, {"error", e.what()}});
      failures[server] = json::object{{"status", e.status()}, {"message", e.what()}};
    }
  }
  return answers;
}

// Copies answer[field][user] into out[field][user] for the users asked of that server.
void merge_users(const json::object& answer, std::string_view field, const std::vector<std::string>& asked,
                 json::object& out) {
  const auto* by_user = answer.if_contains(field);
  if (!by_user || !by_user->is_object()) return;
  auto& into = out[field];
  if (!into.is_object()) into.emplace_object();
  for (const auto& user_id : asked)
    if (const auto* v = by_user->as_object().if_contains(user_id); v && v->is_object()) into.as_object()[user_id] = *v;
}

// A tracked user's keys from the cache, as a /keys/query answer has them.
void cached_keys(storage::connection& c, const std::string& user_id, const json::value& wanted_devices,
                 json::object& out) {
  std::set<std::string> only;
  if (wanted_devices.is_array())
    for (const auto& d : wanted_devices.as_array())
      if (d.is_string()) only.emplace(d.as_string());
  json::object devices;
  for (const auto& d : inbound::devices(c, user_id)) {
    if (!d.key_json || (!only.empty() && !only.count(d.device_id))) continue;
    auto key = protocol::parse_object(*d.key_json);
    json::object unsigned_data;
    if (d.display_name) unsigned_data["device_display_name"] = *d.display_name;
    key["unsigned"] = std::move(unsigned_data);
    devices[d.device_id] = std::move(key);
  }
  out["device_keys"].as_object()[user_id] = std::move(devices);
  for (const auto& k : inbound::cross_signing_keys(c, user_id)) {
    auto field = k.key_type == "master" ? "master_keys" : "self_signing_keys";
    out[field].as_object()[user_id] = protocol::parse_object(k.key_json);
  }
}

} // namespace

std::chrono::milliseconds request_timeout(const json::object& body) {
  auto ms = protocol::opt_int(body, "timeout");
  if (!ms) return default_timeout;
  return std::clamp(std::chrono::milliseconds(*ms), std::chrono::milliseconds(0), max_timeout);
}

void query_remote_keys(runtime::handler_context& ctx, const json::object& wanted, const users_by_server& users,
                       std::chrono::milliseconds timeout, json::object& out, json::object& failures) {
  for (auto field : {"device_keys", "master_keys", "self_signing_keys"})
    if (!out[field].is_object()) out[field].emplace_object();
  std::map<std::string, json::object> bodies;
  std::map<std::string, std::vector<std::string>> asked;
  {
    auto c = ctx.db.acquire();
    for (const auto& [server, user_ids] : users.remote) {
      auto tracked = inbound::tracked_users(*c, user_ids);
      std::set<std::string> cached(tracked.begin(), tracked.end());
      for (const auto& user_id : user_ids) {
        const auto& devices = wanted.at(user_id);
        if (!devices.is_array())
          throw protocol::errors::bad_json("device_keys: the value for " + user_id + " must be a list");
        if (cached.count(user_id)) {
          cached_keys(*c, user_id, devices, out);
          continue;
        }
        auto& body = bodies[server]["device_keys"];
        if (!body.is_object()) body.emplace_object();
        body.as_object()[user_id] = devices;
        asked[server].push_back(user_id);
      }
    }
  }
  for (const auto& [server, answer] :
       ask_servers(ctx, bodies, "/_matrix/federation/v1/user/keys/query", timeout, failures))
    for (auto field : {"device_keys", "master_keys", "self_signing_keys"})
      merge_users(answer, field, asked[server], out);
}

void claim_remote_keys(runtime::handler_context& ctx, const json::object& wanted, const users_by_server& users,
                       std::chrono::milliseconds timeout, json::object& out, json::object& failures) {
  if (!out["one_time_keys"].is_object()) out["one_time_keys"].emplace_object();
  std::map<std::string, json::object> bodies;
  for (const auto& [server, user_ids] : users.remote) {
    json::object by_user;
    for (const auto& user_id : user_ids) {
      const auto& devices = wanted.at(user_id);
      if (!devices.is_object())
        throw protocol::errors::bad_json("one_time_keys: the value for " + user_id + " must be an object");
      by_user[user_id] = devices;
    }
    bodies[server] = json::object{{"one_time_keys", std::move(by_user)}};
  }
  for (const auto& [server, answer] :
       ask_servers(ctx, bodies, "/_matrix/federation/v1/user/keys/claim", timeout, failures))
    merge_users(answer, "one_time_keys", users.remote.at(server), out);
}

} // namespace myelin::keys
