// Pure pieces of the rooms work: building and signing a local event (verifiable, id from the
// reference hash, signature valid after redaction), event filters, and /messages tokens.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/auth_rules.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_builder.hpp"
#include "protocol/event_filter.hpp"
#include "protocol/event_hashes.hpp"
#include "protocol/json.hpp"
#include "protocol/redaction.hpp"
#include "protocol/room_versions.hpp"
#include "protocol/signing.hpp"
#include "protocol/signing_key.hpp"
#include "storage/tables/timeline.hpp"

using namespace myelin::protocol;
namespace json = boost::json;

BOOST_AUTO_TEST_SUITE(rooms)

BOOST_AUTO_TEST_CASE(built_event_is_hashed_signed_and_authorised) {
  auto key = generate_signing_key();
  const auto& v10 = *find_room_version("10");
  event_template create{"m.room.create", std::string(""), {{"creator", "@a:hs"}, {"room_version", "10"}}, "@a:hs", {}};
  pdu ev = build_event(v10, "!r:hs", create, {{}, {}, 1}, 1700000000000, "hs", key);
  BOOST_TEST(ev.event_id == event_id_for(ev.json, "10"));
  BOOST_TEST(ev.event_id.find('/') == std::string::npos);  // v4+ ids are URL-safe
  BOOST_TEST(check_content_hash(ev.json));
  // The signature covers the redacted event: it still verifies after a redaction.
  json::object redacted = redact(ev.json, "10");
  BOOST_TEST(verify_json_signature(redacted, "hs", key.key_id(), key.public_key));
  BOOST_TEST(!check_auth(v10, ev, {}).has_value());  // a valid create event needs no auth state

  // A message from someone with no membership is refused by the auth rules.
  auth_state state{{{"m.room.create", ""}, &ev}};
  event_template msg{"m.room.message", std::nullopt, {{"body", "hi"}}, "@b:hs", {}};
  pdu m = build_event(v10, "!r:hs", msg, {{ev.event_id}, {ev.event_id}, 2}, 1700000000001, "hs", key);
  BOOST_TEST(check_auth(v10, m, state).has_value());
}

BOOST_AUTO_TEST_CASE(redaction_events_carry_redacts_where_the_version_wants_it) {
  auto key = generate_signing_key();
  event_template r{"m.room.redaction", std::nullopt, {{"reason", "x"}}, "@a:hs", std::string("$target")};
  pdu v10 = build_event(*find_room_version("10"), "!r:hs", r, {{"$p"}, {}, 3}, 1, "hs", key);
  BOOST_TEST(v10.json.at("redacts").as_string() == "$target");
  BOOST_TEST(!v10.content().contains("redacts"));
  pdu v11 = build_event(*find_room_version("11"), "!r:hs", r, {{"$p"}, {}, 3}, 1, "hs", key);
  BOOST_TEST(v11.content().at("redacts").as_string() == "$target");
  BOOST_TEST(*v11.redacts() == "$target");
}

BOOST_AUTO_TEST_CASE(versions_without_hash_ids_are_not_created) {
  auto key = generate_signing_key();
  event_template t{"m.room.create", std::string(""), {}, "@a:hs", {}};
  BOOST_CHECK_THROW(build_event(*find_room_version("1"), "!r:hs", t, {{}, {}, 1}, 1, "hs", key), matrix_error);
}

BOOST_AUTO_TEST_CASE(glob_patterns) {
  BOOST_TEST(glob_match("m.room.*", "m.room.message"));
  BOOST_TEST(glob_match("*", ""));
  BOOST_TEST(glob_match("m.*.member", "m.room.member"));
  BOOST_TEST(!glob_match("m.room.*", "m.call.invite"));
  BOOST_TEST(glob_match("a*b*c", "aXbYbZc"));
  BOOST_TEST(!glob_match("a*b*c", "aXbYbZ"));
  BOOST_TEST(glob_match("exact", "exact"));
  BOOST_TEST(!glob_match("exact", "exactly"));
}

BOOST_AUTO_TEST_CASE(room_event_filter_rules) {
  auto f = parse_room_event_filter(
      R"({"types":["m.room.*"],"not_types":["m.room.member"],"senders":["@a:hs","@b:hs"],"not_senders":["@b:hs"],"lazy_load_members":true})");
  json::object none;
  BOOST_TEST(f.matches("m.room.message", "@a:hs", "!r", none));
  BOOST_TEST(!f.matches("m.room.member", "@a:hs", "!r", none));   // not_types wins
  BOOST_TEST(!f.matches("m.room.message", "@b:hs", "!r", none));  // not_senders wins
  BOOST_TEST(!f.matches("m.call.invite", "@a:hs", "!r", none));
  BOOST_TEST(f.lazy_load_members);
  auto urls = parse_room_event_filter(R"({"contains_url":true})");
  BOOST_TEST(urls.matches("m.room.message", "@a:hs", "!r", json::object{{"url", "mxc://x/y"}}));
  BOOST_TEST(!urls.matches("m.room.message", "@a:hs", "!r", none));
  BOOST_CHECK_THROW(parse_room_event_filter(R"({"types":"m.room.message"})"), matrix_error);
  BOOST_CHECK_THROW(parse_room_event_filter(R"({"limit":-1})"), matrix_error);
  BOOST_CHECK_THROW(parse_room_event_filter("{not json"), matrix_error);
}

BOOST_AUTO_TEST_CASE(whole_filters) {
  auto f = parse_filter(parse_object(
      R"({"event_format":"federation","event_fields":["type"],"presence":{"not_types":["*"]},
          "room":{"not_rooms":["!a:b"],"include_leave":true,"timeline":{"limit":5},"state":{"lazy_load_members":true}}})"));
  BOOST_TEST(f.event_format == "federation");
  BOOST_TEST(f.event_fields->size() == 1u);
  BOOST_TEST(!f.presence.matches("m.presence", "@a:b", "", {}));
  BOOST_TEST(f.room.include_leave);
  BOOST_TEST(*f.room.timeline.limit == 5);
  BOOST_TEST(f.room.state.lazy_load_members);
  BOOST_TEST(f.room.not_rooms.front() == "!a:b");
  BOOST_TEST(!f.room.rooms.has_value());
  auto empty = parse_filter({});
  BOOST_TEST(empty.event_format == "client");
  BOOST_CHECK_THROW(parse_filter(parse_object(R"({"event_format":"xml"})")), matrix_error);
  BOOST_CHECK_THROW(parse_filter(parse_object(R"({"room":{"state":[]}})")), matrix_error);
}

BOOST_AUTO_TEST_CASE(timeline_tokens_round_trip_and_reject_garbage) {
  using namespace myelin::storage::timeline;
  auto p = parse_token(to_token({12, 345}));
  BOOST_REQUIRE(p.has_value());
  BOOST_TEST(p->topo == 12);
  BOOST_TEST(p->stream == 345);
  for (const char* bad : {"", "t", "t1", "t1_", "t_1", "s1_2", "t1_2x", "tx_1", "t99999999999999999999_1"})
    BOOST_TEST(!parse_token(bad).has_value(), bad);
}

BOOST_AUTO_TEST_SUITE_END()
