// The admin API's storage on SQLite and PostgreSQL: registration token uses through the accounts
// writer (reserved by UIA sessions up to uses_allowed, completed by the registration, given back on
// failure or session expiry, refused once expired), and room moderation through the events writer
// (block, purge of every row of one room and none of another's, the persister forgetting the room).
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/signing_key.hpp"
#include "storage/streams/events_stream.hpp"
#include "storage/tables/registration_tokens.hpp"
#include "storage/tables/room_moderation.hpp"
#include "storage_fixture.hpp"

using namespace myelin::storage;
using namespace myelin::test;
namespace json = boost::json;

namespace {

void add_session(connection& c, const std::string& id, int64_t created_ts) {
  c.exec("INSERT INTO ui_auth_sessions (session_id, created_ts, method, uri) VALUES ($1, $2, 'POST', 'register')",
         {id, created_ts});
}

registration_tokens::token_row token(database& db, const std::string& name) {
  auto c = db.acquire();
  return registration_tokens::get(*c, name).value();
}

bool reserve(stream_runner& w, const std::string& session, int64_t expired_before = 0) {
  return w.run("reserve_registration_token", {{"token", "t"}, {"session", session}, {"expired_before", expired_before}})
      .at("reserved")
      .as_bool();
}

json::object state(const std::string& type, const std::string& key, json::object content, const std::string& sender) {
  return {{"type", type}, {"state_key", key}, {"content", std::move(content)}, {"sender", sender}};
}

void make_room(stream_runner& w, const std::string& id) {
  json::array events{
      state("m.room.create", "", {{"creator", "@c:hs"}, {"room_version", "10"}}, "@c:hs"),
      state("m.room.member", "@c:hs", {{"membership", "join"}}, "@c:hs"),
      state("m.room.power_levels", "", {{"users", json::object{{"@c:hs", 100}}}}, "@c:hs"),
      state("m.room.join_rules", "", {{"join_rule", "public"}}, "@c:hs"),
  };
  w.run("create_room", {{"room_id", id}, {"room_version", "10"}, {"creator", "@c:hs"}, {"events", events},
                        {"aliases", json::array{json::value("#" + id.substr(1, 1) + ":hs")}}});
  w.run("append", {{"room_id", id}, {"event", state("m.room.member", "@m:hs", {{"membership", "join"}}, "@m:hs")}});
  w.run("append", {{"room_id", id},
                   {"event", {{"type", "m.room.message"}, {"sender", "@m:hs"},
                              {"content", {{"msgtype", "m.text"}, {"body", "hello"}}}}}});
}

int64_t rows_of(connection& c, const std::string& table, const std::string& room_id) {
  return count(c, "SELECT COUNT(*) FROM " + table + " WHERE room_id = '" + room_id + "'");
}

} // namespace

BOOST_AUTO_TEST_SUITE(admin_moderation_tests)

BOOST_AUTO_TEST_CASE(registration_token_uses) {
  for_each_backend([](database& db, dialect) {
    stream_runner w{db, accounts_stream()};
    w.run("create_registration_token", {{"token", "t"}, {"uses_allowed", 2}});
    BOOST_TEST(w.refusal("create_registration_token", {{"token", "t"}}) == "400 M_INVALID_PARAM");
    {
      auto c = db.acquire();
      for (auto s : {"s1", "s2", "s3"}) add_session(*c, s, 100);
    }
    // Two uses: two sessions get one each, the third none.
    BOOST_TEST(reserve(w, "s1"));
    BOOST_TEST(reserve(w, "s2"));
    BOOST_TEST(!reserve(w, "s3"));
    BOOST_TEST(token(db, "t").pending == 2);
    {
      auto c = db.acquire();
      BOOST_TEST(!registration_tokens::is_valid(*c, "t", 1000));
      BOOST_TEST(count(*c, "SELECT COUNT(*) FROM ui_auth_sessions WHERE registration_token = 't'") == 2);
    }
    // A registration completes one use; a failed one gives its use back.
    w.run("register", {{"user_id", "@new:hs"}, {"registration_token", "t"}});
    w.run("release_registration_token", {{"token", "t"}});
    auto t = token(db, "t");
    BOOST_TEST((t.pending == 0 && t.completed == 1));
    // A session past its lifetime gives its use back before the next reservation.
    {
      auto c = db.acquire();
      add_session(*c, "old", 5);
      add_session(*c, "s4", 100);
    }
    BOOST_TEST(reserve(w, "old"));
    BOOST_TEST(!reserve(w, "s4"));  // 1 completed + 1 pending
    BOOST_TEST(reserve(w, "s4", 50));
    {
      auto c = db.acquire();
      BOOST_TEST(count(*c, "SELECT COUNT(*) FROM ui_auth_sessions WHERE session_id = 'old'") == 0);
    }
    BOOST_TEST(token(db, "t").pending == 1);

    // Changes: unlimited uses, then an expiry in the past.
    w.run("update_registration_token", {{"token", "t"}, {"uses_allowed", nullptr}});
    BOOST_TEST(!token(db, "t").uses_allowed.has_value());
    w.run("update_registration_token", {{"token", "t"}, {"expiry_time", 1}});
    {
      auto c = db.acquire();
      add_session(*c, "s5", 100);
      BOOST_TEST(registration_tokens::list(*c, false, 1000).size() == 1u);
      BOOST_TEST(registration_tokens::list(*c, true, 1000).empty());
    }
    BOOST_TEST(!reserve(w, "s5"));
    BOOST_TEST(w.refusal("update_registration_token", {{"token", "nope"}}) == "404 M_NOT_FOUND");
    w.run("delete_registration_token", {{"token", "t"}});
    BOOST_TEST(w.refusal("delete_registration_token", {{"token", "t"}}) == "404 M_NOT_FOUND");
  });
}

BOOST_AUTO_TEST_CASE(block_and_purge_room) {
  for_each_backend([](database& db, dialect) {
    stream_runner w{db, events_stream(event_signer{"hs", myelin::protocol::generate_signing_key()})};
    make_room(w, "!a:hs");
    make_room(w, "!b:hs");
    {
      auto c = db.acquire();
      c->exec("INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, data, position) "
              "VALUES ('!a:hs', 'm.read', '@m:hs', '', '$x', '{}', 1)");
      c->exec("INSERT INTO account_data (user_id, room_id, type, content, position) VALUES "
              "('@m:hs', '!a:hs', 'm.tag', '{}', 1), ('@m:hs', '', 'm.global', '{}', 2)");
    }
    w.run("block_room", {{"room_id", "!a:hs"}, {"user_id", "@admin:hs"}, {"block", true}});
    w.run("purge_room", {{"room_id", "!a:hs"}});
    auto c = db.acquire();
    for (const char* table : {"events", "current_state_events", "state_groups", "room_heads", "rooms", "receipts",
                              "account_data", "room_aliases"})
      BOOST_TEST(rows_of(*c, table, "!a:hs") == 0, table);
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM state_group_entries e JOIN state_groups g ON g.id = e.state_group "
                         "WHERE g.room_id = '!b:hs'") > 0);
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM state_group_entries WHERE state_group NOT IN "
                         "(SELECT id FROM state_groups)") == 0);
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM account_data WHERE room_id = ''") == 1);
    BOOST_TEST(rows_of(*c, "events", "!b:hs") == 6);
    BOOST_TEST(rows_of(*c, "room_aliases", "!b:hs") == 1);
    // The block outlives the purge; the persister no longer knows the room.
    BOOST_TEST(room_moderation::blocked_by(*c, "!a:hs").value_or("") == "@admin:hs");
    BOOST_TEST(w.refusal("append", {{"room_id", "!a:hs"},
                                    {"event", state("m.room.member", "@m:hs", {{"membership", "join"}}, "@m:hs")}}) ==
               "404 M_NOT_FOUND");
    w.run("block_room", {{"room_id", "!a:hs"}, {"user_id", "@admin:hs"}, {"block", false}});
    BOOST_TEST(!room_moderation::blocked_by(*c, "!a:hs").has_value());
  });
}

BOOST_AUTO_TEST_CASE(purge_history_keeps_state_and_the_latest_message) {
  for_each_backend([](database& db, dialect) {
    stream_runner w{db, events_stream(event_signer{"hs", myelin::protocol::generate_signing_key()})};
    make_room(w, "!h:hs");  // 4 state events, a join, one message
    auto far_join = state("m.room.member", "@far:other", {{"membership", "join"}}, "@far:other");
    w.run("append", {{"room_id", "!h:hs"}, {"event", far_join}});
    std::vector<std::string> said;
    for (int i = 0; i < 3; ++i)
      said.push_back(std::string(
          w.run("append", {{"room_id", "!h:hs"},
                           {"event", {{"type", "m.room.message"}, {"sender", i == 0 ? "@far:other" : "@m:hs"},
                                      {"content", {{"msgtype", "m.text"}, {"body", "x"}}}}}})
              .at("event_id")
              .as_string()));
    auto messages = [&] {
      auto c = db.acquire();
      return count(*c, "SELECT COUNT(*) FROM events WHERE room_id = '!h:hs' AND state_key IS NULL");
    };
    BOOST_TEST(messages() == 4);
    // Local users' events stay unless asked: only the remote sender's message goes.
    auto r = w.run("purge_history", {{"room_id", "!h:hs"}, {"before_ts", INT64_MAX}, {"server_name", "hs"}});
    BOOST_TEST(r.at("deleted").as_int64() == 1);
    r = w.run("purge_history",
              {{"room_id", "!h:hs"}, {"before_ts", INT64_MAX}, {"server_name", "hs"}, {"delete_local_events", true}});
    BOOST_TEST(r.at("deleted").as_int64() == 2);
    BOOST_TEST(messages() == 1);  // the latest message (also the forward extremity) stays
    auto c = db.acquire();
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM events WHERE event_id = '" + said.back() + "'") == 1);
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM events WHERE room_id = '!h:hs' AND state_key IS NOT NULL") == 6);
    // The room can still be sent to.
    w.run("append", {{"room_id", "!h:hs"},
                     {"event", {{"type", "m.room.message"}, {"sender", "@m:hs"}, {"content", {{"body", "y"}}}}}});
  });
}

BOOST_AUTO_TEST_CASE(room_tasks) {
  for_each_backend([](database& db, dialect) {
    stream_runner w{db, events_stream(event_signer{"hs", myelin::protocol::generate_signing_key()})};
    w.run("record_room_task", {{"task_id", "T1"}, {"kind", "delete_room"}, {"room_id", "!r:hs"},
                               {"status", "scheduled"}, {"created_ts", 5}});
    w.run("record_room_task", {{"task_id", "T1"}, {"kind", "delete_room"}, {"room_id", "!r:hs"},
                               {"status", "failed"}, {"error", "boom"}, {"result", {{"a", 1}}}, {"created_ts", 9}});
    auto c = db.acquire();
    auto t = room_moderation::get_task(*c, "T1", "delete_room").value();
    BOOST_TEST((t.status == "failed" && t.error.value_or("") == "boom" && t.result == R"({"a":1})"));
    BOOST_TEST(t.created_ts == 5);  // the first record's time stays
    BOOST_TEST(!room_moderation::get_task(*c, "T1", "purge_history").has_value());
    BOOST_TEST(room_moderation::tasks_for_room(*c, "!r:hs", "delete_room").size() == 1u);
  });
}

BOOST_AUTO_TEST_SUITE_END()
