// Application services (spec: Application Service API, "Registration"): what one registration
// file says and the rules derived from it — which users, aliases and rooms a service owns or is
// interested in, and which events it must receive. Pure: no I/O; common/config reads the files.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::protocol::appservice {

// One entry of namespaces.users / aliases / rooms.
struct namespace_rule {
  bool exclusive = false;
  std::string regex;  // as written in the file
  std::regex compiled;
};

// Compiles a namespace regex; throws std::regex_error on a bad pattern. Matching is anchored at the
// start only, as Synapse's Python re.match: "@_irc_.*" matches "@_irc_bob:example.org".
namespace_rule make_rule(bool exclusive, std::string regex);
bool rule_matches(const namespace_rule& r, std::string_view value);

struct registration {
  std::string id;
  std::string url;                // "" when the file has url: null (no transactions, no queries)
  std::string as_token;           // the service's token for the client API
  std::string hs_token;           // ours, in requests to the service
  std::string sender_localpart;
  std::string sender;             // @sender_localpart:server_name
  std::vector<namespace_rule> users, aliases, rooms;
  bool rate_limited = true;
  bool receive_ephemeral = false; // receive_ephemeral or de.sorunome.msc2409.push_ephemeral
  std::vector<std::string> protocols;
  std::string source;             // the file it came from, for logs

  // Synapse's is_interested_in_user: the sender, or a user in the users namespace.
  bool is_interested_in_user(std::string_view user_id) const;
  bool is_interested_in_alias(std::string_view alias) const;
  bool is_interested_in_room(std::string_view room_id) const;
  bool is_exclusive_user(std::string_view user_id) const;
  bool is_exclusive_alias(std::string_view alias) const;
};

// What interest in a room event depends on. The room's aliases and local members are asked for
// only when the cheaper rules did not already decide (they cost a query each).
struct event_facts {
  std::string room_id;
  std::string type;
  std::string sender;
  std::optional<std::string> state_key;
};
using lazy_list = std::function<std::vector<std::string>()>;

// Synapse's rules: the room is in the rooms namespace; the sender, or the state_key of a member
// event, is a user of the service; the room has an alias in its alias namespace; or a member of the
// room is one of its users.
bool interested_in_event(const registration& as, const event_facts& ev, const lazy_list& room_aliases,
                         const lazy_list& room_members);
// The same without the event: for typing and receipts in a room (ephemeral events).
bool interested_in_room(const registration& as, const std::string& room_id, const lazy_list& room_aliases,
                        const lazy_list& room_members);

// The loaded set: immutable once built, replaced as a whole on reload.
class registry {
public:
  registry() = default;
  // Throws std::invalid_argument when two registrations share an id or an as_token.
  explicit registry(std::vector<registration> all);

  const std::vector<registration>& all() const { return all_; }
  bool empty() const { return all_.empty(); }
  // The lookup goes through sha256(token), so a guess's timing says nothing about a real token.
  const registration* by_as_token(std::string_view token) const;
  const registration* by_as_token_hash(std::string_view sha256_hex) const;  // when the caller has it
  const registration* by_id(std::string_view id) const;
  // The service that claims `user_id` / `alias` exclusively; nullptr when none does.
  const registration* exclusive_owner_of_user(std::string_view user_id) const;
  const registration* exclusive_owner_of_alias(std::string_view alias) const;
  // Services with a URL whose namespace includes `alias` / `user_id` (queries ask them in order).
  std::vector<const registration*> alias_queriers(std::string_view alias) const;
  std::vector<const registration*> user_queriers(std::string_view user_id) const;

private:
  std::vector<registration> all_;
  std::map<std::string, size_t, std::less<>> by_token_hash_, by_id_;
};

// The registry the whole process reads: shared by every copy of the configuration, swapped in one
// piece on SIGHUP so a reader sees either the old set or the new one.
class live_registrations {
public:
  std::shared_ptr<const registry> get() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void set(std::shared_ptr<const registry> r) {
    std::lock_guard lock(mu_);
    current_ = std::move(r);
  }

private:
  mutable std::mutex mu_;
  std::shared_ptr<const registry> current_ = std::make_shared<const registry>();
};

} // namespace myelin::protocol::appservice
