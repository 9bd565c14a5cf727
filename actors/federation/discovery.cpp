// Server name resolution (server-server API "Resolving server names"). The steps are
// protocol/server_discovery; this file gives them their I/O — the /.well-known/matrix/server fetch
// (outbound::fetch, federation IP policy) and the SRV queries (outbound/dns_srv, glibc's resolver,
// federation_dns_servers when set) — and caches each server's route. Everything here blocks:
// blocking-pool threads only.
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <random>

#include "actors/federation/federation.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "outbound/dns_srv.hpp"
#include "outbound/http_fetch.hpp"
#include "protocol/errors.hpp"
#include "protocol/server_discovery.hpp"

namespace myelin::federation {

namespace {

namespace discovery = protocol::discovery;

// The spec's recommendations for /.well-known answers: the Cache-Control header's time, else a
// day, at most two days; a failure (no answer, not 200, not a server name) up to an hour. Never
// below a minute, so a "no-cache" server is not asked on every request.
constexpr int64_t well_known_default_ttl_ms = 24 * 3600 * 1000;
constexpr int64_t well_known_max_ttl_ms = 48 * 3600 * 1000;
constexpr int64_t well_known_failure_ttl_ms = 3600 * 1000;
// SRV TTLs bound a route's cache time, but not below a minute: every request of a server with a
// zero TTL would otherwise ask DNS and /.well-known again. A failed DNS query is retried as soon.
constexpr int64_t min_srv_ttl_ms = 60 * 1000;

// The `m.server` of https://<host>/.well-known/matrix/server as served (checked by
// protocol::discovery::resolve), or nullopt when there is no usable answer. `max_age_s`: what the
// answer's Cache-Control allows, if it says.
std::optional<std::string> well_known(const homeserver_config& cfg, const std::string& host,
                                      std::optional<int64_t>& max_age_s) {
  try {
    // Redirects are followed here (the spec says so), unlike fetch_from's.
    auto r = outbound::fetch(federation_fetch_options(cfg, std::chrono::seconds(5), 50 << 10),
                             "https://" + host + "/.well-known/matrix/server");
    if (r.status != 200) return std::nullopt;
    for (const auto& [name, value] : r.headers)
      if (name.size() == 13 && std::equal(name.begin(), name.end(), "cache-control", [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == b;
          }))
        max_age_s = discovery::cache_max_age_seconds(value);
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    const auto* server = !ec && v.is_object() ? v.as_object().if_contains("m.server") : nullptr;
    if (!server || !server->is_string()) return std::nullopt;
    return std::string(server->as_string());
  } catch (const outbound::fetch_error&) {
    return std::nullopt;
  }
}

struct cached {
  discovery::route route;
  int64_t until_ms = 0;
};

// A route and how long it may be cached.
struct resolved {
  discovery::route route;
  std::optional<int64_t> well_known_max_age_s;
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

int64_t cache_ms(const resolved& res) {
  const auto& r = res.route;
  int64_t ms = well_known_failure_ttl_ms;
  if (r.delegated) {
    ms = well_known_default_ttl_ms;
    if (res.well_known_max_age_s)
      ms = std::clamp(*res.well_known_max_age_s, int64_t{0}, well_known_max_ttl_ms / 1000) * 1000;
    ms = std::clamp(ms, min_srv_ttl_ms, well_known_max_ttl_ms);
  }
  if (r.srv_ttl_seconds) ms = std::min(ms, std::max(min_srv_ttl_ms, int64_t{*r.srv_ttl_seconds} * 1000));
  if (r.dns_failed) ms = std::min(ms, min_srv_ttl_ms);
  return ms;
}

resolved resolve(const homeserver_config& cfg, const std::string& server_name) {
  std::optional<int64_t> max_age;
  discovery::lookups lookups{
      [&cfg, &max_age](const std::string& host) { return well_known(cfg, host, max_age); },
      [&cfg](const std::string& name) { return outbound::query_srv(name, cfg.federation.dns_servers); }};
  auto r = discovery::resolve(server_name, lookups);
  if (!r) throw protocol::errors::invalid_param("Not a server name: " + server_name);
  return {std::move(*r), max_age};
}

// The route's targets in a fresh RFC 2782 order, so that equal-priority targets share the load.
std::vector<outbound::connect_target> order(const discovery::route& r) {
  thread_local std::mt19937 rng{std::random_device{}()};
  auto random = [](uint32_t bound) { return std::uniform_int_distribution<uint32_t>(0, bound)(rng); };
  std::vector<outbound::connect_target> out;
  for (auto& t : discovery::connection_order(r.targets, random)) out.push_back({std::move(t.host), t.port});
  return out;
}

} // namespace

route route_to(const homeserver_config& cfg, const std::string& server_name) {
  int64_t now = now_ms();
  {
    std::lock_guard lock(cache_mu);
    if (auto it = cache.find(server_name); it != cache.end() && it->second.until_ms > now)
      return {it->second.route.url, order(it->second.route)};
  }
  auto res = resolve(cfg, server_name);
  route out{res.route.url, order(res.route)};
  if (res.route.step != "1" && res.route.step != "2") {  // an IP literal or explicit port needs no lookup to cache
    int64_t until = now + cache_ms(res);
    std::lock_guard lock(cache_mu);
    remember(server_name, {std::move(res.route), until}, now);
  }
  return out;
}

outbound::fetch_options federation_fetch_options(const homeserver_config& cfg, std::chrono::milliseconds timeout,
                                                 size_t max_bytes) {
  outbound::fetch_options opt;
  opt.ip_policy = &cfg.federation.ip_policy;
  opt.timeout = timeout;
  opt.max_bytes = max_bytes;
  opt.user_agent = outbound::fetch_options::default_user_agent("federation");
  return opt;
}

outbound::fetch_result fetch_from(const homeserver_config& cfg, const std::string& server_name,
                                  outbound::fetch_options options, const std::string& path_and_query) {
  auto r = route_to(cfg, server_name);
  options.connect_to = std::move(r.connect_to);
  options.max_redirects = 0;  // a federation answer is never a redirect to follow
  return outbound::fetch(options, r.url + path_and_query);
}

} // namespace myelin::federation
