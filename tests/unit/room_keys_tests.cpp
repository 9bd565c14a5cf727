// Server-side key backups: the replacement rule and body checks (protocol/key_backup), and the
// storage queries (storage/tables/room_keys) on both engines — versions counted per user and never
// reused, concurrent creations getting distinct versions, the rule applied by store_keys, and the
// selections of get_keys / delete_keys.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <thread>

#include "actors/endpoint_helpers.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/key_backup.hpp"
#include "storage/tables/room_keys.hpp"
#include "storage_fixture.hpp"

using namespace myelin;
using namespace myelin::storage;
using namespace myelin::test;
namespace json = boost::json;
namespace kb = myelin::protocol::key_backup;
namespace rk = myelin::storage::room_keys;

namespace {

// "400 M_BAD_JSON" for what f throws, "" when it does not throw.
std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const protocol::matrix_error& e) {
    return std::to_string(e.status()) + " " + e.errcode();
  }
  return "";
}

json::object key_body(int64_t index, int64_t forwarded, bool verified, const std::string& tag = "x") {
  return {{"first_message_index", index},
          {"forwarded_count", forwarded},
          {"is_verified", verified},
          {"session_data", json::object{{"ciphertext", tag}}}};
}

kb::session_key key(const std::string& room, const std::string& session, int64_t index, int64_t forwarded,
                    bool verified, const std::string& tag = "x") {
  return kb::parse_session(room, session, key_body(index, forwarded, verified, tag));
}

std::string tag_of(const kb::session_key& k) {
  return std::string(protocol::parse_value(k.session_data).as_object().at("ciphertext").as_string());
}

int64_t create(database& db, const std::string& user) {
  return endpoints::transact_retrying_unique(db, [&](connection& c) {
    int64_t v = rk::next_version(c, user);
    rk::insert_version(c, user, v, "m.megolm_backup.v1.curve25519-aes-sha2", R"({"public_key":"pk"})");
    return v;
  });
}

} // namespace

BOOST_AUTO_TEST_SUITE(room_keys_tests)

BOOST_AUTO_TEST_CASE(replacement_rule) {
  auto m = [](int64_t index, int64_t forwarded, bool verified) { return kb::key_metadata{index, forwarded, verified}; };
  // is_verified decides first, whatever the other two say.
  BOOST_TEST(kb::should_replace(m(0, 0, false), m(9, 9, true)));
  BOOST_TEST(!kb::should_replace(m(9, 9, true), m(0, 0, false)));
  // Then the lower first_message_index, whatever the forwarded_count.
  BOOST_TEST(kb::should_replace(m(5, 0, true), m(4, 7, true)));
  BOOST_TEST(!kb::should_replace(m(4, 7, false), m(5, 0, false)));
  // Then the lower forwarded_count.
  BOOST_TEST(kb::should_replace(m(4, 2, false), m(4, 1, false)));
  BOOST_TEST(!kb::should_replace(m(4, 1, false), m(4, 2, false)));
  // A tie keeps what is stored.
  BOOST_TEST(!kb::should_replace(m(4, 1, true), m(4, 1, true)));
}

BOOST_AUTO_TEST_CASE(version_strings) {
  BOOST_TEST(kb::parse_version("1").value() == 1);
  BOOST_TEST(kb::parse_version("123456789012345678").value() == 123456789012345678);
  for (const char* bad : {"", "0", "01", "-1", "+1", "1a", " 1", "1234567890123456789", "abc"})
    BOOST_TEST(!kb::parse_version(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(bodies_are_checked) {
  auto k = key("!r:hs", "s1", 3, 1, true, "secret");
  BOOST_TEST(k.meta.first_message_index == 3);
  BOOST_TEST(k.meta.forwarded_count == 1);
  BOOST_TEST(k.meta.is_verified);
  BOOST_TEST(tag_of(k) == "secret");

  auto without = [](const char* field) {
    auto b = key_body(0, 0, false);
    b.erase(field);
    return b;
  };
  for (const char* field : {"first_message_index", "forwarded_count", "is_verified", "session_data"})
    BOOST_TEST(refusal([&] { kb::parse_session("!r:hs", "s", without(field)); }) == "400 M_MISSING_PARAM", field);
  auto with = [](const char* field, json::value v) {
    auto b = key_body(0, 0, false);
    b[field] = std::move(v);
    return b;
  };
  BOOST_TEST(refusal([&] { kb::parse_session("!r:hs", "s", with("first_message_index", "1")); }) == "400 M_BAD_JSON");
  BOOST_TEST(refusal([&] { kb::parse_session("!r:hs", "s", with("forwarded_count", 1.5)); }) == "400 M_BAD_JSON");
  BOOST_TEST(refusal([&] { kb::parse_session("!r:hs", "s", with("is_verified", 1)); }) == "400 M_BAD_JSON");
  BOOST_TEST(refusal([&] { kb::parse_session("!r:hs", "s", with("session_data", "x")); }) == "400 M_BAD_JSON");
  BOOST_TEST(refusal([&] { kb::parse_session("!r:hs", "s", with("first_message_index", -1)); }) ==
             "400 M_INVALID_PARAM");
  BOOST_TEST(refusal([&] { kb::parse_session("not-a-room", "s", key_body(0, 0, false)); }) == "400 M_INVALID_PARAM");
  BOOST_TEST(refusal([&] { kb::parse_session("!r:hs", "", key_body(0, 0, false)); }) == "400 M_INVALID_PARAM");
  // Room ids of room version 12 have no server part.
  BOOST_TEST(refusal([&] { kb::parse_session("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM", "s",
                                             key_body(0, 0, false)); }) == "");

  // Nested bodies: the failure says where it is.
  json::object rooms{{"rooms", json::object{{"!a:hs", json::object{{"sessions", json::object{
                                                {"s1", key_body(0, 0, false)}, {"s2", with("is_verified", "no")}}}}}}}};
  try {
    kb::parse_rooms(rooms);
    BOOST_FAIL("expected M_BAD_JSON");
  } catch (const protocol::matrix_error& e) {
    BOOST_TEST(e.errcode() == "M_BAD_JSON");
    BOOST_TEST(std::string(e.what()).find("rooms.!a:hs.sessions.s2") != std::string::npos, e.what());
  }
  BOOST_TEST(refusal([] { kb::parse_rooms(json::object{}); }) == "400 M_MISSING_PARAM");
  BOOST_TEST(refusal([] { kb::parse_rooms(json::object{{"rooms", json::array{}}}); }) == "400 M_BAD_JSON");
  BOOST_TEST(refusal([] { kb::parse_rooms(json::object{{"rooms", json::object{{"!a:hs", 1}}}}); }) == "400 M_BAD_JSON");
  BOOST_TEST(refusal([] { kb::parse_room("!a:hs", json::object{{"sessions", json::object{{"s", 1}}}}); }) ==
             "400 M_BAD_JSON");
  BOOST_TEST(refusal([] { kb::parse_room("!a:hs", json::object{}); }) == "400 M_MISSING_PARAM");
  BOOST_TEST(kb::parse_rooms(json::object{{"rooms", json::object{}}}).empty());

  // Version bodies.
  auto v = kb::parse_version_body({{"algorithm", "m.megolm_backup.v1.curve25519-aes-sha2"},
                                   {"auth_data", json::object{{"public_key", "pk"}}},
                                   {"version", "3"}});
  BOOST_TEST(v.algorithm == "m.megolm_backup.v1.curve25519-aes-sha2");
  BOOST_TEST(v.version.value() == "3");
  BOOST_TEST(refusal([] { kb::parse_version_body({{"auth_data", json::object{}}}); }) == "400 M_MISSING_PARAM");
  BOOST_TEST(refusal([] { kb::parse_version_body({{"algorithm", "a"}}); }) == "400 M_MISSING_PARAM");
  BOOST_TEST(refusal([] { kb::parse_version_body({{"algorithm", 1}, {"auth_data", json::object{}}}); }) ==
             "400 M_BAD_JSON");
  BOOST_TEST(refusal([] { kb::parse_version_body({{"algorithm", "a"}, {"auth_data", "x"}}); }) == "400 M_BAD_JSON");
  BOOST_TEST(refusal([] { kb::parse_version_body({{"algorithm", ""}, {"auth_data", json::object{}}}); }) ==
             "400 M_INVALID_PARAM");
  BOOST_TEST(refusal([] {
               kb::parse_version_body({{"algorithm", "a"}, {"auth_data", json::object{}}, {"version", 2}});
             }) == "400 M_BAD_JSON");
}

BOOST_AUTO_TEST_CASE(versions_count_up_and_are_never_reused) {
  for_each_backend([](database& db, dialect) {
    const std::string alice = "@alice:hs", bob = "@bob:hs";
    BOOST_TEST(create(db, alice) == 1);
    BOOST_TEST(create(db, alice) == 2);
    BOOST_TEST(create(db, bob) == 1);  // per user
    auto c = db.acquire();
    BOOST_TEST(rk::current_version_number(*c, alice).value() == 2);
    auto cur = rk::current_version(*c, alice);
    BOOST_TEST(cur->version == 2);
    BOOST_TEST(cur->algorithm == "m.megolm_backup.v1.curve25519-aes-sha2");
    BOOST_TEST(cur->auth_data == R"({"public_key":"pk"})");
    BOOST_TEST(cur->etag == 0);
    BOOST_TEST(cur->count == 0);

    rk::set_auth_data(*c, alice, 1, R"({"public_key":"other"})");
    BOOST_TEST(rk::get_version(*c, alice, 1)->auth_data == R"({"public_key":"other"})");
    BOOST_TEST(rk::bump_etag(*c, alice, 1) == 1);
    BOOST_TEST(rk::bump_etag(*c, alice, 1) == 2);
    BOOST_TEST(rk::get_version(*c, alice, 2)->etag == 0);  // each backup has its own etag

    // Deleting the newest makes the one before current; the deleted one is still found, marked.
    rk::mark_deleted(*c, alice, 2);
    BOOST_TEST(!rk::get_version(*c, alice, 2).has_value());
    BOOST_TEST(rk::find_version(*c, alice, 2)->deleted);
    BOOST_TEST(!rk::find_version(*c, alice, 1)->deleted);
    BOOST_TEST(rk::current_version(*c, alice)->version == 1);
    BOOST_TEST(!rk::find_version(*c, alice, 3).has_value());
    // …and its number is not handed out again.
    BOOST_TEST(rk::next_version(*c, alice) == 3);
    rk::mark_deleted(*c, alice, 1);
    BOOST_TEST(!rk::current_version(*c, alice).has_value());
    BOOST_TEST(!rk::current_version_number(*c, alice).has_value());
    BOOST_TEST(!rk::current_version_number(*c, "@nobody:hs").has_value());

    // The primary key refuses a version taken twice, as a unique violation.
    try {
      rk::insert_version(*c, bob, 1, "a", "{}");
      BOOST_FAIL("expected a unique violation");
    } catch (const database_error& e) {
      BOOST_TEST(e.unique_violation(), e.what());
    }
  });
}

BOOST_AUTO_TEST_CASE(concurrent_creations_get_distinct_versions) {
  for_each_backend([](database& db, dialect d) {
    // n creations at once: each failure of one is another's success, so n attempts always suffice.
    constexpr int n = 5;
    std::vector<int64_t> got(n);
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i) ts.emplace_back([&, i] { got[i] = create(db, "@racer:hs"); });
    for (auto& t : ts) t.join();
    std::sort(got.begin(), got.end());
    BOOST_TEST((got == std::vector<int64_t>{1, 2, 3, 4, 5}));

    if (d != dialect::postgres) return;  // SQLite writers queue (BEGIN IMMEDIATE): no interleaving
    // The interleaving made certain: another session takes the number between our read and write.
    int attempts = 0;
    int64_t v = endpoints::transact_retrying_unique(db, [&](connection& c) {
      int64_t next = rk::next_version(c, "@loser:hs");
      if (attempts++ == 0) rk::insert_version(*db.acquire(), "@loser:hs", next, "a", "{}");  // autocommit
      rk::insert_version(c, "@loser:hs", next, "a", "{}");
      return next;
    });
    BOOST_TEST(attempts == 2);
    BOOST_TEST(v == 2);
  });
}

BOOST_AUTO_TEST_CASE(store_keys_applies_the_rule) {
  for_each_backend([](database& db, dialect) {
    const std::string u = "@u:hs";
    create(db, u);
    create(db, u);
    auto c = db.acquire();
    BOOST_TEST(rk::store_keys(*c, u, 1, {key("!a:hs", "s1", 5, 2, false, "first"), key("!a:hs", "s2", 0, 0, true),
                                         key("!b:hs", "s1", 1, 0, false)}) == 3);
    BOOST_TEST(rk::count_keys(*c, u, 1) == 3);
    BOOST_TEST(rk::count_keys(*c, u, 2) == 0);  // another backup
    BOOST_TEST(rk::get_version(*c, u, 1)->count == 3);

    auto stored = [&] { return rk::get_keys(*c, u, 1, std::string("!a:hs"), std::string("s1")).at(0); };
    // Worse keys are refused: higher index, more forwards, a tie.
    BOOST_TEST(rk::store_keys(*c, u, 1, {key("!a:hs", "s1", 6, 0, false, "later")}) == 0);
    BOOST_TEST(rk::store_keys(*c, u, 1, {key("!a:hs", "s1", 5, 3, false, "more")}) == 0);
    BOOST_TEST(rk::store_keys(*c, u, 1, {key("!a:hs", "s1", 5, 2, false, "tie")}) == 0);
    BOOST_TEST(tag_of(stored()) == "first");
    // Better ones replace, each by its own criterion.
    BOOST_TEST(rk::store_keys(*c, u, 1, {key("!a:hs", "s1", 5, 1, false, "fewer")}) == 1);
    BOOST_TEST(tag_of(stored()) == "fewer");
    BOOST_TEST(rk::store_keys(*c, u, 1, {key("!a:hs", "s1", 4, 9, false, "earlier")}) == 1);
    BOOST_TEST(tag_of(stored()) == "earlier");
    BOOST_TEST(rk::store_keys(*c, u, 1, {key("!a:hs", "s1", 8, 9, true, "verified")}) == 1);
    BOOST_TEST(tag_of(stored()) == "verified");
    BOOST_TEST(rk::store_keys(*c, u, 1, {key("!a:hs", "s1", 0, 0, false, "unverified")}) == 0);
    auto k = stored();
    BOOST_TEST(k.meta.first_message_index == 8);
    BOOST_TEST(k.meta.forwarded_count == 9);
    BOOST_TEST(k.meta.is_verified);
    BOOST_TEST(rk::get_key_metadata(*c, u, 1, "!a:hs", "s1")->first_message_index == 8);
    BOOST_TEST(!rk::get_key_metadata(*c, u, 1, "!a:hs", "nope").has_value());
    BOOST_TEST(rk::count_keys(*c, u, 1) == 3);
  });
}

BOOST_AUTO_TEST_CASE(selections_read_and_delete) {
  for_each_backend([](database& db, dialect) {
    const std::string u = "@u:hs";
    create(db, u);
    auto c = db.acquire();
    rk::store_keys(*c, u, 1, {key("!b:hs", "s2", 0, 0, false), key("!a:hs", "s2", 0, 0, false),
                              key("!a:hs", "s1", 0, 0, false), key("!c:hs", "s1", 0, 0, false)});
    rk::store_keys(*c, "@other:hs", 1, {key("!a:hs", "s1", 0, 0, false)});
    auto ids = [](const std::vector<kb::session_key>& keys) {
      std::vector<std::string> out;
      for (const auto& k : keys) out.push_back(k.room_id + "/" + k.session_id);
      return out;
    };
    BOOST_TEST((ids(rk::get_keys(*c, u, 1)) ==
                std::vector<std::string>{"!a:hs/s1", "!a:hs/s2", "!b:hs/s2", "!c:hs/s1"}));
    BOOST_TEST((ids(rk::get_keys(*c, u, 1, std::string("!a:hs"))) == std::vector<std::string>{"!a:hs/s1", "!a:hs/s2"}));
    BOOST_TEST((ids(rk::get_keys(*c, u, 1, std::string("!a:hs"), std::string("s2"))) ==
                std::vector<std::string>{"!a:hs/s2"}));
    BOOST_TEST(rk::get_keys(*c, u, 1, std::string("!z:hs")).empty());
    BOOST_TEST(rk::get_keys(*c, u, 2).empty());

    BOOST_TEST(rk::delete_keys(*c, u, 1, std::string("!a:hs"), std::string("s2")) == 1);
    BOOST_TEST(rk::delete_keys(*c, u, 1, std::string("!a:hs"), std::string("s2")) == 0);
    BOOST_TEST(rk::delete_keys(*c, u, 1, std::string("!b:hs")) == 1);
    BOOST_TEST((ids(rk::get_keys(*c, u, 1)) == std::vector<std::string>{"!a:hs/s1", "!c:hs/s1"}));
    BOOST_TEST(rk::delete_keys(*c, u, 1) == 2);
    BOOST_TEST(rk::count_keys(*c, u, 1) == 0);
    BOOST_TEST(rk::count_keys(*c, "@other:hs", 1) == 1);  // other users' backups are untouched
  });
}

BOOST_AUTO_TEST_SUITE_END()
