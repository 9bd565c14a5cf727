// protocol/auth_rules, power_levels, room_versions and pdu against the spec's authorization rules
// (rooms/v1 … v11): each case builds a small room event by event (ids chosen by the test, no real
// hashes or signatures) and checks that the rules allow or reject the next event, and why.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <deque>
#include <optional>
#include <string>

#include "protocol/auth_rules.hpp"
#include "protocol/crypto.hpp"
#include "protocol/json.hpp"
#include "protocol/pdu.hpp"
#include "protocol/power_levels.hpp"
#include "protocol/room_versions.hpp"
#include "protocol/signing.hpp"
#include "protocol/signing_key.hpp"

using namespace myelin::protocol;
namespace json = boost::json;

namespace {

const std::string room_id = "!room:example.org";
const std::string alice = "@alice:example.org";  // the creator
const std::string bob = "@bob:example.org";
const std::string carol = "@carol:other.org";
const std::string dave = "@dave:other.org";

json::object obj(std::string_view text) { return parse_value(text).as_object(); }

const room_version& version(std::string_view id) {
  const room_version* v = find_room_version(id);
  BOOST_REQUIRE(v);
  return *v;
}

// One room: the events made so far (stable addresses) and its current state. `send` checks an
// event against the state and applies it when allowed, as a persister would.
struct test_room {
  const room_version& v;
  std::deque<pdu> events;
  auth_state state;
  std::string last_id;
  int counter = 0;

  explicit test_room(std::string_view version_id) : v(version(version_id)) {}

  pdu make(std::string_view type, std::string_view sender, json::object content,
           std::optional<std::string_view> state_key = std::nullopt) {
    pdu p;
    p.event_id = "$e" + std::to_string(++counter) + ":example.org";
    p.json["type"] = type;
    p.json["sender"] = sender;
    p.json["room_id"] = room_id;
    p.json["content"] = std::move(content);
    p.json["origin_server_ts"] = counter;
    p.json["depth"] = counter;
    json::array prevs;
    if (!last_id.empty()) prevs.emplace_back(last_id);
    p.json["prev_events"] = std::move(prevs);
    p.json["auth_events"] = json::array{};
    if (state_key) p.json["state_key"] = *state_key;
    return p;
  }
  pdu member(std::string_view sender, std::string_view target, std::string_view membership,
             json::object extra = {}) {
    extra["membership"] = membership;
    return make("m.room.member", sender, std::move(extra), target);
  }

  std::optional<std::string> check(const pdu& p) const { return check_auth(v, p, state); }
  std::optional<std::string> send(pdu p) {
    auto why = check(p);
    if (!why) apply(std::move(p));
    return why;
  }
  void apply(pdu p) {
    events.push_back(std::move(p));
    const pdu& e = events.back();
    last_id = e.event_id;
    if (auto key = e.state_key()) state[state_key_pair(e.type(), *key)] = &e;
  }

  // create, the creator's join, power levels (alice 100 plus `users`), join rules.
  void setup(std::string_view join_rule = "public", json::object pl_extra = {}) {
    json::object create;
    if (!v.implicit_room_creator) create["creator"] = alice;
    create["room_version"] = v.id;
    must(make("m.room.create", alice, create, ""));
    must(member(alice, alice, "join"));
    json::object pl = pl_extra;
    if (!pl.contains("users")) pl["users"] = json::object{{alice, 100}};
    must(make("m.room.power_levels", alice, pl, ""));
    must(make("m.room.join_rules", alice, json::object{{"join_rule", join_rule}}, ""));
  }
  void must(pdu p) {
    auto why = send(std::move(p));
    BOOST_REQUIRE_MESSAGE(!why, "setup event rejected: " << why.value_or(""));
  }
};

#define ALLOWED(expr)                                                          \
  do {                                                                         \
    auto why_ = (expr);                                                        \
    BOOST_CHECK_MESSAGE(!why_, #expr " rejected: " << why_.value_or(""));      \
  } while (0)
#define REJECTED(expr)                                                         \
  do {                                                                         \
    auto why_ = (expr);                                                        \
    BOOST_CHECK_MESSAGE(why_.has_value(), #expr " was allowed");               \
  } while (0)

} // namespace

BOOST_AUTO_TEST_SUITE(auth_rules_tests)

BOOST_AUTO_TEST_CASE(room_version_table) {
  BOOST_TEST(known_room_versions().size() == 11u);
  BOOST_TEST(!find_room_version("12"));
  BOOST_TEST(!find_room_version(""));
  BOOST_TEST((version("1").event_ids == event_id_format::server_made && version("1").state_resolution == 1));
  BOOST_TEST((version("2").event_ids == event_id_format::server_made && version("2").state_resolution == 2));
  BOOST_TEST((version("3").event_ids == event_id_format::base64));
  BOOST_TEST((version("4").event_ids == event_id_format::url_safe_base64));
  BOOST_TEST(version("5").special_case_aliases_auth);
  BOOST_TEST(!version("6").special_case_aliases_auth);
  BOOST_TEST((version("6").strict_canonical_json && version("6").limit_notifications_power_levels));
  BOOST_TEST((!version("6").knock && version("7").knock));
  BOOST_TEST((!version("7").restricted_join && version("8").restricted_join));
  BOOST_TEST((!version("9").knock_restricted && version("10").knock_restricted));
  BOOST_TEST((!version("9").integer_power_levels && version("10").integer_power_levels));
  BOOST_TEST((!version("10").implicit_room_creator && version("11").implicit_room_creator));
  for (const auto& v : known_room_versions()) BOOST_TEST(v.stable);
}

BOOST_AUTO_TEST_CASE(pdu_accessors_read_both_formats) {
  pdu v1{"$a:x", obj(R"({"type": "m.room.member", "state_key": "@u:x", "sender": "@u:x", "room_id": "!r:x",
                        "content": {"membership": "join"}, "depth": 4, "origin_server_ts": 1.5e3,
                        "prev_events": [["$p1:x", {"sha256": "h"}], ["$p2:x", {}]],
                        "auth_events": [["$c:x", {}]]})")};
  BOOST_TEST(v1.prev_events() == (std::vector<std::string>{"$p1:x", "$p2:x"}));
  BOOST_TEST(v1.auth_events() == (std::vector<std::string>{"$c:x"}));
  BOOST_TEST(v1.membership() == "join");
  BOOST_TEST(v1.depth() == 4);
  BOOST_TEST(v1.origin_server_ts() == 1500);
  BOOST_TEST(v1.is_state());

  pdu v4{"$b", obj(R"({"type": "m.room.redaction", "sender": "@u:x", "content": {"redacts": "$in_content"},
                      "prev_events": ["$p"], "auth_events": ["$c", "$pl"]})")};
  BOOST_TEST(v4.prev_events() == (std::vector<std::string>{"$p"}));
  BOOST_TEST(v4.auth_events() == (std::vector<std::string>{"$c", "$pl"}));
  BOOST_TEST(!v4.is_state());
  BOOST_TEST(v4.membership() == "");
  BOOST_TEST(v4.redacts().value() == "$in_content");  // v11 layout
  v4.json["redacts"] = "$top";
  BOOST_TEST(v4.redacts().value() == "$top");  // v1–10 layout
  pdu empty{"$c", {}};
  BOOST_TEST(empty.content().empty());
  BOOST_TEST(empty.type() == "");
  BOOST_TEST(!empty.state_key());
  BOOST_TEST(!empty.redacts());
}

BOOST_AUTO_TEST_CASE(power_level_defaults_and_parsing) {
  const auto& v9 = version("9");
  const auto& v10 = version("10");
  // No power levels event: the creator 100, others 0, state needs 50, messages 0.
  pdu create{"$c", obj(R"({"type": "m.room.create", "sender": "@a:x", "content": {"creator": "@a:x"}})")};
  auto pl = effective_power_levels(nullptr, &create, v9);
  BOOST_TEST(pl.user_level("@a:x") == 100);
  BOOST_TEST(pl.user_level("@b:x") == 0);
  BOOST_TEST(pl.event_level("m.room.topic", true) == 50);
  BOOST_TEST(pl.event_level("m.room.message", false) == 0);
  BOOST_TEST((pl.ban == 50 && pl.kick == 50 && pl.redact == 50 && pl.invite == 0 && pl.notifications_room == 50));
  // v11: the sender is the creator, content.creator means nothing.
  pdu create11{"$c", obj(R"({"type": "m.room.create", "sender": "@a:x", "content": {"creator": "@b:x"}})")};
  auto pl11 = effective_power_levels(nullptr, &create11, version("11"));
  BOOST_TEST(pl11.user_level("@a:x") == 100);
  BOOST_TEST(pl11.user_level("@b:x") == 0);

  auto content = obj(R"({"ban": "75", "kick": " +060 ", "users": {"@u:x": "20", "@w:x": 30},
                         "users_default": 5, "events": {"m.room.name": "40"}, "state_default": "x",
                         "notifications": {"room": 10}})");
  auto p9 = parse_power_levels(content, v9);
  BOOST_TEST(p9.ban == 75);
  BOOST_TEST(p9.kick == 60);
  BOOST_TEST(p9.user_level("@u:x") == 20);
  BOOST_TEST(p9.user_level("@w:x") == 30);
  BOOST_TEST(p9.user_level("@nobody:x") == 5);
  BOOST_TEST(p9.event_level("m.room.name", true) == 40);
  BOOST_TEST(p9.state_default == 50);  // unreadable: the default
  BOOST_TEST(p9.notifications_room == 10);
  auto p10 = parse_power_levels(content, v10);
  BOOST_TEST(p10.ban == 50);  // strings are not power levels in v10
  BOOST_TEST(p10.user_level("@u:x") == 5);
  BOOST_TEST(p10.user_level("@w:x") == 30);

  // Floats only where canonical JSON is not enforced.
  json::value f = 50.9;
  BOOST_TEST(parse_power_level_value(f, version("5")).value() == 50);
  BOOST_TEST(!parse_power_level_value(f, version("6")));
  BOOST_TEST(!parse_power_level_value(json::value("5 0"), v9));
  BOOST_TEST(!parse_power_level_value(json::value("99999999999999999999"), v9));
  BOOST_TEST(parse_power_level_value(json::value("-7"), v9).value() == -7);
}

BOOST_AUTO_TEST_CASE(create_event_rules) {
  test_room r("10");
  ALLOWED(r.check(r.make("m.room.create", alice, obj(R"({"creator": "@alice:example.org"})"), "")));
  // No creator before v11.
  REJECTED(r.check(r.make("m.room.create", alice, obj("{}"), "")));
  // Room id domain must be the sender's.
  REJECTED(r.check(r.make("m.room.create", carol, obj(R"({"creator": "@carol:other.org"})"), "")));
  // Unknown room_version.
  REJECTED(r.check(
      r.make("m.room.create", alice, obj(R"({"creator": "@alice:example.org", "room_version": "99"})"), "")));
  // prev_events must be empty.
  auto with_prev = r.make("m.room.create", alice, obj(R"({"creator": "@alice:example.org"})"), "");
  with_prev.json["prev_events"] = json::array{"$earlier"};
  REJECTED(r.check(with_prev));

  test_room r11("11");
  ALLOWED(r11.check(r11.make("m.room.create", alice, obj("{}"), "")));

  // Everything else needs a create event in its auth state.
  test_room empty("10");
  REJECTED(empty.check(empty.member(alice, alice, "join")));
}

BOOST_AUTO_TEST_CASE(creator_first_join_and_implicit_creator) {
  for (std::string_view id : {"10", "11"}) {
    test_room r(id);
    json::object create;
    if (id == "10") create["creator"] = alice;
    r.must(r.make("m.room.create", alice, create, ""));
    // Someone else cannot take the creator's place right after the create event.
    REJECTED(r.check(r.member(bob, bob, "join")));
    ALLOWED(r.send(r.member(alice, alice, "join")));
    // Without a power levels event the creator has 100: state events pass, others' do not.
    ALLOWED(r.check(r.make("m.room.topic", alice, obj(R"({"topic": "t"})"), "")));
  }
  // v11 ignores content.creator: a create naming bob still makes alice (the sender) creator.
  test_room r("11");
  r.must(r.make("m.room.create", alice, obj(R"({"creator": "@bob:example.org"})"), ""));
  REJECTED(r.check(r.member(bob, bob, "join")));
  ALLOWED(r.send(r.member(alice, alice, "join")));
  ALLOWED(r.check(r.make("m.room.name", alice, obj(R"({"name": "n"})"), "")));
  // …and in v10 content.creator is what counts.
  test_room r10("10");
  r10.must(r10.make("m.room.create", alice, obj(R"({"creator": "@bob:example.org"})"), ""));
  REJECTED(r10.check(r10.member(alice, alice, "join")));
}

BOOST_AUTO_TEST_CASE(joins_in_public_and_invite_rooms) {
  test_room pub("10");
  pub.setup("public");
  ALLOWED(pub.send(pub.member(bob, bob, "join")));
  REJECTED(pub.check(pub.member(bob, carol, "join")));  // not on someone else's behalf
  ALLOWED(pub.send(pub.member(alice, carol, "ban")));
  REJECTED(pub.check(pub.member(carol, carol, "join")));  // banned

  test_room priv("10");
  priv.setup("invite");
  REJECTED(priv.check(priv.member(bob, bob, "join")));
  ALLOWED(priv.send(priv.member(alice, bob, "invite")));
  ALLOWED(priv.send(priv.member(bob, bob, "join")));
  ALLOWED(priv.check(priv.member(bob, bob, "join")));  // already joined: a profile change
  // Unknown join rule: nobody new gets in.
  test_room odd("10");
  odd.setup("private");
  REJECTED(odd.check(odd.member(bob, bob, "join")));
}

BOOST_AUTO_TEST_CASE(invites_need_membership_and_power) {
  test_room r("10");
  r.setup("invite", obj(R"({"invite": 50})"));
  ALLOWED(r.send(r.member(alice, bob, "invite")));
  ALLOWED(r.send(r.member(bob, bob, "join")));
  REJECTED(r.check(r.member(bob, carol, "invite")));  // bob has 0 < invite 50
  REJECTED(r.check(r.member(carol, dave, "invite")));  // carol is not in the room
  REJECTED(r.check(r.member(alice, bob, "invite")));  // bob is already joined
  ALLOWED(r.send(r.member(alice, carol, "ban")));
  REJECTED(r.check(r.member(alice, carol, "invite")));  // carol is banned

  // With the default invite level (0) any member may invite.
  test_room open("10");
  open.setup("public");
  ALLOWED(open.send(open.member(bob, bob, "join")));
  ALLOWED(open.check(open.member(bob, carol, "invite")));
}

BOOST_AUTO_TEST_CASE(leave_kick_ban_unban) {
  test_room r("10");
  r.setup("public", obj(R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50}})"));
  ALLOWED(r.send(r.member(bob, bob, "join")));
  ALLOWED(r.send(r.member(carol, carol, "join")));
  ALLOWED(r.send(r.member(dave, dave, "join")));
  REJECTED(r.check(r.member(carol, dave, "leave")));  // kick needs 50
  REJECTED(r.check(r.member(carol, dave, "ban")));    // ban needs 50
  REJECTED(r.check(r.member(bob, alice, "ban")));     // not above the target
  REJECTED(r.check(r.member(bob, alice, "leave")));
  ALLOWED(r.send(r.member(bob, dave, "leave")));  // kick
  ALLOWED(r.send(r.member(bob, carol, "ban")));
  REJECTED(r.check(r.member(carol, carol, "leave")));  // banned: cannot leave
  REJECTED(r.check(r.member(dave, dave, "leave")));    // already left
  ALLOWED(r.send(r.member(alice, carol, "leave")));    // unban
  ALLOWED(r.send(r.member(bob, bob, "leave")));        // self leave
  REJECTED(r.check(r.member(bob, dave, "ban")));       // bob left: not in room

  // Unbanning needs the ban level, not just the kick level.
  test_room u("10");
  u.setup("public", obj(R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50}, "ban": 75})"));
  ALLOWED(u.send(u.member(bob, bob, "join")));
  ALLOWED(u.send(u.member(alice, carol, "ban")));
  REJECTED(u.check(u.member(bob, carol, "leave")));
  // An invited user may decline.
  ALLOWED(u.send(u.member(alice, dave, "invite")));
  ALLOWED(u.check(u.member(dave, dave, "leave")));
}

BOOST_AUTO_TEST_CASE(knocking_from_v7) {
  test_room r("7");
  r.setup("knock");
  ALLOWED(r.send(r.member(bob, bob, "knock")));
  REJECTED(r.check(r.member(carol, bob, "knock")));  // only for oneself
  REJECTED(r.check(r.member(bob, bob, "join")));     // a knock is not an invite
  ALLOWED(r.check(r.member(bob, bob, "leave")));     // rescinding the knock
  ALLOWED(r.send(r.member(alice, bob, "invite")));
  REJECTED(r.check(r.member(bob, bob, "knock")));  // already invited
  ALLOWED(r.send(r.member(bob, bob, "join")));

  test_room pub("7");
  pub.setup("public");
  REJECTED(pub.check(pub.member(bob, bob, "knock")));  // join rule is not knock

  // Before v7 knock is an unknown membership, and the knock join rule admits no one.
  test_room v6("6");
  v6.setup("knock");
  REJECTED(v6.check(v6.member(bob, bob, "knock")));
  ALLOWED(v6.send(v6.member(alice, bob, "invite")));
  REJECTED(v6.check(v6.member(bob, bob, "join")));
}

BOOST_AUTO_TEST_CASE(restricted_joins_from_v8) {
  const json::object pl = obj(R"({"users": {"@alice:example.org": 100, "@bob:example.org": 10}, "invite": 50})");
  auto via = [](const std::string& user) { return json::object{{"join_authorised_via_users_server", user}}; };
  for (std::string_view id : {"8", "10"}) {
    test_room r(id);
    r.setup("restricted", pl);
    ALLOWED(r.send(r.member(bob, bob, "join", via(alice))));
    REJECTED(r.check(r.member(carol, carol, "join")));               // no authorising user
    ALLOWED(r.check(r.member(carol, carol, "join", via(alice))));    // alice: joined, may invite
    REJECTED(r.check(r.member(carol, carol, "join", via(bob))));     // bob may not invite
    REJECTED(r.check(r.member(carol, carol, "join", via(dave))));    // dave is not in the room
    ALLOWED(r.send(r.member(alice, dave, "invite")));
    ALLOWED(r.check(r.member(dave, dave, "join")));  // invited: no authorisation needed
  }
  // Before v8 the rule does not exist.
  test_room r7("7");
  r7.setup("restricted", pl);
  REJECTED(r7.check(r7.member(carol, carol, "join", via(alice))));

  // knock_restricted (v10): knock or restricted join, both.
  test_room r10("10");
  r10.setup("knock_restricted", pl);
  ALLOWED(r10.check(r10.member(carol, carol, "knock")));
  ALLOWED(r10.check(r10.member(carol, carol, "join", via(alice))));
  REJECTED(r10.check(r10.member(carol, carol, "join")));
  test_room r9("9");
  r9.setup("knock_restricted", pl);
  REJECTED(r9.check(r9.member(carol, carol, "knock")));
  REJECTED(r9.check(r9.member(carol, carol, "join", via(alice))));

  // auth_types_for_event names the authorising user's membership only where the rule exists.
  auto join = r10.member(carol, carol, "join", via(alice));
  auto types = auth_types_for_event(version("10"), join);
  BOOST_TEST((std::find(types.begin(), types.end(), state_key_pair("m.room.member", alice)) != types.end()));
  types = auth_types_for_event(version("7"), join);
  BOOST_TEST((std::find(types.begin(), types.end(), state_key_pair("m.room.member", alice)) == types.end()));
}

BOOST_AUTO_TEST_CASE(non_members_and_power_for_events) {
  test_room r("10");
  r.setup("public", obj(R"({"users": {"@alice:example.org": 100}, "events": {"m.room.name": 0, "m.custom": 20}})"));
  REJECTED(r.check(r.make("m.room.message", bob, obj(R"({"body": "hi"})"))));  // not joined
  ALLOWED(r.send(r.member(bob, bob, "join")));
  ALLOWED(r.check(r.make("m.room.message", bob, obj(R"({"body": "hi"})"))));
  REJECTED(r.check(r.make("m.room.topic", bob, obj(R"({"topic": "t"})"), "")));  // state_default 50
  ALLOWED(r.check(r.make("m.room.name", bob, obj(R"({"name": "n"})"), "")));     // events override
  REJECTED(r.check(r.make("m.custom", bob, obj("{}"))));                          // message type at 20
  ALLOWED(r.check(r.make("m.room.topic", alice, obj(R"({"topic": "t"})"), "")));
  REJECTED(r.check(r.make("m.room.third_party_invite", carol, obj("{}"), "tok")));  // not joined
}

BOOST_AUTO_TEST_CASE(state_keys_naming_users) {
  test_room r("10");
  r.setup("public", obj(R"({"users": {"@alice:example.org": 100}, "state_default": 0})"));
  ALLOWED(r.send(r.member(bob, bob, "join")));
  ALLOWED(r.check(r.make("m.custom.state", bob, obj("{}"), bob)));
  REJECTED(r.check(r.make("m.custom.state", bob, obj("{}"), alice)));
  REJECTED(r.check(r.make("m.custom.state", alice, obj("{}"), bob)));  // power does not help
  ALLOWED(r.check(r.make("m.custom.state", bob, obj("{}"), "not-a-user")));
}

BOOST_AUTO_TEST_CASE(redactions_by_version) {
  // v1–2: the redact level, or the same domain in the event ids.
  test_room r1("1");
  r1.setup("public");
  ALLOWED(r1.send(r1.member(bob, bob, "join")));
  auto redaction = [&](test_room& r, std::string_view sender, std::string_view target, std::string_view event_id) {
    auto p = r.make("m.room.redaction", sender, obj("{}"));
    p.event_id = event_id;
    p.json["redacts"] = target;
    return p;
  };
  REJECTED(r1.check(redaction(r1, bob, "$theirs:other.org", "$red:example.org")));
  ALLOWED(r1.check(redaction(r1, bob, "$mine:example.org", "$red:example.org")));
  ALLOWED(r1.check(redaction(r1, alice, "$theirs:other.org", "$red:example.org")));

  // v3+: the redact level is not an auth rule; only the event type's level is.
  test_room r3("3");
  r3.setup("public");
  ALLOWED(r3.send(r3.member(bob, bob, "join")));
  ALLOWED(r3.check(redaction(r3, bob, "$theirs", "$red")));
  test_room strict("10");
  strict.setup("public", obj(R"({"users": {"@alice:example.org": 100}, "events": {"m.room.redaction": 50}})"));
  ALLOWED(strict.send(strict.member(bob, bob, "join")));
  REJECTED(strict.check(redaction(strict, bob, "$x", "$red")));
  ALLOWED(strict.check(redaction(strict, alice, "$x", "$red")));
}

BOOST_AUTO_TEST_CASE(power_level_changes) {
  test_room r("10");
  r.setup("public", obj(R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50, "@carol:other.org": 50}})"));
  ALLOWED(r.send(r.member(bob, bob, "join")));
  ALLOWED(r.send(r.member(carol, carol, "join")));
  auto pl = [&](std::string_view sender, std::string_view content) {
    return r.make("m.room.power_levels", sender, obj(content), "");
  };
  // bob (50) needs state_default 50 to send power levels at all: fine. Then what he may change:
  REJECTED(r.check(pl(bob, R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50, "@carol:other.org": 50,
                                        "@dave:other.org": 60}})")));   // above himself
  ALLOWED(r.check(pl(bob, R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50, "@carol:other.org": 50,
                                       "@dave:other.org": 50}})")));    // up to himself
  // carol is his equal: he cannot remove her…
  REJECTED(r.check(pl(bob, R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50}})")));
  // …but he may lower himself…
  ALLOWED(r.check(pl(bob, R"({"users": {"@alice:example.org": 100, "@bob:example.org": 10,
                                       "@carol:other.org": 50}})")));
  // …and not touch alice.
  REJECTED(r.check(pl(bob, R"({"users": {"@alice:example.org": 0, "@bob:example.org": 50,
                                        "@carol:other.org": 50}})")));
  REJECTED(r.check(pl(bob, R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50, "@carol:other.org": 50},
                              "ban": 60})")));
  ALLOWED(r.check(pl(bob, R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50, "@carol:other.org": 50},
                             "kick": 40, "events": {"m.room.name": 50}})")));
  ALLOWED(r.check(pl(alice, R"({"users": {"@alice:example.org": 100}})")));
  REJECTED(r.check(pl(alice, R"({"users": {"not a user id": 10}})")));
  REJECTED(r.check(pl(alice, R"({"users": []})")));
  // bob cannot drop the level of an event type set above him.
  ALLOWED(r.send(pl(alice, R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50, "@carol:other.org": 50},
                              "events": {"m.room.tombstone": 100}})")));
  REJECTED(r.check(pl(bob, R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50,
                                        "@carol:other.org": 50}})")));
}

BOOST_AUTO_TEST_CASE(notifications_levels_from_v6) {
  const char* base = R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50}, "notifications": {"room": 80}})";
  const char* lowered =
      R"({"users": {"@alice:example.org": 100, "@bob:example.org": 50}, "notifications": {"room": 10}})";
  test_room r6("6");
  r6.setup("public", obj(base));
  ALLOWED(r6.send(r6.member(bob, bob, "join")));
  REJECTED(r6.check(r6.make("m.room.power_levels", bob, obj(lowered), "")));
  test_room r5("5");
  r5.setup("public", obj(base));
  ALLOWED(r5.send(r5.member(bob, bob, "join")));
  ALLOWED(r5.check(r5.make("m.room.power_levels", bob, obj(lowered), "")));
}

BOOST_AUTO_TEST_CASE(string_power_levels_v9_versus_v10) {
  const char* stringy = R"({"users": {"@alice:example.org": "100"}, "ban": "50"})";
  test_room r9("9");
  r9.setup("public");
  ALLOWED(r9.check(r9.make("m.room.power_levels", alice, obj(stringy), "")));
  test_room r10("10");
  r10.setup("public");
  REJECTED(r10.check(r10.make("m.room.power_levels", alice, obj(stringy), "")));
  REJECTED(r10.check(r10.make("m.room.power_levels", alice,
                              obj(R"({"users": {"@alice:example.org": 100}, "events": {"m.room.name": "50"}})"), "")));
  REJECTED(r10.check(
      r10.make("m.room.power_levels", alice, obj(R"({"users": {"@alice:example.org": 100}, "events": []})"), "")));
  ALLOWED(r10.check(
      r10.make("m.room.power_levels", alice, obj(R"({"users": {"@alice:example.org": 100}, "ban": 50})"), "")));
  // A v9 room whose power levels are strings still grants them.
  test_room s9("9");
  s9.setup("public", obj(R"({"users": {"@alice:example.org": "100", "@bob:example.org": "50"}})"));
  ALLOWED(s9.send(s9.member(bob, bob, "join")));
  ALLOWED(s9.send(s9.member(carol, carol, "join")));
  ALLOWED(s9.check(s9.member(bob, carol, "ban")));
}

BOOST_AUTO_TEST_CASE(aliases_special_case_until_v5) {
  test_room r5("5");
  r5.setup("public");
  ALLOWED(r5.check(r5.make("m.room.aliases", carol, obj(R"({"aliases": []})"), "other.org")));  // not even a member
  REJECTED(r5.check(r5.make("m.room.aliases", carol, obj(R"({"aliases": []})"), "example.org")));
  test_room r6("6");
  r6.setup("public");
  REJECTED(r6.check(r6.make("m.room.aliases", carol, obj(R"({"aliases": []})"), "other.org")));
  ALLOWED(r6.check(r6.make("m.room.aliases", alice, obj(R"({"aliases": []})"), "example.org")));
}

BOOST_AUTO_TEST_CASE(unfederated_rooms) {
  test_room r("10");
  r.must(r.make("m.room.create", alice, obj(R"({"creator": "@alice:example.org", "m.federate": false})"), ""));
  r.must(r.member(alice, alice, "join"));
  r.must(r.make("m.room.join_rules", alice, obj(R"({"join_rule": "public"})"), ""));
  ALLOWED(r.check(r.member(bob, bob, "join")));
  REJECTED(r.check(r.member(carol, carol, "join")));
}

BOOST_AUTO_TEST_CASE(third_party_invites) {
  crypto_init();
  const signing_key id_server = generate_signing_key();
  test_room r("10");
  r.setup("invite");
  json::object tpi_content;
  tpi_content["display_name"] = "c...@example.com";
  tpi_content["key_validity_url"] = "https://id.example/validity";
  tpi_content["public_key"] = base64_encode_unpadded(id_server.public_key);
  ALLOWED(r.send(r.make("m.room.third_party_invite", alice, tpi_content, "tok123")));

  auto invite = [&](std::string_view sender, std::string_view mxid, std::string_view token, bool sign) {
    json::object signed_block{{"mxid", mxid}, {"token", token}};
    if (sign) sign_json(signed_block, "id.example", id_server);
    json::object content;
    content["third_party_invite"] = json::object{{"display_name", "c..."}, {"signed", signed_block}};
    return r.member(sender, carol, "invite", content);
  };
  ALLOWED(r.check(invite(alice, carol, "tok123", true)));
  REJECTED(r.check(invite(alice, carol, "tok123", false)));  // unsigned
  REJECTED(r.check(invite(alice, dave, "tok123", true)));    // mxid is not the state_key
  REJECTED(r.check(invite(alice, carol, "other", true)));    // no such invite event
  auto tampered = invite(alice, carol, "tok123", true);
  tampered.json["content"].as_object()["third_party_invite"].as_object()["signed"].as_object()["mxid"] = dave;
  tampered.json["state_key"] = dave;
  REJECTED(r.check(tampered));  // signature no longer matches

  auto types = auth_types_for_event(r.v, invite(alice, carol, "tok123", true));
  BOOST_TEST((std::find(types.begin(), types.end(), state_key_pair("m.room.third_party_invite", "tok123")) !=
              types.end()));

  // Sending m.room.third_party_invite needs the invite level.
  test_room high("10");
  high.setup("public", obj(R"({"users": {"@alice:example.org": 100}, "invite": 50})"));
  ALLOWED(high.send(high.member(bob, bob, "join")));
  REJECTED(high.check(high.make("m.room.third_party_invite", bob, tpi_content, "t")));
  ALLOWED(high.check(high.make("m.room.third_party_invite", alice, tpi_content, "t")));
}

BOOST_AUTO_TEST_CASE(auth_event_selection) {
  test_room r("10");
  r.setup("public");
  auto join = r.member(bob, bob, "join");
  auto types = auth_types_for_event(r.v, join);
  BOOST_TEST(types.size() == 4u);  // create, power levels, bob's member, join rules (bob twice, once)
  auto msg = r.make("m.room.message", bob, obj("{}"));
  BOOST_TEST(auth_types_for_event(r.v, msg).size() == 3u);
  BOOST_TEST(auth_types_for_event(r.v, r.events.front()).empty());

  const pdu* create = r.state.at({"m.room.create", ""});
  const pdu* pl = r.state.at({"m.room.power_levels", ""});
  const pdu* rules = r.state.at({"m.room.join_rules", ""});
  const pdu* alice_member = r.state.at({"m.room.member", alice});
  ALLOWED(check_auth_events(r.v, join, {create, pl, rules}));
  REJECTED(check_auth_events(r.v, join, {pl, rules}));               // no create
  REJECTED(check_auth_events(r.v, join, {create, pl, pl}));          // duplicate
  REJECTED(check_auth_events(r.v, join, {create, alice_member}));    // not selected for bob's join
  REJECTED(check_auth_events(r.v, msg, {create, rules}));            // join rules only for members
  pdu elsewhere = *create;
  elsewhere.json["room_id"] = "!other:example.org";
  REJECTED(check_auth_events(r.v, join, {&elsewhere}));
  ALLOWED(check_auth_events(r.v, r.events.front(), {}));
  REJECTED(check_auth_events(r.v, r.events.front(), {create}));

  // The state an event is checked against must come from its room.
  auth_state foreign = r.state;
  foreign[{"m.room.create", ""}] = &elsewhere;
  REJECTED(check_auth(r.v, msg, foreign));
}

BOOST_AUTO_TEST_SUITE_END()
