// Server name resolution (server-server API "Resolving server names"), without SRV yet.
#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <mutex>

#include "actors/federation/federation.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "outbound/http_fetch.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"

namespace myelin::federation {

namespace {

constexpr int64_t well_known_ttl_ms = 3600 * 1000;
constexpr int64_t well_known_failure_ttl_ms = 600 * 1000;
constexpr uint16_t default_port = 8448;

std::string url_for(const protocol::server_name_parts& p) {
  return "https://" + p.host + ":" + std::to_string(p.port.value_or(default_port));
}

// The delegated server name of /.well-known/matrix/server, if the host serves a usable one.
std::optional<std::string> well_known(const homeserver_config& cfg, const std::string& host) {
  outbound::fetch_options opt;
  opt.ip_policy = &cfg.federation.ip_policy;
  opt.timeout = std::chrono::seconds(5);
  opt.max_bytes = 50 << 10;
  opt.user_agent = outbound::fetch_options::default_user_agent("federation");
  try {
    auto r = outbound::fetch(opt, "https://" + host + "/.well-known/matrix/server");
    if (r.status != 200) return std::nullopt;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    const auto* server = !ec && v.is_object() ? v.as_object().if_contains("m.server") : nullptr;
    if (!server || !server->is_string() || !protocol::is_valid_server_name(server->as_string())) return std::nullopt;
    return std::string(server->as_string());
  } catch (const outbound::fetch_error&) {
    return std::nullopt;
  }
}

struct cached {
  std::string url;
  int64_t until_ms = 0;
};
std::mutex cache_mu;
std::map<std::string, cached> cache;
// Names come from requests (an X-Matrix origin is anyone's to pick): past this many, expired
// entries are dropped, and if none has expired the cache starts over.
constexpr size_t max_cached = 10000;

void remember(const std::string& server_name, cached entry, int64_t now) {
  if (cache.size() >= max_cached) {
    std::erase_if(cache, [now](const auto& kv) { return kv.second.until_ms <= now; });
    if (cache.size() >= max_cached) cache.clear();
  }
  cache[server_name] = std::move(entry);
}

} // namespace

std::string base_url(const homeserver_config& cfg, const std::string& server_name) {
  auto parts = protocol::split_server_name(server_name);
  if (!parts) throw protocol::errors::invalid_param("Not a server name: " + server_name);
  if (parts->ip_literal || parts->port) return url_for(*parts);
  int64_t now = now_ms();
  {
    std::lock_guard lock(cache_mu);
    if (auto it = cache.find(server_name); it != cache.end() && it->second.until_ms > now) return it->second.url;
  }
  std::string url = url_for(*parts);
  int64_t ttl = well_known_failure_ttl_ms;
  if (auto delegated = well_known(cfg, parts->host)) {
    if (auto d = protocol::split_server_name(*delegated)) url = url_for(*d);
    ttl = well_known_ttl_ms;
  }
  std::lock_guard lock(cache_mu);
  remember(server_name, {url, now + ttl}, now);
  return url;
}

} // namespace myelin::federation
