// protocol/push_rules: the spec's condition kinds on the spec's own examples (client-server
// "Push Rules" → "Conditions"), glob and key-path escapes, word boundaries, member counts,
// notification permission, the default rule set and its order, user rules merged with it, rule
// bodies as clients send them, and the actions helpers.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/errors.hpp"
#include "protocol/push_rules.hpp"
#include "protocol/room_versions.hpp"

using namespace myelin::protocol;
using namespace myelin::protocol::push;
namespace json = boost::json;

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

bool cond(std::string_view condition, const json::object& event, int64_t members = 3,
          std::optional<std::string> display_name = std::nullopt, const power_levels* levels = nullptr,
          int64_t sender_level = 0) {
  event_context ctx{event, members, display_name ? std::string_view(*display_name) : std::string_view(), levels,
                    sender_level};
  return matches(compile_condition(obj(condition)), ctx);
}

bool body_matches(std::string_view pattern, std::string_view body) {
  return glob_matches(glob_tokens(pattern), body, /*word_boundary=*/true);
}

bool whole_matches(std::string_view pattern, std::string_view value) {
  return glob_matches(glob_tokens(pattern), value, /*word_boundary=*/false);
}

const json::object message = obj(R"({"type": "m.room.message", "sender": "@bob:hs", "room_id": "!r:hs",
  "content": {"msgtype": "m.text", "body": "hello there"}})");

std::vector<std::string> ids(const rule_set& rs, rule_kind kind) {
  std::vector<std::string> out;
  for (const auto& r : rs.rules())
    if (r.kind == kind) out.push_back(r.rule_id);
  return out;
}

// The id of the first enabled rule whose conditions all hold; "" when none.
std::string first_match(const rule_set& rs, const json::object& event, int64_t members = 3) {
  const rule* r = matching_rule(rs, {event, members, {}, nullptr, 0});
  return r ? r->rule_id : "";
}

rule user_rule(rule_kind kind, const std::string& id, std::string_view body) {
  return parse_user_rule(kind, id, obj(body));
}

} // namespace

BOOST_AUTO_TEST_SUITE(push_rules_tests)

BOOST_AUTO_TEST_CASE(event_match_on_the_spec_example) {
  // content.topic with pattern "lunc?*": matches "Lunch plans" and "LUNCH"; not " lunch", "lunc", null.
  auto topic = [](json::value v) {
    return json::object{{"type", "m.room.topic"}, {"state_key", ""}, {"content", json::object{{"topic", v}}}};
  };
  const char* c = R"({"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"})";
  BOOST_TEST(cond(c, topic("Lunch plans")));
  BOOST_TEST(cond(c, topic("LUNCH")));
  BOOST_TEST(!cond(c, topic(" lunch")));
  BOOST_TEST(!cond(c, topic("lunc")));
  BOOST_TEST(!cond(c, topic(nullptr)));
  // Absent or non-string: no match, even for "*".
  BOOST_TEST(!cond(R"({"kind": "event_match", "key": "content.nothing", "pattern": "*"})", message));
  BOOST_TEST(!cond(R"({"kind": "event_match", "key": "content", "pattern": "*"})", message));
  BOOST_TEST(cond(R"({"kind": "event_match", "key": "type", "pattern": "m.room.*"})", message));
  BOOST_TEST(!cond(R"({"kind": "event_match", "key": "type", "pattern": "m.room"})", message));
}

BOOST_AUTO_TEST_CASE(glob_semantics) {
  BOOST_TEST(whole_matches("*", ""));
  BOOST_TEST(whole_matches("", ""));
  BOOST_TEST(!whole_matches("", "x"));
  BOOST_TEST(!whole_matches("?", ""));
  BOOST_TEST(whole_matches("a*b*c", "aXbYbZc"));
  BOOST_TEST(!whole_matches("a*b*c", "aXbYbZ"));
  BOOST_TEST(whole_matches("A?C", "abc"));
  BOOST_TEST(whole_matches("**a**", "bab"));
  // '?' is one character, not one byte.
  BOOST_TEST(whole_matches("caf?", "café"));
  BOOST_TEST(!whole_matches("caf??", "café"));
  // Pathological patterns stay linear: no backtracking explosion.
  std::string long_text(20000, 'a');
  BOOST_TEST(!whole_matches("*a*a*a*a*a*a*a*a*a*b", long_text));
}

BOOST_AUTO_TEST_CASE(content_body_word_boundaries) {
  // The spec's example: "ex*ple" matches at word boundaries, across words and '-'.
  BOOST_TEST(body_matches("ex*ple", "An example event."));
  BOOST_TEST(body_matches("ex*ple", "exple"));
  BOOST_TEST(body_matches("ex*ple", "An exciting triple-whammy"));
  BOOST_TEST(!body_matches("ex*ple", "An examples event."));
  BOOST_TEST(!body_matches("cake", "cupcake"));
  BOOST_TEST(!body_matches("cake", "cakes"));
  BOOST_TEST(body_matches("cake", "Cake!"));
  BOOST_TEST(body_matches("cake", "who wants cake?"));
  BOOST_TEST(!body_matches("cake", "cake_"));  // '_' is a word character
  BOOST_TEST(body_matches("@room", "hey @room look"));
  // Case-insensitive; non-ASCII characters are boundaries (only [A-Za-z0-9_] are word characters).
  BOOST_TEST(body_matches("TEA", "time for tea"));
  BOOST_TEST(body_matches("th", "thé"));
  // The condition applies word boundaries to content.body only.
  const char* c = R"({"kind": "event_match", "key": "content.body", "pattern": "hello"})";
  BOOST_TEST(cond(c, message));
  BOOST_TEST(!cond(R"({"kind": "event_match", "key": "content.msgtype", "pattern": "m"})", message));
}

BOOST_AUTO_TEST_CASE(key_path_escapes) {
  BOOST_TEST((split_key_path("content.m\\.relates_to.rel_type") ==
              std::vector<std::string>{"content", "m.relates_to", "rel_type"}));
  BOOST_TEST((split_key_path("content.m\\\\foo") == std::vector<std::string>{"content", "m\\foo"}));
  BOOST_TEST((split_key_path("content.m\\xfoo") == std::vector<std::string>{"content", "m\\xfoo"}));
  BOOST_TEST((split_key_path("a..b") == std::vector<std::string>{"a", "", "b"}));
  auto ev = obj(R"({"type": "x", "content": {"m.federate": true, "m\\foo": "bar", "m": {"federate": false}}})");
  BOOST_TEST(cond(R"({"kind": "event_property_is", "key": "content.m\\.federate", "value": true})", ev));
  BOOST_TEST(cond(R"({"kind": "event_property_is", "key": "content.m.federate", "value": false})", ev));
  BOOST_TEST(cond(R"({"kind": "event_match", "key": "content.m\\\\foo", "pattern": "bar"})", ev));
}

BOOST_AUTO_TEST_CASE(event_property_is_on_the_spec_example) {
  auto create = [](json::value federate) {
    return json::object{{"type", "m.room.create"}, {"content", json::object{{"m.federate", federate}}}};
  };
  const char* c = R"({"kind": "event_property_is", "key": "content.m\\.federate", "value": true})";
  BOOST_TEST(cond(c, create(true)));
  BOOST_TEST(!cond(c, create("true")));  // no casting
  BOOST_TEST(!cond(c, create(1)));
  BOOST_TEST(cond(R"({"kind": "event_property_is", "key": "content.n", "value": 5})",
                  obj(R"({"content": {"n": 5}})")));
  BOOST_TEST(!cond(R"({"kind": "event_property_is", "key": "content.n", "value": 5})",
                   obj(R"({"content": {"n": "5"}})")));
  BOOST_TEST(cond(R"({"kind": "event_property_is", "key": "content.n", "value": null})",
                  obj(R"({"content": {"n": null}})")));
  BOOST_TEST(!cond(R"({"kind": "event_property_is", "key": "content.n", "value": null})", obj(R"({"content": {}})")));
  // Compound values are not comparable: the condition never matches.
  BOOST_TEST(!cond(R"({"kind": "event_property_is", "key": "content", "value": {}})", obj(R"({"content": {}})")));
  // Outside the canonical integer range: never.
  BOOST_TEST(!cond(R"({"kind": "event_property_is", "key": "content.n", "value": 9007199254740993})",
                   obj(R"({"content": {"n": 9007199254740993}})")));
}

BOOST_AUTO_TEST_CASE(event_property_contains_on_the_spec_example) {
  auto ev = obj(R"({"type": "m.room.canonical_alias", "state_key": "",
    "content": {"alias": "#somewhere:localhost", "alt_aliases": ["#somewhere:example.org", "#myroom:example.com", 3]}})");
  BOOST_TEST(cond(R"({"kind": "event_property_contains", "key": "content.alt_aliases", "value": "#myroom:example.com"})", ev));
  BOOST_TEST(!cond(R"({"kind": "event_property_contains", "key": "content.alt_aliases", "value": ":example.com"})", ev));
  BOOST_TEST(cond(R"({"kind": "event_property_contains", "key": "content.alt_aliases", "value": 3})", ev));
  // Not an array, or absent.
  BOOST_TEST(!cond(R"({"kind": "event_property_contains", "key": "content.alias", "value": "#somewhere:localhost"})", ev));
  BOOST_TEST(!cond(R"({"kind": "event_property_contains", "key": "content.none", "value": "x"})", ev));
}

BOOST_AUTO_TEST_CASE(contains_display_name) {
  const char* c = R"({"kind": "contains_display_name"})";
  auto body = [](std::string b) {
    return json::object{{"type", "m.room.message"}, {"content", json::object{{"body", b}}}};
  };
  BOOST_TEST(cond(c, body("hi Alice Smith, how are you"), 3, "alice smith"));
  BOOST_TEST(cond(c, body("ALICE*"), 3, "Alice*"));      // the name is literal, not a glob
  BOOST_TEST(!cond(c, body("ALICEX"), 3, "Alice*"));
  BOOST_TEST(!cond(c, body("Malice aforethought"), 3, "alice"));
  BOOST_TEST(!cond(c, body("hi alice"), 3, std::nullopt));  // no display name
  BOOST_TEST(!cond(c, body("hi"), 3, ""));
}

BOOST_AUTO_TEST_CASE(room_member_count) {
  auto count = [](std::string is, int64_t members) {
    return cond(R"({"kind": "room_member_count", "is": ")" + is + R"("})", message, members);
  };
  BOOST_TEST(count("2", 2));
  BOOST_TEST(!count("2", 3));
  BOOST_TEST(count("==2", 2));
  BOOST_TEST(count("<3", 2));
  BOOST_TEST(!count("<3", 3));
  BOOST_TEST(count(">3", 4));
  BOOST_TEST(!count(">3", 3));
  BOOST_TEST(count("<=3", 3));
  BOOST_TEST(!count("<=3", 4));
  BOOST_TEST(count(">=3", 3));
  BOOST_TEST(!count(">=3", 2));
  for (auto bad : {"", "=2", "<", "two", "2.0", "-1", "<>2"}) BOOST_TEST(!count(bad, 2), bad);
}

BOOST_AUTO_TEST_CASE(sender_notification_permission) {
  const char* c = R"({"kind": "sender_notification_permission", "key": "room"})";
  BOOST_TEST(!cond(c, message, 3, std::nullopt, nullptr, 0));   // default: 50 needed
  BOOST_TEST(cond(c, message, 3, std::nullopt, nullptr, 50));
  auto pl = parse_power_levels(obj(R"({"notifications": {"room": 10, "custom": 90}})"), *find_room_version("10"));
  BOOST_TEST(cond(c, message, 3, std::nullopt, &pl, 10));
  BOOST_TEST(!cond(c, message, 3, std::nullopt, &pl, 9));
  const char* custom = R"({"kind": "sender_notification_permission", "key": "custom"})";
  BOOST_TEST(!cond(custom, message, 3, std::nullopt, &pl, 89));
  BOOST_TEST(cond(custom, message, 3, std::nullopt, &pl, 90));
  const char* unset = R"({"kind": "sender_notification_permission", "key": "other"})";
  BOOST_TEST(cond(unset, message, 3, std::nullopt, &pl, 50));
}

BOOST_AUTO_TEST_CASE(unknown_or_malformed_conditions_never_match) {
  BOOST_TEST(!cond(R"({"kind": "org.example.future"})", message));
  BOOST_TEST(!cond(R"({"key": "type", "pattern": "*"})", message));
  BOOST_TEST(!cond(R"({"kind": "event_match", "key": "type"})", message));
  BOOST_TEST(!cond(R"({"kind": "event_property_is", "key": "type"})", message));
  // A rule with such a condition is effectively disabled.
  rule_set rs("@me:hs", {user_rule(rule_kind::override_rule, "future",
                                   R"({"actions": ["notify"], "conditions": [{"kind": "org.example.future"}]})")});
  BOOST_TEST(first_match(rs, message) == ".m.rule.message");
}

BOOST_AUTO_TEST_CASE(default_rules_in_the_spec_order) {
  rule_set rs("@me:hs", {});
  BOOST_TEST((ids(rs, rule_kind::override_rule) ==
              std::vector<std::string>{".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me",
                                       ".m.rule.member_event", ".m.rule.is_user_mention", ".m.rule.is_room_mention",
                                       ".m.rule.tombstone", ".m.rule.reaction", ".m.rule.room.server_acl",
                                       ".m.rule.suppress_edits"}));
  BOOST_TEST(ids(rs, rule_kind::content).empty());
  BOOST_TEST((ids(rs, rule_kind::underride) ==
              std::vector<std::string>{".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one",
                                       ".m.rule.message", ".m.rule.encrypted"}));
  // Rules name their owner where the spec says "[the user's Matrix ID]".
  auto* invite = rs.find(rule_kind::override_rule, ".m.rule.invite_for_me");
  BOOST_REQUIRE(invite);
  BOOST_TEST(invite->conditions[2].as_object().at("pattern").as_string() == "@me:hs");
  auto* master = rs.find(rule_kind::override_rule, ".m.rule.master");
  BOOST_TEST(!master->enabled);
  BOOST_TEST(master->is_default);
  // The client format: five lists, conditions on override/underride, every rule default.
  auto j = rs.to_json();
  for (auto k : {"override", "content", "room", "sender", "underride"}) BOOST_TEST(j.at(k).is_array(), k);
  auto first = j.at("override").as_array()[0].as_object();
  BOOST_TEST(first.at("rule_id").as_string() == ".m.rule.master");
  BOOST_TEST(first.at("default").as_bool());
  BOOST_TEST(!first.at("enabled").as_bool());
  BOOST_TEST(first.at("conditions").as_array().empty());
  BOOST_TEST(first.at("actions").as_array().empty());
  BOOST_TEST(is_default_rule(rule_kind::underride, ".m.rule.message"));
  BOOST_TEST(!is_default_rule(rule_kind::override_rule, ".m.rule.message"));
}

BOOST_AUTO_TEST_CASE(default_rules_decide_what_notifies) {
  rule_set rs("@me:hs", {});
  auto ev = [](std::string_view text) { return obj(text); };
  BOOST_TEST(first_match(rs, message) == ".m.rule.message");
  BOOST_TEST(first_match(rs, message, 2) == ".m.rule.room_one_to_one");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.message", "content": {"msgtype": "m.notice", "body": "x"}})")) ==
             ".m.rule.suppress_notices");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.message",
      "content": {"body": "x", "m.mentions": {"user_ids": ["@me:hs"]}}})")) == ".m.rule.is_user_mention");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.message",
      "content": {"body": "x", "m.mentions": {"user_ids": ["@other:hs"]}}})")) == ".m.rule.message");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.member", "state_key": "@me:hs",
      "content": {"membership": "invite"}})")) == ".m.rule.invite_for_me");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.member", "state_key": "@you:hs",
      "content": {"membership": "invite"}})")) == ".m.rule.member_event");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.tombstone", "state_key": "", "content": {}})")) ==
             ".m.rule.tombstone");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.tombstone", "content": {}})")).empty());  // not state
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.reaction", "content": {}})")) == ".m.rule.reaction");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.message",
      "content": {"body": "x", "m.relates_to": {"rel_type": "m.replace", "event_id": "$e"}}})")) ==
             ".m.rule.suppress_edits");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.call.invite", "content": {}})")) == ".m.rule.call");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.encrypted", "content": {}})"), 2) ==
             ".m.rule.encrypted_room_one_to_one");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.encrypted", "content": {}})"), 5) == ".m.rule.encrypted");
  BOOST_TEST(first_match(rs, ev(R"({"type": "m.room.name", "state_key": "", "content": {"name": "x"}})")).empty());

  // @room needs the sender's notification power (50 by default).
  auto room_mention = ev(R"({"type": "m.room.message", "content": {"body": "x", "m.mentions": {"room": true}}})");
  auto actions_for = [&](int64_t level) {
    event_context ctx{room_mention, 3, {}, nullptr, level};
    return evaluate(rs, ctx);
  };
  BOOST_TEST(highlight(*actions_for(50)));
  BOOST_TEST(!highlight(*actions_for(0)));
  BOOST_TEST(notify(*actions_for(0)));  // still an ordinary message
}

BOOST_AUTO_TEST_CASE(user_rules_merge_in_priority_order) {
  std::vector<rule> mine = {
      user_rule(rule_kind::underride, "u1", R"({"actions": ["notify"]})"),
      user_rule(rule_kind::override_rule, "o1", R"({"actions": []})"),
      user_rule(rule_kind::override_rule, "o2", R"({"actions": ["notify"]})"),
      user_rule(rule_kind::room, "!r:hs", R"({"actions": []})"),
      user_rule(rule_kind::content, "c1", R"({"actions": ["notify"], "pattern": "cake"})"),
      user_rule(rule_kind::sender, "@bob:hs", R"({"actions": ["notify"]})"),
  };
  rule_set rs("@me:hs", mine);
  auto o = ids(rs, rule_kind::override_rule);
  BOOST_TEST(o.size() == 12u);
  BOOST_TEST(o[0] == ".m.rule.master");  // before even the user's overrides
  BOOST_TEST(o[1] == "o1");
  BOOST_TEST(o[2] == "o2");
  BOOST_TEST(o[3] == ".m.rule.suppress_notices");
  auto u = ids(rs, rule_kind::underride);
  BOOST_TEST(u.front() == "u1");
  BOOST_TEST(u[1] == ".m.rule.call");
  // Kinds in order: override, content, room, sender, underride.
  std::vector<rule_kind> order;
  for (const auto& r : rs.rules())
    if (order.empty() || order.back() != r.kind) order.push_back(r.kind);
  BOOST_TEST((order == std::vector<rule_kind>{rule_kind::override_rule, rule_kind::content, rule_kind::room,
                                              rule_kind::sender, rule_kind::underride}));
  // o1 has no conditions: it matches everything and silences it (master stays disabled).
  BOOST_TEST(first_match(rs, message) == "o1");
  rule_set without_o1("@me:hs", {mine[3], mine[4], mine[5]});
  BOOST_TEST(first_match(without_o1, message) == "!r:hs");  // room rule before the sender rule
  rule_set sender_only("@me:hs", {mine[4], mine[5]});
  BOOST_TEST(first_match(sender_only, message) == "@bob:hs");
  BOOST_TEST(first_match(sender_only, obj(R"({"type": "m.room.message", "sender": "@carol:hs",
      "content": {"body": "more cake please"}})")) == "c1");
  // The client format of each kind.
  auto j = rs.to_json();
  auto content = j.at("content").as_array()[0].as_object();
  BOOST_TEST(content.at("pattern").as_string() == "cake");
  BOOST_TEST(!content.contains("conditions"));
  BOOST_TEST(!content.at("default").as_bool());
  BOOST_TEST(!j.at("room").as_array()[0].as_object().contains("conditions"));
}

BOOST_AUTO_TEST_CASE(master_rule_and_default_overrides) {
  std::map<override_key, default_override> overrides;
  overrides[{rule_kind::override_rule, ".m.rule.master"}].enabled = true;
  rule_set muted("@me:hs", {}, overrides);
  auto* a = evaluate(muted, {message, 3, {}, nullptr, 0});
  BOOST_REQUIRE(a);
  BOOST_TEST(a->empty());
  BOOST_TEST(!notify(*a));

  std::map<override_key, default_override> loud;
  loud[{rule_kind::underride, ".m.rule.message"}].actions = json::array{"notify", json::object{{"set_tweak", "highlight"}}};
  loud[{rule_kind::override_rule, ".m.rule.suppress_notices"}].enabled = false;
  rule_set rs("@me:hs", {}, loud);
  auto* b = evaluate(rs, {message, 3, {}, nullptr, 0});
  BOOST_TEST(highlight(*b));
  BOOST_TEST(rs.find(rule_kind::underride, ".m.rule.message")->is_default);
  auto notice = obj(R"({"type": "m.room.message", "content": {"msgtype": "m.notice", "body": "x"}})");
  BOOST_TEST(notify(*evaluate(rs, {notice, 3, {}, nullptr, 0})));  // suppress_notices is off
}

BOOST_AUTO_TEST_CASE(actions_helpers) {
  auto a = json::parse(R"(["notify", {"set_tweak": "sound", "value": "ring"}, {"set_tweak": "highlight"}])").as_array();
  BOOST_TEST(notify(a));
  BOOST_TEST(highlight(a));
  BOOST_TEST(*sound(a) == "ring");
  auto b = json::parse(R"(["dont_notify", {"set_tweak": "highlight", "value": false}])").as_array();
  BOOST_TEST(!notify(b));
  BOOST_TEST(!highlight(b));
  BOOST_TEST(!sound(b));
}

BOOST_AUTO_TEST_CASE(rule_bodies_from_clients) {
  BOOST_CHECK_THROW(check_user_rule_id(".mine"), matrix_error);
  BOOST_CHECK_THROW(check_user_rule_id(""), matrix_error);
  BOOST_CHECK_THROW(check_user_rule_id("a/b"), matrix_error);
  BOOST_CHECK_THROW(check_user_rule_id("a\\b"), matrix_error);
  check_user_rule_id("!room:hs");
  auto bad = [](rule_kind k, std::string_view body) {
    try {
      parse_user_rule(k, "x", obj(body));
    } catch (const matrix_error& e) {
      return e.status() == 400 && e.errcode() == "M_BAD_JSON";
    }
    return false;
  };
  BOOST_TEST(bad(rule_kind::override_rule, R"({})"));
  BOOST_TEST(bad(rule_kind::override_rule, R"({"actions": "notify"})"));
  BOOST_TEST(bad(rule_kind::override_rule, R"({"actions": ["explode"]})"));
  BOOST_TEST(bad(rule_kind::override_rule, R"({"actions": [{"value": 1}]})"));
  BOOST_TEST(bad(rule_kind::override_rule, R"({"actions": [], "conditions": {}})"));
  BOOST_TEST(bad(rule_kind::override_rule, R"({"actions": [], "conditions": [{"key": "type"}]})"));
  BOOST_TEST(bad(rule_kind::override_rule, R"({"actions": [], "conditions": [{"kind": "event_match", "key": "type"}]})"));
  BOOST_TEST(bad(rule_kind::underride, R"({"actions": [], "conditions": [{"kind": "room_member_count", "is": "x"}]})"));
  BOOST_TEST(bad(rule_kind::underride,
                 R"({"actions": [], "conditions": [{"kind": "event_property_is", "key": "a", "value": [1]}]})"));
  BOOST_TEST(bad(rule_kind::content, R"({"actions": []})"));
  // Unknown condition kinds are kept (they never match); historical actions are dropped.
  auto r = parse_user_rule(rule_kind::override_rule, "x",
                           obj(R"({"actions": ["notify", "coalesce", "dont_notify"], "conditions": [{"kind": "new"}]})"));
  BOOST_TEST(r.actions.size() == 1u);
  BOOST_TEST(r.conditions.size() == 1u);
  BOOST_TEST(r.enabled);
  BOOST_TEST(!r.is_default);
  auto content = parse_user_rule(rule_kind::content, "c", obj(R"({"actions": [], "pattern": "cake*lie"})"));
  BOOST_TEST(*content.pattern == "cake*lie");
  BOOST_TEST(body_matches(*content.pattern, "the cake is a lie"));
}

BOOST_AUTO_TEST_SUITE_END()
