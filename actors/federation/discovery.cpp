// Server name resolution (server-server API "Resolving server names"). The steps are
// protocol/server_discovery; this file gives them their I/O — the /.well-known/matrix/server fetch
// (outbound::fetch, federation IP policy) and the SRV queries (outbound/dns_srv, glibc's resolver,
// federation_dns_servers when set) — and caches each server's route. Everything here blocks:
// blocking-pool threads only.
#include <boost/json.hpp>

#include <algorithm>
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

constexpr int64_t well_known_ttl_ms = 3600 * 1000;
constexpr int64_t well_known_failure_ttl_ms = 600 * 1000;
// SRV TTLs bound a route's cache time, but not below a minute: every request of a server with a
// zero TTL would otherwise ask DNS and /.well-known again. A failed DNS query is retried as soon.
constexpr int64_t min_srv_ttl_ms = 60 * 1000;

// The `m.server` of https://<host>/.well-known/matrix/server as served (checked by
// protocol::discovery::resolve), or nullopt when there is no usable answer.
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

int64_t cache_ms(const discovery::route& r) {
  int64_t ms = r.delegated ? well_known_ttl_ms : well_known_failure_ttl_ms;
  if (r.srv_ttl_seconds) ms = std::min(ms, std::max(min_srv_ttl_ms, int64_t{*r.srv_ttl_seconds} * 1000));
  if (r.dns_failed) ms = std::min(ms, min_srv_ttl_ms);
  return ms;
}

discovery::route resolve(const homeserver_config& cfg, const std::string& server_name) {
  discovery::lookups lookups{
      [&cfg](const std::string& host) { return well_known(cfg, host); },
      [&cfg](const std::string& name) { return outbound::query_srv(name, cfg.federation.dns_servers); }};
  auto r = discovery::resolve(server_name, lookups);
  if (!r) throw protocol::errors::invalid_param("Not a server name: " + server_name);
  return std::move(*r);
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
  auto r = resolve(cfg, server_name);
  route out{r.url, order(r)};
  if (r.step != "1" && r.step != "2") {  // an IP literal or explicit port needs no lookup to cache
    int64_t until = now + cache_ms(r);
    std::lock_guard lock(cache_mu);
    remember(server_name, {std::move(r), until}, now);
  }
  return out;
}

outbound::fetch_result fetch_from(const homeserver_config& cfg, const std::string& server_name,
                                  outbound::fetch_options options, const std::string& path_and_query) {
  auto r = route_to(cfg, server_name);
  options.connect_to = std::move(r.connect_to);
  options.max_redirects = 0;  // a federation answer is never a redirect to follow
  return outbound::fetch(options, r.url + path_and_query);
}

} // namespace myelin::federation
