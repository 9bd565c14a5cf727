// common/config: the example files, the generated default, and the errors and warnings an operator
// sees — including that they point at the right line.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>

#include "common/config.hpp"

using namespace myelin;

namespace {

// The smallest valid config; tests append the key under scrutiny.
const std::string minimal = "server_name: example.org\n"
                            "listeners:\n"
                            "  - port: 8008\n";

homeserver_config parse(const std::string& yaml, const std::string& base_dir = "/srv/myelin") {
  return parse_homeserver_config(yaml, "hs.yaml", base_dir);
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string example(const std::string& name) { return std::string(MYELIN_SOURCE_DIR) + "/configs/" + name; }

} // namespace

BOOST_AUTO_TEST_SUITE(config_tests)

BOOST_AUTO_TEST_CASE(example_sqlite_config_loads_cleanly) {
  auto cfg = load_homeserver_config(example("homeserver.yaml"));
  BOOST_TEST(cfg.warnings.empty(), (cfg.warnings.empty() ? "" : cfg.warnings.front()));
  BOOST_TEST(cfg.server_name == "localhost");
  BOOST_REQUIRE(cfg.listeners.size() == 1u);
  BOOST_TEST(cfg.listeners[0].port == 8008);
  BOOST_TEST((cfg.listeners[0].resources == std::vector<std::string>{"client", "federation"}));
  BOOST_TEST(cfg.database.name == "sqlite3");
  // Relative to configs/, which load_homeserver_config turns into an absolute directory.
  auto var = (std::filesystem::absolute(MYELIN_SOURCE_DIR) / "var").lexically_normal().string();
  BOOST_TEST(cfg.database.sqlite_path == var + "/homeserver.db");
  BOOST_TEST(cfg.signing_key_path == var + "/localhost.signing.key");
  BOOST_TEST(cfg.password_min_length == 8u);
}

BOOST_AUTO_TEST_CASE(example_postgres_config_loads_cleanly) {
  auto cfg = load_homeserver_config(example("homeserver-postgres.yaml"));
  BOOST_TEST(cfg.warnings.empty(), (cfg.warnings.empty() ? "" : cfg.warnings.front()));
  BOOST_TEST(cfg.database.name == "psycopg2");
  BOOST_TEST(cfg.database.pool_size == 16u);
  BOOST_TEST(cfg.database.postgres_conninfo == "host=/run/postgresql dbname=myelin user=myelin");
  BOOST_TEST(!cfg.redis.enabled);
  BOOST_TEST(cfg.redis.path == "/run/redis/redis.sock");
  BOOST_REQUIRE(cfg.listeners.size() == 2u);
  BOOST_TEST((cfg.listeners[1].resources == std::vector<std::string>{"metrics"}));
  BOOST_TEST(cfg.access_token_lifetime_ms.value_or(0) == 7 * 24 * 3600 * 1000LL);
}

BOOST_AUTO_TEST_CASE(missing_file_names_path_and_reason) {
  try {
    load_homeserver_config("/nonexistent/homeserver.yaml");
    BOOST_FAIL("expected config_error");
  } catch (const config_error& e) {
    BOOST_TEST(std::string(e.what()) ==
               "/nonexistent/homeserver.yaml: cannot read config file: No such file or directory");
  }
}

BOOST_AUTO_TEST_CASE(generated_default_round_trips_without_warnings) {
  auto text = generate_default_config("localhost:8448", "/tmp/my data \"dir\"", 8123);
  auto cfg = parse_homeserver_config(text, "generated.yaml", "/elsewhere");
  BOOST_TEST(cfg.warnings.empty(), (cfg.warnings.empty() ? "" : cfg.warnings.front()));
  BOOST_TEST(cfg.server_name == "localhost:8448");
  BOOST_REQUIRE(cfg.listeners.size() == 1u);
  BOOST_TEST(cfg.listeners[0].port == 8123);
  BOOST_TEST((cfg.listeners[0].bind_addresses == std::vector<std::string>{"127.0.0.1"}));
  BOOST_TEST((cfg.listeners[0].resources == std::vector<std::string>{"client", "federation"}));
  BOOST_TEST(cfg.database.sqlite_path == "/tmp/my data \"dir\"/homeserver.db");
  BOOST_TEST(cfg.signing_key_path == "/tmp/my data \"dir\"/localhost:8448.signing.key");
  BOOST_TEST(cfg.media_store_path == "/tmp/my data \"dir\"/media_store");
  BOOST_TEST(cfg.enable_registration);
  BOOST_TEST(cfg.enable_registration_without_verification);
  BOOST_TEST(cfg.registration_shared_secret.size() >= 40u);
  BOOST_TEST(cfg.logging.level == "info");
  runtime_config defaults;
  BOOST_TEST(cfg.runtime.group_request_timeout_seconds == defaults.group_request_timeout_seconds);
  BOOST_TEST(cfg.runtime.blocking_threads == defaults.blocking_threads);
  BOOST_TEST(cfg.limits.max_upload_size == limits_config{}.max_upload_size);
  // Each generated config gets its own secret.
  BOOST_TEST(parse(generate_default_config("localhost", "/tmp", 8008)).registration_shared_secret !=
             cfg.registration_shared_secret);
}

BOOST_AUTO_TEST_CASE(defaults_follow_base_dir_and_server_name) {
  auto cfg = parse(minimal);
  BOOST_TEST(cfg.warnings.empty());
  BOOST_TEST(cfg.database.name == "sqlite3");
  BOOST_TEST(cfg.database.sqlite_path == "/srv/myelin/homeserver.db");
  BOOST_TEST(cfg.signing_key_path == "/srv/myelin/example.org.signing.key");
  BOOST_TEST(cfg.media_store_path == "/srv/myelin/media_store");
  BOOST_TEST((cfg.listeners[0].resources == std::vector<std::string>{"client"}));
  BOOST_TEST(!cfg.access_token_lifetime_ms.has_value());
}

BOOST_AUTO_TEST_CASE(missing_server_name_is_an_error) {
  auto err = error_of("listeners:\n  - port: 8008\n");
  BOOST_TEST(starts_with(err, "hs.yaml: key 'server_name':"), err);
}

BOOST_AUTO_TEST_CASE(invalid_server_name_is_an_error) {
  auto err = error_of("server_name: \"bad name\"\nlisteners:\n  - port: 8008\n");
  BOOST_TEST(starts_with(err, "hs.yaml:1: key 'server_name':"), err);
}

BOOST_AUTO_TEST_CASE(no_listener_is_an_error) {
  BOOST_TEST(starts_with(error_of("server_name: example.org\n"),  // no line: there is no key to point at
                         "hs.yaml: key 'listeners': at least one listener is required"));
  BOOST_TEST(starts_with(error_of("server_name: example.org\nlisteners: []\n"), "hs.yaml:2: key 'listeners':"));
}

BOOST_AUTO_TEST_CASE(bad_type_points_at_its_line) {
  auto err = error_of(minimal + "database:\n"
                                "  name: sqlite3\n"
                                "  args:\n"
                                "    cp_max: abc\n");
  BOOST_TEST(err == "hs.yaml:7: key 'database.args.cp_max': expected an integer between 1 and 1024, got 'abc'");

  err = error_of(minimal + "enable_registration: maybe\n");
  BOOST_TEST(err == "hs.yaml:4: key 'enable_registration': expected true or false, got 'maybe'");

  err = error_of(minimal + "runtime:\n  blocking_threads: -3\n");
  BOOST_TEST(starts_with(err, "hs.yaml:5: key 'runtime.blocking_threads':"), err);

  err = error_of(minimal + "limits:\n  max_connections: [1]\n");
  BOOST_TEST(err == "hs.yaml:5: key 'limits.max_connections': expected a single value, got a list");
}

BOOST_AUTO_TEST_CASE(out_of_range_values_are_errors) {
  BOOST_TEST(starts_with(error_of("server_name: a.org\nlisteners:\n  - port: 70000\n"),
                         "hs.yaml:3: key 'listeners[0].port': expected an integer between 0 and 65535"));
  BOOST_TEST(starts_with(error_of(minimal + "session_lifetime: 0\n"), "hs.yaml:4: key 'session_lifetime': must be"));
  BOOST_TEST(starts_with(error_of(minimal + "max_upload_size: -1M\n"), "hs.yaml:4: key 'max_upload_size':"));
  BOOST_TEST(starts_with(error_of(minimal + "rc_message:\n  per_second: -1\n"),
                         "hs.yaml:5: key 'rc_message.per_second':"));
  // Plain numbers are milliseconds, which is never what a seconds-granular timeout means.
  BOOST_TEST(contains(error_of(minimal + "limits:\n  request_timeout: 60\n"), "plain numbers are milliseconds"));
}

BOOST_AUTO_TEST_CASE(invalid_yaml_reports_the_parser_line) {
  auto err = error_of("server_name: example.org\n"
                      "listeners:\n"
                      "  - port: 8008\n"
                      "    resources: [{names: [client]}\n");
  BOOST_TEST(starts_with(err, "hs.yaml:5: invalid YAML: "), err);
  BOOST_TEST(starts_with(error_of("a: 1\n b: 2\n"), "hs.yaml:2: invalid YAML: "));
}

BOOST_AUTO_TEST_CASE(unknown_key_warns_with_its_line) {
  auto cfg = parse(minimal + "logging:\n  levle: debug\nfrobnicate: 1\n");
  BOOST_REQUIRE(cfg.warnings.size() == 2u);
  BOOST_TEST(cfg.warnings[0] == "hs.yaml: unknown key 'logging.levle' (line 5)");
  BOOST_TEST(cfg.warnings[1] == "hs.yaml: unknown key 'frobnicate' (line 6)");
}

BOOST_AUTO_TEST_CASE(synapse_only_keys_warn_as_unused) {
  auto cfg = parse(minimal + "report_stats: false\n"
                             "federation_domain_whitelist: [a.org]\n"
                             "log_config: /etc/synapse/log.yaml\n"
                             "database:\n"
                             "  txn_limit: 10000\n");
  BOOST_REQUIRE(cfg.warnings.size() == 4u);
  BOOST_TEST(cfg.warnings[0] == "hs.yaml: key 'report_stats' is not used by Myelin (line 4)");
  BOOST_TEST(cfg.warnings[1] == "hs.yaml: key 'federation_domain_whitelist' is not used by Myelin (line 5)");
  BOOST_TEST(cfg.warnings[2] == "hs.yaml: key 'log_config' is not used by Myelin; logging is configured in the "
                                "'logging' section (line 6)");
  BOOST_TEST(cfg.warnings[3] == "hs.yaml: key 'database.txn_limit' is not used by Myelin (line 8)");
}

BOOST_AUTO_TEST_CASE(duplicate_key_is_an_error) {
  BOOST_TEST(error_of(minimal + "allow_guest_access: true\nallow_guest_access: false\n") ==
             "hs.yaml:5: key 'allow_guest_access': set twice (first on line 4)");
}

BOOST_AUTO_TEST_CASE(sizes_and_durations) {
  auto cfg = parse(minimal + "max_upload_size: 10M\n"
                             "session_lifetime: 1h\n"
                             "openid_token_lifetime: 1500\n"
                             "limits:\n"
                             "  max_request_body_size: 512K\n"
                             "  max_header_size: 8192\n"
                             "  header_timeout: 1m\n"
                             "  request_timeout: 1500ms\n"
                             "runtime:\n"
                             "  group_request_timeout: 2d\n");
  BOOST_TEST(cfg.warnings.empty());
  BOOST_TEST(cfg.limits.max_upload_size == 10u * 1024 * 1024);
  BOOST_TEST(cfg.access_token_lifetime_ms.value_or(0) == 3600 * 1000);
  BOOST_TEST(cfg.openid_token_lifetime_ms == 1500);
  BOOST_TEST(cfg.limits.max_request_body_size == 512u * 1024);
  BOOST_TEST(cfg.limits.max_header_size == 8192u);
  BOOST_TEST(cfg.limits.header_timeout_seconds == 60u);
  BOOST_TEST(cfg.limits.request_timeout_seconds == 2u);  // rounded up, never down to nothing
  BOOST_TEST(cfg.runtime.group_request_timeout_seconds == 2u * 86400);
  BOOST_TEST(starts_with(error_of(minimal + "max_upload_size: 10X\n"),
                         "hs.yaml:4: key 'max_upload_size': expected a size such as 512K"));
  BOOST_TEST(starts_with(error_of(minimal + "session_lifetime: 1 day\n"),
                         "hs.yaml:4: key 'session_lifetime': expected a duration"));
}

BOOST_AUTO_TEST_CASE(thumbnail_sizes_and_max_image_pixels) {
  auto defaults = parse(minimal);
  BOOST_TEST(defaults.media.thumbnail_sizes.size() == 5u);  // Synapse's default set
  BOOST_TEST((defaults.media.thumbnail_sizes.front() == thumbnail_size{32, 32, "crop"}));
  BOOST_TEST(defaults.media.max_image_pixels == 32u * 1024 * 1024);

  auto cfg = parse(minimal + "thumbnail_sizes:\n"
                             "  - {width: 64, height: 48, method: crop}\n"
                             "  - width: 300\n"
                             "    height: 200\n"
                             "  - {width: 64, height: 48, method: crop}\n"  // duplicate: kept once
                             "max_image_pixels: 10M\n"
                             "dynamic_thumbnails: true\n");
  BOOST_TEST((cfg.media.thumbnail_sizes ==
              std::vector<thumbnail_size>{{64, 48, "crop"}, {300, 200, "scale"}}));  // method defaults to scale
  BOOST_TEST(cfg.media.max_image_pixels == 10u * 1024 * 1024);
  BOOST_REQUIRE(cfg.warnings.size() == 1u);
  BOOST_TEST(contains(cfg.warnings[0], "'dynamic_thumbnails' is not used by Myelin"));

  BOOST_TEST(error_of(minimal + "thumbnail_sizes:\n  - {width: 64, height: 48, method: fit}\n") ==
             "hs.yaml:5: key 'thumbnail_sizes[0].method': expected one of scale, crop, got 'fit'");
  BOOST_TEST(error_of(minimal + "thumbnail_sizes:\n  - {width: 0, height: 48}\n") ==
             "hs.yaml:5: key 'thumbnail_sizes[0].width': expected an integer between 1 and 4096, got '0'");
  BOOST_TEST(error_of(minimal + "thumbnail_sizes:\n  - {width: 64}\n") ==
             "hs.yaml:5: key 'thumbnail_sizes[0]': expected both 'width' and 'height'");
  BOOST_TEST(error_of(minimal + "thumbnail_sizes: []\n") ==
             "hs.yaml:4: key 'thumbnail_sizes': expected at least one size, e.g. [{width: 320, height: 240, "
             "method: scale}]");
  BOOST_TEST(starts_with(error_of(minimal + "max_image_pixels: lots\n"),
                         "hs.yaml:4: key 'max_image_pixels': expected a size"));
}

BOOST_AUTO_TEST_CASE(sqlite_paths_resolve_against_base_dir) {
  auto sql = [](const std::string& db) {
    return parse(minimal + "database:\n  name: sqlite3\n  args:\n    database: " + db + "\n").database.sqlite_path;
  };
  BOOST_TEST(sql("data/hs.db") == "/srv/myelin/data/hs.db");
  BOOST_TEST(sql("../var/hs.db") == "/srv/var/hs.db");
  BOOST_TEST(sql("/abs/hs.db") == "/abs/hs.db");
  BOOST_TEST(sql("\":memory:\"") == ":memory:");
  auto cfg = parse(minimal + "signing_key_path: keys/sk\nmedia_store_path: /data/media\n");
  BOOST_TEST(cfg.signing_key_path == "/srv/myelin/keys/sk");
  BOOST_TEST(cfg.media_store_path == "/data/media");
}

BOOST_AUTO_TEST_CASE(postgres_conninfo_is_built_and_quoted) {
  auto cfg = parse(minimal + "database:\n"
                             "  name: postgres\n"
                             "  args:\n"
                             "    user: synapse user\n"
                             "    password: \"it's a \\\\secret\"\n"
                             "    database: synapse\n"
                             "    host: db.example.org\n"
                             "    port: 5433\n"
                             "    sslmode: require\n"
                             "    cp_min: 2\n"
                             "    cp_max: 12\n");
  BOOST_TEST(cfg.warnings.empty(), (cfg.warnings.empty() ? "" : cfg.warnings.front()));
  BOOST_TEST(cfg.database.postgres_conninfo == R"(host=db.example.org port=5433 dbname=synapse )"
                                               R"(user='synapse user' password='it\'s a \\secret' sslmode=require)");
  BOOST_TEST(cfg.database.pool_size == 12u);
  BOOST_TEST(cfg.database.sqlite_path.empty());

  auto empty_password =
      parse(minimal + "database:\n  name: psycopg2\n  args:\n    host: /run/postgresql\n    password: \"\"\n");
  BOOST_TEST(empty_password.database.postgres_conninfo == "host=/run/postgresql password=''");

  BOOST_TEST(starts_with(error_of(minimal + "database:\n  name: mysql\n"),
                         "hs.yaml:5: key 'database.name': expected one of sqlite3, psycopg2, postgres, got 'mysql'"));
  BOOST_TEST(contains(error_of(minimal + "database:\n  name: psycopg2\n  args:\n    cp_min: 9\n    cp_max: 4\n"),
                      "cp_min (9) is larger than cp_max (4)"));
}

BOOST_AUTO_TEST_CASE(unix_socket_listener_with_octal_mode) {
  auto cfg = parse("server_name: example.org\n"
                   "listeners:\n"
                   "  - path: sock/myelin.sock\n"
                   "    mode: \"0660\"\n"
                   "    resources:\n"
                   "      - names: [client, media]\n"
                   "  - path: /run/b.sock\n"
                   "    mode: 0600\n");
  BOOST_TEST(cfg.warnings.empty());
  BOOST_REQUIRE(cfg.listeners.size() == 2u);
  BOOST_TEST(cfg.listeners[0].path == "/srv/myelin/sock/myelin.sock");
  BOOST_TEST(cfg.listeners[0].mode == 0660u);
  BOOST_TEST((cfg.listeners[0].resources == std::vector<std::string>{"client", "media"}));
  BOOST_TEST(cfg.listeners[1].mode == 0600u);
  BOOST_TEST(starts_with(error_of("server_name: a.org\nlisteners:\n  - path: /s\n    mode: \"0890\"\n"),
                         "hs.yaml:4: key 'listeners[0].mode': expected an octal file mode"));
  BOOST_TEST(starts_with(error_of("server_name: a.org\nlisteners:\n  - path: /s\n    port: 1\n"),
                         "hs.yaml:3: key 'listeners[0]': 'port' and 'path' are exclusive"));
  BOOST_TEST(starts_with(error_of("server_name: a.org\nlisteners:\n  - type: http\n"),
                         "hs.yaml:3: key 'listeners[0]': expected 'port'"));
}

BOOST_AUTO_TEST_CASE(bind_address_singular_and_plural) {
  auto cfg = parse("server_name: example.org\n"
                   "listeners:\n"
                   "  - port: 8008\n"
                   "    bind_address: \"::1\"\n"
                   "  - port: 8009\n"
                   "    bind_addresses: [\"0.0.0.0\", \"::\"]\n"
                   "    x_forwarded: true\n");
  BOOST_TEST(cfg.warnings.empty());
  BOOST_TEST((cfg.listeners[0].bind_addresses == std::vector<std::string>{"::1"}));
  BOOST_TEST((cfg.listeners[1].bind_addresses == std::vector<std::string>{"0.0.0.0", "::"}));
  BOOST_TEST(cfg.listeners[1].x_forwarded);
  BOOST_TEST(starts_with(error_of("server_name: a.org\nlisteners:\n  - port: 1\n    bind_addresses: []\n"),
                         "hs.yaml:3: key 'listeners[0]': 'bind_addresses' must not be empty"));
}

BOOST_AUTO_TEST_CASE(unknown_resource_is_an_error) {
  auto err = error_of("server_name: a.org\nlisteners:\n  - port: 1\n    resources:\n"
                      "      - names: [client, webclient]\n");
  BOOST_TEST(starts_with(err, "hs.yaml:5: key 'listeners[0].resources[0].names[1]': unknown resource 'webclient'"),
             err);
}

BOOST_AUTO_TEST_CASE(logging_levels_are_validated) {
  auto err = error_of(minimal + "logging:\n  level: loud\n");
  BOOST_TEST(starts_with(err, "hs.yaml:5: key 'logging.level': unknown log level 'loud'"), err);
  err = error_of(minimal + "logging:\n  components:\n    gateway: chatty\n");
  BOOST_TEST(starts_with(err, "hs.yaml:6: key 'logging.components.gateway':"), err);

  auto cfg = parse(minimal + "logging:\n  level: warn\n  format: json\n  file: logs/hs.log\n"
                             "  components: {gateway: debug, storage: error}\n");
  BOOST_TEST(cfg.logging.level == "warn");
  BOOST_TEST(cfg.logging.format == "json");
  BOOST_TEST(cfg.logging.file == "/srv/myelin/logs/hs.log");
  BOOST_TEST(cfg.logging.component_levels.at("gateway") == "debug");
  BOOST_TEST(cfg.logging.component_levels.at("storage") == "error");
}

BOOST_AUTO_TEST_CASE(rate_limits_and_password_policy) {
  auto cfg = parse(minimal + "rc_login:\n  failed_attempts: {per_second: 0.5, burst_count: 4}\n"
                             "rc_client_requests: {per_second: 20, burst_count: 100}\n"
                             "password_config:\n  enabled: false\n  policy: {enabled: true, minimum_length: 12}\n");
  BOOST_TEST(cfg.warnings.empty());
  BOOST_TEST(cfg.rate_limits.login_failed_attempts.per_second == 0.5);
  BOOST_TEST(cfg.rate_limits.login_failed_attempts.burst_count == 4);
  BOOST_TEST(cfg.rate_limits.login_account.per_second == 0.17);  // untouched default
  BOOST_TEST(cfg.rate_limits.client_requests.burst_count == 100);
  BOOST_TEST(!cfg.password_login_enabled);
  BOOST_TEST(cfg.password_min_length == 12u);

  // As in Synapse, the policy only applies when enabled — and the operator is told.
  auto off = parse(minimal + "password_config:\n  policy:\n    minimum_length: 12\n");
  BOOST_TEST(off.password_min_length == 0u);
  BOOST_REQUIRE(off.warnings.size() == 1u);
  BOOST_TEST(contains(off.warnings[0], "has no effect unless password_config.policy.enabled is true (line 6)"));
}

BOOST_AUTO_TEST_CASE(presence_switch_in_both_synapse_spellings) {
  BOOST_TEST(parse(minimal).presence.enabled);
  auto off = parse(minimal + "presence:\n  enabled: false\n  include_offline_users_on_sync: true\n");
  BOOST_TEST(!off.presence.enabled);
  BOOST_REQUIRE(off.warnings.size() == 1u);
  BOOST_TEST(contains(off.warnings[0], "'presence.include_offline_users_on_sync' is not used by Myelin"));
  BOOST_TEST(!parse(minimal + "use_presence: false\n").presence.enabled);
  auto untracked = parse(minimal + "presence:\n  enabled: untracked\n");
  BOOST_TEST(untracked.presence.enabled);
  BOOST_TEST(untracked.warnings.size() == 1u);
  BOOST_TEST(contains(error_of(minimal + "presence:\n  enabled: sometimes\n"), "presence.enabled"));
}

BOOST_AUTO_TEST_CASE(pusher_section) {
  auto d = parse(minimal).pusher;
  BOOST_TEST(d.timeout_ms == 10000);
  BOOST_TEST(d.max_attempts == 5u);
  auto cfg = parse(minimal + "pusher:\n  timeout: 3s\n  max_attempts: 2\n  retry_delay: 250ms\n  max_retry_delay: 1m\n");
  BOOST_TEST(cfg.warnings.empty());
  BOOST_TEST(cfg.pusher.timeout_ms == 3000);
  BOOST_TEST(cfg.pusher.max_attempts == 2u);
  BOOST_TEST(cfg.pusher.retry_delay_ms == 250);
  BOOST_TEST(cfg.pusher.max_retry_delay_ms == 60000);
  BOOST_TEST(contains(error_of(minimal + "pusher:\n  max_attempts: 0\n"), "pusher.max_attempts"));
  BOOST_TEST(contains(error_of(minimal + "pusher:\n  retry_delay: soon\n"), "pusher.retry_delay"));
}

BOOST_AUTO_TEST_CASE(federation_dns_servers) {
  BOOST_TEST(parse(minimal).federation.dns_servers.empty());
  auto cfg = parse(minimal + "federation_dns_servers: ['127.0.0.1:5353', 192.0.2.1]\n");
  BOOST_TEST(cfg.warnings.empty());
  BOOST_REQUIRE(cfg.federation.dns_servers.size() == 2u);
  BOOST_TEST(cfg.federation.dns_servers[0].first.to_string() == "127.0.0.1");
  BOOST_TEST(cfg.federation.dns_servers[0].second == 5353);
  BOOST_TEST(cfg.federation.dns_servers[1].first.to_string() == "192.0.2.1");
  BOOST_TEST(cfg.federation.dns_servers[1].second == 53);
  for (const char* bad : {"['::1']", "['[::1]:53']", "['127.0.0.1:0']", "['127.0.0.1:70000']", "['127.0.0.1:x']",
                          "[dns.example.org]", "127.0.0.1", "['127.0.0.1:']"})
    BOOST_TEST(starts_with(error_of(minimal + "federation_dns_servers: " + bad + "\n"),
                           "hs.yaml:4: key 'federation_dns_servers"), bad);
  BOOST_TEST(contains(error_of(minimal + "federation_dns_servers: [1.1.1.1, 1.1.1.2, 1.1.1.3, 1.1.1.4]\n"),
                      "at most 3"));
}

BOOST_AUTO_TEST_CASE(null_values_keep_defaults) {
  auto cfg = parse(minimal + "public_baseurl: https://matrix.example.org\nsession_lifetime:\nredis:\n");
  BOOST_TEST(cfg.warnings.empty());
  BOOST_TEST(cfg.public_baseurl == "https://matrix.example.org/");
  BOOST_TEST(!cfg.access_token_lifetime_ms.has_value());
  BOOST_TEST(cfg.redis.port == 6379);
}

BOOST_AUTO_TEST_CASE(tls_listener_needs_its_files) {
  const std::string tls = "server_name: example.org\nlisteners:\n  - port: 8448\n    tls: true\n";
  BOOST_TEST(error_of(tls) == "hs.yaml: key 'tls_certificate_path': required by the listener(s) with tls: true (a PEM file)");
  auto err = error_of(tls + "tls_certificate_path: /nonexistent/cert.pem\ntls_private_key_path: /nonexistent/key.pem\n");
  BOOST_TEST(starts_with(err, "hs.yaml: key 'tls_certificate_path': cannot read /nonexistent/cert.pem: "), err);
  // Relative to the config file, like every path; without a TLS listener the files are not looked at.
  auto cfg = parse(minimal + "tls_certificate_path: cert.pem\n");
  BOOST_TEST(cfg.tls_certificate_path == "/srv/myelin/cert.pem");
  BOOST_TEST(cfg.warnings.empty());
}

BOOST_AUTO_TEST_CASE(old_signing_keys_and_trusted_key_servers) {
  // Synapse's spelling of both; the keys are matrix.org's published ones (any 32 bytes would do).
  auto cfg = parse(minimal + "old_signing_keys:\n"
                             "  \"ed25519:old\": {key: \"Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw\", "
                             "expired_ts: 1700000000000}\n"
                             "trusted_key_servers:\n"
                             "  - server_name: matrix.org\n"
                             "    verify_keys:\n"
                             "      \"ed25519:auto\": \"Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw\"\n"
                             "    accept_keys_insecurely: false\n"
                             "  - server_name: notary.example:8448\n");
  BOOST_REQUIRE(cfg.federation.old_signing_keys.count("ed25519:old") == 1u);
  BOOST_TEST(cfg.federation.old_signing_keys.at("ed25519:old").expired_ts == 1700000000000);
  BOOST_TEST(cfg.federation.old_signing_keys.at("ed25519:old").public_key_raw.size() == 32u);
  BOOST_REQUIRE(cfg.federation.trusted_key_servers.size() == 2u);
  BOOST_TEST(cfg.federation.trusted_key_servers[0].server_name == "matrix.org");
  BOOST_TEST(cfg.federation.trusted_key_servers[0].verify_keys.at("ed25519:auto").size() == 32u);
  BOOST_TEST(cfg.federation.trusted_key_servers[1].verify_keys.empty());
  BOOST_REQUIRE(cfg.warnings.size() == 1u);
  BOOST_TEST(contains(cfg.warnings[0], "trusted_key_servers[0].accept_keys_insecurely' is not used by Myelin"));
  BOOST_TEST(parse(minimal).federation.trusted_key_servers.empty());  // no notary unless one is named

  BOOST_TEST(error_of(minimal + "old_signing_keys:\n  \"ed25519:old\": {key: abc, expired_ts: 1}\n") ==
             "hs.yaml:5: key 'old_signing_keys.ed25519:old.key': expected an ed25519 public key in unpadded base64 "
             "(43 characters), got 'abc'");
  BOOST_TEST(error_of(minimal + "old_signing_keys:\n  \"ed25519:old\": {expired_ts: 1}\n") ==
             "hs.yaml:5: key 'old_signing_keys.ed25519:old': needs both key and expired_ts (milliseconds)");
  BOOST_TEST(starts_with(error_of(minimal + "old_signing_keys:\n  old: {}\n"),
                         "hs.yaml:5: key 'old_signing_keys.old': expected a key id such as ed25519:"));
  BOOST_TEST(error_of(minimal + "trusted_key_servers:\n  - verify_keys: {}\n") ==
             "hs.yaml:5: key 'trusted_key_servers[0]': needs a server_name");
  BOOST_TEST(starts_with(error_of(minimal + "trusted_key_servers:\n  - server_name: 'not a name'\n"),
                         "hs.yaml:5: key 'trusted_key_servers[0].server_name': not a server name"));
}

BOOST_AUTO_TEST_SUITE_END()
