// protocol/federation_auth: the X-Matrix header (the spec's example, its parsing rules), request
// signatures round-tripped and tampered with, and server key documents.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/federation_auth.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/signing.hpp"

using namespace myelin::protocol;
using namespace myelin::protocol::federation;
namespace json = boost::json;

BOOST_AUTO_TEST_SUITE(federation_auth_tests)

BOOST_AUTO_TEST_CASE(spec_example_header) {
  auto a = parse_x_matrix(
      R"(X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF...")");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->origin == "origin.hs.example.com");
  BOOST_TEST(a->destination == "destination.hs.example.com");
  BOOST_TEST(a->key_id == "ed25519:key1");
  BOOST_TEST(a->signature == "ABCDEF...");
}

BOOST_AUTO_TEST_CASE(header_parsing_rules) {
  // Case-insensitive scheme and names, spaces and tabs around commas, bare tokens with colons,
  // backslash escapes, unknown names ignored, no destination (servers before v1.3).
  auto a = parse_x_matrix("x-matrix  ORIGIN=old.example:8448 ,\tKey=ed25519:a_b , sig=\"a\\\"b\\\\c\", extra=1");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->origin == "old.example:8448");
  BOOST_TEST(a->key_id == "ed25519:a_b");
  BOOST_TEST(a->signature == "a\"b\\c");
  BOOST_TEST(a->destination.empty());
  for (const char* bad : {"Bearer abc", "X-Matrix", "X-Matrixorigin=a,key=b,sig=c", "X-Matrix origin=a,key=b",
                          "X-Matrix origin=\"a,key=b,sig=c", "X-Matrix origin=a key=b sig=c", "X-Matrix =a,key=b,sig=c",
                          "X-Matrix origin=,key=b,sig=c"})
    BOOST_TEST(!parse_x_matrix(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(requests_round_trip_and_tampering_fails) {
  auto key = generate_signing_key();
  json::value body = json::parse(R"({"pdus": [], "edus": [{"edu_type": "m.typing"}]})");
  auto header = authorization_header("PUT", "/_matrix/federation/v1/send/1?x=1", "a.example", "b.example", &body, key);
  auto a = parse_x_matrix(header);
  BOOST_REQUIRE(a);
  BOOST_TEST(a->key_id == key.key_id());
  BOOST_TEST(verify_request(*a, "PUT", "/_matrix/federation/v1/send/1?x=1", "b.example", &body, key.public_key));
  // Any change to what was signed, or another key, fails.
  json::value other = json::parse(R"({"pdus": [], "edus": []})");
  BOOST_TEST(!verify_request(*a, "POST", "/_matrix/federation/v1/send/1?x=1", "b.example", &body, key.public_key));
  BOOST_TEST(!verify_request(*a, "PUT", "/_matrix/federation/v1/send/1?x=2", "b.example", &body, key.public_key));
  BOOST_TEST(!verify_request(*a, "PUT", "/_matrix/federation/v1/send/1?x=1", "b.example", &other, key.public_key));
  BOOST_TEST(!verify_request(*a, "PUT", "/_matrix/federation/v1/send/1?x=1", "b.example", nullptr, key.public_key));
  BOOST_TEST(!verify_request(*a, "PUT", "/_matrix/federation/v1/send/1?x=1", "b.example", &body,
                             generate_signing_key().public_key));
  // Meant for another server: refused even with a good signature.
  BOOST_TEST(!verify_request(*a, "PUT", "/_matrix/federation/v1/send/1?x=1", "c.example", &body, key.public_key));
  // A GET has no content member at all.
  auto get = parse_x_matrix(authorization_header("GET", "/_matrix/federation/v1/version", "a.example", "b.example",
                                                 nullptr, key));
  BOOST_TEST(verify_request(*get, "GET", "/_matrix/federation/v1/version", "b.example", nullptr, key.public_key));
  // The signed object is the spec's: method, uri, origin, destination, content.
  auto o = request_json("PUT", "/x", "a", "b", &body);
  BOOST_TEST(o.size() == 5u);
  BOOST_TEST((o.at("content") == body));
}

BOOST_AUTO_TEST_CASE(server_key_documents) {
  auto key = generate_signing_key();
  auto retired = generate_signing_key();
  auto doc = server_keys_document("a.example", key, {{"ed25519:old", {retired.public_key, 1000}}}, 5000);
  BOOST_TEST(doc.at("server_name").as_string() == "a.example");
  BOOST_TEST(doc.at("valid_until_ts").as_int64() == 5000);
  BOOST_TEST(doc.at("verify_keys").at(key.key_id()).at("key").as_string() == base64_encode_unpadded(key.public_key));
  BOOST_TEST(verify_json_signature(doc, "a.example", key.key_id(), key.public_key));
  auto keys = check_server_keys(doc, "a.example");
  BOOST_TEST(keys.size() == 2u);
  BOOST_TEST(keys.at(key.key_id()).public_key_raw == key.public_key);
  BOOST_TEST(keys.at(key.key_id()).valid_until_ts == 5000);
  BOOST_TEST(!keys.at(key.key_id()).expired);
  BOOST_TEST(keys.at("ed25519:old").expired);
  BOOST_TEST(keys.at("ed25519:old").expired_ts == 1000);

  auto errcode = [](const json::object& d, const std::string& name) {
    try {
      check_server_keys(d, name);
    } catch (const matrix_error& e) {
      return e.errcode() + " " + std::to_string(e.status());
    }
    return std::string("accepted");
  };
  BOOST_TEST(errcode(doc, "b.example") == "M_UNAUTHORIZED 401");
  auto tampered = doc;
  tampered["valid_until_ts"] = 9999999;
  BOOST_TEST(errcode(tampered, "a.example") == "M_UNAUTHORIZED 401");
  // A verify key the server does not hold (it could not sign with it) makes the document fake.
  auto extra = doc;
  extra["verify_keys"].as_object()["ed25519:fake"] =
      json::object{{"key", base64_encode_unpadded(generate_signing_key().public_key)}};
  BOOST_TEST(errcode(extra, "a.example") == "M_UNAUTHORIZED 401");
  auto empty = doc;
  empty["verify_keys"] = json::object{};
  BOOST_TEST(errcode(empty, "a.example") == "M_UNAUTHORIZED 401");
}

BOOST_AUTO_TEST_CASE(server_names_split_for_resolution) {
  auto a = split_server_name("matrix.org");
  BOOST_TEST((a && a->host == "matrix.org" && !a->port && !a->ip_literal));
  auto b = split_server_name("example.com:8449");
  BOOST_TEST((b && b->host == "example.com" && b->port == 8449 && !b->ip_literal));
  auto c = split_server_name("1.2.3.4:80");
  BOOST_TEST((c && c->host == "1.2.3.4" && c->port == 80 && c->ip_literal));
  auto d = split_server_name("[1234:5678::abcd]");
  BOOST_TEST((d && d->host == "[1234:5678::abcd]" && !d->port && d->ip_literal));
  auto e = split_server_name("[::1]:8448");
  BOOST_TEST((e && e->host == "[::1]" && e->port == 8448));
  BOOST_TEST(!split_server_name("no spaces.example").has_value());
  BOOST_TEST(!split_server_name("example.com:99999").has_value());
  BOOST_TEST(!split_server_name("").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
