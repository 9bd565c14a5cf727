// homeserver.yaml, parsed. Key names follow Synapse's homeserver.yaml where the meaning is the same,
// so an admin coming from Synapse recognises them. Errors name the file, the key, the line and
// what is wrong; unknown keys produce warnings, not failures.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "protocol/ip_range.hpp"
#include "protocol/url_blocklist.hpp"

namespace myelin {

class config_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct listener_config {
  // TCP: bind_addresses + port. Unix socket: path (+ mode, octal).
  std::vector<std::string> bind_addresses{"127.0.0.1"};
  uint16_t port = 0;
  std::string path;
  unsigned mode = 0666;
  std::string type = "http";
  bool tls = false;
  bool x_forwarded = false;                       // trust X-Forwarded-For from a proxy in front
  std::vector<std::string> resources{"client"};   // client, federation, media, metrics, replication
};

struct database_config {
  std::string name = "sqlite3";        // "sqlite3" | "psycopg2" | "postgres"
  std::string sqlite_path;             // args.database for sqlite3
  std::string postgres_conninfo;       // built from args (user, password, host, port, dbname/database)
  size_t pool_size = 8;                // args.cp_max
};

struct redis_config {
  bool enabled = false;
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string path;                    // unix socket; wins over host/port
  std::string password;
};

// A token bucket: `per_second` sustained, `burst_count` at once. per_second <= 0 disables it.
struct rate_limit {
  double per_second = 0;
  double burst_count = 0;
};

struct rate_limits_config {
  rate_limit message{0.2, 10};                  // rc_message
  rate_limit registration{0.17, 3};             // rc_registration (per IP)
  rate_limit login_address{0.17, 3};            // rc_login.address
  rate_limit login_account{0.17, 3};            // rc_login.account
  rate_limit login_failed_attempts{0.17, 3};    // rc_login.failed_attempts
  rate_limit client_requests{0, 0};             // myelin: every authenticated request, per user
  rate_limit media_create{10, 50};              // rc_media_create: uploads and /create, per user
};

struct limits_config {
  size_t max_request_body_size = 1 << 20;       // non-media request bodies (bytes)
  size_t max_upload_size = 50 << 20;            // media (max_upload_size)
  size_t max_header_size = 16 << 10;
  size_t max_json_depth = 64;
  size_t max_connections = 10000;
  unsigned request_timeout_seconds = 60;        // whole request, header to last byte of body
  unsigned header_timeout_seconds = 20;         // slowloris guard: headers must arrive by then
  unsigned keepalive_timeout_seconds = 75;
};

struct logging_config {
  std::string level = "info";                          // default level
  std::map<std::string, std::string> component_levels;  // e.g. gateway: debug, storage: warn
  std::string format = "text";                           // text | json
  std::string file;                                      // "" = stderr
  bool access_log = true;
};

struct runtime_config {
  size_t scheduler_threads = 2;         // CAF scheduler (sharing policy)
  size_t gateway_threads = 2;           // Asio threads serving HTTP
  size_t blocking_threads = 8;          // pool for handlers that touch the database
  unsigned group_request_timeout_seconds = 30;
  size_t max_in_flight_per_instance = 256;
};

// Synapse's `presence` section. Disabled (Synapse `use_presence: false`): the presence endpoints
// still answer (GET says offline) but nothing is stored or sent.
struct presence_config {
  bool enabled = true;
};

// One entry of Synapse's `thumbnail_sizes`: thumbnails are made only at these sizes, and a request
// for any other size is served the nearest of them (imaging::choose_size).
struct thumbnail_size {
  int width = 0;
  int height = 0;
  std::string method;  // "scale" (fit inside, keep aspect) | "crop" (fill exactly, cut the centre)
  bool operator==(const thumbnail_size&) const = default;
};

// The media repository (Synapse's top-level media keys).
struct media_config {
  size_t max_pending_uploads = 5;                  // max_pending_media_uploads (/create ids not yet used)
  int64_t unused_expiration_ms = 24 * 3600 * 1000; // unused_expiration_time
  std::vector<thumbnail_size> thumbnail_sizes{
      {32, 32, "crop"}, {96, 96, "crop"}, {320, 240, "scale"}, {640, 480, "scale"}, {800, 600, "scale"}};
  // Images whose header says more pixels than this are never decoded (decompression bombs).
  uint64_t max_image_pixels = 32ull << 20;
};

// URL previews: Synapse's top-level url_preview_* keys and max_spider_size (Myelin previews by
// default; Synapse does not).
struct url_preview_config {
  bool enabled = true;                                  // url_preview_enabled
  // url_preview_ip_range_blacklist / _whitelist; 0.0.0.0 and :: are always denied, as in Synapse.
  protocol::ip_policy ip_policy{protocol::ip_range_set(protocol::default_ip_deny_list()), {}};
  protocol::url_blocklist url_blocklist;                // url_preview_url_blacklist
  size_t max_spider_size = 10 << 20;                    // largest page or image fetched
  std::string accept_language = "en";                   // url_preview_accept_language, comma-joined
  int64_t timeout_ms = 10000;                           // url_preview_timeout (Myelin): each fetch, all in
};

// Talking to other homeservers (Synapse's keys). The IP policy applies to every server-server
// request (key fetches now): a request naming a server on a private address must not make this
// server reach into its own network. Loopback tests allow 127.0.0.1 with ip_range_whitelist.
struct federation_config {
  std::vector<std::string> custom_ca_files;  // federation_custom_ca_list: PEM files trusted besides the system's
  // old_signing_keys: keys this server signed with before its current one (key id → raw ed25519
  // public key and when it stopped being used), published as old_verify_keys so other servers can
  // still check events signed with them.
  struct old_key {
    std::string public_key_raw;
    int64_t expired_ts = 0;
  };
  std::map<std::string, old_key> old_signing_keys;
  // trusted_key_servers: notaries asked for another server's keys when that server cannot give
  // them (down, or a key it no longer publishes). Their answers must carry the notary's signature
  // by one of `verify_keys` (key id → raw key); without verify_keys, by its key fetched directly.
  // Unlike Synapse, none by default: listing matrix.org is the operator's choice.
  struct key_server {
    std::string server_name;
    std::map<std::string, std::string> verify_keys;
  };
  std::vector<key_server> trusted_key_servers;
  protocol::ip_policy ip_policy{protocol::ip_range_set(protocol::default_ip_deny_list()), {}};  // ip_range_blacklist / _whitelist
  // federation_dns_servers (Myelin): IPv4 nameservers ("127.0.0.1:5353", port 53 by default) asked
  // for SRV records instead of /etc/resolv.conf's — for tests and split-horizon setups.
  std::vector<std::pair<protocol::ip_address, uint16_t>> dns_servers;
};

// Myelin's `pusher` section: how the pusher group talks to push gateways (actors/pusher).
struct pusher_config {
  int64_t timeout_ms = 10000;        // timeout: each request to a gateway
  size_t max_attempts = 5;           // max_attempts: tries of one notification (5xx, 429, network errors)
  int64_t retry_delay_ms = 1000;     // retry_delay: before the second try, doubled after each failure
  int64_t max_retry_delay_ms = 60000;  // max_retry_delay: the doubling stops here
};

namespace protocol::appservice { class live_registrations; class registry; }

// Myelin's `appservice` section: how the appservice group and the queries talk to application
// services (actors/appservice).
struct appservice_config {
  int64_t timeout_ms = 30000;           // timeout: each request (transactions, queries, ping)
  int64_t retry_delay_ms = 1000;        // retry_delay: after a failed transaction, doubled after each failure
  int64_t max_retry_delay_ms = 300000;  // max_retry_delay: the doubling stops here (5 min)
};

// Myelin's `federation_sender` section: how the federation_sender group sends transactions to
// other servers (actors/federation_sender).
struct federation_sender_config {
  int64_t timeout_ms = 30000;                       // timeout: each transaction (a stop waits for one)
  int64_t retry_delay_ms = 10 * 60 * 1000;          // retry_delay: backoff after the first failure (Synapse: 10 min)
  int64_t max_retry_delay_ms = 24 * 3600 * 1000;    // max_retry_delay: the doubling stops here
  size_t max_queue = 1000;                          // max_queue: PDUs held per destination before catch-up
  size_t parallel_destinations = 8;                 // parallel_destinations: transactions in flight per instance
};

struct homeserver_config {
  std::string config_path;              // the file this came from
  std::string server_name;
  std::string public_baseurl;           // e.g. https://matrix.example.org/
  std::vector<listener_config> listeners;
  database_config database;
  redis_config redis;
  std::string signing_key_path;
  // TLS for listeners with `tls: true` (Synapse's keys): a PEM certificate chain (the server's
  // certificate first) and its PEM private key. Required as soon as one listener has tls.
  std::string tls_certificate_path;
  std::string tls_private_key_path;
  std::string media_store_path;
  std::string placement_file;           // "" = all-in-one
  bool enable_registration = false;
  bool enable_registration_without_verification = false;
  std::string registration_shared_secret;
  // /register asks for a registration token (UIA stage m.login.registration_token) instead of
  // m.login.dummy; tokens are made with the admin API.
  bool registration_requires_token = false;
  bool allow_guest_access = false;
  bool serve_well_known_client = true;
  // serve_server_wellknown (Synapse's): answer /.well-known/matrix/server with public_baseurl's host
  // on port 443, delegating federation to where the client API is served.
  bool serve_server_wellknown = false;
  size_t password_min_length = 0;       // password_config.policy.minimum_length
  bool password_login_enabled = true;   // password_config.enabled
  int64_t openid_token_lifetime_ms = 3600 * 1000;
  std::optional<int64_t> access_token_lifetime_ms;  // session_lifetime; unset = never expires
  limits_config limits;
  rate_limits_config rate_limits;
  presence_config presence;
  media_config media;
  url_preview_config url_preview;
  pusher_config pusher;
  federation_config federation;
  federation_sender_config federation_sender;
  // app_service_config_files: the registration files, and what they say (protocol/appservice). The
  // holder is shared by every copy of the config; SIGHUP swaps its content (server/main.cpp).
  std::vector<std::string> app_service_config_files;
  appservice_config appservice;
  std::shared_ptr<protocol::appservice::live_registrations> appservices;
  logging_config logging;
  runtime_config runtime;
  std::vector<std::string> warnings;    // unknown / ignored keys, for the startup log
};

// The application services now (an empty set for a config not made by the parsers).
std::shared_ptr<const protocol::appservice::registry> current_appservices(const homeserver_config& cfg);

// Parses a homeserver.yaml. Relative paths in the file are resolved against its directory.
// Throws config_error("FILE:LINE: key 'x.y': what is wrong").
homeserver_config load_homeserver_config(const std::string& path);

// Same from text (tests); `origin` names it in errors.
homeserver_config parse_homeserver_config(const std::string& yaml_text, const std::string& origin,
                                          const std::string& base_dir = ".");

// Writes a fresh all-in-one config (SQLite under data_dir) for `make run`'s first start.
std::string generate_default_config(const std::string& server_name, const std::string& data_dir,
                                    uint16_t port);

} // namespace myelin
