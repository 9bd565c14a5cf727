#include "protocol/appservice.hpp"

#include <algorithm>
#include <stdexcept>

#include "protocol/crypto.hpp"

namespace myelin::protocol::appservice {

namespace_rule make_rule(bool exclusive, std::string regex) {
  namespace_rule r;
  r.exclusive = exclusive;
  r.compiled = std::regex(regex, std::regex::ECMAScript | std::regex::optimize);
  r.regex = std::move(regex);
  return r;
}

bool rule_matches(const namespace_rule& r, std::string_view value) {
  // Anchored at the start, free at the end: Python's re.match, which Synapse uses.
  return std::regex_search(value.begin(), value.end(), r.compiled, std::regex_constants::match_continuous);
}

namespace {

bool any_match(const std::vector<namespace_rule>& rules, std::string_view v, bool exclusive_only = false) {
  return std::any_of(rules.begin(), rules.end(),
                     [&](const namespace_rule& r) { return (!exclusive_only || r.exclusive) && rule_matches(r, v); });
}

} // namespace

bool registration::is_interested_in_user(std::string_view user_id) const {
  return user_id == sender || any_match(users, user_id);
}
bool registration::is_interested_in_alias(std::string_view alias) const { return any_match(aliases, alias); }
bool registration::is_interested_in_room(std::string_view room_id) const { return any_match(rooms, room_id); }
bool registration::is_exclusive_user(std::string_view user_id) const {
  return user_id == sender || any_match(users, user_id, true);
}
bool registration::is_exclusive_alias(std::string_view alias) const { return any_match(aliases, alias, true); }

bool interested_in_room(const registration& as, const std::string& room_id, const lazy_list& room_aliases,
                        const lazy_list& room_members) {
  if (as.is_interested_in_room(room_id)) return true;
  if (!as.aliases.empty() && room_aliases)
    for (const auto& a : room_aliases())
      if (as.is_interested_in_alias(a)) return true;
  if (room_members)
    for (const auto& m : room_members())
      if (as.is_interested_in_user(m)) return true;
  return false;
}

bool interested_in_event(const registration& as, const event_facts& ev, const lazy_list& room_aliases,
                         const lazy_list& room_members) {
  if (as.is_interested_in_user(ev.sender)) return true;
  if (ev.type == "m.room.member" && ev.state_key && as.is_interested_in_user(*ev.state_key)) return true;
  return interested_in_room(as, ev.room_id, room_aliases, room_members);
}

registry::registry(std::vector<registration> all) : all_(std::move(all)) {
  for (size_t i = 0; i < all_.size(); ++i) {
    if (!by_id_.emplace(all_[i].id, i).second)
      throw std::invalid_argument("application service id '" + all_[i].id + "' is used twice");
    if (!by_token_hash_.emplace(sha256_hex(all_[i].as_token), i).second)
      throw std::invalid_argument("application service '" + all_[i].id + "' reuses the as_token of another");
  }
}

const registration* registry::by_as_token(std::string_view token) const {
  return all_.empty() ? nullptr : by_as_token_hash(sha256_hex(token));
}

const registration* registry::by_as_token_hash(std::string_view hash) const {
  auto it = by_token_hash_.find(hash);
  return it == by_token_hash_.end() ? nullptr : &all_[it->second];
}

const registration* registry::by_id(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &all_[it->second];
}

const registration* registry::exclusive_owner_of_user(std::string_view user_id) const {
  for (const auto& r : all_)
    if (r.is_exclusive_user(user_id)) return &r;
  return nullptr;
}

const registration* registry::exclusive_owner_of_alias(std::string_view alias) const {
  for (const auto& r : all_)
    if (r.is_exclusive_alias(alias)) return &r;
  return nullptr;
}

std::vector<const registration*> registry::alias_queriers(std::string_view alias) const {
  std::vector<const registration*> out;
  for (const auto& r : all_)
    if (!r.url.empty() && r.is_interested_in_alias(alias)) out.push_back(&r);
  return out;
}

std::vector<const registration*> registry::user_queriers(std::string_view user_id) const {
  std::vector<const registration*> out;
  for (const auto& r : all_)
    if (!r.url.empty() && any_match(r.users, user_id)) out.push_back(&r);
  return out;
}

} // namespace myelin::protocol::appservice
