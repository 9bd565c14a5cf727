// What the federation endpoints share: finding where another server answers, its signing keys,
// and checking that a request really comes from the server it names. Everything here may block
// (HTTP to other servers, the database): handlers on the blocking pool only.
#pragma once
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"
#include "outbound/http_fetch.hpp"

namespace myelin {
struct homeserver_config;
}

namespace myelin::federation {

// Where `server_name`'s federation API answers (server-server API "Resolving server names",
// protocol/server_discovery): an IP literal or explicit port as it is; else the server's
// /.well-known/matrix/server delegation, then SRV records (_matrix-fed._tcp, then the deprecated
// _matrix._tcp) of the delegated or own host, then port 8448. `url` ("https://<name>[:<port>]")
// names the server for TLS and the Host header — its own name or the delegated one, never an SRV
// target —; `connect_to` is where to connect, in the order to try (SRV targets in a fresh
// RFC 2782 order on each call). Routes are cached (an hour after a /.well-known answer, ten
// minutes without, bounded by the SRV records' TTL but at least a minute; a minute after a failed
// DNS query), at most 10000 of them. Throws matrix_error 400 M_INVALID_PARAM for a name that is
// not a server name.
struct route {
  std::string url;
  std::vector<outbound::connect_target> connect_to;
};
route route_to(const homeserver_config& cfg, const std::string& server_name);

// The options every request to another server starts from: the federation IP policy, the
// federation user agent, and these bounds on time and answer size.
outbound::fetch_options federation_fetch_options(const homeserver_config& cfg, std::chrono::milliseconds timeout,
                                                 size_t max_bytes);

// outbound::fetch of `path_and_query` on `server_name`'s federation API, routed by route_to
// (options.connect_to set from it; redirects not followed). Throws what route_to and fetch throw.
outbound::fetch_result fetch_from(const homeserver_config& cfg, const std::string& server_name,
                                  outbound::fetch_options options, const std::string& path_and_query);

// The raw ed25519 public key `key_id` of `server_name` that is valid now (for checking requests):
// from the key cache (storage/tables/server_keys), else fetched from the server's
// /_matrix/key/v2/server and checked (self-signed, right name) before it is cached, else asked of
// the trusted_key_servers. A server is asked at most once a minute for keys it did not have.
// nullopt when there is no such key. Retired keys never count here.
std::optional<std::string> current_verify_key(runtime::handler_context& ctx, const std::string& server_name,
                                              const std::string& key_id);

// The key that may check `server_name`'s signature on an event: a current key valid at least until
// `minimum_valid_until_ts` (the event's origin_server_ts in room versions that enforce key
// validity, else 0), or a key in old_verify_keys that expired at or after it. Looked up as
// current_verify_key does; our own name answers from our key and old_signing_keys.
std::optional<std::string> event_verify_key(runtime::handler_context& ctx, const std::string& server_name,
                                            const std::string& key_id, int64_t minimum_valid_until_ts);

// This server's key document (GET /_matrix/key/v2/server, and the notary's answer for our own
// name): our current key, valid for a day, and old_signing_keys as old_verify_keys, self-signed.
boost::json::object own_key_document(const runtime::handler_context& ctx);

// The newest key document of `server_name` known here (as the server signed it), fetched from the
// server first when there is none or the cached one expires before `minimum_valid_until_ts`
// (at most once a minute per server; a failed fetch leaves the cached one, as notaries do).
// Without `may_fetch`, the cache only.
std::optional<boost::json::object> key_document(runtime::handler_context& ctx, const std::string& server_name,
                                                int64_t minimum_valid_until_ts, bool may_fetch = true);

// The largest answer request() reads by default; a room's whole state (send_join, /state) may
// take more and says so.
inline constexpr size_t default_max_answer_bytes = 4 << 20;
inline constexpr size_t max_room_state_answer_bytes = 256 << 20;

// A request to another server's federation API, signed with X-Matrix (our key, our name as
// origin). `target` is the path with its query, as signed; `body` null for none. Returns the
// parsed JSON answer on 200. Throws matrix_error: the remote's own error (its errcode and status)
// for a 400, 403 or 404 with a Matrix error body, else 502 M_UNKNOWN "cannot reach" (network,
// TLS, 401 — our signature refused —, 5xx, non-JSON), so a client sees a clear error and the
// handler never hangs past `timeout`.
boost::json::value request(runtime::handler_context& ctx, const std::string& destination, const std::string& method,
                           const std::string& target, const boost::json::value* body,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10),
                           size_t max_bytes = default_max_answer_bytes);

// Another server's room alias, asked of that server (query/directory): its room and the servers
// to join through. 404 M_NOT_FOUND when the server does not know it.
struct alias_answer {
  std::string room_id;
  std::vector<std::string> servers;
};
alias_answer query_alias(runtime::handler_context& ctx, const std::string& alias);

// The same for an answer that is not JSON (media): the 200 answer as received, at most
// `max_bytes` of body (past it: 502 M_TOO_LARGE); other statuses and failures as request() throws.
outbound::fetch_result request_raw(runtime::handler_context& ctx, const std::string& destination,
                                   const std::string& method, const std::string& target,
                                   std::chrono::milliseconds timeout, size_t max_bytes);

// The origin of a server-server request after checking its X-Matrix signature against the
// origin's key; throws 401 M_UNAUTHORIZED (no or malformed header, another destination, unknown
// key, bad signature).
std::string authenticate_origin(runtime::handler_context& ctx, const api_request& req);

} // namespace myelin::federation
