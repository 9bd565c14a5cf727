// The federation sender's pure parts (actors/federation_sender/queue): the servers an event goes
// to, transactions cut from a destination's queue (at most 50 PDUs and 100 EDUs), the queue's cap,
// the backoff schedule; and its tables on SQLite and PostgreSQL: catch-up selection (the newest
// unsent event per room), the stored backoff, the to-device outbox.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "actors/federation_sender/queue.hpp"
#include "storage/tables/federation_sender.hpp"
#include "storage_fixture.hpp"

using namespace myelin::federation_sender;
using namespace myelin::test;
namespace tables = myelin::storage::federation_sender;
namespace json = boost::json;
using std::chrono::milliseconds;
using strings = std::vector<std::string>;

namespace {

queued_pdu pdu(int i) { return {"$e" + std::to_string(i), json::object{{"n", i}}}; }
json::object edu(int i) { return {{"edu_type", "m.typing"}, {"content", {{"n", i}}}}; }

} // namespace

BOOST_AUTO_TEST_SUITE(federation_sender_tests)

BOOST_AUTO_TEST_CASE(destinations_from_members) {
  strings members{"@a:here", "@b:remote.example", "@c:remote.example", "@d:other.example:8448", "bad", "@e:here"};
  BOOST_TEST(servers_of(members, "here") == (strings{"other.example:8448", "remote.example"}));
  BOOST_TEST(servers_of({"@a:here"}, "here").empty());
}

BOOST_AUTO_TEST_CASE(transactions_are_batched_in_order) {
  destination_queue q(1000, 1000);
  for (int i = 0; i < 120; ++i) BOOST_TEST(q.push_pdu(pdu(i)));
  for (int i = 0; i < 230; ++i) q.push_edu(edu(i));
  // A transaction: the 50 oldest PDUs and 100 oldest EDUs; nothing leaves until popped.
  auto p = q.peek_pdus();
  auto e = q.peek_edus();
  BOOST_TEST(p.size() == max_pdus_per_transaction);
  BOOST_TEST(e.size() == max_edus_per_transaction);
  BOOST_TEST(p.front()->event_id == "$e0");
  BOOST_TEST(p.back()->event_id == "$e49");
  BOOST_TEST(q.peek_pdus().front()->event_id == "$e0");
  q.pop(p.size(), e.size());
  BOOST_TEST(q.peek_pdus().front()->event_id == "$e50");
  BOOST_TEST(q.peek_edus().front()->at("content").at("n").as_int64() == 100);
  q.pop(50, 100);
  BOOST_TEST(q.peek_pdus().size() == 20u);
  BOOST_TEST(q.peek_edus().size() == 30u);
  BOOST_TEST(q.peek_edus(10).size() == 10u);  // room left after the outbox's EDUs
  q.pop(20, 30);
  BOOST_TEST(q.empty());

  auto body = transaction_body("here", 123, {json::object{{"n", 1}}}, {});
  BOOST_TEST(json::serialize(body) == R"({"origin":"here","origin_server_ts":123,"pdus":[{"n":1}],"edus":[]})");
}

BOOST_AUTO_TEST_CASE(queue_caps) {
  destination_queue q(3, 2);
  for (int i = 0; i < 3; ++i) BOOST_TEST(q.push_pdu(pdu(i)));
  // Full: the PDUs are dropped (the destination catches up from the database instead).
  BOOST_TEST(!q.push_pdu(pdu(3)));
  BOOST_TEST(q.pdu_count() == 0u);
  // EDUs: the oldest goes.
  for (int i = 0; i < 3; ++i) q.push_edu(edu(i));
  BOOST_TEST(q.edu_count() == 2u);
  BOOST_TEST(q.peek_edus().front()->at("content").at("n").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(backoff_schedule) {
  milliseconds base{600000}, cap{24 * 3600 * 1000};
  milliseconds d{0};
  std::vector<int64_t> seen;
  for (int i = 0; i < 10; ++i) {
    d = next_backoff(d, base, cap);
    seen.push_back(d.count() / 60000);
  }
  BOOST_TEST(seen == (std::vector<int64_t>{10, 20, 40, 80, 160, 320, 640, 1280, 1440, 1440}));
  BOOST_TEST(next_backoff(milliseconds{0}, milliseconds{50}, milliseconds{20}).count() == 20);
}

BOOST_AUTO_TEST_CASE(pdu_without_unsigned) {
  auto p = pdu_for_federation(R"({"type":"m.room.message","unsigned":{"prev_content":{}},"depth":3})");
  BOOST_TEST(json::serialize(p) == R"({"type":"m.room.message","depth":3})");
}

BOOST_AUTO_TEST_CASE(catch_up_selection) {
  for_each_backend([](myelin::storage::database& db, myelin::storage::dialect) {
    auto c = db.acquire();
    // Three events in room A, one in B for r1; the newest per room is what catch-up sends.
    tables::record_pdu_due(*c, "r1", "!a:here", "$a1");
    tables::record_pdu_due(*c, "r1", "!a:here", "$a2");
    tables::record_pdu_due(*c, "r1", "!b:here", "$b1");
    tables::record_pdu_due(*c, "r2", "!a:here", "$a2");
    tables::record_pdu_due(*c, "r1", "!a:here", "$a3");
    BOOST_TEST(tables::unsent_pdus(*c, "r1", 50) == (strings{"$a3", "$b1"}));
    BOOST_TEST(tables::unsent_pdus(*c, "r1", 1).size() == 1u);
    // Sent: gone from catch-up; an older id marked sent changes nothing.
    tables::mark_pdus_sent(*c, "r1", {"$a2", "$b1"});
    BOOST_TEST(tables::unsent_pdus(*c, "r1", 50) == (strings{"$a3"}));
    tables::mark_pdus_sent(*c, "r1", {"$a3"});
    BOOST_TEST(tables::unsent_pdus(*c, "r1", 50).empty());
    BOOST_TEST(tables::unsent_pdus(*c, "r2", 50) == (strings{"$a2"}));
    // A new event makes the room due again.
    tables::record_pdu_due(*c, "r1", "!a:here", "$a4");
    BOOST_TEST(tables::unsent_pdus(*c, "r1", 50) == (strings{"$a4"}));
  });
}

BOOST_AUTO_TEST_CASE(backoff_and_outbox_are_stored) {
  for_each_backend([](myelin::storage::database& db, myelin::storage::dialect) {
    auto c = db.acquire();
    BOOST_TEST(!tables::get_destination(*c, "down.example"));
    tables::save_destination(*c, {"down.example", 1000, 600000, true});
    auto d = tables::get_destination(*c, "down.example");
    BOOST_TEST_REQUIRE(d.has_value());
    BOOST_TEST(d->retry_last_ts == 1000);
    BOOST_TEST(d->retry_interval_ms == 600000);
    BOOST_TEST(d->catching_up);
    tables::save_destination(*c, {"fine.example", 0, 0, false});
    tables::outbox_add(*c, "box.example", 7, R"({"edu_type":"m.direct_to_device"})");
    tables::outbox_add(*c, "box.example", 9, R"({"n":9})");
    tables::outbox_add(*c, "box.example", 7, R"({"again":true})");  // a rerun batch: ignored
    std::set<std::string> pending;
    for (const auto& p : tables::pending_destinations(*c)) pending.insert(p.destination);
    BOOST_TEST(pending == (std::set<std::string>{"box.example", "down.example"}));
    auto box = tables::outbox_peek(*c, "box.example", 10);
    BOOST_TEST_REQUIRE(box.size() == 2u);
    BOOST_TEST(box[0].position == 7);
    BOOST_TEST(box[0].edu_json == R"({"edu_type":"m.direct_to_device"})");
    tables::outbox_remove(*c, "box.example", 7);
    BOOST_TEST(tables::outbox_peek(*c, "box.example", 10).size() == 1u);
    tables::progress p{{"writer.events/0", 42}};
    tables::save_progress(*c, "federation_sender/0", p);
    BOOST_TEST(tables::load_progress(*c, "federation_sender/0") == p);
  });
}

BOOST_AUTO_TEST_SUITE_END()
