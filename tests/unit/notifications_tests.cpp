// Push rules and notification counts in storage, on SQLite and PostgreSQL: the push_rules stream's
// operations (placement with before/after, changes to defaults, errors), the events persister
// recording push actions as it appends (who is notified, highlights, ignored senders, muted rooms,
// invites, threads), unread counts after read receipts (threaded and not, m.read vs
// m.read.private), and the /notifications pages.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/errors.hpp"
#include "protocol/signing_key.hpp"
#include "storage/streams/events_stream.hpp"
#include "storage/streams/stream_definition.hpp"
#include "storage/tables/notifications.hpp"
#include "storage/tables/push_rules.hpp"
#include "storage_fixture.hpp"

using namespace myelin::storage;
using namespace myelin::test;
using myelin::protocol::matrix_error;
namespace json = boost::json;
namespace push = myelin::protocol::push;

namespace {

void put_receipt(connection& c, const std::string& room_id, const std::string& type, const std::string& user_id,
                 const std::string& thread_id, const std::string& event_id) {
  c.exec("INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, data, position) "
         "VALUES ($1, $2, $3, $4, $5, '{}', 1) ON CONFLICT (room_id, receipt_type, user_id, thread_id) "
         "DO UPDATE SET event_id = excluded.event_id",
         {room_id, type, user_id, thread_id, event_id});
}

using writer = stream_runner;

json::object state(const std::string& type, const std::string& key, json::object content, const std::string& sender) {
  return {{"type", type}, {"state_key", key}, {"content", std::move(content)}, {"sender", sender}};
}

// A room made through the events persister, with helpers to add members and send.
struct room {
  writer& w;
  std::string id;
  std::string creator;

  room(writer& w_, std::string id_, std::string creator_) : w(w_), id(std::move(id_)), creator(std::move(creator_)) {
    json::array events{
        state("m.room.create", "", {{"creator", creator}, {"room_version", "10"}}, creator),
        state("m.room.member", creator, {{"membership", "join"}, {"displayname", "Creator"}}, creator),
        state("m.room.power_levels", "", {{"users", json::object{{creator, 100}}}}, creator),
        state("m.room.join_rules", "", {{"join_rule", "public"}}, creator),
    };
    w.run("create_room", {{"room_id", id}, {"room_version", "10"}, {"creator", creator}, {"events", events}});
  }
  std::string append(json::object event) {
    return std::string(w.run("append", {{"room_id", id}, {"event", std::move(event)}}).at("event_id").as_string());
  }
  void join(const std::string& user, const std::string& name = "") {
    json::object content{{"membership", "join"}};
    if (!name.empty()) content["displayname"] = name;
    append(state("m.room.member", user, content, user));
  }
  std::string invite(const std::string& user) {
    return append(state("m.room.member", user, {{"membership", "invite"}}, creator));
  }
  void leave(const std::string& user) { append(state("m.room.member", user, {{"membership", "leave"}}, user)); }
  std::string send(const std::string& sender, json::object content) {
    return append({{"type", "m.room.message"}, {"sender", sender}, {"content", std::move(content)}});
  }
  std::string say(const std::string& sender, const std::string& body) {
    return send(sender, {{"msgtype", "m.text"}, {"body", body}});
  }
};

struct action_row {
  std::string event_id;
  bool highlight;
  std::string thread_id;
};
std::vector<action_row> actions_for(database& db, const std::string& user_id) {
  auto c = db.acquire();
  auto r = c->exec("SELECT event_id, highlight, thread_id FROM event_push_actions WHERE user_id = $1 "
                   "ORDER BY stream_ordering",
                   {user_id});
  std::vector<action_row> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back({r[i].as_text(0), r[i].as_int(1) != 0, r[i].as_text(2)});
  return out;
}

writer persister(database& db) {
  return writer{db, events_stream(event_signer{"hs", myelin::protocol::generate_signing_key()})};
}

std::vector<std::string> rule_ids(database& db, const std::string& user, push::rule_kind kind) {
  auto c = db.acquire();
  std::vector<std::string> out;
  auto rules = push_rules::rule_set_for(*c, user);
  for (const auto& r : rules.rules())
    if (r.kind == kind && !r.is_default) out.push_back(r.rule_id);
  return out;
}

json::object add_args(const std::string& user, const std::string& kind, const std::string& id, json::object rule) {
  return {{"user_id", user}, {"kind", kind}, {"rule_id", id}, {"rule", std::move(rule)}};
}

const json::object notify_rule{{"actions", json::array{"notify"}}};

} // namespace

BOOST_AUTO_TEST_SUITE(notifications_tests)

BOOST_AUTO_TEST_CASE(push_rule_writes_and_placement) {
  for_each_backend([](database& db, dialect) {
    writer w{db, push_rules_stream()};
    const std::string me = "@me:hs";
    // New rules go first; before/after place them relative to the user's own rules.
    w.run("add", add_args(me, "room", "!a:hs", notify_rule));
    w.run("add", add_args(me, "room", "!b:hs", notify_rule));
    BOOST_TEST((rule_ids(db, me, push::rule_kind::room) == std::vector<std::string>{"!b:hs", "!a:hs"}));
    auto after = add_args(me, "room", "!c:hs", notify_rule);
    after["after"] = "!b:hs";
    w.run("add", after);
    BOOST_TEST((rule_ids(db, me, push::rule_kind::room) == std::vector<std::string>{"!b:hs", "!c:hs", "!a:hs"}));
    auto before = add_args(me, "room", "!a:hs", {{"actions", json::array{}}});
    before["before"] = "!b:hs";  // moves an existing rule, and replaces its actions
    w.run("add", before);
    BOOST_TEST((rule_ids(db, me, push::rule_kind::room) == std::vector<std::string>{"!a:hs", "!b:hs", "!c:hs"}));
    // Replacing without placement keeps the place; `enabled` survives a replacement.
    w.run("set_enabled", {{"user_id", me}, {"kind", "room"}, {"rule_id", "!b:hs"}, {"enabled", false}});
    w.run("add", add_args(me, "room", "!b:hs", {{"actions", json::array{"notify"}}}));
    BOOST_TEST((rule_ids(db, me, push::rule_kind::room) == std::vector<std::string>{"!a:hs", "!b:hs", "!c:hs"}));
    {
      auto c = db.acquire();
      auto rs = push_rules::rule_set_for(*c, me);
      BOOST_TEST(!rs.find(push::rule_kind::room, "!b:hs")->enabled);
      BOOST_TEST(rs.find(push::rule_kind::room, "!a:hs")->actions.empty());
      BOOST_TEST(push_rules::last_change(*c, me) == w.position);
      BOOST_TEST(push_rules::last_change(*c, "@other:hs") == 0);
    }
    // Errors.
    auto bad_anchor = add_args(me, "room", "!d:hs", notify_rule);
    bad_anchor["before"] = "!nope:hs";
    BOOST_TEST(w.refusal("add", bad_anchor) == "400 M_UNKNOWN");
    bad_anchor["before"] = ".m.rule.master";
    BOOST_TEST(w.refusal("add", bad_anchor) == "400 M_INVALID_PARAM");
    BOOST_TEST(w.refusal("add", add_args(me, "room", ".m.rule.mine", notify_rule)) == "400 M_INVALID_PARAM");
    BOOST_TEST(w.refusal("add", add_args(me, "content", "c", notify_rule)) == "400 M_BAD_JSON");  // no pattern
    BOOST_TEST(w.refusal("delete", {{"user_id", me}, {"kind", "room"}, {"rule_id", "!zzz:hs"}}) == "404 M_NOT_FOUND");
    BOOST_TEST(w.refusal("delete", {{"user_id", me}, {"kind", "underride"}, {"rule_id", ".m.rule.message"}}) ==
               "400 M_INVALID_PARAM");
    BOOST_TEST(w.refusal("set_enabled", {{"user_id", me}, {"kind", "override"}, {"rule_id", ".m.rule.message"},
                                         {"enabled", true}}) == "404 M_NOT_FOUND");  // an underride rule
    w.run("delete", {{"user_id", me}, {"kind", "room"}, {"rule_id", "!c:hs"}});
    BOOST_TEST((rule_ids(db, me, push::rule_kind::room) == std::vector<std::string>{"!a:hs", "!b:hs"}));

    // Server-default rules: enabled and actions change per user, and only for that user.
    w.run("set_enabled", {{"user_id", me}, {"kind", "override"}, {"rule_id", ".m.rule.master"}, {"enabled", true}});
    w.run("set_actions", {{"user_id", me}, {"kind", "underride"}, {"rule_id", ".m.rule.message"},
                          {"actions", json::array{"notify", "dont_notify"}}});
    auto c = db.acquire();
    auto sets = push_rules::rule_sets(*c, {me, "@other:hs"});
    BOOST_TEST(sets.size() == 2u);
    BOOST_TEST(sets.at(me).find(push::rule_kind::override_rule, ".m.rule.master")->enabled);
    BOOST_TEST(sets.at(me).find(push::rule_kind::underride, ".m.rule.message")->actions.size() == 1u);
    BOOST_TEST(!sets.at("@other:hs").find(push::rule_kind::override_rule, ".m.rule.master")->enabled);
  });
}

BOOST_AUTO_TEST_CASE(persister_records_who_is_notified) {
  for_each_backend([](database& db, dialect) {
    auto w = persister(db);
    writer rules{db, push_rules_stream()};
    const std::string alice = "@alice:hs", bob = "@bob:hs", carol = "@carol:hs", remote = "@dan:elsewhere";
    room dm(w, "!dm:hs", alice);
    dm.join(bob);
    // A 1:1 room: bob is notified with a sound; alice (the sender) is not.
    auto hello = dm.say(alice, "hello");
    auto bob_rows = actions_for(db, bob);
    BOOST_REQUIRE(bob_rows.size() == 1u);
    BOOST_TEST(bob_rows[0].event_id == hello);
    BOOST_TEST(!bob_rows[0].highlight);
    BOOST_TEST(actions_for(db, alice).empty());

    room group(w, "!group:hs", alice);
    group.join(bob, "Bobby");
    group.join(carol);
    group.join(remote);  // remote members count, but their server computes their notifications
    auto mention = group.send(alice, {{"msgtype", "m.text"}, {"body", "hey"},
                                      {"m.mentions", json::object{{"user_ids", json::array{bob}}}}});
    auto notice = group.send(alice, {{"msgtype", "m.notice"}, {"body", "bot says hi"}});
    auto room_ping = group.send(carol, {{"body", "all"}, {"m.mentions", json::object{{"room", true}}}});
    auto rows = actions_for(db, bob);
    // hello (the DM), the mention, carol's @room (an ordinary message: she has power 0); the notice
    // and the member events notify no one.
    BOOST_REQUIRE(rows.size() == 3u);
    BOOST_TEST(rows[1].event_id == mention);
    BOOST_TEST(rows[1].highlight);
    BOOST_TEST(rows[2].event_id == room_ping);
    BOOST_TEST(!rows[2].highlight);
    BOOST_TEST(actions_for(db, carol).size() == 1u);  // the mention of bob is a message to her
    BOOST_TEST(actions_for(db, carol)[0].event_id == mention);
    BOOST_TEST(notice != mention);
    auto from_admin = group.send(alice, {{"body", "all"}, {"m.mentions", json::object{{"room", true}}}});
    BOOST_TEST(actions_for(db, bob).back().event_id == from_admin);
    BOOST_TEST(actions_for(db, bob).back().highlight);
    BOOST_TEST(actions_for(db, carol).back().highlight);
    {
      auto c = db.acquire();
      BOOST_TEST(count(*c, "SELECT COUNT(*) FROM event_push_actions WHERE user_id = '@dan:elsewhere'") == 0);
    }

    // A redacted event notifies no one any more: it leaves the counts and the pages.
    auto unread = [&](const std::string& user) {
      auto c = db.acquire();
      return notifications::unread_for(*c, user, group.id).notification_count;
    };
    auto newest = [&](const std::string& user) {
      auto c = db.acquire();
      return notifications::page(*c, user, std::nullopt, false, 1).at(0).action.event_id;
    };
    auto bob_unread = unread(bob);
    auto oops = group.say(alice, "oops");
    BOOST_TEST(newest(bob) == oops);
    BOOST_TEST(unread(bob) == bob_unread + 1);
    group.append({{"type", "m.room.redaction"}, {"sender", alice}, {"redacts", oops}, {"content", json::object{}}});
    BOOST_TEST(newest(bob) != oops);
    BOOST_TEST(newest(carol) != oops);
    BOOST_TEST(unread(bob) == bob_unread);

    // Muting the room (a room rule without actions) stops bob's notifications there.
    rules.run("add", add_args(bob, "room", group.id, {{"actions", json::array{}}}));
    auto before_mute = actions_for(db, bob).size();
    group.say(alice, "muted?");
    BOOST_TEST(actions_for(db, bob).size() == before_mute);
    // Carol ignores alice: nothing from alice notifies her any more.
    {
      auto c = db.acquire();
      c->exec("INSERT INTO account_data (user_id, room_id, type, content, position) VALUES ($1, '', "
              "'m.ignored_user_list', $2, 1)",
              {carol, std::string(R"({"ignored_users": {"@alice:hs": {}}})")});
    }
    auto carol_before = actions_for(db, carol).size();
    group.say(alice, "ignored");
    BOOST_TEST(actions_for(db, carol).size() == carol_before);

    // An invite notifies the invitee; someone who left is no longer notified.
    const std::string erin = "@erin:hs";
    auto invite = group.invite(erin);
    BOOST_REQUIRE(actions_for(db, erin).size() == 1u);
    BOOST_TEST(actions_for(db, erin)[0].event_id == invite);
    group.leave(carol);
    auto carol_after_leave = actions_for(db, carol).size();
    group.say(bob, "carol gone");
    BOOST_TEST(actions_for(db, carol).size() == carol_after_leave);

    // A display name change is seen by contains_display_name (a rule with that condition).
    rules.run("add", add_args(bob, "override", "name", {{"actions", json::array{"notify", json::object{{"set_tweak", "highlight"}}}},
                                                       {"conditions", json::array{json::object{{"kind", "contains_display_name"}}}}}));
    rules.run("delete", {{"user_id", bob}, {"kind", "room"}, {"rule_id", group.id}});
    group.join(bob, "Robert");
    group.say(alice, "hi bobby");
    BOOST_TEST(!actions_for(db, bob).back().highlight);
    group.say(alice, "hi robert");
    BOOST_TEST(actions_for(db, bob).back().highlight);
  });
}

BOOST_AUTO_TEST_CASE(threads_and_unread_counts_follow_receipts) {
  for_each_backend([](database& db, dialect) {
    auto w = persister(db);
    const std::string alice = "@alice:hs", bob = "@bob:hs";
    room r(w, "!r:hs", alice);
    r.join(bob);
    auto m1 = r.say(alice, "one");
    auto root = r.say(alice, "thread root");
    auto t1 = r.send(alice, {{"body", "in thread"}, {"m.relates_to", json::object{{"rel_type", "m.thread"}, {"event_id", root}}}});
    // A reaction to a thread reply belongs to the thread too (it does not notify, so an edit-like
    // custom relation stands in: a message relating to t1 by reference).
    auto t2 = r.send(alice, {{"body", "ref"}, {"m.relates_to", json::object{{"rel_type", "m.reference"}, {"event_id", t1}}}});
    auto m2 = r.send(alice, {{"body", "two"}, {"m.mentions", json::object{{"user_ids", json::array{bob}}}}});
    auto rows = actions_for(db, bob);
    BOOST_REQUIRE(rows.size() == 5u);
    BOOST_TEST(rows[2].thread_id == root);
    BOOST_TEST(rows[3].thread_id == root);
    BOOST_TEST(rows[4].thread_id == "");

    auto c = db.acquire();
    auto counts = notifications::unread_for(*c, bob, r.id);
    BOOST_TEST(counts.notification_count == 3);  // m1, root, m2
    BOOST_TEST(counts.highlight_count == 1);
    BOOST_TEST(counts.threads.size() == 1u);
    BOOST_TEST(counts.threads.at(root).first == 2);
    BOOST_TEST(counts.totals().first == 5);

    // A main-timeline receipt covers the main timeline only.
    put_receipt(*c, r.id, "m.read", bob, "main", m1);
    counts = notifications::unread_for(*c, bob, r.id);
    BOOST_TEST(counts.notification_count == 2);
    BOOST_TEST(counts.threads.at(root).first == 2);
    // A thread receipt covers its thread up to its event.
    put_receipt(*c, r.id, "m.read", bob, root, t1);
    counts = notifications::unread_for(*c, bob, r.id);
    BOOST_TEST(counts.threads.at(root).first == 1);
    // An unthreaded private receipt further on covers everything up to it; the further of m.read
    // and m.read.private wins.
    put_receipt(*c, r.id, "m.read.private", bob, "", t2);
    counts = notifications::unread_for(*c, bob, r.id);
    BOOST_TEST(counts.notification_count == 1);
    BOOST_TEST(counts.highlight_count == 1);
    BOOST_TEST(counts.threads.empty());
    put_receipt(*c, r.id, "m.read", bob, "", m1);  // behind the private one: changes nothing
    BOOST_TEST(notifications::unread_for(*c, bob, r.id).notification_count == 1);
    put_receipt(*c, r.id, "m.read", bob, "", m2);
    counts = notifications::unread_for(*c, bob, r.id);
    BOOST_TEST(counts.notification_count == 0);
    BOOST_TEST(counts.highlight_count == 0);

    // Many rooms at once; rooms without notifications are there with zeros.
    auto many = notifications::unread_for_rooms(*c, bob, {r.id, "!other:hs"});
    BOOST_TEST(many.size() == 2u);
    BOOST_TEST(many.at("!other:hs").notification_count == 0);
  });
}

BOOST_AUTO_TEST_CASE(notification_pages) {
  for_each_backend([](database& db, dialect) {
    auto w = persister(db);
    const std::string alice = "@alice:hs", bob = "@bob:hs";
    room r(w, "!p:hs", alice);
    r.join(bob);
    std::vector<std::string> sent;
    for (int i = 0; i < 5; ++i)
      sent.push_back(i == 2 ? r.send(alice, {{"body", "ping"}, {"m.mentions", json::object{{"user_ids", json::array{bob}}}}})
                            : r.say(alice, "m" + std::to_string(i)));
    auto c = db.acquire();
    put_receipt(*c, r.id, "m.read", bob, "", sent[1]);
    std::vector<std::string> seen;
    std::optional<notifications::page_token> from;
    for (int guard = 0; guard < 10; ++guard) {
      auto page = notifications::page(*c, bob, from, false, 2);
      if (page.empty()) break;
      for (const auto& n : page) {
        seen.push_back(n.action.event_id);
        bool should_be_read = n.action.event_id == sent[0] || n.action.event_id == sent[1];
        BOOST_TEST(n.read == should_be_read);
      }
      auto last = page.back().action;
      auto token = notifications::to_string({last.ts, last.stream_ordering, last.persister});
      from = notifications::parse_page_token(token);
      BOOST_REQUIRE(from);
    }
    BOOST_TEST((seen == std::vector<std::string>(sent.rbegin(), sent.rend())));  // newest first, each once
    auto highlights = notifications::page(*c, bob, std::nullopt, true, 10);
    BOOST_REQUIRE(highlights.size() == 1u);
    BOOST_TEST(highlights[0].action.event_id == sent[2]);
    BOOST_TEST(!notifications::parse_page_token("nonsense"));
    BOOST_TEST(!notifications::parse_page_token("1_x_writer"));
    BOOST_TEST(!notifications::parse_page_token("1_2_"));
  });
}

BOOST_AUTO_TEST_SUITE_END()
