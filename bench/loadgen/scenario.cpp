// Scenario YAML → scenario struct. Unknown keys are errors (a typo must not silently leave a rate
// at zero); every error names the file, the line and the dotted key.
#include "scenario.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>

#include <cctype>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string_view>

namespace loadgen {
namespace {

namespace json = boost::json;

class reader {
 public:
  explicit reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& n, const std::string& key, const std::string& what) const {
    std::ostringstream os;
    os << source_;
    if (n.Mark().line >= 0) os << ":" << n.Mark().line + 1;
    os << ": " << key << ": " << what;
    throw scenario_error(os.str());
  }

  void only_keys(const YAML::Node& map, const std::string& where, std::initializer_list<std::string_view> allowed) {
    if (!map.IsMap()) fail(map, where.empty() ? "(top level)" : where, "must be a mapping");
    for (const auto& kv : map) {
      auto key = kv.first.as<std::string>();
      bool known = false;
      for (auto a : allowed) known = known || a == key;
      if (!known) fail(kv.first, join(where, key), "unknown key");
    }
  }

  static std::string join(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }

  double number(const YAML::Node& n, const std::string& key, double lo, double hi) {
    double v = 0;
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      fail(n, key, "must be a number");
    }
    if (!std::isfinite(v) || v < lo || v > hi)
      fail(n, key, "must be between " + fmt(lo) + " and " + fmt(hi));
    return v;
  }

  uint64_t integer(const YAML::Node& n, const std::string& key, uint64_t lo, uint64_t hi) {
    double v = number(n, key, double(lo), double(hi));
    if (v != std::floor(v)) fail(n, key, "must be a whole number");
    return uint64_t(v);
  }

  std::string text(const YAML::Node& n, const std::string& key) {
    if (!n.IsScalar()) fail(n, key, "must be a string");
    return n.as<std::string>();
  }

  double duration(const YAML::Node& n, const std::string& key, double hi) {
    double v = 0;
    try {
      v = parse_duration(text(n, key));
    } catch (const scenario_error& e) {
      fail(n, key, e.what());
    }
    if (v > hi) fail(n, key, "must be at most " + fmt(hi) + " s");
    return v;
  }

  uint64_t bytes(const YAML::Node& n, const std::string& key, uint64_t hi) {
    uint64_t v = 0;
    try {
      v = parse_bytes(text(n, key));
    } catch (const scenario_error& e) {
      fail(n, key, e.what());
    }
    if (v > hi) fail(n, key, "must be at most " + std::to_string(hi) + " bytes");
    return v;
  }

  // `size: 120`, `size: 64K` or `size: {min: 10, max: 2K}`.
  size_range size(const YAML::Node& n, const std::string& key, uint64_t hi) {
    if (n.IsMap()) {
      only_keys(n, key, {"min", "max"});
      if (!n["min"] || !n["max"]) fail(n, key, "needs both min and max");
      size_range r{bytes(n["min"], key + ".min", hi), bytes(n["max"], key + ".max", hi)};
      if (r.min > r.max) fail(n, key, "min is larger than max");
      return r;
    }
    auto v = bytes(n, key, hi);
    return {v, v};
  }

  static std::string fmt(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }

 private:
  std::string source_;
};

// Bounds that keep every run finite and within one process's reach.
constexpr double max_rate = 1e6;
constexpr double max_seconds = 86400;
constexpr uint32_t max_users = 1'000'000;

traffic read_traffic(reader& rd, const YAML::Node& n, const std::string& key, bool sized, uint64_t max_size,
                     uint64_t default_size) {
  traffic t;
  t.size = {default_size, default_size};
  if (!n) return t;
  if (key == "to_device")
    rd.only_keys(n, key, {"rate", "size", "recipients"});
  else if (sized)
    rd.only_keys(n, key, {"rate", "size"});
  else
    rd.only_keys(n, key, {"rate"});
  if (n["rate"]) t.rate = rd.number(n["rate"], key + ".rate", 0, max_rate);
  if (sized && n["size"]) t.size = rd.size(n["size"], key + ".size", max_size);
  if (n["recipients"]) t.recipients = uint32_t(rd.integer(n["recipients"], key + ".recipients", 1, 1000));
  return t;
}

}  // namespace

double parse_duration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit((unsigned char)text[i]) || text[i] == '.')) ++i;
  if (i == 0) throw scenario_error("'" + text + "' is not a duration (examples: 30, 30s, 500ms, 2m)");
  double v = 0;
  try {
    v = std::stod(text.substr(0, i));
  } catch (const std::exception&) {
    throw scenario_error("'" + text + "' is not a duration");
  }
  auto unit = text.substr(i);
  if (unit.empty() || unit == "s") return v;
  if (unit == "ms") return v / 1000;
  if (unit == "m") return v * 60;
  if (unit == "h") return v * 3600;
  throw scenario_error("'" + text + "': unknown unit (use ms, s, m or h)");
}

uint64_t parse_bytes(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit((unsigned char)text[i])) ++i;
  if (i == 0 || i > 12) throw scenario_error("'" + text + "' is not a size (examples: 120, 64K, 1M)");
  uint64_t v = std::stoull(text.substr(0, i));
  auto unit = text.substr(i);
  if (unit.empty()) return v;
  if (unit == "K" || unit == "k") return v << 10;
  if (unit == "M") return v << 20;
  if (unit == "G") return v << 30;
  throw scenario_error("'" + text + "': unknown unit (use K, M or G)");
}

void scenario::scale_rates(double factor) {
  for (auto* t : {&messages, &typing, &receipts, &presence, &to_device, &media}) t->rate *= factor;
}

scenario parse_scenario(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw scenario_error(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  reader rd(source);
  scenario s;
  s.source = source;
  if (!root || root.IsNull()) throw scenario_error(source + ": empty scenario");
  rd.only_keys(root, "",
               {"base_url", "seed", "users", "user_prefix", "password", "rooms", "room_size", "join", "messages",
                "typing", "receipts", "presence", "to_device", "media", "sync", "arrivals", "ramp_up", "warm_up",
                "duration", "delivery_grace", "max_requests", "setup_concurrency", "request_timeout",
                "max_queue_per_user", "population"});
  if (auto n = root["base_url"]) {
    s.base_urls.clear();
    if (n.IsSequence()) {
      for (const auto& u : n) s.base_urls.push_back(rd.text(u, "base_url"));
      if (s.base_urls.empty() || s.base_urls.size() > 64) rd.fail(n, "base_url", "must list 1 to 64 URLs");
    } else {
      s.base_urls.push_back(rd.text(n, "base_url"));
    }
  }
  if (auto n = root["seed"]) s.seed = rd.integer(n, "seed", 0, uint64_t(1) << 53);
  if (auto n = root["users"]) s.users = uint32_t(rd.integer(n, "users", 1, max_users));
  if (auto n = root["user_prefix"]) {
    s.user_prefix = rd.text(n, "user_prefix");
    for (char c : s.user_prefix)
      if (!std::islower((unsigned char)c) && !std::isdigit((unsigned char)c) && c != '_' && c != '-' && c != '.')
        rd.fail(n, "user_prefix", "may hold only a-z, 0-9, '_', '-' and '.' (a Matrix localpart)");
    if (s.user_prefix.empty() || s.user_prefix.size() > 32) rd.fail(n, "user_prefix", "must be 1 to 32 characters");
  }
  if (auto n = root["password"]) s.password = rd.text(n, "password");
  if (auto n = root["rooms"]) s.rooms = uint32_t(rd.integer(n, "rooms", 0, max_users));

  if (auto n = root["room_size"]) {
    if (n.IsScalar()) {
      s.room_size.size = uint32_t(rd.integer(n, "room_size", 1, max_users));
    } else {
      rd.only_keys(n, "room_size", {"distribution", "size", "min", "max", "exponent"});
      auto dist = n["distribution"] ? rd.text(n["distribution"], "room_size.distribution") : "fixed";
      if (dist == "fixed") {
        s.room_size.type = room_size_dist::kind::fixed;
        if (!n["size"]) rd.fail(n, "room_size", "fixed needs size");
        s.room_size.size = uint32_t(rd.integer(n["size"], "room_size.size", 1, max_users));
      } else if (dist == "uniform" || dist == "zipf") {
        s.room_size.type = dist == "zipf" ? room_size_dist::kind::zipf : room_size_dist::kind::uniform;
        if (!n["max"]) rd.fail(n, "room_size", dist + " needs max");
        s.room_size.max = uint32_t(rd.integer(n["max"], "room_size.max", 1, max_users));
        s.room_size.min = n["min"] ? uint32_t(rd.integer(n["min"], "room_size.min", 1, max_users)) : 1;
        if (s.room_size.min > s.room_size.max) rd.fail(n, "room_size", "min is larger than max");
        if (n["exponent"]) s.room_size.exponent = rd.number(n["exponent"], "room_size.exponent", 0, 10);
      } else {
        rd.fail(n["distribution"], "room_size.distribution", "must be fixed, uniform or zipf");
      }
    }
  }

  if (auto n = root["join"]) {
    rd.only_keys(n, "join", {"pattern", "fraction", "at"});
    auto p = n["pattern"] ? rd.text(n["pattern"], "join.pattern") : "setup";
    if (p == "setup")
      s.join.type = join_pattern::kind::setup;
    else if (p == "storm")
      s.join.type = join_pattern::kind::storm;
    else if (p == "steady")
      s.join.type = join_pattern::kind::steady;
    else
      rd.fail(n["pattern"], "join.pattern", "must be setup, storm or steady");
    if (s.join.type != join_pattern::kind::setup) s.join.fraction = 1.0;
    if (n["fraction"]) s.join.fraction = rd.number(n["fraction"], "join.fraction", 0, 1);
    if (n["at"]) s.join.at = rd.duration(n["at"], "join.at", max_seconds);
  }

  s.messages = read_traffic(rd, root["messages"], "messages", true, 60'000, 100);
  s.typing = read_traffic(rd, root["typing"], "typing", false, 0, 0);
  s.receipts = read_traffic(rd, root["receipts"], "receipts", false, 0, 0);
  s.presence = read_traffic(rd, root["presence"], "presence", false, 0, 0);
  s.to_device = read_traffic(rd, root["to_device"], "to_device", true, 60'000, 256);
  s.media = read_traffic(rd, root["media"], "media", true, uint64_t(1) << 30, 64 << 10);

  if (auto n = root["sync"]) {
    rd.only_keys(n, "sync", {"fraction", "timeout_ms", "timeline_limit", "initial_concurrency"});
    if (n["fraction"]) s.sync.fraction = rd.number(n["fraction"], "sync.fraction", 0, 1);
    if (n["timeout_ms"]) s.sync.timeout_ms = uint32_t(rd.integer(n["timeout_ms"], "sync.timeout_ms", 0, 120000));
    if (n["timeline_limit"])
      s.sync.timeline_limit = uint32_t(rd.integer(n["timeline_limit"], "sync.timeline_limit", 1, 1000));
    if (n["initial_concurrency"])
      s.sync.initial_concurrency =
          uint32_t(rd.integer(n["initial_concurrency"], "sync.initial_concurrency", 1, 10000));
  }
  if (auto n = root["arrivals"]) {
    auto a = rd.text(n, "arrivals");
    if (a != "poisson" && a != "uniform") rd.fail(n, "arrivals", "must be poisson or uniform");
    s.poisson = a == "poisson";
  }
  if (auto n = root["ramp_up"]) s.ramp_up = rd.duration(n, "ramp_up", max_seconds);
  if (auto n = root["warm_up"]) s.warm_up = rd.duration(n, "warm_up", max_seconds);
  if (auto n = root["duration"]) s.duration = rd.duration(n, "duration", max_seconds);
  if (s.duration <= 0) rd.fail(root["duration"], "duration", "must be positive");
  if (auto n = root["delivery_grace"]) s.delivery_grace = rd.duration(n, "delivery_grace", 600);
  if (auto n = root["max_requests"]) s.max_requests = rd.integer(n, "max_requests", 1, uint64_t(1) << 40);
  if (auto n = root["setup_concurrency"]) s.setup_concurrency = uint32_t(rd.integer(n, "setup_concurrency", 1, 1000));
  if (auto n = root["request_timeout"]) s.request_timeout = rd.duration(n, "request_timeout", 600);
  if (s.request_timeout <= 0) rd.fail(root["request_timeout"], "request_timeout", "must be positive");
  if (auto n = root["max_queue_per_user"])
    s.max_queue_per_user = uint32_t(rd.integer(n, "max_queue_per_user", 1, 100000));
  if (auto n = root["population"]) s.population = rd.text(n, "population");
  if (s.join.type == join_pattern::kind::storm && s.join.at > s.duration)
    rd.fail(root["join"], "join.at", "is after the end of the measured window");
  return s;
}

scenario load_scenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw scenario_error(path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_scenario(ss.str(), path);
}

json::object to_json(const scenario& s) {
  auto size = [](const size_range& r) -> json::value {
    if (r.min == r.max) return r.min;
    return json::object{{"min", r.min}, {"max", r.max}};
  };
  auto traffic_json = [&](const traffic& t, bool sized) {
    json::object o{{"rate", t.rate}};
    if (sized) o["size"] = size(t.size);
    return o;
  };
  json::object room_size;
  switch (s.room_size.type) {
    case room_size_dist::kind::fixed: room_size = {{"distribution", "fixed"}, {"size", s.room_size.size}}; break;
    case room_size_dist::kind::uniform:
      room_size = {{"distribution", "uniform"}, {"min", s.room_size.min}, {"max", s.room_size.max}};
      break;
    case room_size_dist::kind::zipf:
      room_size = {{"distribution", "zipf"}, {"min", s.room_size.min}, {"max", s.room_size.max},
                   {"exponent", s.room_size.exponent}};
      break;
  }
  const char* pattern = s.join.type == join_pattern::kind::setup   ? "setup"
                        : s.join.type == join_pattern::kind::storm ? "storm"
                                                                   : "steady";
  auto to_device = traffic_json(s.to_device, true);
  to_device["recipients"] = s.to_device.recipients;
  return {{"source", s.source},
          {"base_url", s.base_urls.size() == 1 ? json::value(s.base_urls.front())
                                               : json::value(json::array(s.base_urls.begin(), s.base_urls.end()))},
          {"seed", s.seed},
          {"users", s.users},
          {"user_prefix", s.user_prefix},
          {"rooms", s.rooms},
          {"room_size", std::move(room_size)},
          {"join", {{"pattern", pattern}, {"fraction", s.join.fraction}, {"at", s.join.at}}},
          {"messages", traffic_json(s.messages, true)},
          {"typing", traffic_json(s.typing, false)},
          {"receipts", traffic_json(s.receipts, false)},
          {"presence", traffic_json(s.presence, false)},
          {"to_device", std::move(to_device)},
          {"media", traffic_json(s.media, true)},
          {"sync",
           {{"fraction", s.sync.fraction},
            {"timeout_ms", s.sync.timeout_ms},
            {"timeline_limit", s.sync.timeline_limit},
            {"initial_concurrency", s.sync.initial_concurrency}}},
          {"arrivals", s.poisson ? "poisson" : "uniform"},
          {"ramp_up", s.ramp_up},
          {"warm_up", s.warm_up},
          {"duration", s.duration},
          {"delivery_grace", s.delivery_grace},
          {"max_requests", s.max_requests},
          {"setup_concurrency", s.setup_concurrency},
          {"request_timeout", s.request_timeout},
          {"max_queue_per_user", s.max_queue_per_user},
          {"population", s.population}};
}

}  // namespace loadgen
