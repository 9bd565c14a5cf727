// protocol/pdu_checks: the receipt checks that need no I/O (server-server API "Checks performed on
// receipt of a PDU" 1–3; rooms/v* "Event format"), and seal_event, which finishes another
// server's membership template (make_join) with our hash and signature.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/event_builder.hpp"
#include "protocol/event_hashes.hpp"
#include "protocol/json.hpp"
#include "protocol/pdu_checks.hpp"
#include "protocol/room_versions.hpp"
#include "protocol/signing_key.hpp"

using namespace myelin::protocol;
namespace json = boost::json;

namespace {

const room_version& v10() { return *find_room_version("10"); }

// A make_join template as a resident server returns it.
json::object join_template() {
  return parse_value(R"({"type":"m.room.member","state_key":"@bob:b.example","sender":"@bob:b.example",
    "room_id":"!room:a.example","content":{"membership":"join"},"depth":7,"origin":"b.example",
    "origin_server_ts":1700000000000,"prev_events":["$prev"],"auth_events":["$create","$pl","$jr"]})")
      .as_object();
}

} // namespace

BOOST_AUTO_TEST_SUITE(pdu_checks_tests)

BOOST_AUTO_TEST_CASE(sealed_template_is_well_formed_and_signed) {
  auto key = generate_signing_key();
  auto ev = seal_event(v10(), join_template(), "b.example", key);
  BOOST_TEST(!check_pdu_format(v10(), ev.json).has_value());
  BOOST_TEST(ev.event_id == event_id_for(ev.json, "10"));
  BOOST_TEST(check_content_hash(ev.json));
  auto ids = signing_key_ids(ev.json, "b.example");
  BOOST_REQUIRE(ids.size() == 1u);
  BOOST_TEST(pdu_signature_valid(v10(), ev.json, "b.example", ids[0], key.public_key));
  // Another key, another server name, or a changed signed field: no.
  BOOST_TEST(!pdu_signature_valid(v10(), ev.json, "b.example", ids[0], generate_signing_key().public_key));
  BOOST_TEST(!pdu_signature_valid(v10(), ev.json, "c.example", ids[0], key.public_key));
  auto tampered = ev.json;
  tampered["depth"] = 8;
  BOOST_TEST(!pdu_signature_valid(v10(), tampered, "b.example", ids[0], key.public_key));
  // Content is outside the redacted form: the signature holds, the content hash does not (the
  // receiver then keeps the event redacted).
  auto edited = ev.json;
  edited["content"].as_object()["displayname"] = "Mallory";
  BOOST_TEST(pdu_signature_valid(v10(), edited, "b.example", ids[0], key.public_key));
  BOOST_TEST(!check_content_hash(edited));
}

BOOST_AUTO_TEST_CASE(sealing_keeps_other_signatures_and_drops_stale_fields) {
  auto a = generate_signing_key(), b = generate_signing_key();
  auto first = seal_event(v10(), join_template(), "a.example", a);
  auto t = first.json;
  t["unsigned"] = json::object{{"age", 5}};
  t["event_id"] = "$stale";
  auto both = seal_event(v10(), t, "b.example", b);
  BOOST_TEST(both.event_id == first.event_id);  // same event, one more signature
  BOOST_TEST(!both.json.contains("unsigned"));
  BOOST_TEST(!both.json.contains("event_id"));
  BOOST_TEST(pdu_signature_valid(v10(), both.json, "a.example", signing_key_ids(both.json, "a.example").at(0), a.public_key));
  BOOST_TEST(pdu_signature_valid(v10(), both.json, "b.example", signing_key_ids(both.json, "b.example").at(0), b.public_key));
}

BOOST_AUTO_TEST_CASE(format_violations_are_named) {
  auto good = seal_event(v10(), join_template(), "b.example", generate_signing_key()).json;
  BOOST_TEST(!check_pdu_format(v10(), good).has_value());
  auto broken = [&](auto change) {
    auto e = good;
    change(e);
    return check_pdu_format(v10(), e).has_value();
  };
  BOOST_TEST(broken([](json::object& e) { e.erase("type"); }));
  BOOST_TEST(broken([](json::object& e) { e["sender"] = "bob"; }));
  BOOST_TEST(broken([](json::object& e) { e["room_id"] = "room"; }));
  BOOST_TEST(broken([](json::object& e) { e["state_key"] = 5; }));
  BOOST_TEST(broken([](json::object& e) { e["depth"] = -1; }));
  BOOST_TEST(broken([](json::object& e) { e["depth"] = int64_t(1) << 53; }));
  BOOST_TEST(broken([](json::object& e) { e["origin_server_ts"] = "now"; }));
  BOOST_TEST(broken([](json::object& e) { e["content"] = json::array{}; }));
  BOOST_TEST(broken([](json::object& e) { e.erase("hashes"); }));
  BOOST_TEST(broken([](json::object& e) { e["prev_events"] = json::array{json::value("not-an-id")}; }));
  BOOST_TEST(broken([](json::object& e) {
    json::array many;
    for (int i = 0; i < 21; ++i) many.emplace_back("$e" + std::to_string(i));
    e["prev_events"] = many;
  }));
  BOOST_TEST(broken([](json::object& e) {
    json::array many;
    for (int i = 0; i < 11; ++i) many.emplace_back("$a" + std::to_string(i));
    e["auth_events"] = many;
  }));
  BOOST_TEST(broken([](json::object& e) { e["content"].as_object()["body"] = std::string(70000, 'x'); }));
  BOOST_TEST(broken([](json::object& e) { e["content"].as_object()["float"] = 1.5; }));
}

BOOST_AUTO_TEST_CASE(restricted_joins_need_the_authorising_server) {
  auto ev = join_template();
  BOOST_TEST(required_signers(v10(), ev) == std::vector<std::string>{"b.example"});
  ev["content"].as_object()["join_authorised_via_users_server"] = "@admin:a.example";
  BOOST_TEST((required_signers(v10(), ev) == std::vector<std::string>{"b.example", "a.example"}));
  // Before v8 the field means nothing.
  BOOST_TEST(required_signers(*find_room_version("7"), ev) == std::vector<std::string>{"b.example"});
}

BOOST_AUTO_TEST_SUITE_END()

#include "protocol/server_acl.hpp"

BOOST_AUTO_TEST_SUITE(server_acl_tests)

BOOST_AUTO_TEST_CASE(spec_order_of_acl_rules) {
  auto acl = [](std::string_view text) { return parse_value(text).as_object(); };
  // The event schema's example.
  auto example = acl(R"({"allow":["*"],"allow_ip_literals":false,"deny":["*.evil.com","evil.com"]})");
  BOOST_TEST(server_allowed_by_acl(example, "matrix.org"));
  BOOST_TEST(!server_allowed_by_acl(example, "evil.com"));
  BOOST_TEST(!server_allowed_by_acl(example, "evil.com:8448"));        // ports are not considered
  BOOST_TEST(!server_allowed_by_acl(example, "sub.EVIL.com"));         // case-insensitive
  BOOST_TEST(!server_allowed_by_acl(example, "1.2.3.4"));
  BOOST_TEST(!server_allowed_by_acl(example, "[::1]:8448"));
  // IP literals are allowed unless said otherwise; no allow list allows nobody.
  BOOST_TEST(server_allowed_by_acl(acl(R"({"allow":["*"]})"), "127.0.0.1:8448"));
  BOOST_TEST(server_allowed_by_acl(acl(R"({"allow":["*"],"allow_ip_literals":"no"})"), "127.0.0.1"));
  BOOST_TEST(!server_allowed_by_acl(acl(R"({"deny":["evil.com"]})"), "good.com"));
  // Deny wins over allow; '?' is one character.
  BOOST_TEST(!server_allowed_by_acl(acl(R"({"allow":["good.com"],"deny":["good.com"]})"), "good.com"));
  BOOST_TEST(server_allowed_by_acl(acl(R"({"allow":["s?.example"]})"), "s1.example"));
  BOOST_TEST(!server_allowed_by_acl(acl(R"({"allow":["s?.example"]})"), "s10.example"));
  BOOST_TEST(!server_allowed_by_acl(acl(R"({"allow":["*"]})"), "not a server"));
}

BOOST_AUTO_TEST_SUITE_END()
