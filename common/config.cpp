// Loads homeserver.yaml into homeserver_config. Every value is checked here, once, so the rest of the
// server can trust the struct; an error names the file, the line and the dotted key to fix, and keys
// Myelin does not act on become warnings rather than failures so a Synapse config still starts.
#include "common/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <span>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "protocol/appservice.hpp"
#include "protocol/crypto.hpp"
#include "protocol/identifiers.hpp"

namespace myelin {
namespace {

namespace fs = std::filesystem;

// ---- keys Synapse understands and Myelin reads past ----------------------------------------------

// A trailing '*' matches a prefix. `hint` says where the feature lives in Myelin, if anywhere.
struct ignored_key {
  std::string_view name;
  std::string_view hint = {};
};

constexpr ignored_key synapse_top_level_keys[] = {
    {"log_config", "logging is configured in the 'logging' section"},
    {"enable_metrics", "add a listener with type: metrics instead"},
    {"registration_shared_secret_path", "set registration_shared_secret instead"},
    {"report_stats"}, {"report_stats_endpoint"}, {"macaroon_secret_key"}, {"form_secret"}, {"pid_file"},
    {"suppress_key_server_warning"}, {"key_refresh_interval"},
    {"key_server_signing_keys_path"}, {"metrics_flags"}, {"federation_*"}, {"send_federation"},
    {"allow_public_rooms_over_federation"}, {"allow_public_rooms_without_auth"}, {"web_client_location"},
    {"soft_file_limit"}, {"gc_thresholds"}, {"gc_min_interval"},
    {"require_auth_for_profile_requests"}, {"limit_profile_requests_to_users_who_share_rooms"},
    {"include_profile_data_on_invite"}, {"default_room_version"}, {"admin_contact"}, {"hs_disabled"},
    {"hs_disabled_message"}, {"limit_usage_by_mau"}, {"max_mau_value"}, {"mau_*"}, {"room_list_publication_rules"},
    {"alias_creation_rules"}, {"redaction_retention_period"}, {"user_ips_max_age"}, {"retention"}, {"caches"},
    {"event_cache_size"}, {"enable_media_repo"}, {"media_retention"}, {"media_storage_providers"},
    {"dynamic_thumbnails", "thumbnail requests are served the nearest of thumbnail_sizes"},
    {"recaptcha_*"}, {"enable_registration_captcha"}, {"turn_*"},
    {"registration_requires_3pid"}, {"registrations_require_3pid"}, {"allowed_local_3pids"},
    {"enable_3pid_lookup"}, {"enable_3pid_changes"}, {"auto_join_*"}, {"autocreate_auto_join_*"},
    {"account_threepid_delegates"}, {"email"}, {"sso"}, {"saml2_config"}, {"oidc_providers"}, {"cas_config"},
    {"jwt_config"}, {"ui_auth"}, {"refreshable_access_token_lifetime"}, {"refresh_token_lifetime"},
    {"nonrefreshable_access_token_lifetime"}, {"track_appservice_user_ips"},
    {"push"}, {"encryption_enabled_by_default_for_room_type"}, {"user_directory"}, {"stats"},
    {"server_notices"}, {"opentracing"}, {"sentry"}, {"worker_*"}, {"instance_map"}, {"stream_writers"},
    {"run_background_tasks_on"}, {"notify_appservices_from_worker"}, {"update_user_directory_from_worker"},
    {"start_pushers"}, {"pusher_instances"}, {"media_instance_running_background_jobs"},
    {"experimental_features"}, {"modules"}, {"spam_checker"}, {"password_providers"},
    {"third_party_event_rules"},
    {"serve_server_wellknown"}, {"limit_remote_rooms"},
    {"templates"}, {"room_prejoin_state"}, {"forget_rooms_on_leave"}, {"user_consent"},
    {"enable_room_list_search"}, {"block_non_admin_invites"}, {"enable_set_displayname"},
    {"enable_set_avatar_url"}, {"delete_stale_devices_after"}, {"enable_authenticated_media"},
    {"auto_accept_invites"}, {"rc_joins"}, {"rc_joins_per_room"}, {"rc_invites"}, {"rc_3pid_validation"},
    {"rc_admin_redaction"}, {"rc_federation"}, {"rc_media_create"}, {"rc_presence"},
    {"rc_delayed_event_mgmt"}, {"rc_reports"},
};
constexpr ignored_key synapse_database_keys[] = {{"txn_limit"}, {"allow_unsafe_locale"}};
constexpr ignored_key synapse_listener_keys[] = {{"request_id_header"}, {"tag"}, {"additional_resources"},
                                                 {"http_options"}};
constexpr ignored_key synapse_key_server_keys[] = {
    {"accept_keys_insecurely", "a notary without verify_keys is checked with its own key, fetched from it"}};

constexpr ignored_key synapse_redis_keys[] = {{"dbid"}, {"sentinels"}, {"sentinel_service"}, {"password_path"},
                                              {"use_tls"}, {"certificate_file"}, {"private_key_file"},
                                              {"ca_file"}, {"ca_path"}};
constexpr ignored_key synapse_presence_keys[] = {{"include_offline_users_on_sync"}, {"presence_router"},
                                                 {"local_presence_only"}};
constexpr ignored_key synapse_password_keys[] = {{"localdb_enabled"}, {"pepper"}};
constexpr ignored_key synapse_password_policy_keys[] = {{"require_digit"}, {"require_symbol"},
                                                        {"require_lowercase"}, {"require_uppercase"}};

const ignored_key* find_ignored(std::span<const ignored_key> keys, std::string_view name) {
  for (const auto& k : keys) {
    bool prefix = k.name.ends_with('*');
    if (prefix ? name.starts_with(k.name.substr(0, k.name.size() - 1)) : name == k.name) return &k;
  }
  return nullptr;
}

// ---- numbers with units ----------------------------------------------------------------------------

struct unit {
  std::string_view suffix;
  uint64_t factor;
};
// Synapse's parse_size and parse_duration; plain numbers are bytes and milliseconds respectively.
constexpr unit size_units[] = {{"", 1},          {"K", 1ull << 10}, {"k", 1ull << 10}, {"M", 1ull << 20},
                               {"m", 1ull << 20}, {"G", 1ull << 30}, {"g", 1ull << 30}};
constexpr uint64_t day_ms = 24ull * 3600 * 1000;
constexpr unit duration_units[] = {{"", 1},          {"ms", 1},           {"s", 1000},
                                   {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", day_ms},
                                   {"w", 7 * day_ms}, {"y", 365 * day_ms}};

std::optional<uint64_t> parse_with_units(std::string_view s, std::span<const unit> units) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end == s.data()) return std::nullopt;
  std::string_view suffix(end, static_cast<size_t>(s.data() + s.size() - end));
  for (const auto& u : units)
    if (suffix == u.suffix) {
      if (v > std::numeric_limits<int64_t>::max() / u.factor) return std::nullopt;
      return v * u.factor;
    }
  return std::nullopt;
}

// The largest unit that divides `v` exactly, so generated configs read "30s", "50M".
std::string format_with_units(uint64_t v, std::span<const unit> units) {
  const unit* best = &units[0];
  for (const auto& u : units)
    if (v != 0 && v % u.factor == 0 && u.factor > best->factor) best = &u;
  return std::to_string(v / best->factor) + std::string(best->suffix);
}

// ---- the reader: location-aware scalar conversion and table-driven mappings ------------------------

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (auto w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

std::string describe(const YAML::Node& n) {
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  if (n.IsNull()) return "nothing";
  return "'" + n.Scalar() + "'";
}

using handler = std::function<void(const YAML::Node& value, const std::string& key)>;
struct field {
  std::string_view name;
  handler read;
};

class reader {
public:
  reader(std::string origin, std::string base_dir, std::vector<std::string>& warnings)
      : origin_(std::move(origin)), base_dir_(std::move(base_dir)), warnings_(warnings) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& what) const {
    std::string msg = origin_;
    if (at.Mark().line >= 0) msg += ":" + std::to_string(at.Mark().line + 1);
    msg += ": ";
    if (!key.empty()) msg += "key '" + key + "': ";
    throw config_error(msg + what);
  }

  void warn(const YAML::Node& at, const std::string& what) {
    std::string msg = origin_ + ": " + what;
    if (at.Mark().line >= 0) msg += " (line " + std::to_string(at.Mark().line + 1) + ")";
    warnings_.push_back(std::move(msg));
  }

  // Visits each entry of a mapping; a key given twice is an error because YAML parsers disagree
  // on which one wins, and the operator almost certainly meant only one of them.
  void each_entry(const YAML::Node& map, const std::string& prefix,
                  const std::function<void(const YAML::Node& key_node, const YAML::Node& value,
                                           const std::string& name, const std::string& key)>& fn) {
    if (!map.IsMap()) fail(map, prefix, "expected a mapping, got " + describe(map));
    std::map<std::string, int> first_line;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) fail(kv.first, prefix, "keys must be plain strings");
      const std::string& name = kv.first.Scalar();
      std::string key = prefix.empty() ? name : prefix + "." + name;
      auto [it, fresh] = first_line.emplace(name, kv.first.Mark().line + 1);
      if (!fresh) fail(kv.first, key, "set twice (first on line " + std::to_string(it->second) + ")");
      fn(kv.first, kv.second, name, key);
    }
  }

  // Reads a mapping through a table of known keys. A null value (`key:` with nothing after it)
  // keeps the default, as in Synapse's sample config.
  void walk(const YAML::Node& map, const std::string& prefix, const std::vector<field>& fields,
            std::span<const ignored_key> ignored = {}) {
    each_entry(map, prefix, [&](const YAML::Node& key_node, const YAML::Node& value, const std::string& name,
                                const std::string& key) {
      auto f = std::find_if(fields.begin(), fields.end(), [&](const field& f) { return f.name == name; });
      if (f != fields.end()) {
        if (!value.IsNull()) f->read(value, key);
      } else if (const auto* ig = find_ignored(ignored, name)) {
        std::string msg = "key '" + key + "' is not used by Myelin";
        if (!ig->hint.empty()) msg += "; " + std::string(ig->hint);
        warn(key_node, msg);
      } else {
        warn(key_node, "unknown key '" + key + "'");
      }
    });
  }

  void each_item(const YAML::Node& seq, const std::string& key, const std::string& what,
                 const std::function<void(const YAML::Node& item, const std::string& item_key)>& fn) {
    if (!seq.IsSequence()) fail(seq, key, "expected " + what + ", got " + describe(seq));
    size_t i = 0;
    for (const auto& item : seq) fn(item, key + "[" + std::to_string(i++) + "]");
  }

  // ---- scalars ----

  std::string scalar(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key, "expected a single value, got " + describe(n));
    return n.Scalar();
  }

  bool boolean(const YAML::Node& n, const std::string& key) const {
    static constexpr std::pair<std::string_view, bool> words[] = {
        {"true", true}, {"yes", true}, {"on", true}, {"false", false}, {"no", false}, {"off", false}};
    auto s = scalar(n, key);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    for (auto [w, v] : words)
      if (s == w) return v;
    fail(n, key, "expected true or false, got " + describe(n));
  }

  uint64_t integer(const YAML::Node& n, const std::string& key, uint64_t min,
                   uint64_t max = std::numeric_limits<int64_t>::max()) const {
    auto s = scalar(n, key);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || v < min || v > max) {
      std::string want = max != static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                             ? "an integer between " + std::to_string(min) + " and " + std::to_string(max)
                         : min == 0 ? "a non-negative integer"
                         : min == 1 ? "a positive integer"
                                    : "an integer of at least " + std::to_string(min);
      fail(n, key, "expected " + want + ", got " + describe(n));
    }
    return v;
  }

  double number(const YAML::Node& n, const std::string& key) const {
    auto s = scalar(n, key);
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || !std::isfinite(v) || v < 0)
      fail(n, key, "expected a non-negative number, got " + describe(n));
    return v;
  }

  uint64_t size(const YAML::Node& n, const std::string& key) const {
    auto v = parse_with_units(scalar(n, key), size_units);
    if (!v) fail(n, key, "expected a size such as 512K, 50M or 1G (or a number of bytes), got " + describe(n));
    if (*v == 0) fail(n, key, "must be greater than zero");
    return *v;
  }

  int64_t duration_ms(const YAML::Node& n, const std::string& key) const {
    auto v = parse_with_units(scalar(n, key), duration_units);
    if (!v)
      fail(n, key,
           "expected a duration such as 1000ms, 30s, 10m, 24h or 7d (or a number of milliseconds), got " +
               describe(n));
    if (*v == 0) fail(n, key, "must be greater than zero");
    return static_cast<int64_t>(*v);
  }

  // Relative paths follow the config file, not the working directory, so a service manager can
  // start the server from anywhere.
  std::string path(const std::string& p) const {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    return (fs::path(base_dir_) / p).lexically_normal().string();
  }

  // ---- handlers for the field tables ----

  handler flag(bool& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) { out = boolean(n, k); };
  }
  handler text(std::string& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) { out = scalar(n, k); };
  }
  handler file_path(std::string& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) { out = path(scalar(n, k)); };
  }
  handler count(size_t& out, uint64_t min = 1, uint64_t max = std::numeric_limits<int64_t>::max()) {
    return [=, this, &out](const YAML::Node& n, const std::string& k) { out = integer(n, k, min, max); };
  }
  handler port(uint16_t& out, uint64_t min) {
    return [=, this, &out](const YAML::Node& n, const std::string& k) {
      out = static_cast<uint16_t>(integer(n, k, min, 65535));
    };
  }
  handler real(double& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) { out = number(n, k); };
  }
  handler bytes(size_t& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) { out = size(n, k); };
  }
  template <class T>  // int64_t or std::optional<int64_t>
  handler millis(T& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) { out = duration_ms(n, k); };
  }
  // The struct keeps whole seconds; a plain number is still milliseconds (as everywhere in
  // Synapse), which makes "timeout: 60" mean 60ms, so say so rather than round it to zero.
  handler seconds(unsigned& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) {
      auto ms = duration_ms(n, k);
      if (ms < 1000)
        fail(n, k, "expected at least 1 second, got " + describe(n) +
                       " (plain numbers are milliseconds; write e.g. 30s)");
      out = static_cast<unsigned>(std::min<int64_t>((ms + 999) / 1000, std::numeric_limits<unsigned>::max()));
    };
  }
  handler choice(std::string& out, std::vector<std::string_view> allowed) {
    return [this, &out, allowed = std::move(allowed)](const YAML::Node& n, const std::string& k) {
      auto s = scalar(n, k);
      if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
        fail(n, k, "expected one of " + join(allowed) + ", got " + describe(n));
      out = std::move(s);
    };
  }
  handler level(std::string& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) {
      auto s = scalar(n, k);
      try {
        parse_log_level(s);
      } catch (const std::invalid_argument& e) {
        fail(n, k, e.what());
      }
      out = std::move(s);
    };
  }
  handler rate(rate_limit& out) {
    return [this, &out](const YAML::Node& n, const std::string& k) {
      walk(n, k, {{"per_second", real(out.per_second)}, {"burst_count", real(out.burst_count)}});
    };
  }

private:
  std::string origin_;
  std::string base_dir_;
  std::vector<std::string>& warnings_;
};

// ---- sections ---------------------------------------------------------------------------------------

constexpr std::string_view known_resources[] = {"client", "federation", "keys",   "media",
                                                "metrics", "openid",     "health", "replication"};

std::vector<std::string> read_resources(reader& r, const YAML::Node& n, const std::string& key) {
  std::vector<std::string> out;
  r.each_item(n, key, "a list of {names: [...]}", [&](const YAML::Node& res, const std::string& res_key) {
    bool compress = false;  // Synapse's per-resource gzip flag; accepted, compression is the gateway's call
    bool has_names = false;
    r.walk(res, res_key,
           {{"names",
             [&](const YAML::Node& names, const std::string& names_key) {
               has_names = true;
               r.each_item(names, names_key, "a list of resource names",
                           [&](const YAML::Node& name_node, const std::string& name_key) {
                             auto name = r.scalar(name_node, name_key);
                             if (std::find(std::begin(known_resources), std::end(known_resources), name) ==
                                 std::end(known_resources))
                               r.fail(name_node, name_key,
                                      "unknown resource '" + name + "' (expected one of " +
                                          join(known_resources) + ")");
                             if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
                           });
             }},
            {"compress", r.flag(compress)}});
    if (!has_names) r.fail(res, res_key, "expected 'names', a list of resources such as [client, federation]");
  });
  return out;
}

listener_config read_listener(reader& r, const YAML::Node& n, const std::string& key) {
  listener_config l;
  bool has_port = false;
  std::optional<std::vector<std::string>> binds;  // bind_addresses and bind_address add up, as in Synapse
  std::optional<std::vector<std::string>> resources;
  auto add_bind = [&](const YAML::Node& v, const std::string& k) {
    auto addr = r.scalar(v, k);
    if (addr.empty()) r.fail(v, k, "expected an address to bind, got an empty string");
    if (!binds) binds.emplace();
    binds->push_back(std::move(addr));
  };
  r.walk(n, key,
         {{"port",
           [&](const YAML::Node& v, const std::string& k) {
             l.port = static_cast<uint16_t>(r.integer(v, k, 0, 65535));
             has_port = true;
           }},
          {"bind_addresses",
           [&](const YAML::Node& v, const std::string& k) {
             if (!binds) binds.emplace();  // an empty list is a mistake, not "use the default"
             r.each_item(v, k, "a list of addresses", add_bind);
           }},
          {"bind_address", add_bind},
          {"path", r.file_path(l.path)},
          {"mode",
           [&](const YAML::Node& v, const std::string& k) {
             // chmod-style octal whether or not YAML would read it as octal: "0660", 0660, 0o660.
             auto s = r.scalar(v, k);
             std::string_view digits = s;
             if (digits.starts_with("0o")) digits.remove_prefix(2);
             unsigned mode = 0;
             auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), mode, 8);
             if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || mode > 0777)
               r.fail(v, k, "expected an octal file mode such as 0660, got " + describe(v));
             l.mode = mode;
           }},
          {"type", r.choice(l.type, {"http", "metrics", "replication"})},
          {"tls", r.flag(l.tls)},
          {"x_forwarded", r.flag(l.x_forwarded)},
          {"resources", [&](const YAML::Node& v, const std::string& k) { resources = read_resources(r, v, k); }}},
         synapse_listener_keys);

  if (has_port == !l.path.empty())
    r.fail(n, key, has_port ? "'port' and 'path' are exclusive: a listener is either TCP or a unix socket"
                            : "expected 'port' (TCP) or 'path' (unix socket)");
  if (binds) l.bind_addresses = std::move(*binds);
  if (l.bind_addresses.empty()) r.fail(n, key, "'bind_addresses' must not be empty");
  // metrics and replication listeners serve themselves; only http ones choose what to mount.
  if (resources) l.resources = std::move(*resources);
  else if (l.type != "http") l.resources = {l.type};
  if (l.resources.empty()) r.fail(n, key, "an http listener needs at least one resource");
  return l;
}

// libpq keywords passed through from database.args, in the order they are written into the
// conninfo string. "database" is psycopg2's alias for dbname.
constexpr std::string_view libpq_keywords[] = {
    "host", "port", "dbname", "user", "password",
    "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword",
    "connect_timeout", "application_name", "options", "target_session_attrs",
    "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"};

// libpq's key=value syntax: empty values and values with spaces must be single-quoted, and
// quotes and backslashes inside are backslash-escaped.
std::string conninfo_value(std::string_view v) {
  bool plain = !v.empty() && std::none_of(v.begin(), v.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '\\' || c == '=';
  });
  if (plain) return std::string(v);
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

void read_database(reader& r, const YAML::Node& n, const std::string& key, database_config& db) {
  std::optional<YAML::Node> args;
  std::string args_key = key + ".args";
  r.walk(n, key,
         {{"name", r.choice(db.name, {"sqlite3", "psycopg2", "postgres"})},
          {"args", [&](const YAML::Node& v, const std::string&) { args.emplace(v); }}},
         synapse_database_keys);

  // The pool settings mean the same for both engines; Myelin's pool is fixed at cp_max.
  std::optional<size_t> cp_min;
  std::vector<field> fields = {
      {"cp_min", [&](const YAML::Node& v, const std::string& k) { cp_min = r.integer(v, k, 1, 1024); }},
      {"cp_max", r.count(db.pool_size, 1, 1024)}};

  if (db.name == "sqlite3") {
    std::string file = "homeserver.db";
    fields.push_back({"database", r.text(file)});
    if (args) r.walk(*args, args_key, fields);
    if (file.empty()) r.fail(args ? *args : n, args_key + ".database", "expected a file name");
    db.sqlite_path = file == ":memory:" ? file : r.path(file);
  } else {
    std::map<std::string, std::string, std::less<>> params;
    std::optional<std::string> database_alias;
    for (auto kw : libpq_keywords)
      fields.push_back({kw, [&, kw](const YAML::Node& v, const std::string& k) {
                          params[std::string(kw)] = kw == "port" ? std::to_string(r.integer(v, k, 1, 65535))
                                                                 : r.scalar(v, k);
                        }});
    fields.push_back({"database", [&](const YAML::Node& v, const std::string& k) { database_alias = r.scalar(v, k); }});
    if (args) r.walk(*args, args_key, fields);
    if (database_alias) {
      if (params.contains("dbname") && params["dbname"] != *database_alias)
        r.fail(*args, args_key, "'database' and 'dbname' name different databases; set only one");
      params["dbname"] = *database_alias;
    }
    // A host starting with '/' is a unix socket directory; libpq takes it as-is.
    for (auto kw : libpq_keywords)
      if (auto it = params.find(kw); it != params.end())
        db.postgres_conninfo +=
            (db.postgres_conninfo.empty() ? "" : " ") + it->first + "=" + conninfo_value(it->second);
  }
  if (cp_min && *cp_min > db.pool_size)
    r.fail(*args, args_key, "cp_min (" + std::to_string(*cp_min) + ") is larger than cp_max (" +
                                std::to_string(db.pool_size) + ")");
}

void read_logging(reader& r, const YAML::Node& n, const std::string& key, logging_config& lg) {
  r.walk(n, key,
         {{"level", r.level(lg.level)},
          {"format", r.choice(lg.format, {"text", "json"})},
          {"file", r.file_path(lg.file)},
          {"access_log", r.flag(lg.access_log)},
          {"components", [&](const YAML::Node& v, const std::string& k) {
             r.each_entry(v, k, [&](const YAML::Node&, const YAML::Node& lvl, const std::string& name,
                                    const std::string& lvl_key) { r.level(lg.component_levels[name])(lvl, lvl_key); });
           }}});
}

void read_password_config(reader& r, const YAML::Node& n, const std::string& key, homeserver_config& cfg) {
  // Synapse applies the policy only when policy.enabled is true; follow it, but say so, because a
  // minimum_length that silently does nothing is a trap.
  bool policy_enabled = false;
  size_t min_length = 0;
  std::optional<YAML::Node> min_length_node;
  r.walk(n, key,
         {{"enabled", r.flag(cfg.password_login_enabled)},
          {"policy", [&](const YAML::Node& v, const std::string& k) {
             r.walk(v, k,
                    {{"enabled", r.flag(policy_enabled)},
                     {"minimum_length", [&](const YAML::Node& m, const std::string& mk) {
                        min_length = r.integer(m, mk, 0, 1024);
                        min_length_node.emplace(m);
                      }}},
                    synapse_password_policy_keys);
           }}},
         synapse_password_keys);
  if (policy_enabled) cfg.password_min_length = min_length;
  else if (min_length_node && min_length > 0)
    r.warn(*min_length_node, "key '" + key + ".policy.minimum_length' has no effect unless " + key +
                                 ".policy.enabled is true");
}

// An ed25519 public key written as Matrix writes them (unpadded base64 of 32 bytes). True once read.
bool read_ed25519_key(reader& r, const YAML::Node& n, const std::string& key, std::string& raw) {
  if (!protocol::base64_decode(r.scalar(n, key), raw) || raw.size() != 32)
    r.fail(n, key, "expected an ed25519 public key in unpadded base64 (43 characters), got " + describe(n));
  return true;
}

// A list of CIDR ranges (url_preview_ip_range_*): replaces the default, each entry checked here.
handler ip_ranges(reader& r, protocol::ip_range_set& out) {
  return [&r, &out](const YAML::Node& v, const std::string& k) {
    out = {};
    r.each_item(v, k, "a list of IP addresses or CIDR ranges", [&](const YAML::Node& item, const std::string& ik) {
      auto range = protocol::parse_ip_range(r.scalar(item, ik));
      if (!range) r.fail(item, ik, "expected an IP address or CIDR range such as 10.0.0.0/8 or fe80::/10, got " +
                                       describe(item));
      out.add(*range);
    });
  };
}

// federation_dns_servers: "a.b.c.d" or "a.b.c.d:port" (glibc's resolver takes IPv4 addresses with
// a port; IPv6 nameservers with a port it keeps in private fields).
handler dns_servers(reader& r, std::vector<std::pair<protocol::ip_address, uint16_t>>& out) {
  return [&r, &out](const YAML::Node& v, const std::string& k) {
    out.clear();
    r.each_item(v, k, "a list of IPv4 nameservers", [&](const YAML::Node& item, const std::string& ik) {
      auto text = r.scalar(item, ik);
      auto colon = text.find(':');
      auto address = protocol::parse_ip_address(std::string_view(text).substr(0, colon));
      unsigned port = 53;
      bool port_ok = true;
      if (colon != std::string::npos) {
        auto digits = std::string_view(text).substr(colon + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
        port_ok = ec == std::errc{} && end == digits.data() + digits.size() && port >= 1 && port <= 65535;
      }
      if (!address || !address->is_v4() || !port_ok)
        r.fail(item, ik,
               "expected an IPv4 address with an optional port such as 127.0.0.1:5353, got " + describe(item));
      out.emplace_back(*address, static_cast<uint16_t>(port));
    });
    if (out.size() > 3) r.fail(v, k, "at most 3 nameservers can be used");
  };
}

// url_preview_url_blacklist: a list of {part: glob-or-^regex} mappings, as in Synapse.
handler url_rules(reader& r, protocol::url_blocklist& out) {
  return [&r, &out](const YAML::Node& v, const std::string& k) {
    r.each_item(v, k, "a list of mappings such as {netloc: '*.example.com'}",
                [&](const YAML::Node& item, const std::string& ik) {
                  protocol::url_blocklist::rule rule;
                  r.each_entry(item, ik, [&](const YAML::Node&, const YAML::Node& pattern, const std::string& part,
                                             const std::string& pk) { rule.emplace_back(part, r.scalar(pattern, pk)); });
                  try {
                    out.add(rule);
                  } catch (const std::invalid_argument& e) {
                    r.fail(item, ik, e.what());
                  }
                });
  };
}

// url_preview_accept_language: a list of language tags (with optional ;q=), sent comma-joined.
handler languages(reader& r, std::string& out) {
  return [&r, &out](const YAML::Node& v, const std::string& k) {
    out.clear();
    r.each_item(v, k, "a list of language tags such as [en, 'fr;q=0.9']",
                [&](const YAML::Node& item, const std::string& ik) {
                  auto tag = r.scalar(item, ik);
                  if (tag.empty() || tag.find_first_of(",\r\n") != std::string::npos)
                    r.fail(item, ik, "expected a language tag such as en or 'fr;q=0.9', got " + describe(item));
                  out += (out.empty() ? "" : ", ") + tag;
                });
    if (out.empty()) r.fail(v, k, "expected at least one language");
  };
}

// Synapse's thumbnail_sizes: a list of {width, height, method}. The list replaces the default
// set; an empty one would leave nothing to serve, so it is an error.
void read_thumbnail_sizes(reader& r, const YAML::Node& n, const std::string& key, std::vector<thumbnail_size>& out) {
  constexpr uint64_t max_side = 4096;  // a thumbnail, not a resampled original
  std::vector<thumbnail_size> sizes;
  r.each_item(n, key, "a list of {width, height, method}", [&](const YAML::Node& item, const std::string& item_key) {
    thumbnail_size t;
    t.method = "scale";  // Synapse's default when method is left out
    bool has_width = false, has_height = false;
    r.walk(item, item_key,
           {{"width", [&](const YAML::Node& v, const std::string& k) {
               t.width = static_cast<int>(r.integer(v, k, 1, max_side));
               has_width = true;
             }},
            {"height", [&](const YAML::Node& v, const std::string& k) {
               t.height = static_cast<int>(r.integer(v, k, 1, max_side));
               has_height = true;
             }},
            {"method", r.choice(t.method, {"scale", "crop"})}});
    if (!has_width || !has_height) r.fail(item, item_key, "expected both 'width' and 'height'");
    if (std::find(sizes.begin(), sizes.end(), t) == sizes.end()) sizes.push_back(std::move(t));
  });
  if (sizes.empty()) r.fail(n, key, "expected at least one size, e.g. [{width: 320, height: 240, method: scale}]");
  out = std::move(sizes);
}

// The whole file as text; throws config_error("PATH: cannot read WHAT: reason").
std::string read_text_file(const std::string& path, const std::string& what) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw config_error(path + ": cannot read " + what + ": " + std::strerror(errno));
  std::string text;
  char buf[8192];
  size_t got = 0;
  while ((got = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, got);
  if (std::ferror(f.get())) throw config_error(path + ": cannot read " + what + ": " + std::strerror(errno));
  return text;
}

namespace as = protocol::appservice;

constexpr ignored_key synapse_registration_keys[] = {
    {"ip_range_whitelist", "requests with the as_token are accepted from any address"},
    {"org.matrix.msc3202"}, {"device_management"}, {"msc4190"}, {"io.element.msc4190"}};

// One registration file (spec: Application Service API, "Registration"). Errors name the file
// and the line, like the homeserver config's.
as::registration read_registration(const std::string& path, const std::string& server_name,
                                   std::vector<std::string>& warnings) {
  auto text = read_text_file(path, "application service registration");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw config_error(path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw config_error(path + ": expected a mapping (id, url, as_token, hs_token, sender_localpart, namespaces)");
  reader r(path, fs::path(path).parent_path().string(), warnings);
  as::registration reg;
  reg.source = path;
  bool has_url = false, ephemeral = false, msc2409 = false;
  auto namespace_list = [&](std::vector<as::namespace_rule>& out) {
    return [&r, &out](const YAML::Node& v, const std::string& k) {
      r.each_item(v, k, "a list of {exclusive, regex}", [&](const YAML::Node& item, const std::string& ik) {
        std::optional<bool> exclusive;
        std::optional<std::string> regex;
        YAML::Node regex_node;
        r.walk(item, ik,
               {{"exclusive", [&](const YAML::Node& n, const std::string& key) { exclusive = r.boolean(n, key); }},
                {"regex", [&](const YAML::Node& n, const std::string& key) {
                   regex = r.scalar(n, key);
                   regex_node = n;
                 }},
                {"group_id", [](const YAML::Node&, const std::string&) {}}});  // old, unused by Synapse too
        if (!exclusive) r.fail(item, ik + ".exclusive", "required (true or false)");
        if (!regex) r.fail(item, ik + ".regex", "required");
        try {
          out.push_back(as::make_rule(*exclusive, *regex));
        } catch (const std::regex_error& e) {
          r.fail(regex_node, ik + ".regex", "not a valid regular expression: " + std::string(e.what()));
        }
      });
    };
  };
  r.walk(root, "",
         {{"id", r.text(reg.id)},
          {"url", r.text(reg.url)},
          {"as_token", r.text(reg.as_token)},
          {"hs_token", r.text(reg.hs_token)},
          {"sender_localpart", r.text(reg.sender_localpart)},
          {"rate_limited", r.flag(reg.rate_limited)},
          {"receive_ephemeral", r.flag(ephemeral)},
          {"push_ephemeral", r.flag(ephemeral)},
          {"de.sorunome.msc2409.push_ephemeral", r.flag(msc2409)},
          {"protocols",
           [&](const YAML::Node& v, const std::string& k) {
             r.each_item(v, k, "a list of protocol names",
                         [&](const YAML::Node& item, const std::string& ik) { reg.protocols.push_back(r.scalar(item, ik)); });
           }},
          {"namespaces",
           [&](const YAML::Node& v, const std::string& k) {
             r.walk(v, k,
                    {{"users", namespace_list(reg.users)},
                     {"aliases", namespace_list(reg.aliases)},
                     {"rooms", namespace_list(reg.rooms)}});
           }}},
         synapse_registration_keys);
  for (const auto& kv : root)
    if (kv.first.IsScalar() && kv.first.Scalar() == "url") has_url = true;  // url: null is allowed, a missing url not
  reg.receive_ephemeral = ephemeral || msc2409;
  auto required = [&](const std::string& v, const char* key, const char* hint) {
    if (v.empty()) throw config_error(path + ": key '" + key + "': required (" + hint + ")");
  };
  required(reg.id, "id", "a name unique among the registrations");
  required(reg.as_token, "as_token", "the token the service uses with the client API");
  required(reg.hs_token, "hs_token", "the token the homeserver uses with the service");
  required(reg.sender_localpart, "sender_localpart", "the localpart of the service's own user");
  if (!has_url) throw config_error(path + ": key 'url': required (the service's base URL, or null)");
  if (!reg.url.empty() && !reg.url.starts_with("http://") && !reg.url.starts_with("https://"))
    throw config_error(path + ": key 'url': expected an http:// or https:// URL or null, got '" + reg.url + "'");
  while (reg.url.ends_with('/')) reg.url.pop_back();
  reg.sender = "@" + reg.sender_localpart + ":" + server_name;
  if (!protocol::is_valid_user_id(reg.sender))
    throw config_error(path + ": key 'sender_localpart': '" + reg.sender_localpart + "' does not make a valid user id");
  return reg;
}

// Every file of app_service_config_files; an id or as_token used twice names both files.
std::shared_ptr<const as::registry> load_registrations(reader& r, const std::vector<std::pair<std::string, YAML::Node>>& files,
                                                       const std::string& server_name, std::vector<std::string>& warnings) {
  std::vector<as::registration> all;
  std::map<std::string, std::string> ids, tokens;  // → the file that used it first
  for (const auto& [path, node] : files) {
    as::registration reg;
    try {
      reg = read_registration(path, server_name, warnings);
    } catch (const config_error& e) {
      r.fail(node, "app_service_config_files", e.what());
    }
    if (auto [it, fresh] = ids.emplace(reg.id, path); !fresh)
      r.fail(node, "app_service_config_files", path + ": id '" + reg.id + "' is also the id in " + it->second);
    if (auto [it, fresh] = tokens.emplace(reg.as_token, path); !fresh)
      r.fail(node, "app_service_config_files", path + ": as_token is also the as_token in " + it->second);
    all.push_back(std::move(reg));
  }
  return std::make_shared<const as::registry>(std::move(all));
}

// A TLS listener needs both files; a missing or unreadable one is a startup error naming the key
// (their PEM content is checked when the gateway loads them).
void check_tls_files(const std::string& origin, const homeserver_config& cfg) {
  bool wanted = std::any_of(cfg.listeners.begin(), cfg.listeners.end(), [](const auto& l) { return l.tls; });
  if (!wanted) return;
  for (auto [key, file] : {std::pair{"tls_certificate_path", &cfg.tls_certificate_path},
                           std::pair{"tls_private_key_path", &cfg.tls_private_key_path}}) {
    if (file->empty())
      throw config_error(origin + ": key '" + key + "': required by the listener(s) with tls: true (a PEM file)");
    std::FILE* f = std::fopen(file->c_str(), "rb");
    if (!f) throw config_error(origin + ": key '" + key + "': cannot read " + *file + ": " + std::strerror(errno));
    std::fclose(f);
  }
}

} // namespace

homeserver_config parse_homeserver_config(const std::string& yaml_text, const std::string& origin,
                                          const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw config_error(origin + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull()) throw config_error(origin + ": the file is empty; it needs at least server_name and listeners");
  if (!root.IsMap()) throw config_error(origin + ": expected a mapping of settings at the top level");

  homeserver_config cfg;
  cfg.config_path = origin;
  reader r(origin, base_dir, cfg.warnings);
  std::optional<YAML::Node> listeners_node;
  std::vector<std::pair<std::string, YAML::Node>> registration_files;  // path, where it is named
  auto& rl = cfg.rate_limits;
  auto& lim = cfg.limits;
  auto& rt = cfg.runtime;

  r.walk(root, "",
         {{"server_name",
           [&](const YAML::Node& v, const std::string& k) {
             cfg.server_name = r.scalar(v, k);
             if (!protocol::is_valid_server_name(cfg.server_name))
               r.fail(v, k, "'" + cfg.server_name + "' is not a valid Matrix server name (a host name or IP "
                            "literal with an optional :port, e.g. example.org)");
           }},
          {"public_baseurl",
           [&](const YAML::Node& v, const std::string& k) {
             cfg.public_baseurl = r.scalar(v, k);
             if (!cfg.public_baseurl.starts_with("https://") && !cfg.public_baseurl.starts_with("http://"))
               r.fail(v, k, "expected an http:// or https:// URL, got " + describe(v));
             if (!cfg.public_baseurl.ends_with('/')) cfg.public_baseurl += '/';  // as Synapse does
           }},
          {"listeners",
           [&](const YAML::Node& v, const std::string& k) {
             listeners_node.emplace(v);
             r.each_item(v, k, "a list of listeners", [&](const YAML::Node& item, const std::string& item_key) {
               cfg.listeners.push_back(read_listener(r, item, item_key));
             });
           }},
          {"database", [&](const YAML::Node& v, const std::string& k) { read_database(r, v, k, cfg.database); }},
          {"redis",
           [&](const YAML::Node& v, const std::string& k) {
             r.walk(v, k,
                    {{"enabled", r.flag(cfg.redis.enabled)},
                     {"host", r.text(cfg.redis.host)},
                     {"port", r.port(cfg.redis.port, 1)},
                     {"path", r.file_path(cfg.redis.path)},
                     {"password", r.text(cfg.redis.password)}},
                    synapse_redis_keys);
           }},
          {"signing_key_path", r.file_path(cfg.signing_key_path)},
          {"tls_certificate_path", r.file_path(cfg.tls_certificate_path)},
          {"tls_private_key_path", r.file_path(cfg.tls_private_key_path)},
          {"media_store_path", r.file_path(cfg.media_store_path)},
          {"placement_file", r.file_path(cfg.placement_file)},
          {"enable_registration", r.flag(cfg.enable_registration)},
          {"enable_registration_without_verification", r.flag(cfg.enable_registration_without_verification)},
          {"registration_shared_secret", r.text(cfg.registration_shared_secret)},
          {"registration_requires_token", r.flag(cfg.registration_requires_token)},
          {"allow_guest_access", r.flag(cfg.allow_guest_access)},
          {"serve_well_known_client", r.flag(cfg.serve_well_known_client)},
          {"serve_server_wellknown", r.flag(cfg.serve_server_wellknown)},
          {"max_upload_size", r.bytes(lim.max_upload_size)},
          {"thumbnail_sizes", [&](const YAML::Node& v, const std::string& k) {
             read_thumbnail_sizes(r, v, k, cfg.media.thumbnail_sizes);
           }},
          {"max_image_pixels", [&](const YAML::Node& v, const std::string& k) {
             cfg.media.max_image_pixels = r.size(v, k);  // Synapse writes it as a size: 32M
           }},
          {"password_config",
           [&](const YAML::Node& v, const std::string& k) { read_password_config(r, v, k, cfg); }},
          {"presence",
           [&](const YAML::Node& v, const std::string& k) {
             auto enabled = [&](const YAML::Node& n, const std::string& key) {
               if (n.IsScalar() && n.Scalar() == "untracked") {  // Synapse: presence set only through the API
                 r.warn(n, "key '" + key + "': 'untracked' is not supported; presence is tracked as with true");
                 cfg.presence.enabled = true;
               } else {
                 cfg.presence.enabled = r.boolean(n, key);
               }
             };
             r.walk(v, k, {{"enabled", enabled}}, synapse_presence_keys);
           }},
          {"use_presence", r.flag(cfg.presence.enabled)},  // Synapse's older spelling
          {"federation_custom_ca_list",
           [&](const YAML::Node& v, const std::string& k) {
             r.each_item(v, k, "a list of PEM files", [&](const YAML::Node& item, const std::string& ik) {
               auto file = r.path(r.scalar(item, ik));
               if (!fs::is_regular_file(file)) r.fail(item, ik, "no such file: " + file);
               cfg.federation.custom_ca_files.push_back(file);
             });
           }},
          {"old_signing_keys",
           [&](const YAML::Node& v, const std::string& k) {
             r.each_entry(v, k, [&](const YAML::Node& id_node, const YAML::Node& entry, const std::string& id,
                                    const std::string& ek) {
               if (!id.starts_with("ed25519:") || id.size() == 8)
                 r.fail(id_node, ek, "expected a key id such as ed25519:a_AbCd");
               federation_config::old_key key;
               bool has_key = false, has_expiry = false;
               r.walk(entry, ek,
                      {{"key", [&](const YAML::Node& n, const std::string& kk) {
                          has_key = read_ed25519_key(r, n, kk, key.public_key_raw);
                        }},
                       {"expired_ts", [&](const YAML::Node& n, const std::string& kk) {
                          key.expired_ts = static_cast<int64_t>(r.integer(n, kk, 0));
                          has_expiry = true;
                        }}});
               if (!has_key || !has_expiry) r.fail(entry, ek, "needs both key and expired_ts (milliseconds)");
               cfg.federation.old_signing_keys[id] = std::move(key);
             });
           }},
          {"trusted_key_servers",
           [&](const YAML::Node& v, const std::string& k) {
             r.each_item(v, k, "a list of key servers", [&](const YAML::Node& item, const std::string& ik) {
               federation_config::key_server ks;
               r.walk(item, ik,
                      {{"server_name", [&](const YAML::Node& n, const std::string& kk) {
                          ks.server_name = r.scalar(n, kk);
                          if (!protocol::is_valid_server_name(ks.server_name))
                            r.fail(n, kk, "not a server name: " + describe(n));
                        }},
                       {"verify_keys", [&](const YAML::Node& n, const std::string& kk) {
                          r.each_entry(n, kk, [&](const YAML::Node&, const YAML::Node& key, const std::string& id,
                                                  const std::string& key_key) {
                            read_ed25519_key(r, key, key_key, ks.verify_keys[id]);
                          });
                        }}},
                      synapse_key_server_keys);
               if (ks.server_name.empty()) r.fail(item, ik, "needs a server_name");
               cfg.federation.trusted_key_servers.push_back(std::move(ks));
             });
           }},
          {"ip_range_blacklist", ip_ranges(r, cfg.federation.ip_policy.deny)},
          {"ip_range_whitelist", ip_ranges(r, cfg.federation.ip_policy.allow)},
          {"federation_dns_servers", dns_servers(r, cfg.federation.dns_servers)},
          {"url_preview_enabled", r.flag(cfg.url_preview.enabled)},
          {"url_preview_ip_range_blacklist", ip_ranges(r, cfg.url_preview.ip_policy.deny)},
          {"url_preview_ip_range_whitelist", ip_ranges(r, cfg.url_preview.ip_policy.allow)},
          {"url_preview_url_blacklist", url_rules(r, cfg.url_preview.url_blocklist)},
          {"url_preview_accept_language", languages(r, cfg.url_preview.accept_language)},
          {"url_preview_timeout", r.millis(cfg.url_preview.timeout_ms)},
          {"max_spider_size", r.bytes(cfg.url_preview.max_spider_size)},
          {"session_lifetime", r.millis(cfg.access_token_lifetime_ms)},
          {"openid_token_lifetime", r.millis(cfg.openid_token_lifetime_ms)},
          {"rc_message", r.rate(rl.message)},
          {"rc_registration", r.rate(rl.registration)},
          {"rc_login",
           [&](const YAML::Node& v, const std::string& k) {
             r.walk(v, k,
                    {{"address", r.rate(rl.login_address)},
                     {"account", r.rate(rl.login_account)},
                     {"failed_attempts", r.rate(rl.login_failed_attempts)}});
           }},
          {"rc_client_requests", r.rate(rl.client_requests)},
          {"rc_media_create", r.rate(rl.media_create)},
          {"max_pending_media_uploads", r.count(cfg.media.max_pending_uploads)},
          {"unused_expiration_time", r.millis(cfg.media.unused_expiration_ms)},
          {"pusher",
           [&](const YAML::Node& v, const std::string& k) {
             r.walk(v, k,
                    {{"timeout", r.millis(cfg.pusher.timeout_ms)},
                     {"max_attempts", r.count(cfg.pusher.max_attempts, 1, 100)},
                     {"retry_delay", r.millis(cfg.pusher.retry_delay_ms)},
                     {"max_retry_delay", r.millis(cfg.pusher.max_retry_delay_ms)}});
           }},
          {"federation_sender",
           [&](const YAML::Node& v, const std::string& k) {
             auto& fs = cfg.federation_sender;
             r.walk(v, k,
                    {{"timeout", r.millis(fs.timeout_ms)},
                     {"retry_delay", r.millis(fs.retry_delay_ms)},
                     {"max_retry_delay", r.millis(fs.max_retry_delay_ms)},
                     {"max_queue", r.count(fs.max_queue, 1, 1000000)},
                     {"parallel_destinations", r.count(fs.parallel_destinations, 1, 256)}});
           }},
          {"appservice",
           [&](const YAML::Node& v, const std::string& k) {
             r.walk(v, k,
                    {{"timeout", r.millis(cfg.appservice.timeout_ms)},
                     {"retry_delay", r.millis(cfg.appservice.retry_delay_ms)},
                     {"max_retry_delay", r.millis(cfg.appservice.max_retry_delay_ms)}});
           }},
          {"app_service_config_files",
           [&](const YAML::Node& v, const std::string& k) {
             r.each_item(v, k, "a list of file paths", [&](const YAML::Node& item, const std::string& ik) {
               registration_files.emplace_back(r.path(r.scalar(item, ik)), item);
             });
           }},
          {"logging", [&](const YAML::Node& v, const std::string& k) { read_logging(r, v, k, cfg.logging); }},
          {"runtime",
           [&](const YAML::Node& v, const std::string& k) {
             r.walk(v, k,
                    {{"scheduler_threads", r.count(rt.scheduler_threads, 1, 1024)},
                     {"gateway_threads", r.count(rt.gateway_threads, 1, 1024)},
                     {"blocking_threads", r.count(rt.blocking_threads, 1, 1024)},
                     {"group_request_timeout", r.seconds(rt.group_request_timeout_seconds)},
                     {"max_in_flight_per_instance", r.count(rt.max_in_flight_per_instance)}});
           }},
          {"limits",
           [&](const YAML::Node& v, const std::string& k) {
             r.walk(v, k,
                    {{"max_request_body_size", r.bytes(lim.max_request_body_size)},
                     {"max_header_size", r.bytes(lim.max_header_size)},
                     {"max_json_depth", r.count(lim.max_json_depth)},
                     {"max_connections", r.count(lim.max_connections)},
                     {"request_timeout", r.seconds(lim.request_timeout_seconds)},
                     {"header_timeout", r.seconds(lim.header_timeout_seconds)},
                     {"keepalive_timeout", r.seconds(lim.keepalive_timeout_seconds)}});
           }}},
         synapse_top_level_keys);

  // Connecting to the unspecified address reaches this host: always in the deny list, as in Synapse.
  for (auto unspecified : {"0.0.0.0", "::"}) {
    cfg.url_preview.ip_policy.deny.add(*protocol::parse_ip_range(unspecified));
    cfg.federation.ip_policy.deny.add(*protocol::parse_ip_range(unspecified));
  }

  // A missing key has no line to point at; an empty one does.
  if (cfg.server_name.empty())
    throw config_error(origin + ": key 'server_name': required (the domain in your user ids, e.g. example.org)");
  if (cfg.listeners.empty()) {
    const std::string what = "at least one listener is required, e.g. [{port: 8008, resources: [{names: [client]}]}]";
    if (listeners_node) r.fail(*listeners_node, "listeners", what);
    throw config_error(origin + ": key 'listeners': " + what);
  }

  check_tls_files(origin, cfg);

  // After the walk: the sender of each service needs server_name, wherever the key is.
  cfg.appservices = std::make_shared<as::live_registrations>();
  cfg.appservices->set(load_registrations(r, registration_files, cfg.server_name, cfg.warnings));
  for (const auto& f : registration_files) cfg.app_service_config_files.push_back(f.first);

  // Defaults that depend on the directory and the server name, as Synapse's generated config has them.
  if (cfg.database.name == "sqlite3" && cfg.database.sqlite_path.empty())  // no database section at all
    cfg.database.sqlite_path = r.path("homeserver.db");
  if (cfg.signing_key_path.empty()) cfg.signing_key_path = r.path(cfg.server_name + ".signing.key");
  if (cfg.media_store_path.empty()) cfg.media_store_path = r.path("media_store");
  return cfg;
}

std::shared_ptr<const protocol::appservice::registry> current_appservices(const homeserver_config& cfg) {
  static const auto none = std::make_shared<const protocol::appservice::registry>();
  return cfg.appservices ? cfg.appservices->get() : none;
}

homeserver_config load_homeserver_config(const std::string& path) {
  std::string text = read_text_file(path, "config file");

  // Absolute, so paths taken from the file stay right if the process changes directory later.
  auto base_dir = fs::absolute(fs::path(path)).parent_path().lexically_normal().string();
  return parse_homeserver_config(text, path, base_dir);
}

namespace {

// A double-quoted YAML scalar, so any path or name survives the round trip.
std::string yaml_quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", static_cast<unsigned char>(c));
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string seconds_text(unsigned s) { return format_with_units(uint64_t{s} * 1000, duration_units); }
std::string size_text(size_t b) { return format_with_units(b, size_units); }

} // namespace

std::string generate_default_config(const std::string& server_name, const std::string& data_dir,
                                    uint16_t port) {
  if (!protocol::is_valid_server_name(server_name))
    throw config_error("cannot generate a config: '" + server_name + "' is not a valid Matrix server name");
  protocol::crypto_init();
  // Absolute, so the file means the same wherever it is written.
  const fs::path dir = fs::absolute(fs::path(data_dir)).lexically_normal();
  const auto in_dir = [&](const std::string& name) { return yaml_quoted((dir / name).lexically_normal().string()); };
  const runtime_config rt;
  const limits_config lim;
  const logging_config lg;

  std::ostringstream y;
  y << "# Myelin homeserver configuration: an all-in-one local server, generated on first start.\n"
       "# Key names follow Synapse's homeserver.yaml; see configs/homeserver.yaml for every option.\n"
       "\n"
       "# The domain in user ids (@alice:" << server_name << "). It cannot be changed once users exist.\n"
       "server_name: " << yaml_quoted(server_name) << "\n"
       "\n"
       "# Plain HTTP on loopback; put a TLS-terminating proxy in front before exposing it.\n"
       "listeners:\n"
       "  - port: " << port << "\n"
       "    bind_addresses: [\"127.0.0.1\"]\n"
       "    type: http\n"
       "    x_forwarded: false\n"
       "    resources:\n"
       "      - names: [client, federation]\n"
       "\n"
       "database:\n"
       "  name: sqlite3\n"
       "  args:\n"
       "    database: " << in_dir("homeserver.db") << "\n"
       "\n"
       "signing_key_path: " << in_dir(server_name + ".signing.key") << "\n"
       "media_store_path: " << in_dir("media_store") << "\n"
       "\n"
       "# Open registration without email or captcha is only sensible for a local development server.\n"
       "# Operators: set both to false (and create users with the shared secret) before going public.\n"
       "enable_registration: true\n"
       "enable_registration_without_verification: true\n"
       "# Lets an admin create users through the shared-secret registration API (Synapse's\n"
       "# register_new_matrix_user). Anyone who has it can create admin users: keep it secret.\n"
       "registration_shared_secret: " << yaml_quoted(protocol::random_token(32)) << "\n"
       "\n"
       "logging:\n"
       "  level: " << lg.level << "          # trace, debug, info, warn, error, off\n"
       "  format: " << lg.format << "         # text or json\n"
       "  access_log: " << (lg.access_log ? "true" : "false") << "\n"
       "  # components: {gateway: debug, storage: warn}\n"
       "\n"
       "# Threads and timeouts of the actor runtime.\n"
       "runtime:\n"
       "  scheduler_threads: " << rt.scheduler_threads << "\n"
       "  gateway_threads: " << rt.gateway_threads << "\n"
       "  blocking_threads: " << rt.blocking_threads << "\n"
       "  group_request_timeout: " << seconds_text(rt.group_request_timeout_seconds) << "\n"
       "  max_in_flight_per_instance: " << rt.max_in_flight_per_instance << "\n"
       "\n"
       "limits:\n"
       "  max_request_body_size: " << size_text(lim.max_request_body_size) << "\n"
       "  request_timeout: " << seconds_text(lim.request_timeout_seconds) << "\n"
       "\n"
       "max_upload_size: " << size_text(lim.max_upload_size) << "\n";
  return y.str();
}

} // namespace myelin
