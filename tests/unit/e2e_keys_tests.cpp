// End-to-end encryption keys: the protocol checks (device keys signed by their own key, one-time
// key maps, cross-signing key shapes, signatures that cover only the signed part) and, on SQLite
// and PostgreSQL, the device_lists stream's operations — claims in key-id order that never hand a
// key out twice, fallback keys marked used and reset by a new key, device deletion, and which
// changes each viewer sees.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/crypto.hpp"
#include "protocol/e2e_keys.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/signing.hpp"
#include "protocol/signing_key.hpp"
#include "storage/tables/device_lists.hpp"
#include "storage/tables/e2e_keys.hpp"
#include "storage/tables/federation_inbound.hpp"
#include "storage_fixture.hpp"

using namespace myelin;
using namespace myelin::test;
namespace json = boost::json;
namespace e2e = protocol::e2e;

namespace {

// A device's ed25519 key, with the device id as the key's name ("ed25519:DEVICE").
protocol::signing_key device_key(const std::string& device_id) {
  auto k = protocol::generate_signing_key();
  k.version = device_id;
  return k;
}

json::object signed_device_keys(const std::string& user, const std::string& device, const protocol::signing_key& k) {
  json::object keys{{"user_id", user},
                    {"device_id", device},
                    {"algorithms", json::array{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"}},
                    {"keys", json::object{{"curve25519:" + device, protocol::base64_encode_unpadded(std::string(32, 'c'))},
                                          {"ed25519:" + device, protocol::base64_encode_unpadded(k.public_key)}}}};
  protocol::sign_json(keys, user, k);
  return keys;
}

std::string errcode_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const protocol::matrix_error& e) {
    return e.errcode();
  }
  return "accepted";
}

} // namespace

BOOST_AUTO_TEST_SUITE(e2e_keys_protocol)

BOOST_AUTO_TEST_CASE(device_keys_must_be_signed_by_their_own_key) {
  auto k = device_key("DEV1");
  auto keys = signed_device_keys("@a:hs", "DEV1", k);
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(keys, "@a:hs", "DEV1"); }), "accepted");
  // Another user's or device's keys.
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(keys, "@b:hs", "DEV1"); }), "M_INVALID_PARAM");
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(keys, "@a:hs", "DEV2"); }), "M_INVALID_PARAM");
  // A change the signature does not cover.
  auto changed = keys;
  changed["algorithms"] = json::array{"m.megolm.v1.aes-sha2"};
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(changed, "@a:hs", "DEV1"); }), "M_INVALID_SIGNATURE");
  // Signed by some other key.
  auto other = signed_device_keys("@a:hs", "DEV1", device_key("DEV1"));
  other["keys"] = keys["keys"];
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(other, "@a:hs", "DEV1"); }), "M_INVALID_SIGNATURE");
  // `unsigned` may be added by anyone.
  auto with_unsigned = keys;
  with_unsigned["unsigned"] = json::object{{"device_display_name", "x"}};
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(with_unsigned, "@a:hs", "DEV1"); }), "accepted");
  // No ed25519 key for the device, malformed key maps, floats.
  auto no_key = keys;
  no_key["keys"].as_object().erase("ed25519:DEV1");
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(no_key, "@a:hs", "DEV1"); }), "M_INVALID_PARAM");
  auto bad_map = keys;
  bad_map["keys"] = json::object{{"nocolon", "x"}};
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(bad_map, "@a:hs", "DEV1"); }), "M_BAD_JSON");
  auto floats = keys;
  floats["extra"] = 1.5;
  BOOST_CHECK_EQUAL(errcode_of([&] { e2e::check_device_keys(floats, "@a:hs", "DEV1"); }), "M_BAD_JSON");
}

BOOST_AUTO_TEST_CASE(one_time_key_maps) {
  // The spec's example shapes: a plain curve25519 key and a signed one.
  auto keys = e2e::parse_one_time_keys(
      json::parse(R"({"curve25519:AAAAAQ": "/qyvZvwjiTxGdGU0RCguDCLeR+nmsb3FfNG3/Ve4vU8",
                      "signed_curve25519:AAAAHg": {"key": "zKbLg+NrIjpnagy+pIY6uPL4ZwEG2v+8F9lmgsnlZzs",
                                                   "signatures": {"@alice:example.com": {"ed25519:JLAFKJWSCS": "x"}}}})")
          .as_object(),
      "one_time_keys");
  BOOST_REQUIRE_EQUAL(keys.size(), 2u);
  BOOST_CHECK_EQUAL(keys[0].algorithm, "curve25519");
  BOOST_CHECK_EQUAL(keys[0].key_id, "AAAAAQ");
  BOOST_CHECK_EQUAL(keys[0].key_json, "\"/qyvZvwjiTxGdGU0RCguDCLeR+nmsb3FfNG3/Ve4vU8\"");
  BOOST_CHECK_EQUAL(keys[1].algorithm, "signed_curve25519");
  BOOST_CHECK(keys[1].key_json.starts_with("{\"key\":"));  // canonical: keys sorted
  auto parse = [](const char* text) {
    return errcode_of([&] { e2e::parse_one_time_keys(json::parse(text).as_object(), "one_time_keys"); });
  };
  BOOST_CHECK_EQUAL(parse(R"({"nocolon": "x"})"), "M_BAD_JSON");
  BOOST_CHECK_EQUAL(parse(R"({":id": "x"})"), "M_BAD_JSON");
  BOOST_CHECK_EQUAL(parse(R"({"alg:": "x"})"), "M_BAD_JSON");
  BOOST_CHECK_EQUAL(parse(R"({"alg:id": 5})"), "M_BAD_JSON");
  BOOST_CHECK_EQUAL(parse(R"({"alg:id": {"nokey": 1}})"), "M_BAD_JSON");
}

BOOST_AUTO_TEST_CASE(cross_signing_keys) {
  auto master = protocol::generate_signing_key();
  auto pub = protocol::base64_encode_unpadded(master.public_key);
  json::object key{{"user_id", "@a:hs"}, {"usage", json::array{"master"}}, {"keys", json::object{{"ed25519:" + pub, pub}}}};
  auto parsed = e2e::parse_cross_signing_key(key, "@a:hs", "master");
  BOOST_CHECK_EQUAL(parsed.public_key, pub);
  BOOST_CHECK_EQUAL(parsed.key_id(), "ed25519:" + pub);
  BOOST_CHECK(parsed.public_key_raw == master.public_key);
  auto check = [](const json::object& k, const char* type) {
    return errcode_of([&] { e2e::parse_cross_signing_key(k, "@a:hs", type); });
  };
  BOOST_CHECK_EQUAL(check(key, "self_signing"), "M_INVALID_PARAM");  // usage does not say so
  auto two = key;
  two["keys"].as_object()["ed25519:other"] = "other";
  BOOST_CHECK_EQUAL(check(two, "master"), "M_INVALID_PARAM");
  auto mismatch = key;
  mismatch["keys"] = json::object{{"ed25519:" + pub, "AAAA"}};
  BOOST_CHECK_EQUAL(check(mismatch, "master"), "M_INVALID_PARAM");
  auto short_key = key;
  short_key["keys"] = json::object{{"ed25519:AAAA", "AAAA"}};
  BOOST_CHECK_EQUAL(check(short_key, "master"), "M_INVALID_PARAM");
  auto not_owner = key;
  not_owner["user_id"] = "@b:hs";
  BOOST_CHECK_EQUAL(check(not_owner, "master"), "M_INVALID_PARAM");

  // A self-signing key signed by the master key verifies with it, and only with it.
  auto ssk_pub = protocol::base64_encode_unpadded(protocol::generate_signing_key().public_key);
  json::object ssk{{"user_id", "@a:hs"}, {"usage", json::array{"self_signing"}},
                   {"keys", json::object{{"ed25519:" + ssk_pub, ssk_pub}}}};
  master.version = pub;
  protocol::sign_json(ssk, "@a:hs", master);
  BOOST_CHECK(e2e::signed_by(ssk, "@a:hs", "ed25519:" + pub, master.public_key));
  BOOST_CHECK(!e2e::signed_by(ssk, "@a:hs", "ed25519:" + pub, protocol::generate_signing_key().public_key));
  BOOST_CHECK(!e2e::signed_by(ssk, "@b:hs", "ed25519:" + pub, master.public_key));
  // What a signature covers: the key without signatures and unsigned.
  auto part = e2e::signed_part(ssk);
  BOOST_CHECK(!part.contains("signatures"));
  BOOST_CHECK_EQUAL(e2e::signatures_of(ssk, "@a:hs").size(), 1u);
  e2e::add_signature(part, "@b:hs", "ed25519:X", "sig");
  BOOST_CHECK_EQUAL(e2e::signatures_of(part, "@b:hs").at(0).second, "sig");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(e2e_keys_storage)

namespace {

json::object key_arg(const std::string& algorithm, const std::string& key_id, const std::string& json_text) {
  return {{"algorithm", algorithm}, {"key_id", key_id}, {"key_json", json_text}};
}

void add_device(storage::connection& c, const std::string& user, const std::string& device) {
  c.exec("INSERT INTO devices (user_id, device_id, created_ts) VALUES ($1, $2, 0)", {user, device});
}

// A user joined to a room, in current state only (what the device list queries read).
void join(storage::connection& c, const std::string& room, const std::string& user, const char* membership = "join") {
  c.exec("INSERT INTO current_state_events (room_id, type, state_key, event_id, membership) "
         "VALUES ($1, 'm.room.member', $2, $3, $4) ON CONFLICT (room_id, type, state_key) DO UPDATE SET "
         "membership = excluded.membership",
         {room, user, "$" + room + user, std::string(membership)});
}

} // namespace

BOOST_AUTO_TEST_CASE(claims_take_one_time_keys_in_order_then_the_fallback_key) {
  for_each_backend([](storage::database& db, storage::dialect) {
    stream_runner w{db, storage::device_lists_stream()};
    db.transact([](storage::connection& c) { add_device(c, "@a:hs", "D"); });
    auto up = w.run("upload_keys", {{"user_id", "@a:hs"}, {"device_id", "D"},
                                    {"one_time_keys", json::array{key_arg("signed_curve25519", "B", "\"kb\""),
                                                                  key_arg("signed_curve25519", "A", "\"ka\"")}},
                                    {"fallback_keys", json::array{key_arg("signed_curve25519", "F", "\"kf\"")}}});
    BOOST_CHECK_EQUAL(json::serialize(up.at("one_time_key_counts")), R"({"signed_curve25519":2})");
    json::object claim{{"claims", json::array{json::object{
                                      {"user_id", "@a:hs"}, {"device_id", "D"}, {"algorithm", "signed_curve25519"}}}}};
    std::vector<std::string> got;
    for (int i = 0; i < 4; ++i) {
      auto r = w.run("claim", claim);
      BOOST_REQUIRE_EQUAL(r.at("keys").as_array().size(), 1u);
      got.emplace_back(r.at("keys").as_array()[0].at("key_id").as_string());
    }
    BOOST_CHECK((got == std::vector<std::string>{"A", "B", "F", "F"}));
    auto c = db.acquire();
    BOOST_CHECK(storage::e2e_keys::unused_fallback_key_types(*c, "@a:hs", "D").empty());
    // The same fallback key again keeps it used; a new one is unused.
    w.run("upload_keys", {{"user_id", "@a:hs"}, {"device_id", "D"},
                          {"fallback_keys", json::array{key_arg("signed_curve25519", "F", "\"kf\"")}}});
    BOOST_CHECK(storage::e2e_keys::unused_fallback_key_types(*c, "@a:hs", "D").empty());
    w.run("upload_keys", {{"user_id", "@a:hs"}, {"device_id", "D"},
                          {"fallback_keys", json::array{key_arg("signed_curve25519", "G", "\"kg\"")}}});
    BOOST_CHECK_EQUAL(storage::e2e_keys::unused_fallback_key_types(*c, "@a:hs", "D").size(), 1u);
    // A one-time key id reused with other content refuses the upload, keeping nothing of it.
    BOOST_CHECK_EQUAL(w.refusal("upload_keys", {{"user_id", "@a:hs"}, {"device_id", "D"},
                                                {"one_time_keys", json::array{key_arg("signed_curve25519", "N", "\"n\""),
                                                                              key_arg("signed_curve25519", "N", "\"m\"")}}}),
                      "400 M_INVALID_PARAM");
    BOOST_CHECK(storage::e2e_keys::one_time_key_counts(*c, "@a:hs", "D").empty());
  });
}

BOOST_AUTO_TEST_CASE(many_keys_and_many_devices_in_one_operation) {
  for_each_backend([](storage::database& db, storage::dialect) {
    stream_runner w{db, storage::device_lists_stream()};
    // 300 keys in one upload (several statements), then the same upload again (a retry).
    json::array keys;
    for (int i = 0; i < 300; ++i) keys.push_back(key_arg("signed_curve25519", "K" + std::to_string(1000 + i), "\"k\""));
    json::object upload{{"user_id", "@a:hs"}, {"device_id", "D"}, {"one_time_keys", keys}};
    BOOST_CHECK_EQUAL(w.run("upload_keys", upload).at("one_time_key_counts").at("signed_curve25519").as_int64(), 300);
    BOOST_CHECK_EQUAL(w.run("upload_keys", upload).at("one_time_key_counts").at("signed_curve25519").as_int64(), 300);
    // 200 devices with one key each (and half of them a fallback key), claimed in one operation twice.
    json::array claims;
    db.transact([&](storage::connection& c) {
      for (int d = 0; d < 200; ++d) {
        auto device = "DEV" + std::to_string(d);
        add_device(c, "@b:hs", device);
        claims.push_back(json::object{{"user_id", "@b:hs"}, {"device_id", device}, {"algorithm", "signed_curve25519"}});
      }
    });
    for (int d = 0; d < 200; ++d) {
      json::object args{{"user_id", "@b:hs"}, {"device_id", "DEV" + std::to_string(d)},
                        {"one_time_keys", json::array{key_arg("signed_curve25519", "O" + std::to_string(d), "\"o\"")}}};
      if (d % 2 == 0) args["fallback_keys"] = json::array{key_arg("signed_curve25519", "F" + std::to_string(d), "\"f\"")};
      w.run("upload_keys", args);
    }
    auto first = w.run("claim", {{"claims", claims}}).at("keys").as_array();
    BOOST_REQUIRE_EQUAL(first.size(), 200u);
    std::set<std::string> devices;
    for (const auto& k : first) {
      auto device = std::string(k.at("device_id").as_string());
      devices.insert(device);
      BOOST_CHECK_EQUAL(std::string(k.at("key_id").as_string()), "O" + device.substr(3));
    }
    BOOST_CHECK_EQUAL(devices.size(), 200u);
    auto second = w.run("claim", {{"claims", claims}}).at("keys").as_array();
    BOOST_REQUIRE_EQUAL(second.size(), 100u);  // only the fallback keys are left
    for (const auto& k : second) BOOST_CHECK(std::string(k.at("key_id").as_string()).starts_with("F"));
  });
}

BOOST_AUTO_TEST_CASE(device_list_changes_by_viewer) {
  for_each_backend([](storage::database& db, storage::dialect) {
    stream_runner w{db, storage::device_lists_stream()};
    db.transact([](storage::connection& c) {
      for (auto* u : {"@a:hs", "@b:hs", "@c:hs"}) add_device(c, u, "D");
      join(c, "!r:hs", "@a:hs");
      join(c, "!r:hs", "@b:hs");
    });
    auto since = w.position;
    w.run("devices_changed", {{"user_id", "@a:hs"}, {"device_ids", json::array{"D"}}});
    // @a signs @c's master key: only @a hears of it.
    w.run("upload_signatures", {{"user_id", "@a:hs"},
                                {"signatures", json::array{json::object{{"target_user_id", "@c:hs"},
                                                                        {"target_key_id", "CPUB"},
                                                                        {"signer_key_id", "ed25519:APUB"},
                                                                        {"signature", "sig"}}}}});
    auto c = db.acquire();
    storage::room_sync::window none;
    auto for_b = storage::device_lists::changes_for_viewer(*c, "@b:hs", since, w.position, none);
    BOOST_CHECK((for_b.changed == std::set<std::string>{"@a:hs"}));
    auto for_a = storage::device_lists::changes_for_viewer(*c, "@a:hs", since, w.position, none);
    BOOST_CHECK((for_a.changed == std::set<std::string>{"@a:hs", "@c:hs"}));
    auto for_c = storage::device_lists::changes_for_viewer(*c, "@c:hs", since, w.position, none);
    BOOST_CHECK(for_c.changed.empty());
    // Nothing after the last position.
    BOOST_CHECK(storage::device_lists::changes_for_viewer(*c, "@b:hs", w.position, w.position, none).changed.empty());

    // Deleting a device takes its keys and the signatures on it.
    w.run("upload_keys", {{"user_id", "@b:hs"}, {"device_id", "D"},
                          {"one_time_keys", json::array{key_arg("signed_curve25519", "A", "\"ka\"")}}});
    w.run("devices_deleted", {{"user_id", "@b:hs"}, {"device_ids", json::array{"D"}}});
    BOOST_CHECK(storage::e2e_keys::one_time_key_counts(*c, "@b:hs", "D").empty());
  });
}

// Another server's user's device list, as the /send/ handler keeps it: a whole list, one device
// changed and deleted, cross-signing keys, forgotten — each a change local co-members see.
BOOST_AUTO_TEST_CASE(remote_device_lists) {
  for_each_backend([](storage::database& db, storage::dialect) {
    namespace inbound = storage::federation_inbound;
    stream_runner w{db, storage::device_lists_stream()};
    const std::string bob = "@bob:remote.example";
    db.transact([&](storage::connection& c) {
      c.exec("INSERT INTO users (user_id, created_ts) VALUES ('@a:hs', 0)");
      join(c, "!r:hs", "@a:hs");
      join(c, "!r:hs", bob);
      join(c, "!other:hs", "@carol:remote.example");
    });
    {
      auto c = db.acquire();
      BOOST_CHECK(inbound::shares_room_with_local_user(*c, bob));
      BOOST_CHECK(!inbound::shares_room_with_local_user(*c, "@carol:remote.example"));
      BOOST_CHECK(!inbound::tracked_stream_id(*c, bob));
    }
    auto since = w.position;
    json::object keys{{"user_id", bob}, {"device_id", "B1"}, {"keys", json::object{{"ed25519:B1", "k1"}}}};
    json::array list{json::object{{"device_id", "B1"}, {"keys", keys}, {"display_name", "phone"}},
                     json::object{{"device_id", "B2"}}};
    w.run("remote_devices", {{"user_id", bob}, {"stream_id", 5}, {"devices", list}});
    auto c = db.acquire();
    storage::room_sync::window none;
    BOOST_CHECK((storage::device_lists::changes_for_viewer(*c, "@a:hs", since, w.position, none).changed ==
                 std::set<std::string>{bob}));
    BOOST_CHECK_EQUAL(inbound::tracked_stream_id(*c, bob).value_or(0), 5);
    auto devices = inbound::devices(*c, bob);
    BOOST_REQUIRE_EQUAL(devices.size(), 2u);
    BOOST_CHECK_EQUAL(devices[0].display_name.value_or(""), "phone");
    BOOST_CHECK_EQUAL(protocol::parse_object(devices[0].key_json.value_or("{}")).at("device_id").as_string(), "B1");
    BOOST_CHECK(!devices[1].key_json);

    since = w.position;
    w.run("remote_device", {{"user_id", bob}, {"stream_id", 6}, {"deleted", true},
                            {"device", json::object{{"device_id", "B2"}}}});
    BOOST_CHECK_EQUAL(inbound::devices(*c, bob).size(), 1u);
    BOOST_CHECK_EQUAL(inbound::tracked_stream_id(*c, bob).value_or(0), 6);
    BOOST_CHECK_EQUAL(storage::device_lists::changes_for_viewer(*c, "@a:hs", since, w.position, none).changed.size(), 1u);
    w.run("remote_cross_signing", {{"user_id", bob}, {"keys", json::array{json::object{
                                       {"key_type", "master"}, {"key_json", R"({"user_id":"@bob:remote.example"})"}}}}});
    BOOST_CHECK_EQUAL(inbound::cross_signing_keys(*c, bob).size(), 1u);
    BOOST_CHECK((inbound::tracked_users(*c, {bob, "@carol:remote.example"}) == std::vector<std::string>{bob}));
    w.run("remote_untrack", {{"user_id", bob}});
    BOOST_CHECK(!inbound::tracked_stream_id(*c, bob));
    BOOST_CHECK(inbound::devices(*c, bob).empty());
    BOOST_CHECK_EQUAL(w.refusal("remote_device", {{"user_id", bob}, {"stream_id", 7}}), "400 M_MISSING_PARAM");
  });
}

// Transactions' answers are kept once per (origin, txn id) and forgotten after the retention.
BOOST_AUTO_TEST_CASE(federation_transaction_answers) {
  for_each_backend([](storage::database& db, storage::dialect) {
    namespace inbound = storage::federation_inbound;
    auto c = db.acquire();
    BOOST_CHECK(!inbound::txn_response(*c, "a.example", "t1"));
    inbound::store_txn_response(*c, "a.example", "t1", R"({"pdus":{}})", 1000, 0);
    inbound::store_txn_response(*c, "a.example", "t1", R"({"pdus":{"x":{}}})", 1001, 0);  // a racing duplicate
    BOOST_CHECK_EQUAL(inbound::txn_response(*c, "a.example", "t1").value_or(""), R"({"pdus":{}})");
    BOOST_CHECK(!inbound::txn_response(*c, "b.example", "t1"));
    inbound::store_txn_response(*c, "b.example", "t2", "{}", 5000, 2000);  // forgets t1
    BOOST_CHECK(!inbound::txn_response(*c, "a.example", "t1"));
    BOOST_CHECK(inbound::txn_response(*c, "b.example", "t2"));
  });
}

BOOST_AUTO_TEST_SUITE_END()
