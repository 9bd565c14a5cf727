// protocol/sliding_sync: request parsing (shapes → M_BAD_JSON, values → M_INVALID_PARAM), the pos
// token, required_state matching and extension scopes; storage/tables/sliding_sync: the connection
// state on both engines (what a position remembers, idle expiry, deleted devices).
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/errors.hpp"
#include "protocol/sliding_sync.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/sliding_sync.hpp"
#include "storage_fixture.hpp"

using namespace myelin::protocol;
using namespace myelin::protocol::sliding;
namespace json = boost::json;

namespace {

std::string errcode_of(const char* body) {
  try {
    parse_request(json::parse(body));
  } catch (const matrix_error& e) {
    return e.errcode();
  }
  return "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(sliding_sync_tests)

BOOST_AUTO_TEST_CASE(full_request) {
  auto r = parse_request(json::parse(R"({
    "conn_id": "main",
    "lists": {"all": {"ranges": [[0, 19], [40, 49]], "timeline_limit": 5,
                      "required_state": [["m.room.name", ""], ["m.room.member", "$LAZY"]],
                      "filters": {"is_dm": true, "is_encrypted": false, "is_invite": false,
                                  "not_room_types": ["m.space", null], "spaces": ["!s:x"]}}},
    "room_subscriptions": {"!r:x": {"timeline_limit": 1000, "required_state": [["*", "*"]]}},
    "extensions": {"to_device": {"enabled": true, "since": "42", "limit": 10}, "e2ee": {"enabled": true},
                   "account_data": {"enabled": true}, "receipts": {"enabled": true, "lists": ["all"]},
                   "typing": {"enabled": true, "rooms": ["*"]}}})"));
  BOOST_TEST(r.conn_id == "main");
  const auto& l = r.lists.at("all");
  BOOST_TEST(l.ranges.size() == 2u);
  BOOST_TEST(l.in_ranges(0));
  BOOST_TEST(l.in_ranges(19));
  BOOST_TEST(!l.in_ranges(20));
  BOOST_TEST(l.in_ranges(45));
  BOOST_TEST(l.config.timeline_limit == 5);
  BOOST_TEST(*l.filters.is_dm);
  BOOST_TEST(!*l.filters.is_encrypted);
  BOOST_TEST(l.filters.not_room_types.size() == 2u);
  BOOST_TEST(!l.filters.not_room_types[1].has_value());
  BOOST_TEST(r.room_subscriptions.at("!r:x").timeline_limit == max_timeline_limit);  // capped
  BOOST_TEST(r.to_device.enabled);
  BOOST_TEST(*r.to_device.since == 42);
  BOOST_TEST(r.to_device.limit == 10);
  BOOST_TEST(r.e2ee);
  BOOST_TEST(r.account_data.enabled);
  BOOST_TEST(r.receipts.covers("!a:x", {"all"}, false));
  BOOST_TEST(!r.receipts.covers("!a:x", {"other"}, true));
  BOOST_TEST(r.typing.covers("!a:x", {}, true));
  BOOST_TEST(!r.typing.covers("!a:x", {"all"}, false));
}

BOOST_AUTO_TEST_CASE(empty_and_defaults) {
  auto r = parse_request(json::value(nullptr));
  BOOST_TEST(r.lists.empty());
  r = parse_request(json::parse("{}"));
  BOOST_TEST(!r.to_device.enabled);
  BOOST_TEST(!r.receipts.covers("!a:x", {"all"}, true));  // not enabled
  r = parse_request(json::parse(R"({"extensions": {"receipts": {"enabled": true}}})"));
  BOOST_TEST(r.receipts.covers("!a:x", {}, false));  // no lists/rooms: every room of the answer
}

BOOST_AUTO_TEST_CASE(bad_requests) {
  BOOST_TEST(errcode_of("[]") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"lists": []})") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"ranges": [[0]]}}})") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"ranges": [["0", 1]]}}})") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"ranges": [[5, 1]]}}})") == "M_INVALID_PARAM");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"ranges": [[-1, 1]]}}})") == "M_INVALID_PARAM");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"timeline_limit": -1}}})") == "M_INVALID_PARAM");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"timeline_limit": "5"}}})") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"required_state": [["m.room.name"]]}}})") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"filters": {"is_dm": "yes"}}}})") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"room_subscriptions": {"not-a-room": {}}})") == "M_INVALID_PARAM");
  BOOST_TEST(errcode_of(R"({"conn_id": 5})") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"extensions": {"to_device": {"since": "abc"}}})") == "M_INVALID_PARAM");
  BOOST_TEST(errcode_of(R"({"extensions": {"e2ee": true}})") == "M_BAD_JSON");
  BOOST_TEST(errcode_of(R"({"lists": {"a": {"ranges": [[0, 1]]}}})") == "");
}

BOOST_AUTO_TEST_CASE(positions) {
  position p{.id = 17};
  p.token.set("events", 0, 5);
  p.token.set("to_device", 0, 3);
  auto text = format_position(p);
  auto back = parse_position(text);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->id == 17);
  BOOST_TEST(back->token.get("events", 0) == 5);
  BOOST_TEST(back->token.get("to_device", 0) == 3);
  for (auto bad : {"", "17", "_m", "x_" , "0_me0.1", "-1_me0.1", "17_garbage"})
    BOOST_TEST(!parse_position(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(required_state_patterns) {
  std::vector<state_pattern> p = {{"m.room.name", ""}, {"m.room.member", "$ME"}, {"m.room.member", "$LAZY"},
                                  {"org.example", "*"}};
  BOOST_TEST(state_matches(p, "m.room.name", "", "@me:x", {}));
  BOOST_TEST(!state_matches(p, "m.room.topic", "", "@me:x", {}));
  BOOST_TEST(state_matches(p, "m.room.member", "@me:x", "@me:x", {}));
  BOOST_TEST(!state_matches(p, "m.room.member", "@bob:x", "@me:x", {}));
  BOOST_TEST(state_matches(p, "m.room.member", "@bob:x", "@me:x", {"@bob:x"}));
  BOOST_TEST(state_matches(p, "org.example", "anything", "@me:x", {}));
  BOOST_TEST(wants_lazy_members(p));
  BOOST_TEST(state_matches({{"*", "*"}}, "m.room.topic", "", "@me:x", {}));
  BOOST_TEST(!wants_lazy_members({{"*", "*"}}));
  // Config keys ignore order and duplicates, so a re-sent identical config is not a change.
  room_config a{.required_state = {{"b", ""}, {"a", ""}}}, b{.required_state = {{"a", ""}, {"b", ""}, {"a", ""}}};
  BOOST_TEST(a.key() == b.key());
}

BOOST_AUTO_TEST_CASE(connection_state_round_trip_expiry_and_devices) {
  namespace store = myelin::storage::sliding_sync;
  myelin::test::for_each_backend([](myelin::storage::database& db, myelin::storage::dialect) {
    const int64_t t0 = 1'000'000'000'000;
    const int64_t day = 24 * 3600 * 1000;
    auto c = db.acquire();
    int64_t conn = store::open(*c, "@a:hs", "DEV", "main", t0);
    std::map<std::string, store::room_entry> rooms{{"!r:hs", {"", "[]", 5, {"@b:hs", "@c:hs"}}},
                                                   {"!s:hs", {"s1_x", "[[\"*\",\"*\"]]", 0, {}}}};
    int64_t p1 = store::save(*c, conn, 0, R"({"all":2})", rooms, t0);
    auto loaded = store::load(*c, "@a:hs", "DEV", "main", p1, t0 + 1000);
    BOOST_REQUIRE(loaded);
    BOOST_TEST(loaded->lists == R"({"all":2})");
    BOOST_TEST((loaded->rooms == rooms));  // timeline limit and $LAZY members survive
    // Another device, conn_id or user does not own the position.
    BOOST_TEST(!store::load(*c, "@a:hs", "OTHER", "main", p1, t0));
    BOOST_TEST(!store::load(*c, "@a:hs", "DEV", "other", p1, t0));
    BOOST_TEST(!store::load(*c, "@b:hs", "DEV", "main", p1, t0));

    // Used within the week: still there (and marked used, so the week starts again).
    BOOST_TEST(store::load(*c, "@a:hs", "DEV", "main", p1, t0 + 6 * day).has_value());
    BOOST_TEST(store::load(*c, "@a:hs", "DEV", "main", p1, t0 + 12 * day).has_value());
    // Idle for more than a week: unknown.
    BOOST_TEST(!store::load(*c, "@a:hs", "DEV", "main", p1, t0 + 20 * day));
    // Opening any connection sweeps idle ones server-wide.
    store::open(*c, "@z:hs", "ZZ", "main", t0 + 20 * day);
    BOOST_TEST(myelin::test::count(*c, "SELECT COUNT(*) FROM sliding_sync_connections WHERE user_id = '@a:hs'") == 0);
    BOOST_TEST(myelin::test::count(*c, "SELECT COUNT(*) FROM sliding_sync_connection_rooms") == 0);

    // Deleting a device drops its connections, not other devices'.
    int64_t mine = store::open(*c, "@a:hs", "DEV", "main", t0 + 21 * day);
    int64_t p2 = store::save(*c, mine, 0, "{}", rooms, t0 + 21 * day);
    int64_t theirs = store::open(*c, "@a:hs", "DEV2", "main", t0 + 21 * day);
    int64_t p3 = store::save(*c, theirs, 0, "{}", rooms, t0 + 21 * day);
    myelin::storage::accounts::delete_devices(*c, "@a:hs", {"DEV"});
    BOOST_TEST(!store::load(*c, "@a:hs", "DEV", "main", p2, t0 + 21 * day));
    BOOST_TEST(store::load(*c, "@a:hs", "DEV2", "main", p3, t0 + 21 * day).has_value());
    BOOST_TEST(myelin::test::count(*c, "SELECT COUNT(*) FROM sliding_sync_connection_rooms WHERE position_id = " +
                                           std::to_string(p2)) == 0);
  });
}

BOOST_AUTO_TEST_SUITE_END()
