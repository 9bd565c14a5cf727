// Pushers: the table on SQLite and PostgreSQL (set, replace, append, remove, and which pushers an
// event's push actions reach), and the Push Gateway request body and URL check (actors/pusher).
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "actors/pusher/push_gateway.hpp"
#include "storage/tables/notifications.hpp"
#include "storage/tables/pushers.hpp"
#include "storage_fixture.hpp"

using namespace myelin::storage;
using namespace myelin::test;
namespace json = boost::json;

namespace {

pushers::pusher make(const std::string& user, const std::string& app, const std::string& key) {
  return pushers::pusher{user, app, key, "http", "App", "Phone", "", "en",
                         R"({"url":"https://gw.example/_matrix/push/v1/notify","format":"event_id_only","x":1})",
                         "DEV", 1700000000123};
}

std::vector<std::string> keys_of(connection& c, const std::string& user) {
  std::vector<std::string> out;
  for (const auto& p : pushers::for_user(c, user)) out.push_back(p.app_id + "/" + p.pushkey);
  return out;
}

notifications::push_action action(const std::string& user, const std::string& event_id, bool highlight) {
  return notifications::push_action{"!r:hs", event_id, user, "writer.events/0", 1, 1, "", highlight,
                                    R"(["notify",{"set_tweak":"sound","value":"default"}])", 1};
}

} // namespace

BOOST_AUTO_TEST_SUITE(pushers_tests)

BOOST_AUTO_TEST_CASE(set_append_remove) {
  for_each_backend([](database& db, dialect) {
    auto c = db.acquire();
    pushers::set(*c, make("@a:hs", "app", "k1"), false);
    pushers::set(*c, make("@a:hs", "app2", "k1"), false);
    BOOST_TEST(keys_of(*c, "@a:hs") == (std::vector<std::string>{"app/k1", "app2/k1"}));
    // Replacing keeps one row.
    auto changed = make("@a:hs", "app", "k1");
    changed.lang = "fr";
    pushers::set(*c, changed, false);
    BOOST_TEST(pushers::for_user(*c, "@a:hs").front().lang == "fr");
    // Another user takes app/k1: without append it leaves @a; with append both keep it.
    pushers::set(*c, make("@b:hs", "app", "k1"), false);
    BOOST_TEST(keys_of(*c, "@a:hs") == (std::vector<std::string>{"app2/k1"}));
    pushers::set(*c, make("@a:hs", "app", "k1"), true);
    BOOST_TEST(keys_of(*c, "@a:hs").size() == 2u);
    BOOST_TEST(keys_of(*c, "@b:hs").size() == 1u);
    BOOST_TEST(pushers::remove(*c, "@a:hs", "app", "k1"));
    BOOST_TEST(!pushers::remove(*c, "@a:hs", "app", "k1"));
    BOOST_TEST(keys_of(*c, "@b:hs").size() == 1u);
  });
}

BOOST_AUTO_TEST_CASE(targets_are_notified_users_pushers) {
  for_each_backend([](database& db, dialect) {
    auto c = db.acquire();
    pushers::set(*c, make("@a:hs", "app", "ka"), false);
    pushers::set(*c, make("@a:hs", "app2", "ka2"), false);
    pushers::set(*c, make("@c:hs", "app", "kc"), false);  // not notified by $e1
    notifications::insert(*c, {action("@a:hs", "$e1", true), action("@b:hs", "$e1", false),
                               action("@c:hs", "$e2", false)});
    auto t = pushers::targets_for_event(*c, "!r:hs", "$e1");
    BOOST_TEST_REQUIRE(t.size() == 2u);
    BOOST_TEST(t[0].p.pushkey == "ka");
    BOOST_TEST(t[1].p.pushkey == "ka2");
    BOOST_TEST(t[0].highlight);
    BOOST_TEST(pushers::targets_for_event(*c, "!r:hs", "$e3").empty());
    BOOST_TEST(pushers::targets_for_event(*c, "!other:hs", "$e2").empty());
  });
}

BOOST_AUTO_TEST_CASE(gateway_url_check) {
  using myelin::pusher::invalid_gateway_url;
  BOOST_TEST(!invalid_gateway_url("https://gw.example/_matrix/push/v1/notify"));
  BOOST_TEST(!invalid_gateway_url("http://127.0.0.1:8080/_matrix/push/v1/notify"));
  BOOST_TEST(!!invalid_gateway_url("https://gw.example/_matrix/push/v1/notify/extra"));
  BOOST_TEST(!!invalid_gateway_url("https://gw.example"));
  BOOST_TEST(!!invalid_gateway_url("ftp://gw.example/_matrix/push/v1/notify"));
  BOOST_TEST(!!invalid_gateway_url("gw.example/_matrix/push/v1/notify"));
}

BOOST_AUTO_TEST_CASE(notification_body_formats) {
  using namespace myelin::pusher;
  event_info ev{"$e", "!r:hs", "m.room.message", "@s:hs",
                R"({"type":"m.room.message","content":{"body":"hi","msgtype":"m.text"}})"};
  pushers::target t{make("@a:hs", "app", "k"), R"(["notify",{"set_tweak":"highlight"}])", true};
  // event_id_only: no event fields; data without url; the highlight tweak defaults to true.
  auto n = notification_body(ev, t, 3).at("notification").as_object();
  BOOST_TEST(!n.contains("content"));
  BOOST_TEST(!n.contains("sender"));
  BOOST_TEST(n.at("counts") == (json::object{{"unread", 3}, {"missed_calls", 0}}));
  BOOST_TEST(n.at("prio") == "high");
  const auto& d = n.at("devices").as_array().at(0).as_object();
  BOOST_TEST(d.at("pushkey_ts") == 1700000000);
  BOOST_TEST(d.at("data") == (json::object{{"format", "event_id_only"}, {"x", 1}}));
  BOOST_TEST(d.at("tweaks") == (json::object{{"highlight", true}}));
  // Full format: type, sender and content; notify alone is low priority.
  t.p.data = R"({"url":"https://gw.example/_matrix/push/v1/notify"})";
  t.actions = R"(["notify"])";
  n = notification_body(ev, t, 1).at("notification").as_object();
  BOOST_TEST(n.at("content") == (json::object{{"body", "hi"}, {"msgtype", "m.text"}}));
  BOOST_TEST(n.at("sender") == "@s:hs");
  BOOST_TEST(n.at("type") == "m.room.message");
  BOOST_TEST(n.at("prio") == "low");
}

BOOST_AUTO_TEST_SUITE_END()
