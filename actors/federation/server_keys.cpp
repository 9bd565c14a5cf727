// Signing keys: our own document (current key and old_signing_keys), and other servers' keys —
// the cache in the database, a server's own key document when the cache has no usable key, and
// the trusted key servers (notaries) when the server cannot give it (server-server API
// "Retrieving server keys"). Retired keys (old_verify_keys) check only events sent before they
// expired, never requests.
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
#include "protocol/signing.hpp"
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

outbound::fetch_options key_fetch_options(const runtime::handler_context& ctx) {
  return federation_fetch_options(ctx.config, std::chrono::seconds(10), 1 << 20);
}

// Caches the keys of a document already checked by check_server_keys. Current keys are trusted
// until the document's valid_until_ts (at most a week from now); retired ones record when they
// expired.
void store_document(runtime::handler_context& ctx, const std::string& server_name, const boost::json::object& doc,
                    const std::map<std::string, protocol::federation::verify_key>& keys) {
  int64_t now = now_ms();
  int64_t until = std::min(doc.at("valid_until_ts").as_int64(), now + max_validity_ms);
  std::vector<storage::server_keys::stored_key> rows;
  for (const auto& [id, k] : keys) {
    storage::server_keys::key_row row{protocol::base64_encode_unpadded(k.public_key_raw),
                                      k.expired ? k.valid_until_ts : until, std::nullopt, now};
    if (k.expired) row.expired_ts = k.expired_ts;
    rows.push_back({id, std::move(row)});
  }
  auto text = boost::json::serialize(doc);
  ctx.db.transact([&](storage::connection& c) { storage::server_keys::store(c, server_name, text, until, rows, now); });
}

// Fetches, checks and caches the server's key document. False when it could not be had.
bool fetch_keys(runtime::handler_context& ctx, const std::string& server_name) {
  try {
    auto r = fetch_from(ctx.config, server_name, key_fetch_options(ctx), "/_matrix/key/v2/server");
    if (r.status != 200) {
      ctx.log.warn("key fetch refused", {{"server", server_name}, {"status", std::to_string(r.status)}});
      return false;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object()) throw protocol::errors::bad_json("key document is not a JSON object");
    auto keys = protocol::federation::check_server_keys(v.as_object(), server_name);
    store_document(ctx, server_name, v.as_object(), keys);
    return true;
  } catch (const outbound::fetch_error& e) {
    ctx.log.warn("key fetch failed", {{"server", server_name}, {"error", e.what()}});
  } catch (const protocol::matrix_error& e) {
    ctx.log.warn("key document refused", {{"server", server_name}, {"error", e.what()}});
  }
  return false;
}

std::optional<std::string> find_key(runtime::handler_context& ctx, const std::string& server_name,
                                    const std::string& key_id, int64_t minimum_valid_until_ts, bool allow_retired,
                                    bool via_notaries);

// Whether a notary's answer carries its signature: by a key the configuration gives for it, or,
// when it gives none, by the notary's current key fetched from the notary itself.
bool notary_signed(runtime::handler_context& ctx, const federation_config::key_server& notary,
                   const boost::json::object& doc) {
  if (!notary.verify_keys.empty()) {
    for (const auto& [id, raw] : notary.verify_keys)
      if (protocol::verify_json_signature(doc, notary.server_name, id, raw)) return true;
    return false;
  }
  const auto* sigs = doc.if_contains("signatures");
  const auto* mine = sigs && sigs->is_object() ? sigs->as_object().if_contains(notary.server_name) : nullptr;
  if (!mine || !mine->is_object()) return false;
  for (const auto& [id, _] : mine->as_object())
    if (auto raw = find_key(ctx, notary.server_name, std::string(id), now_ms(), false, false))
      if (protocol::verify_json_signature(doc, notary.server_name, std::string(id), *raw)) return true;
  return false;
}

// Asks each trusted key server in turn for the server's keys (server-server API "Querying keys
// through another server") until one gives `key_id`; caches every document signed both by the
// server itself and by the notary. False when none did.
bool fetch_keys_from_notaries(runtime::handler_context& ctx, const std::string& server_name, const std::string& key_id,
                              int64_t minimum_valid_until_ts) {
  namespace json = boost::json;
  json::object criteria{{key_id, json::object{{"minimum_valid_until_ts", minimum_valid_until_ts}}}};
  json::object query{{"server_keys", json::object{{server_name, std::move(criteria)}}}};
  for (const auto& notary : ctx.config.federation.trusted_key_servers) {
    if (notary.server_name == server_name || notary.server_name == ctx.config.server_name) continue;
    try {
      auto opt = key_fetch_options(ctx);
      opt.method = "POST";
      opt.headers = {{"Content-Type", "application/json"}};
      opt.body = json::serialize(query);
      auto r = fetch_from(ctx.config, notary.server_name, opt, "/_matrix/key/v2/query");
      boost::system::error_code ec;
      auto v = json::parse(r.body, ec);
      const auto* docs = !ec && r.status == 200 && v.is_object() ? v.as_object().if_contains("server_keys") : nullptr;
      if (!docs || !docs->is_array()) {
        ctx.log.warn("notary answer refused", {{"notary", notary.server_name}, {"status", std::to_string(r.status)}});
        continue;
      }
      bool found = false;
      for (const auto& d : docs->as_array()) {
        if (!d.is_object()) continue;
        try {
          auto keys = protocol::federation::check_server_keys(d.as_object(), server_name);
          if (!notary_signed(ctx, notary, d.as_object()))
            throw protocol::errors::unauthorized("not signed by the notary");
          store_document(ctx, server_name, d.as_object(), keys);
          found = found || keys.count(key_id) > 0;
        } catch (const protocol::matrix_error& e) {
          ctx.log.warn("notary key document refused",
                       {{"notary", notary.server_name}, {"server", server_name}, {"error", e.what()}});
        }
      }
      if (found) return true;
    } catch (const outbound::fetch_error& e) {
      ctx.log.warn("notary unreachable", {{"notary", notary.server_name}, {"error", e.what()}});
    } catch (const protocol::matrix_error& e) {
      ctx.log.warn("notary unreachable", {{"notary", notary.server_name}, {"error", e.what()}});
    }
  }
  return false;
}

// The cached key, if it may check something valid until `minimum_valid_until_ts`: a current key
// valid that long, or (when allowed) a retired key that expired after it.
std::optional<std::string> cached_key(runtime::handler_context& ctx, const std::string& server_name,
                                      const std::string& key_id, int64_t minimum_valid_until_ts, bool allow_retired) {
  auto c = ctx.db.acquire();
  auto row = storage::server_keys::get(*c, server_name, key_id);
  std::string raw;
  if (!row || !protocol::base64_decode(row->public_key, raw)) return std::nullopt;
  if (row->expired_ts ? !allow_retired || *row->expired_ts < minimum_valid_until_ts
                      : row->valid_until_ts < minimum_valid_until_ts)
    return std::nullopt;
  return raw;
}

// The cache, else the server itself, else (when allowed) the trusted key servers; each server is
// asked at most once a minute, directly and through notaries separately.
std::optional<std::string> find_key(runtime::handler_context& ctx, const std::string& server_name,
                                    const std::string& key_id, int64_t minimum_valid_until_ts, bool allow_retired,
                                    bool via_notaries) {
  auto look = [&] { return cached_key(ctx, server_name, key_id, minimum_valid_until_ts, allow_retired); };
  if (auto raw = look()) return raw;
  int64_t now = now_ms();
  if (may_ask(server_name, now) && fetch_keys(ctx, server_name))
    if (auto raw = look()) return raw;
  if (via_notaries && !ctx.config.federation.trusted_key_servers.empty() &&
      may_ask(server_name + " via notaries", now) &&
      fetch_keys_from_notaries(ctx, server_name, key_id, minimum_valid_until_ts))
    return look();
  return std::nullopt;
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
  std::map<std::string, protocol::federation::old_key> old;
  for (const auto& [id, k] : ctx.config.federation.old_signing_keys)
    if (id != ctx.signing_key->key_id()) old[id] = {k.public_key_raw, k.expired_ts};
  return protocol::federation::server_keys_document(ctx.config.server_name, *ctx.signing_key, old,
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
  return find_key(ctx, server_name, key_id, now_ms(), false, true);
}

std::optional<std::string> event_verify_key(runtime::handler_context& ctx, const std::string& server_name,
                                            const std::string& key_id, int64_t minimum_valid_until_ts) {
  if (server_name == ctx.config.server_name) {
    if (!ctx.signing_key) return std::nullopt;
    if (key_id == ctx.signing_key->key_id()) return ctx.signing_key->public_key;
    const auto& old = ctx.config.federation.old_signing_keys;
    if (auto it = old.find(key_id); it != old.end() && it->second.expired_ts >= minimum_valid_until_ts)
      return it->second.public_key_raw;
    return std::nullopt;
  }
  return find_key(ctx, server_name, key_id, minimum_valid_until_ts, true, true);
}

} // namespace myelin::federation
