// The push_rules stream (singleton writer): a user's own push rules and their changes to the
// server-default rules. Every change takes the next position and publishes
// {"type": "push_rules", "position", "user_id"}, so the notifier wakes that user's syncs (which
// then send the whole rule set as m.push_rules account data).
//
// Operations (kind = override | content | room | sender | underride):
//   add          {user_id, kind, rule_id, rule: {actions, conditions?, pattern?}, before?, after?}
//                creates the rule (enabled, most important of its kind unless placed) or replaces
//                it (keeping its place and enabled state unless placed). `before` wins over `after`.
//   delete       {user_id, kind, rule_id}
//   set_enabled  {user_id, kind, rule_id, enabled}
//   set_actions  {user_id, kind, rule_id, actions}
// Unknown rules are 404 M_NOT_FOUND; server-default rules cannot be deleted or placed against.
#include <algorithm>
#include <boost/json.hpp>

#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/push_rules.hpp"
#include "storage/streams/stream_definition.hpp"
#include "storage/tables/push_rules.hpp"

namespace myelin::storage {
namespace {

namespace json = boost::json;
namespace push = protocol::push;
using protocol::req_string;

struct rule_ref {
  std::string user_id;
  push::rule_kind kind;
  std::string rule_id;
};

rule_ref ref_arg(const json::object& args) {
  auto kind = push::parse_kind(req_string(args, "kind"));
  if (!kind) throw protocol::errors::invalid_param("Unknown push rule kind");
  return {req_string(args, "user_id"), *kind, req_string(args, "rule_id")};
}

op_output changed(op_context& ctx, const std::string& user_id) {
  int64_t position = ctx.next_position();
  push_rules::set_last_change(ctx.db, user_id, position);
  return {json::object{}, {json::object{{"type", "push_rules"}, {"position", position}, {"user_id", user_id}}}};
}

[[noreturn]] void rule_not_found() { throw protocol::errors::not_found("The push rule was not found."); }

// The user's rules of the new rule's kind, in order, with the new rule placed before or after
// `anchor`, which must be one of the user's own rules.
std::vector<std::string> placed(std::vector<std::string> ids, const std::string& rule_id, const std::string& anchor,
                                bool after) {
  if (!anchor.empty() && anchor.front() == '.')
    throw protocol::errors::invalid_param("A rule cannot be placed relative to a server-default rule");
  ids.erase(std::remove(ids.begin(), ids.end(), rule_id), ids.end());
  auto it = std::find(ids.begin(), ids.end(), anchor);
  // The spec's error for this case is 400 M_UNKNOWN.
  if (it == ids.end()) throw protocol::matrix_error(400, "M_UNKNOWN", "before/after rule not found: " + anchor);
  ids.insert(after ? it + 1 : it, rule_id);
  return ids;
}

op_output add(op_context& ctx, const json::object& args) {
  auto ref = ref_arg(args);
  push::check_user_rule_id(ref.rule_id);
  auto* body = protocol::opt_object(args, "rule");
  if (!body) throw protocol::errors::bad_json("add needs a rule");
  auto r = push::parse_user_rule(ref.kind, ref.rule_id, *body);
  auto before = protocol::opt_string(args, "before");
  auto after = protocol::opt_string(args, "after");
  auto& c = ctx.db;
  if (before || after) {
    auto order = placed(push_rules::user_rule_ids(c, ref.user_id, ref.kind), ref.rule_id, before ? *before : *after,
                        !before);
    // Rewritten as n, n-1, …, 1: lists are short (a user's rules of one kind).
    int64_t n = static_cast<int64_t>(order.size());
    for (int64_t i = 0; i < n; ++i)
      if (order[i] == ref.rule_id) push_rules::upsert_rule(c, ref.user_id, r, n - i);
      else push_rules::set_priority(c, ref.user_id, ref.kind, order[i], n - i);
  } else if (auto priority = push_rules::priority_of(c, ref.user_id, ref.kind, ref.rule_id)) {
    push_rules::upsert_rule(c, ref.user_id, r, *priority);  // replaced in place
  } else {
    push_rules::upsert_rule(c, ref.user_id, r, push_rules::max_priority(c, ref.user_id, ref.kind) + 1);
  }
  return changed(ctx, ref.user_id);
}

op_output remove(op_context& ctx, const json::object& args) {
  auto ref = ref_arg(args);
  if (push::is_default_rule(ref.kind, ref.rule_id))
    throw protocol::errors::invalid_param("Server-default push rules cannot be deleted");
  if (!push_rules::delete_rule(ctx.db, ref.user_id, ref.kind, ref.rule_id)) rule_not_found();
  return changed(ctx, ref.user_id);
}

op_output set_enabled(op_context& ctx, const json::object& args) {
  auto ref = ref_arg(args);
  auto enabled = protocol::opt_bool(args, "enabled");
  if (!enabled) throw protocol::errors::bad_json("'enabled' must be a boolean");
  if (push::is_default_rule(ref.kind, ref.rule_id))
    push_rules::set_default_enabled(ctx.db, ref.user_id, ref.kind, ref.rule_id, *enabled);
  else if (!push_rules::set_enabled(ctx.db, ref.user_id, ref.kind, ref.rule_id, *enabled))
    rule_not_found();
  return changed(ctx, ref.user_id);
}

op_output set_actions(op_context& ctx, const json::object& args) {
  auto ref = ref_arg(args);
  auto* actions = args.if_contains("actions");
  if (!actions) throw protocol::errors::bad_json("set_actions needs actions");
  auto text = json::serialize(push::parse_actions(*actions));
  if (push::is_default_rule(ref.kind, ref.rule_id))
    push_rules::set_default_actions(ctx.db, ref.user_id, ref.kind, ref.rule_id, text);
  else if (!push_rules::set_actions(ctx.db, ref.user_id, ref.kind, ref.rule_id, text))
    rule_not_found();
  return changed(ctx, ref.user_id);
}

} // namespace

stream_definition push_rules_stream() {
  return stream_definition{
      "push_rules", {{"add", add}, {"delete", remove}, {"set_enabled", set_enabled}, {"set_actions", set_actions}}};
}

} // namespace myelin::storage
