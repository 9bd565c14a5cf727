// The typing, receipts, to_device and presence streams: their operations driven directly over a
// connection (both engines), the read functions /sync will call, and the stream writer's periodic
// operation (typing expiry end to end through a writer actor and the node's typing cache).
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

#include <thread>

#include "actors/runtime/node.hpp"
#include "actors/runtime/node_views.hpp"
#include "actors/runtime/stream_hub.hpp"
#include "actors/runtime/stream_writer.hpp"
#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/streams/stream_definition.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/presence.hpp"
#include "storage/tables/receipts.hpp"
#include "storage/tables/to_device.hpp"
#include "storage_fixture.hpp"

using namespace myelin;
using namespace myelin::storage;
using namespace myelin::test;
namespace json = boost::json;

namespace {

// Runs a stream's operations the way its writer does: one transaction each, the transaction hooks
// around it, positions counted across calls.
struct stream_driver {
  stream_definition def;
  database& db;
  int64_t position = 0;

  op_output run(const std::string& op, const json::object& args) {
    int64_t pos = position;
    try {
      auto out = db.transact([&](connection& c) {
        pos = position;
        if (def.hooks.on_begin) def.hooks.on_begin();
        op_context ctx{c, "writer.test/0", pos};
        auto r = def.ops.at(op)(ctx, args);
        if (!r.rows.empty() && pos == position) ++pos;  // rows without their own position share one
        return r;
      });
      if (def.hooks.on_commit) def.hooks.on_commit();
      position = pos;
      return out;
    } catch (...) {
      if (def.hooks.on_abort) def.hooks.on_abort();
      throw;
    }
  }
};

int errcode_status(const std::function<void()>& f, std::string& errcode) {
  try {
    f();
  } catch (const protocol::matrix_error& e) {
    errcode = e.errcode();
    return e.status();
  }
  return 0;
}

int64_t row_position(const json::object& row) { return row.at("position").as_int64(); }

std::vector<std::string> user_ids(const json::object& row) {
  std::vector<std::string> out;
  for (const auto& u : row.at("user_ids").as_array()) out.emplace_back(u.as_string());
  return out;
}

// A minimal stored event (enough for ordering and relations).
void add_event(connection& c, const std::string& room_id, const std::string& event_id, int64_t depth,
               int64_t stream_ordering) {
  events::event_row e;
  e.event_id = event_id;
  e.room_id = room_id;
  e.persister = "writer.events/0";
  e.stream_ordering = stream_ordering;
  e.topological_ordering = depth;
  e.type = "m.room.message";
  e.sender = "@a:hs";
  e.origin_server_ts = 1;
  e.json = "{}";
  events::insert_event(c, e);
}

void join(connection& c, const std::string& room_id, const std::string& user_id) {
  events::set_current_state(c, room_id, "m.room.member", user_id, "$join_" + user_id + room_id, std::string("join"));
}

void add_device(connection& c, const std::string& user_id, const std::string& device_id, int64_t created_ts) {
  accounts::device_row d;
  d.user_id = user_id;
  d.device_id = device_id;
  d.last_seen_ts = created_ts;  // a new device's created_ts is its first last_seen_ts
  accounts::upsert_device(c, d);
}

} // namespace

BOOST_AUTO_TEST_SUITE(ephemeral_tests)

BOOST_AUTO_TEST_CASE(typing_changes_expiry_and_rollback) {
  for_each_backend([](database& db, dialect) {
    stream_driver s{typing_stream(), db};
    const int64_t t = 1'000'000;
    auto set = [&](const std::string& user, bool typing, int64_t timeout, int64_t now) {
      return s.run("set", {{"room_id", "!r:hs"}, {"user_id", user}, {"typing", typing}, {"timeout_ms", timeout},
                           {"now_ms", now}});
    };
    auto first = set("@a:hs", true, 30000, t);
    BOOST_REQUIRE_EQUAL(first.rows.size(), 1u);
    BOOST_TEST(first.rows[0].at("type").as_string() == "typing");
    BOOST_TEST(first.rows[0].at("room_id").as_string() == "!r:hs");
    BOOST_TEST(user_ids(first.rows[0]) == std::vector<std::string>{"@a:hs"});
    BOOST_TEST(row_position(first.rows[0]) == 1);
    // Typing again only moves the expiry: no row, no position.
    BOOST_TEST(set("@a:hs", true, 60000, t + 1000).rows.empty());
    BOOST_TEST(s.position == 1);
    auto second = set("@b:hs", true, 10000, t);
    BOOST_TEST(user_ids(second.rows.at(0)) == (std::vector<std::string>{"@a:hs", "@b:hs"}));
    // Stopping when not typing changes nothing.
    BOOST_TEST(set("@c:hs", false, 0, t).rows.empty());

    // b expires at t+10s; a (moved to t+61s) stays.
    BOOST_TEST(s.run("expire", {{"now_ms", t + 9999}}).rows.empty());
    auto expired = s.run("expire", {{"now_ms", t + 10000}});
    BOOST_REQUIRE_EQUAL(expired.rows.size(), 1u);
    BOOST_TEST(user_ids(expired.rows[0]) == std::vector<std::string>{"@a:hs"});
    auto stopped = set("@a:hs", false, 0, t + 20000);
    BOOST_TEST(user_ids(stopped.rows.at(0)).empty());  // the room's list, now empty
    BOOST_TEST(s.run("expire", {{"now_ms", t + 100000}}).rows.empty());

    // A refused write stages nothing, and a rolled-back transaction leaves no typing behind.
    std::string errcode;
    BOOST_TEST(errcode_status([&] { s.run("set", {{"room_id", "!r:hs"}, {"user_id", "@a:hs"}}); }, errcode) == 400);
    BOOST_TEST(errcode == "M_MISSING_PARAM");
    {
      auto lease = db.acquire();
      s.def.hooks.on_begin();
      int64_t pos = s.position;
      op_context ctx{*lease, "w", pos};
      BOOST_TEST(!s.def.ops.at("set")(ctx, {{"room_id", "!r:hs"}, {"user_id", "@z:hs"}, {"typing", true}}).rows.empty());
      s.def.hooks.on_abort();
    }
    auto after_abort = set("@z:hs", true, 30000, t + 30000);
    BOOST_TEST(user_ids(after_abort.rows.at(0)) == std::vector<std::string>{"@z:hs"});  // z was not typing before
  });
}

BOOST_AUTO_TEST_CASE(typing_periodic_check) {
  for_each_backend([](database& db, dialect) {
    stream_driver s{typing_stream(), db};
    BOOST_REQUIRE(s.def.periodic.has_value());
    BOOST_TEST(s.def.periodic->op == "expire");
    BOOST_TEST(!s.def.periodic->due());  // nothing typing
    s.run("set", {{"room_id", "!r:hs"}, {"user_id", "@a:hs"}, {"typing", true}, {"timeout_ms", 30000}});
    BOOST_TEST(!s.def.periodic->due());  // expires in 30 s
    s.run("set", {{"room_id", "!q:hs"}, {"user_id", "@a:hs"}, {"typing", true}, {"timeout_ms", 0}});
    BOOST_TEST(s.def.periodic->due());
    auto out = s.run("expire", {});
    BOOST_REQUIRE_EQUAL(out.rows.size(), 1u);
    BOOST_TEST(out.rows[0].at("room_id").as_string() == "!q:hs");
    BOOST_TEST(!s.def.periodic->due());
  });
}

BOOST_AUTO_TEST_CASE(receipts_only_move_forward_per_key) {
  for_each_backend([](database& db, dialect) {
    {
      auto c = db.acquire();
      add_event(*c, "!r:hs", "$e1", 1, 1);
      add_event(*c, "!r:hs", "$e2", 2, 2);
      add_event(*c, "!r:hs", "$e3", 3, 3);
      add_event(*c, "!r:hs", "$reply", 4, 4);
      add_event(*c, "!r:hs", "$edit", 5, 5);
      add_event(*c, "!other:hs", "$x", 1, 6);
      events::insert_relation(*c, "$reply", "!r:hs", "$e1", "m.thread", std::nullopt);
      events::insert_relation(*c, "$edit", "!r:hs", "$reply", "m.replace", std::nullopt);
    }
    stream_driver s{receipts_stream(), db};
    auto set = [&](const std::string& type, const std::string& event_id, const std::string& thread = "",
                   const std::string& user = "@a:hs") {
      return s.run("set", {{"room_id", "!r:hs"}, {"receipt_type", type}, {"user_id", user}, {"thread_id", thread},
                           {"event_id", event_id}, {"ts", 42}});
    };
    auto r = set("m.read", "$e2");
    BOOST_REQUIRE_EQUAL(r.rows.size(), 1u);
    BOOST_TEST(r.result.at("updated").as_bool());
    BOOST_TEST(r.rows[0].at("type").as_string() == "receipt");
    BOOST_TEST(r.rows[0].at("event_id").as_string() == "$e2");
    BOOST_TEST(r.rows[0].at("receipt_type").as_string() == "m.read");
    BOOST_TEST(r.rows[0].at("thread_id").as_string() == "");
    // Older or the same event: ignored, no position.
    BOOST_TEST(set("m.read", "$e1").rows.empty());
    BOOST_TEST(!set("m.read", "$e2").result.at("updated").as_bool());
    BOOST_TEST(s.position == 1);
    // Other keys are independent: the main timeline, a private receipt, another user.
    BOOST_TEST(set("m.read", "$e1", "main").rows.size() == 1u);
    BOOST_TEST(set("m.read.private", "$e3").rows.size() == 1u);
    BOOST_TEST(set("m.read", "$e1", "", "@b:hs").rows.size() == 1u);
    BOOST_TEST(set("m.read", "$e3").rows.size() == 1u);
    BOOST_TEST(s.position == 5);

    std::string errcode;
    BOOST_TEST(errcode_status([&] { set("m.read", "$nope"); }, errcode) == 404);
    BOOST_TEST(errcode_status([&] { set("m.read", "$x"); }, errcode) == 404);  // another room's event
    BOOST_TEST(errcode_status([&] { set("m.fully_read", "$e3"); }, errcode) == 400);
    BOOST_TEST(errcode == "M_INVALID_PARAM");

    auto c = db.acquire();
    auto stored = receipts::get(*c, "!r:hs", "m.read", "@a:hs", "");
    BOOST_REQUIRE(stored.has_value());
    BOOST_TEST(stored->event_id == "$e3");
    BOOST_TEST(protocol::parse_object(stored->data) == (json::object{{"ts", 42}}));
    BOOST_TEST(protocol::parse_object(receipts::get(*c, "!r:hs", "m.read", "@a:hs", "main")->data) ==
               (json::object{{"ts", 42}, {"thread_id", "main"}}));

    // changed(): after 0 = every current receipt; a window = what changed in it.
    auto all = receipts::changed(*c, {"!r:hs", "!other:hs"}, 0, s.position);
    BOOST_TEST(all.size() == 4u);
    auto window = receipts::changed(*c, {"!r:hs"}, 3, 5);
    BOOST_REQUIRE_EQUAL(window.size(), 2u);
    BOOST_TEST(window[0].user_id == "@b:hs");
    BOOST_TEST(window[1].event_id == "$e3");
    BOOST_TEST(receipts::changed(*c, {"!r:hs"}, 0, 1).empty());  // the first receipt was replaced at 5
    // Long room lists are chunked.
    std::vector<std::string> many;
    for (int i = 0; i < 600; ++i) many.push_back("!filler" + std::to_string(i) + ":hs");
    many.push_back("!r:hs");
    BOOST_TEST(receipts::changed(*c, many, 0, s.position).size() == 4u);

    // Others never see a's private receipt.
    auto for_b = receipts::receipt_events(all, "@b:hs");
    BOOST_REQUIRE_EQUAL(for_b.size(), 1u);
    auto content = for_b.at("!r:hs").at("content").as_object();
    BOOST_TEST(for_b.at("!r:hs").at("type").as_string() == "m.receipt");
    BOOST_TEST(!content.at("$e3").as_object().contains("m.read.private"));
    BOOST_TEST(content.at("$e3").at("m.read").at("@a:hs").at("ts").as_int64() == 42);
    BOOST_TEST(content.at("$e1").at("m.read").as_object().size() == 2u);  // b's, and a's main
    auto for_a = receipts::receipt_events(all, "@a:hs");
    BOOST_TEST(for_a.at("!r:hs").at("content").at("$e3").as_object().contains("m.read.private"));

    // The furthest read point, public or private.
    BOOST_TEST(receipts::latest_read(*c, "!r:hs", "@a:hs")->event_id == "$e3");
    BOOST_TEST(receipts::latest_read(*c, "!r:hs", "@b:hs")->event_id == "$e1");
    BOOST_TEST(!receipts::latest_read(*c, "!r:hs", "@nobody:hs").has_value());

    // Threads for threaded receipts: a reply and an edit of it are in the root's thread.
    BOOST_TEST(receipts::thread_of_event(*c, "$reply") == "$e1");
    BOOST_TEST(receipts::thread_of_event(*c, "$edit") == "$e1");
    BOOST_TEST(receipts::thread_of_event(*c, "$e1") == "main");
    BOOST_TEST(receipts::thread_of_event(*c, "$e2") == "main");
  });
}

BOOST_AUTO_TEST_CASE(to_device_delivery_idempotency_and_ack) {
  for_each_backend([](database& db, dialect) {
    const int64_t past = now_ms() - 60000;
    {
      auto c = db.acquire();
      add_device(*c, "@a:hs", "A1", past);
      add_device(*c, "@a:hs", "A2", past);
      add_device(*c, "@b:hs", "B1", past);
    }
    stream_driver s{to_device_stream(), db};
    auto send = [&](const std::string& txn, json::object messages) {
      return s.run("send", {{"sender", "@s:hs"}, {"sender_device", "S"}, {"type", "m.test"}, {"txn_id", txn},
                            {"messages", std::move(messages)}});
    };
    json::object first{{"@a:hs", {{"*", {{"n", 1}}}}},
                       {"@b:hs", {{"B1", {{"n", 2}}}, {"NOPE", {{"n", 3}}}}},
                       {"@unknown:hs", {{"*", {{"n", 4}}}}}};
    auto out = send("t1", first);
    BOOST_REQUIRE_EQUAL(out.rows.size(), 3u);  // A1, A2, B1: unknown users and devices are skipped
    for (const auto& row : out.rows) {
      BOOST_TEST(row.at("type").as_string() == "to_device");
      BOOST_TEST(row_position(row) == 1);
    }
    // The same transaction again delivers nothing and takes no position.
    BOOST_TEST(send("t1", first).rows.empty());
    BOOST_TEST(s.position == 1);
    // Another transaction id (or another event type) is another message.
    BOOST_TEST(send("t2", {{"@a:hs", {{"A1", {{"n", 5}}}}}}).rows.size() == 1u);
    BOOST_TEST(s.position == 2);

    auto c = db.acquire();
    auto a1 = to_device::pending(*c, "@a:hs", "A1", 0, s.position, 100);
    BOOST_REQUIRE_EQUAL(a1.size(), 2u);
    BOOST_TEST(a1[0].position == 1);
    BOOST_TEST(a1[0].sender == "@s:hs");
    BOOST_TEST(a1[0].type == "m.test");
    BOOST_TEST(protocol::parse_object(a1[0].content) == (json::object{{"n", 1}}));
    BOOST_TEST(protocol::parse_object(a1[1].content) == (json::object{{"n", 5}}));
    BOOST_TEST(to_device::pending(*c, "@a:hs", "A1", 0, s.position, 1).size() == 1u);   // limit
    BOOST_TEST(to_device::pending(*c, "@a:hs", "A1", 0, 1, 100).size() == 1u);          // upto
    BOOST_TEST(to_device::pending(*c, "@a:hs", "A1", 1, s.position, 100).size() == 1u); // after
    BOOST_TEST(to_device::pending(*c, "@b:hs", "B1", 0, s.position, 100).size() == 1u);

    // ack deletes up to a position, silently.
    auto acked = s.run("ack", {{"user_id", "@a:hs"}, {"device_id", "A1"}, {"upto", 1}});
    BOOST_TEST(acked.rows.empty());
    BOOST_TEST(s.position == 2);
    a1 = to_device::pending(*c, "@a:hs", "A1", 0, s.position, 100);
    BOOST_REQUIRE_EQUAL(a1.size(), 1u);
    BOOST_TEST(a1[0].position == 2);
    BOOST_TEST(to_device::pending(*c, "@a:hs", "A2", 0, s.position, 100).size() == 1u);  // other devices keep theirs

    // A deleted device's messages are gone for a new device of the same id, and cleaned up.
    accounts::delete_devices(*c, "@b:hs", {"B1"});
    BOOST_TEST(to_device::pending(*c, "@b:hs", "B1", 0, s.position, 100).empty());
    add_device(*c, "@b:hs", "B1", now_ms() + 1000);
    BOOST_TEST(to_device::pending(*c, "@b:hs", "B1", 0, s.position, 100).empty());
    s.run("cleanup", {});
    BOOST_TEST(c->exec("SELECT COUNT(*) FROM device_inbox WHERE user_id = '@b:hs'")[0].as_int(0) == 0);
    BOOST_TEST(c->exec("SELECT COUNT(*) FROM device_inbox WHERE user_id = '@a:hs'")[0].as_int(0) == 2);
    BOOST_TEST(c->exec("SELECT COUNT(*) FROM device_inbox_txns")[0].as_int(0) == 2);  // younger than a day

    std::string errcode;
    BOOST_TEST(errcode_status([&] { send("t3", {{"@a:hs", {{"A1", "not an object"}}}}); }, errcode) == 400);
    BOOST_TEST(errcode == "M_BAD_JSON");
  });
}

BOOST_AUTO_TEST_CASE(presence_rules_rows_and_visibility) {
  for_each_backend([](database& db, dialect) {
    {
      auto c = db.acquire();
      join(*c, "!r:hs", "@a:hs");
      join(*c, "!r:hs", "@b:hs");
      join(*c, "!s:hs", "@c:hs");
      events::set_current_state(*c, "!s:hs", "m.room.member", "@a:hs", "$left", std::string("leave"));
    }
    stream_driver s{presence_stream(true), db};
    const int64_t t = 10'000'000;
    auto touch = [&](const std::string& user, int64_t now, int64_t timeout = 0, const std::string& state = "online") {
      return s.run("sync_touch", {{"user_id", user}, {"presence", state}, {"timeout_ms", timeout}, {"now_ms", now}});
    };

    auto a_online = touch("@a:hs", t, 300000);
    BOOST_REQUIRE_EQUAL(a_online.rows.size(), 1u);
    BOOST_TEST(a_online.rows[0].at("type").as_string() == "presence");
    BOOST_TEST(a_online.rows[0].at("user_id").as_string() == "@a:hs");
    BOOST_TEST(a_online.rows[0].at("rooms") == (json::array{"!r:hs"}));
    // Syncing again changes nothing anyone sees: no row, no position.
    BOOST_TEST(touch("@a:hs", t + 1000, 300000).rows.empty());
    BOOST_TEST(touch("@a:hs", t + 2000, 0, "offline").rows.empty());
    BOOST_TEST(s.position == 1);
    // A status message is a change.
    BOOST_TEST(s.run("set", {{"user_id", "@a:hs"}, {"presence", "online"}, {"status_msg", "lunch"}, {"now_ms", t}})
                   .rows.size() == 1u);
    BOOST_TEST(touch("@b:hs", t).rows.size() == 1u);
    BOOST_TEST(s.position == 3);

    auto c = db.acquire();
    auto a = presence::get(*c, "@a:hs");
    BOOST_REQUIRE(a.has_value());
    BOOST_TEST(a->state == "online");
    BOOST_TEST(a->currently_active);
    BOOST_TEST(*a->status_msg == "lunch");
    auto content = presence::presence_content(*a, t + 5000);
    BOOST_TEST(content == (json::object{{"presence", "online"}, {"last_active_ago", 5000}, {"status_msg", "lunch"},
                                        {"currently_active", true}}));
    auto event = presence::presence_event(*a, t + 5000);
    BOOST_TEST(event.at("type").as_string() == "m.presence");
    BOOST_TEST(event.at("sender").as_string() == "@a:hs");

    // A minute later: a (still syncing) is no longer "currently active"; b stopped syncing 30 s
    // ago and goes offline. One position for both.
    auto swept = s.run("timeouts", {{"now_ms", t + 61000}});
    BOOST_REQUIRE_EQUAL(swept.rows.size(), 2u);
    BOOST_TEST(row_position(swept.rows[0]) == 4);
    BOOST_TEST(row_position(swept.rows[1]) == 4);
    BOOST_TEST(presence::get(*c, "@a:hs")->state == "online");
    BOOST_TEST(!presence::get(*c, "@a:hs")->currently_active);
    BOOST_TEST(presence::get(*c, "@b:hs")->state == "offline");
    BOOST_TEST(s.run("timeouts", {{"now_ms", t + 62000}}).rows.empty());

    // Idle for five minutes while syncing: unavailable; activity brings a back online.
    touch("@a:hs", t + 250000, 300000);
    auto idle = s.run("timeouts", {{"now_ms", t + 301000}});
    BOOST_REQUIRE_EQUAL(idle.rows.size(), 1u);
    BOOST_TEST(presence::get(*c, "@a:hs")->state == "unavailable");
    BOOST_TEST(touch("@a:hs", t + 302000, 300000).rows.empty());  // syncing does not undo idle
    BOOST_TEST(s.run("active", {{"user_id", "@a:hs"}, {"now_ms", t + 303000}}).rows.size() == 1u);
    a = presence::get(*c, "@a:hs");
    BOOST_TEST(a->state == "online");
    BOOST_TEST(a->currently_active);
    BOOST_TEST(a->position == 6);
    // An explicit unavailable sticks while the user keeps syncing online.
    BOOST_TEST(s.run("set", {{"user_id", "@a:hs"}, {"presence", "unavailable"}, {"now_ms", t + 304000}}).rows.size() == 1u);
    BOOST_TEST(touch("@a:hs", t + 305000, 300000).rows.empty());
    BOOST_TEST(presence::get(*c, "@a:hs")->state == "unavailable");
    BOOST_TEST(!presence::get(*c, "@a:hs")->status_msg.has_value());  // a set without status_msg clears it

    // Who sees what: b shares !r with a; c shares nothing (a left !s).
    auto for_b = presence::changed_for_viewer(*c, "@b:hs", 0, s.position);
    BOOST_REQUIRE_EQUAL(for_b.size(), 2u);
    BOOST_TEST(for_b[0].user_id == "@b:hs");
    BOOST_TEST(for_b[1].user_id == "@a:hs");
    BOOST_TEST(presence::changed_for_viewer(*c, "@b:hs", 4, s.position).size() == 1u);
    BOOST_TEST(presence::changed_for_viewer(*c, "@b:hs", s.position, s.position).empty());
    BOOST_TEST(presence::changed_for_viewer(*c, "@c:hs", 0, s.position).empty());  // never seen, no one shared
    BOOST_TEST(presence::shares_joined_room(*c, "@a:hs", "@b:hs"));
    BOOST_TEST(!presence::shares_joined_room(*c, "@a:hs", "@c:hs"));
    BOOST_TEST(!presence::get(*c, "@c:hs").has_value());

    std::string errcode;
    BOOST_TEST(errcode_status([&] { s.run("set", {{"user_id", "@a:hs"}, {"presence", "away"}}); }, errcode) == 400);
    BOOST_TEST(errcode == "M_INVALID_PARAM");

    // A sweep handles a bounded batch (thousands of clients disconnecting at once must not hold the
    // writer for seconds); the next sweep takes the rest.
    for (auto u : {"@d:hs", "@e:hs", "@f:hs"}) touch(u, t + 400000, 1000);
    BOOST_TEST(s.run("timeouts", {{"now_ms", t + 500000}, {"limit", 2}}).rows.size() == 2u);
    BOOST_TEST(s.run("timeouts", {{"now_ms", t + 500000}, {"limit", 2}}).rows.size() == 1u);
    for (auto u : {"@d:hs", "@e:hs", "@f:hs"}) BOOST_TEST(presence::get(*c, u)->state == "offline");
  });
}

BOOST_AUTO_TEST_CASE(presence_disabled_stores_nothing) {
  for_each_backend([](database& db, dialect) {
    stream_driver s{presence_stream(false), db};
    BOOST_TEST(!s.def.periodic.has_value());
    BOOST_TEST(s.run("set", {{"user_id", "@a:hs"}, {"presence", "online"}}).rows.empty());
    BOOST_TEST(s.run("sync_touch", {{"user_id", "@a:hs"}}).rows.empty());
    BOOST_TEST(db.acquire()->exec("SELECT COUNT(*) FROM presence")[0].as_int(0) == 0);
  });
}

// The writer's periodic operation, end to end: typing set with a short timeout through a writer
// actor reaches the node's typing cache, and the periodic expiry removes it without any request.
BOOST_AUTO_TEST_CASE(writer_runs_the_periodic_operation) {
  run_sqlite(
      [](database& db, dialect) {
        caf::actor_system_config cfg;
        runtime::configure_actor_system(cfg, 1);
        caf::actor_system sys{cfg};
        auto views = std::make_shared<runtime::node_views>();
        auto listeners = std::make_shared<runtime::hub_listeners>();
        listeners->by_stream.emplace("typing", [views](const stream_update& u) { views->typing.apply(u); });
        auto hub = runtime::spawn_stream_hub(sys, listeners, {});
        auto wcfg = std::make_shared<runtime::stream_writer_config>();
        wcfg->definition = typing_stream();
        wcfg->definition.periodic->interval = std::chrono::milliseconds(20);
        wcfg->writer_name = "writer.typing/0";
        wcfg->db = &db;
        wcfg->hub = hub;
        auto writer = runtime::spawn_stream_writer(sys, wcfg);

        caf::scoped_actor self{sys};
        auto args = json::serialize(json::object{{"room_id", "!r:hs"}, {"user_id", "@a:hs"}, {"typing", true},
                                                 {"timeout_ms", 150}});
        write_result result;
        self->request(writer, std::chrono::seconds(5), write_request{"set", args})
            .receive([&](write_result& r) { result = std::move(r); }, [&](caf::error& e) { BOOST_FAIL(to_string(e)); });
        BOOST_TEST(result.status == 200);
        BOOST_TEST(result.position.position == 1);

        auto typing_users = [&] {
          runtime::typing_cache::room_typing room;
          return views->typing.changed_since("!r:hs", 0, room) ? room.user_ids : std::vector<std::string>{"?"};
        };
        auto wait_for = [&](const std::vector<std::string>& want) {
          for (int i = 0; i < 300 && typing_users() != want; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          return typing_users();
        };
        BOOST_TEST(wait_for({"@a:hs"}) == std::vector<std::string>{"@a:hs"});
        BOOST_TEST(wait_for({}).empty());  // expired by the writer itself
        BOOST_TEST(runtime::load_stream_position(db, "typing", "writer.typing/0") == 2);
        // Typing rows are not logged: they are worthless once published.
        BOOST_TEST(db.acquire()->exec("SELECT COUNT(*) FROM stream_log")[0].as_int(0) == 0);
        self->send_exit(writer, caf::exit_reason::user_shutdown);
        self->send_exit(hub, caf::exit_reason::user_shutdown);
      },
      /*migrate=*/true);
}

BOOST_AUTO_TEST_SUITE_END()
