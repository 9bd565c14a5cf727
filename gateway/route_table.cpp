// The route table: Synapse's worker routing regexes kept as data (configs/routes.yaml), each naming
// the Myelin group that serves the paths it matches. The regexes run only at startup, when
// assign_groups() resolves every endpoint's group; requests are routed by endpoint, not by regex.
#include <algorithm>
#include <regex>

#include <yaml-cpp/yaml.h>

#include "gateway/gateway.hpp"

extern const char* const myelin_builtin_routes_yaml;

namespace myelin::gateway {
namespace {

[[noreturn]] void fail(const std::string& origin, const YAML::Mark& mark, const std::string& what) {
  std::string where = origin;
  if (mark.line >= 0) where += ":" + std::to_string(mark.line + 1);
  throw config_error(where + ": " + what);
}

bool valid_group_name(const std::string& g) {
  if (g.empty()) return false;
  for (char c : g)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

bool valid_method(const std::string& m) {
  static const char* const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
  for (const char* k : known)
    if (m == k) return true;
  return false;
}

std::string scalar(const YAML::Node& n, const std::string& origin, const std::string& key) {
  if (!n.IsScalar()) fail(origin, n.Mark(), "'" + key + "' must be a string");
  return n.Scalar();
}

std::vector<std::string> parse_methods(const YAML::Node& n, const std::string& origin) {
  std::vector<std::string> methods;
  if (!n.IsSequence()) fail(origin, n.Mark(), "'methods' must be a list such as [GET, PUT]");
  for (const auto& m : n) {
    std::string method = scalar(m, origin, "methods");
    if (!valid_method(method)) fail(origin, m.Mark(), "unknown HTTP method '" + method + "'");
    methods.push_back(std::move(method));
  }
  return methods;
}

// One `{match, group, methods}` entry. Unknown keys are errors: a misspelt `method:` would
// otherwise silently widen the rule to every method.
route_rule parse_rule(const YAML::Node& n, const std::string& origin) {
  if (!n.IsMap()) fail(origin, n.Mark(), "a route must be a mapping with 'match' and 'group'");
  route_rule r;
  bool have_match = false, have_group = false;
  for (const auto& kv : n) {
    std::string key = kv.first.as<std::string>();
    if (key == "match") {
      r.regex = scalar(kv.second, origin, key);
      have_match = true;
    } else if (key == "group") {
      r.group = scalar(kv.second, origin, key);
      if (!valid_group_name(r.group)) fail(origin, kv.second.Mark(), "invalid group name '" + r.group + "'");
      have_group = true;
    } else if (key == "methods") {
      r.methods = parse_methods(kv.second, origin);
    } else {
      fail(origin, kv.first.Mark(), "unknown key '" + key + "' in a route (expected match, group, methods)");
    }
  }
  if (!have_match) fail(origin, n.Mark(), "route without 'match'");
  if (!have_group) fail(origin, n.Mark(), "route without 'group'");
  return r;
}

std::regex compile_regex(const route_rule& r, const YAML::Node& where, const std::string& origin) {
  try {
    return std::regex(r.regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fail(origin, where.Mark(), "invalid regex '" + r.regex + "': " + e.what());
  }
}

} // namespace

struct route_table::impl {
  std::vector<route_rule> rules;
  std::vector<std::regex> regexes;  // parallel to rules
  std::string default_group = "main";
};

route_table::route_table() : impl_(std::make_unique<impl>()) {}
route_table::~route_table() = default;
route_table::route_table(route_table&&) noexcept = default;
route_table& route_table::operator=(route_table&&) noexcept = default;

route_table route_table::parse(const std::string& yaml_text, const std::string& origin) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap()) fail(origin, root.Mark(), "a route file is a mapping with 'default' and 'routes'");
    route_table t;
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      if (key == "default") {
        t.impl_->default_group = scalar(kv.second, origin, key);
        if (!valid_group_name(t.impl_->default_group))
          fail(origin, kv.second.Mark(), "invalid group name '" + t.impl_->default_group + "'");
      } else if (key == "routes") {
        if (kv.second.IsNull()) continue;
        if (!kv.second.IsSequence()) fail(origin, kv.second.Mark(), "'routes' must be a list");
        for (const auto& item : kv.second) {
          route_rule r = parse_rule(item, origin);
          t.impl_->regexes.push_back(compile_regex(r, item["match"], origin));
          t.impl_->rules.push_back(std::move(r));
        }
      } else {
        fail(origin, kv.first.Mark(), "unknown key '" + key + "' (expected default, routes)");
      }
    }
    return t;
  } catch (const YAML::Exception& e) {  // syntax errors, and keys that are not strings
    fail(origin, e.mark, e.msg);
  }
}

route_table route_table::builtin() { return parse(myelin_builtin_routes_yaml, "configs/routes.yaml (built in)"); }

std::string route_table::group_for(std::string_view method, std::string_view raw_path) const {
  for (size_t i = 0; i < impl_->rules.size(); ++i) {
    const route_rule& r = impl_->rules[i];
    if (!r.methods.empty() && std::find(r.methods.begin(), r.methods.end(), method) == r.methods.end()) continue;
    // nginx `location ~` semantics, which these regexes were written for: search, anchored by '^'.
    if (std::regex_search(raw_path.begin(), raw_path.end(), impl_->regexes[i])) return r.group;
  }
  return impl_->default_group;
}

const std::vector<route_rule>& route_table::rules() const { return impl_->rules; }
const std::string& route_table::default_group() const { return impl_->default_group; }

} // namespace myelin::gateway
