// Push actions at persist time (see event_push.hpp).
#include "storage/streams/event_push.hpp"

#include <boost/json.hpp>

#include "storage/tables/account_data.hpp"
#include "storage/tables/notifications.hpp"
#include "storage/tables/push_rules.hpp"

namespace myelin::storage {

namespace json = boost::json;

namespace {

std::optional<std::string> display_name_of(const json::object& content) {
  auto* d = content.if_contains("displayname");
  if (d && d->is_string()) return std::string(d->get_string());
  return std::nullopt;
}

// The spec advises following relations at most this many hops to find an event's thread.
constexpr int max_thread_hops = 3;

// Rule sets kept between batches (about 10 KiB each).
constexpr size_t max_cached_rule_sets = 10000;

} // namespace

event_push::event_push(std::string server_name) : suffix_(":" + std::move(server_name)) {}

void event_push::begin_batch() {
  checked_.clear();
  ignored_.clear();
}

void event_push::load_rules(connection& c, const std::vector<std::string>& users) {
  if (rules_.size() + users.size() > max_cached_rule_sets) {  // bounded memory: start over
    rules_.clear();
    checked_.clear();
  }
  std::vector<std::string> unchecked;
  for (const auto& u : users)
    if (!checked_.count(u)) unchecked.push_back(u);
  if (unchecked.empty()) return;
  auto versions = push_rules::last_changes(c, unchecked);
  std::vector<std::string> stale;
  for (const auto& u : unchecked) {
    auto it = rules_.find(u);
    if (it == rules_.end() || it->second.version != versions[u]) stale.push_back(u);
  }
  if (!stale.empty())
    for (auto& [u, set] : push_rules::rule_sets(c, stale))
      rules_.insert_or_assign(u, cached_rules{versions[u], std::move(set)});
  checked_.insert(unchecked.begin(), unchecked.end());
}

bool event_push::is_local(const std::string& user_id) const {
  return user_id.size() > suffix_.size() && user_id.compare(user_id.size() - suffix_.size(), suffix_.size(), suffix_) == 0;
}

std::shared_ptr<const room_members> event_push::load_members(connection& c, const std::string& room_id) const {
  auto r = c.exec("SELECT cs.state_key, e.json, e.redacted_by FROM current_state_events cs JOIN events e "
                  "ON e.event_id = cs.event_id WHERE cs.room_id = $1 AND cs.type = 'm.room.member' "
                  "AND cs.membership = 'join'",
                  {room_id});
  auto m = std::make_shared<room_members>();
  m->joined_count = static_cast<int64_t>(r.size());
  for (size_t i = 0; i < r.size(); ++i) {
    const auto& user_id = r[i].as_text(0);
    if (!is_local(user_id)) continue;
    std::optional<std::string> name;
    if (r[i].is_null(2)) {  // a redacted member event has lost its display name
      boost::system::error_code ec;
      auto pdu = json::parse(r[i].as_text(1), ec);
      if (!ec && pdu.is_object())
        if (auto* content = pdu.as_object().if_contains("content"); content && content->is_object())
          name = display_name_of(content->as_object());
    }
    m->local.emplace(user_id, std::move(name));
  }
  return m;
}

std::shared_ptr<const room_members> event_push::apply_member_event(const std::shared_ptr<const room_members>& members,
                                                                   const protocol::pdu& ev, bool was_joined) const {
  auto user_id = std::string(ev.state_key().value_or(""));
  bool joined = ev.membership() == "join";
  auto m = std::make_shared<room_members>(*members);
  m->joined_count += int64_t(joined) - int64_t(was_joined);
  if (is_local(user_id)) {
    if (joined) m->local.insert_or_assign(user_id, display_name_of(ev.content()));
    else m->local.erase(user_id);
  }
  return m;
}

// The thread an event belongs to: its own m.thread relation, or the thread of the event it
// relates to (a reaction or edit in a thread), at most max_thread_hops relations away. "" = main.
std::string event_push::thread_of(connection& c, const protocol::pdu& ev) const {
  auto* rel = ev.content().if_contains("m.relates_to");
  if (!rel || !rel->is_object()) return "";
  auto* rel_type = rel->as_object().if_contains("rel_type");
  auto* target = rel->as_object().if_contains("event_id");
  if (!rel_type || !rel_type->is_string() || !target || !target->is_string()) return "";
  if (rel_type->as_string() == "m.thread") return std::string(target->as_string());
  std::string parent(target->as_string());
  for (int hop = 1; hop < max_thread_hops; ++hop) {
    auto r = c.exec("SELECT relates_to_id, rel_type FROM event_relations WHERE event_id = $1", {parent});
    if (r.empty()) return "";
    if (r[0].as_text(1) == "m.thread") return r[0].as_text(0);
    parent = r[0].as_text(0);
  }
  return "";
}

void event_push::on_event(connection& c, const events::event_row& row, const protocol::pdu& ev,
                          const room_members& members, const std::function<protocol::power_levels()>& levels) {
  std::vector<std::string> recipients;
  for (const auto& [user_id, name] : members.local)
    if (user_id != row.sender) recipients.push_back(user_id);
  // An invite notifies the invitee, who is not a member yet (.m.rule.invite_for_me).
  if (row.membership == "invite" && row.state_key && *row.state_key != row.sender && is_local(*row.state_key) &&
      !members.local.count(*row.state_key))
    recipients.push_back(*row.state_key);
  if (recipients.empty()) return;

  load_rules(c, recipients);

  auto pl = levels();
  protocol::push::event_context ctx{ev.json, members.joined_count, {}, &pl, pl.user_level(row.sender)};
  std::vector<std::pair<const std::string*, const protocol::push::rule*>> notified;
  for (const auto& u : recipients) {
    auto it = members.local.find(u);
    ctx.display_name = it != members.local.end() && it->second ? std::string_view(*it->second) : std::string_view();
    auto* rule = protocol::push::matching_rule(rules_.at(u).rules, ctx);
    if (rule && protocol::push::notify(rule->actions)) notified.emplace_back(&u, rule);
  }
  if (notified.empty()) return;

  // Ignore lists only for the users the event would notify.
  std::vector<std::string> missing;
  for (const auto& [u, rule] : notified)
    if (!ignored_.count(*u)) missing.push_back(*u);
  if (!missing.empty()) {
    auto lists = account_data::ignored_users(c, missing);
    for (const auto& u : missing) ignored_[u] = std::move(lists[u]);
  }

  std::string thread_id = thread_of(c, ev);
  std::vector<notifications::push_action> rows;
  for (const auto& [u, rule] : notified) {
    if (ignored_[*u].count(row.sender)) continue;
    rows.push_back({row.room_id, row.event_id, *u, row.persister, row.stream_ordering, row.topological_ordering,
                    thread_id, protocol::push::highlight(rule->actions), rule->actions_text, row.origin_server_ts});
  }
  if (!rows.empty()) notifications::insert(c, rows);
}

} // namespace myelin::storage
