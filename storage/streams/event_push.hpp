// Push actions at persist time (spec: client-server "Push Notifications" → "Server behaviour"):
// as the events persister stores an event, it evaluates the push rules of every local joined
// member except the sender (and of a local invitee) and records in event_push_actions whom the
// event notifies — in the same transaction, so the counts change together with the timeline.
//
// Per event the cost is: the room's local members from the persister's room cache (loaded once,
// kept up to date from the member events it appends itself); the members' rule sets, cached
// between batches and checked once per batch against push_rules_positions (one query for the
// members not checked yet); the notified users' ignore lists (one query per batch for those not
// seen yet); the thread lookup for events with relations; the rows' INSERTs
// (storage/tables/notifications).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "protocol/pdu.hpp"
#include "protocol/power_levels.hpp"
#include "protocol/push_rules.hpp"
#include "storage/database.hpp"
#include "storage/tables/events.hpp"

namespace myelin::storage {

// A room's joined members as push evaluation needs them. Immutable once built: the room cache
// shares it between batches, and a member event makes a changed copy.
struct room_members {
  int64_t joined_count = 0;                                   // all joined members, local or not
  std::map<std::string, std::optional<std::string>> local;   // local joined user → display name
};

class event_push {
public:
  explicit event_push(std::string server_name);

  // A new batch transaction: rule sets and ignore lists may have changed since the last one.
  // Rule sets stay cached, but each is checked once per batch against the user's last push
  // rules change (push_rules_positions) before it is used.
  void begin_batch();

  // The room's joined members from its current state.
  std::shared_ptr<const room_members> load_members(connection& c, const std::string& room_id) const;
  // `members` after the member event `ev` (its target was joined before it: `was_joined`).
  std::shared_ptr<const room_members> apply_member_event(const std::shared_ptr<const room_members>& members,
                                                         const protocol::pdu& ev, bool was_joined) const;

  // Evaluates and stores the push actions of `ev`, stored as `row`. `levels` gives the room's
  // power levels; it is called only if someone's rules are evaluated.
  void on_event(connection& c, const events::event_row& row, const protocol::pdu& ev, const room_members& members,
                const std::function<protocol::power_levels()>& levels);

private:
  bool is_local(const std::string& user_id) const;
  std::string thread_of(connection& c, const protocol::pdu& ev) const;
  // Makes rules_ hold a current rule set for each of `users`.
  void load_rules(connection& c, const std::vector<std::string>& users);

  std::string suffix_;  // ":" + server name
  struct cached_rules {
    int64_t version = 0;  // the user's push_rules_positions position when loaded (0 = never changed)
    protocol::push::rule_set rules;
  };
  std::unordered_map<std::string, cached_rules> rules_;
  // Per batch (cleared by begin_batch): users whose cached rules were checked, ignore lists.
  std::set<std::string> checked_;
  std::unordered_map<std::string, std::set<std::string>> ignored_;
};

} // namespace myelin::storage
