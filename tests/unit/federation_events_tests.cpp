// The persister's federation operations (storage/streams/events_remote.cpp), on both databases:
// another server's events accepted, rejected or soft-failed as the server-server API "Checks
// performed on receipt of a PDU" says, forks merged (two forward extremities, then one event
// pointing at both), gaps reported, and a room joined through another server.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/event_builder.hpp"
#include "protocol/room_versions.hpp"
#include "protocol/signing_key.hpp"
#include "storage/streams/events_stream.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/timeline.hpp"
#include "storage_fixture.hpp"

using namespace myelin;
using namespace myelin::test;
namespace json = boost::json;

namespace {

const protocol::room_version& v10() { return *protocol::find_room_version("10"); }

// Another server: builds events with its own key, as its persister would.
struct remote_server {
  std::string name;
  protocol::signing_key key = protocol::generate_signing_key();

  protocol::pdu event(const std::string& room_id, std::string type, std::optional<std::string> state_key,
                      json::object content, const std::string& sender, std::vector<std::string> prev,
                      std::vector<std::string> auth, int64_t depth) const {
    protocol::event_template t{std::move(type), std::move(state_key), std::move(content), sender, {}};
    return protocol::build_event(v10(), room_id, t, {std::move(prev), std::move(auth), depth}, 1700000000000 + depth,
                                 name, key);
  }
};

json::object entry(const protocol::pdu& p) { return {{"event_id", p.event_id}, {"event", p.json}}; }

json::object persist(stream_runner& w, const std::string& room_id, const protocol::pdu& p) {
  return w.run("persist_remote", {{"room_id", room_id}, {"event_id", p.event_id}, {"event", p.json}});
}

std::string outcome(const json::object& r) { return std::string(r.at("outcome").as_string()); }

std::string state_id(storage::connection& c, const std::string& room, const std::string& type, const std::string& key) {
  return storage::events::current_state_event_id(c, room, type, key).value_or("");
}

} // namespace

BOOST_AUTO_TEST_SUITE(federation_events)

BOOST_AUTO_TEST_CASE(remote_events_accepted_rejected_soft_failed_and_forks_merged) {
  for_each_backend([](storage::database& db, storage::dialect) {
    storage::event_signer signer{"a.example", protocol::generate_signing_key()};
    stream_runner w{db, storage::events_stream(signer)};
    remote_server b{"b.example"};
    const std::string room = "!fed:a.example", alice = "@alice:a.example", bob = "@bob:b.example";
    auto tmpl = [](const char* type, std::string key, json::object content, const std::string& sender) {
      return json::object{{"type", type}, {"state_key", key}, {"content", content}, {"sender", sender}};
    };
    auto created = w.run("create_room",
                         {{"room_id", room},
                          {"room_version", "10"},
                          {"creator", alice},
                          {"events", json::array{tmpl("m.room.create", "", {{"room_version", "10"}, {"creator", alice}}, alice),
                                                 tmpl("m.room.member", alice, {{"membership", "join"}}, alice),
                                                 tmpl("m.room.power_levels", "", {{"users", json::object{{alice, 100}}}}, alice),
                                                 tmpl("m.room.join_rules", "", {{"join_rule", "public"}}, alice)}}});
    const auto& ids = created.at("event_ids").as_array();
    std::string create(ids[0].as_string()), alice_join(ids[1].as_string()), pl(ids[2].as_string()),
        jr(ids[3].as_string());

    // Bob's server joins (as after make_join/send_join): accepted, bob is a member here.
    auto bob_join = b.event(room, "m.room.member", bob, {{"membership", "join"}}, bob, {jr}, {create, pl, jr}, 5);
    BOOST_TEST(outcome(persist(w, room, bob_join)) == "accepted");
    BOOST_TEST(outcome(persist(w, room, bob_join)) == "known");
    {
      auto c = db.acquire();
      BOOST_TEST(storage::events::server_has_member(*c, room, "b.example", {"join"}));
      BOOST_TEST(!storage::events::server_has_member(*c, room, "b.example", {"invite", "leave"}));
      BOOST_TEST(!storage::events::server_has_member(*c, room, "b_example", {"join"}));  // '_' is no wildcard
      BOOST_TEST(!storage::events::server_has_member(*c, room, "example", {"join"}));
      BOOST_TEST(!storage::events::server_has_member(*c, room, "c.example", {"join", "invite"}));
    }
    {
      auto c = db.acquire();
      BOOST_TEST(storage::events::current_membership(*c, room, bob).value_or("") == "join");
    }

    // A fork: alice and bob speak at the same time, each on top of bob's join.
    auto local = w.run("append", {{"room_id", room}, {"event", json::object{{"type", "m.room.message"},
                                                                             {"content", json::object{{"body", "a"}}},
                                                                             {"sender", alice}}}});
    auto bob_msg = b.event(room, "m.room.message", std::nullopt, {{"body", "b"}}, bob, {bob_join.event_id},
                           {create, pl, bob_join.event_id}, 6);
    BOOST_TEST(outcome(persist(w, room, bob_msg)) == "accepted");
    {
      auto c = db.acquire();
      auto head = storage::events::get_room_head(*c, room);
      BOOST_TEST(head->forward_extremities.size() == 2u);
    }
    // The next local event merges both branches.
    auto merged = w.run("append", {{"room_id", room}, {"event", json::object{{"type", "m.room.message"},
                                                                              {"content", json::object{{"body", "c"}}},
                                                                              {"sender", alice}}}});
    {
      auto c = db.acquire();
      auto e = storage::events::get_event(*c, std::string(merged.at("event_id").as_string()));
      auto prev = json::parse(e->json).at("prev_events").as_array();
      BOOST_TEST(prev.size() == 2u);
      BOOST_TEST(storage::events::get_room_head(*c, room)->forward_extremities.size() == 1u);
    }

    // Someone who never joined: rejected, and nothing of it stored where reads look.
    auto mallory_msg = b.event(room, "m.room.message", std::nullopt, {{"body", "spam"}}, "@mallory:b.example",
                               {bob_msg.event_id}, {create, pl}, 7);
    auto r = persist(w, room, mallory_msg);
    BOOST_TEST(outcome(r) == "rejected");
    {
      auto c = db.acquire();
      BOOST_TEST(!storage::events::get_event(*c, mallory_msg.event_id).has_value());
      BOOST_TEST(count(*c, "SELECT COUNT(*) FROM rejected_events WHERE event_id = '" + mallory_msg.event_id + "'") == 1);
    }
    BOOST_TEST(outcome(persist(w, room, mallory_msg)) == "rejected");  // remembered

    // A gap: the caller is told what to fetch.
    auto orphan = b.event(room, "m.room.message", std::nullopt, {{"body", "?"}}, bob, {"$unknown"},
                          {create, pl, bob_join.event_id}, 9);
    r = persist(w, room, orphan);
    BOOST_TEST(outcome(r) == "missing");
    BOOST_TEST(r.at("missing").as_array().at(0).as_string() == "$unknown");

    // Alice bans bob; bob's server, not yet aware, sends on top of its own last event: allowed by
    // its history, not by the room's current state — soft-failed, kept out of the timeline.
    w.run("append", {{"room_id", room}, {"event", tmpl("m.room.member", bob, {{"membership", "ban"}}, alice)}});
    auto late = b.event(room, "m.room.message", std::nullopt, {{"body", "late"}}, bob, {bob_msg.event_id},
                        {create, pl, bob_join.event_id}, 7);
    BOOST_TEST(outcome(persist(w, room, late)) == "soft_failed");
    {
      auto c = db.acquire();
      auto row = storage::events::get_event(*c, late.event_id);
      BOOST_REQUIRE(row.has_value());
      BOOST_TEST(row->stream_ordering < 0);
      for (const auto& e : storage::timeline::page(*c, room, std::nullopt, true, 100)) BOOST_TEST(e.event_id != late.event_id);
      BOOST_TEST(storage::events::current_membership(*c, room, bob).value_or("") == "ban");
    }
  });
}

BOOST_AUTO_TEST_CASE(room_joined_through_another_server) {
  for_each_backend([](storage::database& db, storage::dialect) {
    storage::event_signer signer{"a.example", protocol::generate_signing_key()};
    stream_runner w{db, storage::events_stream(signer)};
    remote_server b{"b.example"};
    const std::string room = "!theirs:b.example", alice = "@alice:a.example", bob = "@bob:b.example";
    auto create = b.event(room, "m.room.create", "", {{"room_version", "10"}, {"creator", bob}}, bob, {}, {}, 1);
    auto bob_join = b.event(room, "m.room.member", bob, {{"membership", "join"}}, bob, {create.event_id},
                            {create.event_id}, 2);
    auto pl = b.event(room, "m.room.power_levels", "", {{"users", json::object{{bob, 100}}}}, bob,
                      {bob_join.event_id}, {create.event_id, bob_join.event_id}, 3);
    auto jr = b.event(room, "m.room.join_rules", "", {{"join_rule", "public"}}, bob, {pl.event_id},
                      {create.event_id, bob_join.event_id, pl.event_id}, 4);
    auto name = b.event(room, "m.room.name", "", {{"name", "Theirs"}}, bob, {jr.event_id},
                        {create.event_id, bob_join.event_id, pl.event_id}, 5);
    // Our join, as we would seal it after make_join.
    protocol::event_template t{"m.room.member", alice, {{"membership", "join"}}, alice, {}};
    auto join = protocol::build_event(v10(), room, t, {{name.event_id}, {create.event_id, pl.event_id, jr.event_id}, 6},
                                      1700000000100, "a.example", signer.key);
    json::array state{entry(create), entry(bob_join), entry(pl), entry(jr), entry(name)};
    json::array chain{entry(create), entry(bob_join), entry(pl)};
    auto r = w.run("join_remote", {{"room_id", room}, {"room_version", "10"}, {"origin", "b.example"},
                                   {"state", state}, {"auth_chain", chain}, {"join", entry(join)}});
    BOOST_TEST(r.at("event_id").as_string() == join.event_id);
    auto c = db.acquire();
    BOOST_TEST(storage::events::current_membership(*c, room, alice).value_or("") == "join");
    BOOST_TEST(state_id(*c, room, "m.room.name", "") == name.event_id);
    BOOST_TEST(storage::events::get_room(*c, room)->creator == bob);
    // Only the join is on the timeline; the room's earlier events are outliers.
    auto page = storage::timeline::page(*c, room, std::nullopt, true, 100);
    BOOST_REQUIRE(page.size() == 1u);
    BOOST_TEST(page[0].event_id == join.event_id);
    // The room goes on from here: bob's next message (on top of our join) is accepted.
    auto msg = b.event(room, "m.room.message", std::nullopt, {{"body", "welcome"}}, bob, {join.event_id},
                       {create.event_id, pl.event_id, bob_join.event_id}, 7);
    BOOST_TEST(outcome(persist(w, room, msg)) == "accepted");
    // A join refused by the room's rules is refused whole: nothing stored.
    const std::string room2 = "!private:b.example";
    auto create2 = b.event(room2, "m.room.create", "", {{"room_version", "10"}, {"creator", bob}}, bob, {}, {}, 1);
    auto bob_join2 = b.event(room2, "m.room.member", bob, {{"membership", "join"}}, bob, {create2.event_id},
                             {create2.event_id}, 2);
    auto jr2 = b.event(room2, "m.room.join_rules", "", {{"join_rule", "invite"}}, bob, {bob_join2.event_id},
                       {create2.event_id, bob_join2.event_id}, 3);
    auto join2 = protocol::build_event(v10(), room2, t, {{jr2.event_id}, {create2.event_id, jr2.event_id}, 4},
                                       1700000000100, "a.example", signer.key);
    BOOST_TEST(w.refusal("join_remote", {{"room_id", room2}, {"room_version", "10"}, {"origin", "b.example"},
                                         {"state", json::array{entry(create2), entry(bob_join2), entry(jr2)}},
                                         {"auth_chain", json::array{}}, {"join", entry(join2)}}) == "403 M_FORBIDDEN");
    BOOST_TEST(!storage::events::get_room(*c, room2).has_value());
  });
}

BOOST_AUTO_TEST_SUITE_END()
