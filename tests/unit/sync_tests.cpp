// Sync tokens (protocol/sync_token) and the sync notifier's index (actors/sync/notifier).
#include <boost/test/unit_test.hpp>

#include "actors/sync/notifier.hpp"
#include "protocol/sync_token.hpp"

using namespace myelin;

BOOST_AUTO_TEST_SUITE(sync_token_tests)

BOOST_AUTO_TEST_CASE(round_trip_and_order) {
  protocol::sync_token t;
  t.set("events", 0, 1042);
  t.set("events", 1, 977);
  t.set("account_data", 0, 12);
  t.set("typing", 0, 3);
  auto text = protocol::format_sync_token(t);
  BOOST_TEST(text == "ma0.12_e0.1042_e1.977_t0.3");
  auto back = protocol::parse_sync_token(text);
  BOOST_REQUIRE(back);
  BOOST_TEST(back->get("events", 1) == 977);
  BOOST_TEST(back->get("account_data", 0) == 12);
  BOOST_TEST(back->get("receipts", 0) == 0);  // not named: 0
  BOOST_TEST(protocol::format_sync_token(*back) == text);
}

BOOST_AUTO_TEST_CASE(empty_token) {
  protocol::sync_token t;
  BOOST_TEST(protocol::format_sync_token(t) == "m");
  BOOST_TEST(protocol::parse_sync_token("m").has_value());
}

BOOST_AUTO_TEST_CASE(unknown_streams_are_skipped) {
  auto t = protocol::parse_sync_token("me0.5_z3.9");
  BOOST_REQUIRE(t);
  BOOST_TEST(t->get("events", 0) == 5);
}

BOOST_AUTO_TEST_CASE(malformed_tokens_are_refused) {
  for (const char* bad : {"", "s1_2", "me0", "me0.", "me.5", "me0.5_", "me0.-5", "me0.5x", "mex.5", "me0.99999999999999999999",
                          "me2000.1", "me0.5__a0.1"})
    BOOST_TEST(!protocol::parse_sync_token(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(ahead_of) {
  auto a = *protocol::parse_sync_token("me0.5_a0.2");
  auto b = *protocol::parse_sync_token("me0.5_a0.3");
  BOOST_TEST(b.ahead_of(a));
  BOOST_TEST(!a.ahead_of(b));
  BOOST_TEST(!a.ahead_of(a));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sync_notifier_tests)

stream_update update(std::string stream, std::vector<std::string> rows) {
  return stream_update{std::move(stream), "w/0", 1, std::move(rows)};
}

BOOST_AUTO_TEST_CASE(wakes_by_room_and_by_user) {
  sync::notifier n;
  n.watch(1, "@a:x", {"!r1:x", "!r2:x"});
  n.watch(2, "@b:x", {"!r2:x"});
  n.watch(3, "@c:x", {});
  auto ids = [&](const stream_update& u) {
    auto v = n.affected(u);
    std::sort(v.begin(), v.end());
    return v;
  };
  BOOST_TEST((ids(update("events", {R"({"type":"event","room_id":"!r2:x","sender":"@z:x"})"})) ==
              std::vector<uint64_t>{1, 2}));
  BOOST_TEST((ids(update("events", {R"({"type":"event","room_id":"!r9:x"})"})).empty()));
  // An invite names its subject, who is not in the room yet.
  BOOST_TEST((ids(update("events", {R"({"type":"event","room_id":"!r9:x","state_key":"@c:x","membership":"invite"})"})) ==
              std::vector<uint64_t>{3}));
  // A state_key without a membership (any other state event) is not a user.
  BOOST_TEST((ids(update("events", {R"({"type":"event","room_id":"!r9:x","state_key":"@c:x"})"})).empty()));
  BOOST_TEST((ids(update("account_data", {R"({"user_id":"@b:x"})"})) == std::vector<uint64_t>{2}));
  BOOST_TEST((ids(update("presence", {R"({"user_id":"@q:x","rooms":["!r1:x"]})"})) == std::vector<uint64_t>{1}));
  // Garbage rows wake nobody and throw nothing.
  BOOST_TEST((ids(update("events", {"not json", "[1]"})).empty()));
}

BOOST_AUTO_TEST_CASE(a_catch_up_row_wakes_everyone) {
  sync::notifier n;
  n.watch(1, "@a:x", {"!r1:x"});
  n.watch(2, "@b:x", {});
  auto woken = n.affected(update("events", {R"({"type":"catch_up","everyone":true})"}));
  std::sort(woken.begin(), woken.end());
  BOOST_TEST((woken == std::vector<uint64_t>{1, 2}));
  BOOST_TEST(sync::notifier::concerns(update("events", {R"({"type":"catch_up","everyone":true})"}), "@z:x", {}));
  BOOST_TEST(n.affected(update("events", {R"({"type":"catch_up","everyone":false})"})).empty());
}

BOOST_AUTO_TEST_CASE(unwatch_forgets_every_key) {
  sync::notifier n;
  n.watch(1, "@a:x", {"!r1:x"});
  n.watch(1, "@a:x", {"!r2:x"});  // re-watching replaces the keys
  BOOST_TEST(n.affected(update("events", {R"({"room_id":"!r1:x"})"})).empty());
  BOOST_TEST(n.affected(update("events", {R"({"room_id":"!r2:x"})"})).size() == 1);
  n.unwatch(1);
  BOOST_TEST(n.size() == 0);
  BOOST_TEST(n.affected(update("events", {R"({"room_id":"!r2:x"})"})).empty());
  BOOST_TEST(n.affected(update("x", {R"({"user_id":"@a:x"})"})).empty());
}

BOOST_AUTO_TEST_CASE(concerns_matches_a_waiter_not_yet_watched) {
  std::unordered_set<std::string> rooms{"!r1:x"};
  BOOST_TEST(sync::notifier::concerns(update("events", {R"({"room_id":"!r1:x"})"}), "@a:x", rooms));
  BOOST_TEST(sync::notifier::concerns(update("to_device", {R"({"user_id":"@a:x"})"}), "@a:x", rooms));
  BOOST_TEST(!sync::notifier::concerns(update("events", {R"({"room_id":"!r2:x"})"}), "@a:x", rooms));
}

BOOST_AUTO_TEST_SUITE_END()
