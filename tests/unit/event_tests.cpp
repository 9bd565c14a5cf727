// protocol/ event primitives against the spec: the appendix "Cryptographic Test Vectors" (JSON
// signing, event signing), the redaction algorithm per room version (rooms/v1, v6, v8, v9, v11)
// and hash-derived event ids (rooms/v3, v4 "Event IDs").
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <stdexcept>
#include <string>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_hashes.hpp"
#include "protocol/json.hpp"
#include "protocol/redaction.hpp"
#include "protocol/signing.hpp"
#include "protocol/signing_key.hpp"

using namespace myelin::protocol;
namespace json = boost::json;

namespace {

// The appendix's test key: SERVER_NAME "domain", KEY_ID "ed25519:1", seed exactly as the spec
// writes it (its last character carries non-zero unused bits; our decoder accepts that).
signing_key test_key() { return parse_signing_key("ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"); }

json::object obj(std::string_view text) { return parse_value(text).as_object(); }

std::string signature_of(const json::object& o, const std::string& server, const std::string& key_id) {
  return std::string(o.at("signatures").at(server).at(key_id).as_string());
}

// Server-server API "Adding hashes and signatures to outgoing events": hash the full event, sign
// the redacted copy, copy the signatures back.
json::object hash_and_sign_event(json::object event, const std::string& room_version) {
  add_content_hash(event);
  json::object redacted = redact(event, room_version);
  sign_json(redacted, "domain", test_key());
  event["signatures"] = redacted["signatures"];
  return event;
}

std::string unsupported_errcode(const std::function<void()>& f) {
  try {
    f();
  } catch (const matrix_error& e) {
    BOOST_TEST(e.status() == 400);
    return e.errcode();
  }
  return "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(event_tests)

BOOST_AUTO_TEST_CASE(spec_json_signing_vectors) {
  json::object empty;
  BOOST_TEST(sign_json(empty, "domain", test_key()) ==
             "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ");
  BOOST_TEST(canonical_json(empty) ==
             R"({"signatures":{"domain":{"ed25519:1":"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}})");

  auto data = obj(R"({"one": 1, "two": "Two"})");
  sign_json(data, "domain", test_key());
  BOOST_TEST(canonical_json(data) ==
             R"({"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"})");
}

BOOST_AUTO_TEST_CASE(spec_event_signing_vectors) {
  auto minimal = hash_and_sign_event(obj(R"({
      "room_id": "!x:domain", "sender": "@a:domain", "origin": "domain", "origin_server_ts": 1000000,
      "signatures": {}, "hashes": {}, "type": "X", "content": {}, "prev_events": [], "auth_events": [],
      "depth": 3, "unsigned": {"age_ts": 1000000}})"),
                                     "1");
  BOOST_TEST(minimal.at("hashes").at("sha256").as_string() == "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos");
  BOOST_TEST(signature_of(minimal, "domain", "ed25519:1") ==
             "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg");
  BOOST_TEST(minimal.at("unsigned") == obj(R"({"age_ts": 1000000})"));
  BOOST_TEST(check_content_hash(minimal));

  // The redactable example: the content hash covers the body, the signature only the redacted event.
  auto message = hash_and_sign_event(obj(R"({
      "content": {"body": "Here is the message content"}, "event_id": "$0:domain", "origin": "domain",
      "origin_server_ts": 1000000, "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
      "signatures": {}, "unsigned": {"age_ts": 1000000}})"),
                                     "1");
  BOOST_TEST(message.at("hashes").at("sha256").as_string() == "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g");
  BOOST_TEST(signature_of(message, "domain", "ed25519:1") ==
             "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA");

  // A redacted copy still verifies, and fails the content hash (that is how redaction is detected).
  auto redacted = redact(message, "1");
  BOOST_TEST(verify_json_signature(redacted, "domain", "ed25519:1", test_key().public_key));
  BOOST_TEST(!check_content_hash(redacted));
  message["content"].as_object()["body"] = "edited";
  BOOST_TEST(!check_content_hash(message));
}

BOOST_AUTO_TEST_CASE(verify_round_trip_and_tampering) {
  const auto key = test_key();
  auto o = obj(R"({"a": [1, 2], "b": {"c": "d"}, "unsigned": {"age": 5},
                   "signatures": {"other.org": {"ed25519:x": "kept"}}})");
  sign_json(o, "domain", key);
  BOOST_TEST(verify_json_signature(o, "domain", "ed25519:1", key.public_key));
  BOOST_TEST(signature_of(o, "other.org", "ed25519:x") == "kept");  // existing signatures survive
  BOOST_TEST(o.at("unsigned") == obj(R"({"age": 5})"));

  // Signing again with another key adds beside the first.
  auto other = generate_signing_key();
  sign_json(o, "domain", other);
  BOOST_TEST(verify_json_signature(o, "domain", other.key_id(), other.public_key));
  BOOST_TEST(verify_json_signature(o, "domain", "ed25519:1", key.public_key));

  // `unsigned` is not covered; anything else is.
  o["unsigned"].as_object()["age"] = 6;
  BOOST_TEST(verify_json_signature(o, "domain", "ed25519:1", key.public_key));
  auto tampered = o;
  tampered["b"].as_object()["c"] = "e";
  BOOST_TEST(!verify_json_signature(tampered, "domain", "ed25519:1", key.public_key));

  // Wrong key, missing entries and garbage are failures, not exceptions.
  BOOST_TEST(!verify_json_signature(o, "domain", "ed25519:1", other.public_key));
  BOOST_TEST(!verify_json_signature(o, "nobody", "ed25519:1", key.public_key));
  BOOST_TEST(!verify_json_signature(o, "domain", "ed25519:2", key.public_key));
  BOOST_TEST(!verify_json_signature(o, "other.org", "ed25519:x", key.public_key));
  BOOST_TEST(!verify_json_signature(o, "domain", "ed25519:1", "short"));
  BOOST_TEST(!verify_json_signature(obj("{}"), "domain", "ed25519:1", key.public_key));
}

BOOST_AUTO_TEST_CASE(redaction_top_level_keys) {
  const auto event = obj(R"({"event_id": "$e:x", "type": "m.room.message", "room_id": "!r:x", "sender": "@u:x",
      "state_key": "", "content": {"body": "hi"}, "hashes": {"sha256": "h"}, "signatures": {}, "depth": 1,
      "prev_events": [], "prev_state": [], "auth_events": [], "origin": "x", "origin_server_ts": 1,
      "membership": "join", "unsigned": {"age_ts": 1}, "age_ts": 1, "redacts": "$o:x", "extra": true})");
  const auto v1 = redact(event, "1");
  BOOST_TEST(v1.size() == 15u);
  for (auto key : {"origin", "membership", "prev_state", "event_id", "hashes", "signatures", "depth"})
    BOOST_TEST(v1.contains(key), key);
  for (auto key : {"unsigned", "age_ts", "redacts", "extra"}) BOOST_TEST(!v1.contains(key), key);
  BOOST_TEST(v1.at("content").as_object().empty());

  // v11 stops protecting origin, membership and prev_state.
  const auto v11 = redact(event, "11");
  BOOST_TEST(v11.size() == 12u);
  for (auto key : {"origin", "membership", "prev_state"}) BOOST_TEST(!v11.contains(key), key);
  BOOST_TEST(redact(event, "10").contains("origin"));
}

BOOST_AUTO_TEST_CASE(redaction_content_by_version) {
  auto content_after = [](std::string_view type, std::string_view content, const std::string& version) {
    json::object event{{"type", type}, {"content", parse_value(content)}};
    return redact(event, version).at("content").as_object();
  };

  // m.room.aliases: protected in v1–v5 only (v6 removed it).
  const auto aliases = R"({"aliases": ["#a:x"], "other": 1})";
  BOOST_TEST(content_after("m.room.aliases", aliases, "1") == obj(R"({"aliases": ["#a:x"]})"));
  BOOST_TEST(content_after("m.room.aliases", aliases, "5") == obj(R"({"aliases": ["#a:x"]})"));
  BOOST_TEST(content_after("m.room.aliases", aliases, "6").empty());

  // m.room.join_rules: `allow` from v8.
  const auto join_rules = R"({"join_rule": "restricted", "allow": [{"type": "m.room_membership"}], "x": 1})";
  BOOST_TEST(content_after("m.room.join_rules", join_rules, "7") == obj(R"({"join_rule": "restricted"})"));
  BOOST_TEST(content_after("m.room.join_rules", join_rules, "8") ==
             obj(R"({"join_rule": "restricted", "allow": [{"type": "m.room_membership"}]})"));

  // m.room.member: join_authorised_via_users_server from v9; third_party_invite.signed in v11.
  const auto member = R"({"membership": "join", "join_authorised_via_users_server": "@a:x",
      "displayname": "A", "third_party_invite": {"display_name": "d", "signed": {"token": "t"}}})";
  BOOST_TEST(content_after("m.room.member", member, "8") == obj(R"({"membership": "join"})"));
  BOOST_TEST(content_after("m.room.member", member, "9") ==
             obj(R"({"membership": "join", "join_authorised_via_users_server": "@a:x"})"));
  BOOST_TEST(content_after("m.room.member", member, "10") ==
             obj(R"({"membership": "join", "join_authorised_via_users_server": "@a:x"})"));
  BOOST_TEST(content_after("m.room.member", member, "11") ==
             obj(R"({"membership": "join", "join_authorised_via_users_server": "@a:x",
                     "third_party_invite": {"signed": {"token": "t"}}})"));

  // m.room.create: only `creator` before v11, everything in v11.
  const auto create = R"({"creator": "@a:x", "room_version": "1", "m.federate": false})";
  BOOST_TEST(content_after("m.room.create", create, "10") == obj(R"({"creator": "@a:x"})"));
  BOOST_TEST(content_after("m.room.create", create, "11") == obj(create));

  // m.room.power_levels: `invite` in v11.
  const auto power = R"({"ban": 50, "events": {}, "events_default": 0, "invite": 0, "kick": 50, "redact": 50,
      "state_default": 50, "users": {}, "users_default": 0, "notifications": {"room": 50}})";
  auto v10_power = content_after("m.room.power_levels", power, "10");
  BOOST_TEST(v10_power.size() == 8u);
  BOOST_TEST(!v10_power.contains("invite"));
  BOOST_TEST(!v10_power.contains("notifications"));
  auto v11_power = content_after("m.room.power_levels", power, "11");
  BOOST_TEST(v11_power.size() == 9u);
  BOOST_TEST(v11_power.contains("invite"));

  // m.room.history_visibility in every version.
  for (auto v : {"1", "6", "9", "11"})
    BOOST_TEST(content_after("m.room.history_visibility", R"({"history_visibility": "shared", "x": 1})", v) ==
               obj(R"({"history_visibility": "shared"})"));

  // m.room.redaction keeps content.redacts in v11 only.
  const auto redaction = R"({"redacts": "$e:x", "reason": "spam"})";
  BOOST_TEST(content_after("m.room.redaction", redaction, "10").empty());
  BOOST_TEST(content_after("m.room.redaction", redaction, "11") == obj(R"({"redacts": "$e:x"})"));

  // Anything else loses all content.
  BOOST_TEST(content_after("m.room.message", R"({"body": "hi"})", "11").empty());
}

BOOST_AUTO_TEST_CASE(unknown_room_versions) {
  const auto event = obj(R"({"type": "m.room.message", "content": {}})");
  for (auto v : {"0", "12x", "", "org.example.custom"}) {
    BOOST_TEST(unsupported_errcode([&] { redact(event, v); }) == "M_UNSUPPORTED_ROOM_VERSION", v);
    BOOST_TEST(unsupported_errcode([&] { event_id_for(event, v); }) == "M_UNSUPPORTED_ROOM_VERSION", v);
  }
  BOOST_CHECK_THROW(event_id_for(event, "1"), std::invalid_argument);
  BOOST_CHECK_THROW(event_id_for(event, "2"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(event_ids_by_version) {
  auto event = obj(R"({"type": "m.room.message", "room_id": "!r:x", "sender": "@u:x", "origin_server_ts": 1,
      "content": {"body": "hi"}, "prev_events": [], "auth_events": [], "depth": 1})");
  add_content_hash(event);

  // Find a depth whose hash encodes with characters where the two alphabets differ.
  std::string v3, v4;
  for (int depth = 1; depth < 100; ++depth) {
    event["depth"] = depth;
    v3 = event_id_for(event, "3");
    if (v3.find_first_of("+/") != std::string::npos) break;
  }
  v4 = event_id_for(event, "4");
  BOOST_REQUIRE(v3.find_first_of("+/") != std::string::npos);
  BOOST_TEST(v3.size() == 44u);  // "$" + 43 characters of unpadded base64 for 32 bytes
  BOOST_TEST(v3 == "$" + base64_encode_unpadded(reference_hash(event, "3")));
  BOOST_TEST(v4 == "$" + base64url_encode_unpadded(reference_hash(event, "4")));
  BOOST_TEST(v4.find_first_of("+/=") == std::string::npos);
  std::string translated = v3;
  for (char& c : translated) c = c == '+' ? '-' : c == '/' ? '_' : c;
  BOOST_TEST(v4 == translated);  // same reference hash, different alphabet
  BOOST_TEST(event_id_for(event, "11") == v4);  // no v11 redaction difference for this event

  // Stable; unaffected by signatures and unsigned; changed by content (through hashes.sha256).
  BOOST_TEST(event_id_for(event, "4") == v4);
  auto decorated = event;
  sign_json(decorated, "x", test_key());
  decorated["unsigned"] = obj(R"({"age": 10})");
  BOOST_TEST(event_id_for(decorated, "4") == v4);
  auto edited = event;
  edited["content"].as_object()["body"] = "bye";
  BOOST_TEST(event_id_for(edited, "4") == v4);  // content alone is redacted away...
  add_content_hash(edited);
  BOOST_TEST(event_id_for(edited, "4") != v4);  // ...but the content hash it carries is not
}

BOOST_AUTO_TEST_SUITE_END()
