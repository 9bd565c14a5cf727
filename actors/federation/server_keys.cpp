// Other servers' signing keys: the cache in the database, and fetching a server's own key
// document when the cache has no valid key (server-server API "Retrieving server keys").
#include <boost/json.hpp>

#include <map>
#include <mutex>

#include "actors/federation/federation.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "outbound/http_fetch.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/federation_auth.hpp"
#include "storage/tables/server_keys.hpp"

namespace myelin::federation {

namespace {

constexpr int64_t refetch_interval_ms = 60 * 1000;
// How long others may cache our own document (Synapse's key_refresh_interval default).
constexpr int64_t own_key_validity_ms = 24LL * 3600 * 1000;
// Spec: a key document is trusted for at most 7 days, whatever its valid_until_ts says.
constexpr int64_t max_validity_ms = 7LL * 24 * 3600 * 1000;

// When each server was last asked: unknown key ids must not make us fetch on every request.
std::mutex asked_mu;
std::map<std::string, int64_t> last_asked;

bool may_ask(const std::string& server_name, int64_t now) {
  std::lock_guard lock(asked_mu);
  // Origins are anyone's to name: forget the times that no longer hold anyone back.
  constexpr size_t max_remembered = 10000;
  if (last_asked.size() >= max_remembered)
    std::erase_if(last_asked, [now](const auto& kv) { return now - kv.second >= refetch_interval_ms; });
  auto& t = last_asked[server_name];
  if (t && now - t < refetch_interval_ms) return false;
  t = now;
  return true;
}

// Fetches, checks and caches the server's key document. False when it could not be had.
bool fetch_keys(runtime::handler_context& ctx, const std::string& server_name) {
  outbound::fetch_options opt;
  opt.ip_policy = &ctx.config.federation.ip_policy;
  opt.timeout = std::chrono::seconds(10);
  opt.max_bytes = 1 << 20;
  opt.max_redirects = 0;
  opt.user_agent = outbound::fetch_options::default_user_agent("federation");
  try {
    auto r = fetch_from(ctx.config, server_name, opt, "/_matrix/key/v2/server");
    if (r.status != 200) {
      ctx.log.warn("key fetch refused", {{"server", server_name}, {"status", std::to_string(r.status)}});
      return false;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object()) throw protocol::errors::bad_json("key document is not a JSON object");
    auto keys = protocol::federation::check_server_keys(v.as_object(), server_name);
    int64_t now = now_ms();
    int64_t until = std::min(v.as_object().at("valid_until_ts").as_int64(), now + max_validity_ms);
    std::vector<storage::server_keys::stored_key> rows;
    for (const auto& [id, k] : keys) {
      storage::server_keys::key_row row{protocol::base64_encode_unpadded(k.public_key_raw),
                                        k.expired ? k.valid_until_ts : until, std::nullopt, now};
      if (k.expired) row.expired_ts = k.expired_ts;
      rows.push_back({id, std::move(row)});
    }
    ctx.db.transact([&](storage::connection& c) {
      storage::server_keys::store(c, server_name, r.body, until, rows, now);
    });
    return true;
  } catch (const outbound::fetch_error& e) {
    ctx.log.warn("key fetch failed", {{"server", server_name}, {"error", e.what()}});
  } catch (const protocol::matrix_error& e) {
    ctx.log.warn("key document refused", {{"server", server_name}, {"error", e.what()}});
  }
  return false;
}

std::optional<std::string> cached_current(runtime::handler_context& ctx, const std::string& server_name,
                                          const std::string& key_id, int64_t now) {
  auto c = ctx.db.acquire();
  auto row = storage::server_keys::get(*c, server_name, key_id);
  std::string raw;
  if (!row || row->expired_ts || row->valid_until_ts <= now || !protocol::base64_decode(row->public_key, raw))
    return std::nullopt;
  return raw;
}

std::optional<boost::json::object> cached_document(runtime::handler_context& ctx, const std::string& server_name,
                                                   int64_t minimum_valid_until_ts) {
  auto c = ctx.db.acquire();
  auto row = storage::server_keys::document(*c, server_name);
  if (!row || row->valid_until_ts < minimum_valid_until_ts) return std::nullopt;
  boost::system::error_code ec;
  auto v = boost::json::parse(row->document, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

} // namespace

boost::json::object own_key_document(const runtime::handler_context& ctx) {
  if (!ctx.signing_key) throw protocol::errors::unknown("No signing key loaded");
  return protocol::federation::server_keys_document(ctx.config.server_name, *ctx.signing_key, {},
                                                    now_ms() + own_key_validity_ms);
}

std::optional<boost::json::object> key_document(runtime::handler_context& ctx, const std::string& server_name,
                                                int64_t minimum_valid_until_ts, bool may_fetch) {
  if (auto doc = cached_document(ctx, server_name, minimum_valid_until_ts)) return doc;
  if (may_fetch && may_ask(server_name, now_ms())) fetch_keys(ctx, server_name);
  return cached_document(ctx, server_name, 0);  // fresh, or the stale one rather than nothing
}

std::optional<std::string> current_verify_key(runtime::handler_context& ctx, const std::string& server_name,
                                              const std::string& key_id) {
  int64_t now = now_ms();
  if (auto raw = cached_current(ctx, server_name, key_id, now)) return raw;
  if (!may_ask(server_name, now) || !fetch_keys(ctx, server_name)) return std::nullopt;
  return cached_current(ctx, server_name, key_id, now);
}

} // namespace myelin::federation
