#include "protocol/server_acl.hpp"

#include <boost/json.hpp>

#include "protocol/identifiers.hpp"
#include "protocol/push_rules.hpp"

namespace myelin::protocol {

namespace {

bool any_match(const boost::json::object& content, const char* key, std::string_view host) {
  auto* list = content.if_contains(key);
  if (!list || !list->is_array()) return false;
  for (const auto& pattern : list->as_array())
    if (pattern.is_string() && push::glob_matches(push::glob_tokens(pattern.as_string()), host, false)) return true;
  return false;
}

} // namespace

bool server_allowed_by_acl(const boost::json::object& content, std::string_view server_name) {
  auto parts = split_server_name(server_name);
  if (!parts) return false;
  auto* ip = content.if_contains("allow_ip_literals");
  bool allow_ip_literals = !(ip && ip->is_bool() && !ip->as_bool());
  if (parts->ip_literal && !allow_ip_literals) return false;
  if (any_match(content, "deny", parts->host)) return false;
  return any_match(content, "allow", parts->host);
}

} // namespace myelin::protocol
