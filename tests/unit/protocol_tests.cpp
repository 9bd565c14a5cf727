// protocol/: identifiers, canonical JSON, crypto helpers, signing keys, error bodies.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "protocol/multipart.hpp"
#include "protocol/signing_key.hpp"

using namespace myelin::protocol;

BOOST_AUTO_TEST_SUITE(protocol_tests)

BOOST_AUTO_TEST_CASE(server_names) {
  for (auto ok : {"matrix.org", "localhost", "localhost:8008", "1.2.3.4", "1.2.3.4:1234", "[1234:5678::abcd]",
                  "[1234:5678::abcd]:5678", "a-b.example.com"})
    BOOST_TEST(is_valid_server_name(ok), ok);
  for (auto bad : {"", "matrix.org:", "matrix.org:99999", "[1234:5678::abcd", "exa mple.com", "host:port",
                   "[::1]x"})
    BOOST_TEST(!is_valid_server_name(bad), bad);
}

BOOST_AUTO_TEST_CASE(user_ids) {
  BOOST_TEST(is_valid_user_id("@alice:example.org"));
  BOOST_TEST(is_valid_user_id("@a.b_c=d-e/f+g:localhost:8448"));
  BOOST_TEST(!is_valid_user_id("alice:example.org"));
  BOOST_TEST(!is_valid_user_id("@:example.org"));
  BOOST_TEST(!is_valid_user_id("@Alice:example.org", false));
  BOOST_TEST(is_valid_user_id("@Alice:example.org", true));  // historical grammar
  BOOST_TEST(!is_valid_user_id("@" + std::string(260, 'a') + ":x.org"));
  BOOST_TEST(is_valid_user_localpart("alice.bob"));
  BOOST_TEST(!is_valid_user_localpart("Alice"));
  BOOST_TEST(!is_valid_user_localpart("al ice"));
  BOOST_TEST(qualify_user_id("Alice", "example.org") == "@alice:example.org");
  BOOST_TEST(qualify_user_id("@Alice:example.org", "other.org") == "@alice:example.org");
  auto parts = split_user_id("@bob:host:8448");
  BOOST_REQUIRE(parts);
  BOOST_TEST(parts->localpart == "bob");
  BOOST_TEST(parts->server_name == "host:8448");
}

BOOST_AUTO_TEST_CASE(other_ids) {
  BOOST_TEST(is_valid_room_id("!abc:example.org"));
  BOOST_TEST(!is_valid_room_id("#abc:example.org"));
  BOOST_TEST(is_valid_room_alias("#room:example.org"));
  BOOST_TEST(is_valid_event_id("$abc"));
  BOOST_TEST(!is_valid_event_id("abc"));
  BOOST_TEST(is_valid_device_id("ABCDEFGHIJ"));
  BOOST_TEST(!is_valid_device_id(""));
  BOOST_TEST(!is_valid_device_id(std::string("a\nb")));
}

// Examples from the spec's appendix on canonical JSON.
BOOST_AUTO_TEST_CASE(canonical_json_spec_examples) {
  auto canon = [](std::string_view in) { return canonical_json(parse_value(in)); };
  BOOST_TEST(canon("{}") == "{}");
  BOOST_TEST(canon(R"({"one": 1, "two": "Two"})") == R"({"one":1,"two":"Two"})");
  BOOST_TEST(canon(R"({"b": "2", "a": "1"})") == R"({"a":"1","b":"2"})");
  BOOST_TEST(canon(R"({"auth":{"success":true,"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",)"
                   R"("three_pids":[{"medium":"email","address":"john.doe@example.org"},{"medium":"msisdn",)"
                   R"("address":"123456789"}]}}})") ==
             R"({"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":)"
             R"([{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},)"
             R"("success":true}})");
  BOOST_TEST(canon(R"({"a": "日本語"})") == "{\"a\":\"日本語\"}");
  BOOST_TEST(canon(R"({"本": 2, "日": 1})") == "{\"日\":1,\"本\":2}");
  BOOST_TEST(canon(R"({"a": null})") == R"({"a":null})");
  BOOST_CHECK_THROW(canon(R"({"a": 1.5})"), matrix_error);
}

BOOST_AUTO_TEST_CASE(json_limits_and_errors) {
  BOOST_CHECK_THROW(parse_object("not json"), matrix_error);
  try {
    parse_object("[1,2]");
    BOOST_FAIL("expected M_BAD_JSON");
  } catch (const matrix_error& e) {
    BOOST_TEST(e.errcode() == "M_BAD_JSON");
    BOOST_TEST(e.status() == 400);
  }
  try {
    parse_object("{");
    BOOST_FAIL("expected M_NOT_JSON");
  } catch (const matrix_error& e) {
    BOOST_TEST(e.errcode() == "M_NOT_JSON");
  }
  std::string deep(100, '[');
  deep += std::string(100, ']');
  BOOST_CHECK_THROW(parse_value(deep, 64), matrix_error);
  BOOST_TEST(parse_object("", 64, true).empty());
  auto o = parse_object(R"({"s":"x","n":5,"b":true})");
  BOOST_TEST(*opt_string(o, "s") == "x");
  BOOST_TEST(*opt_int(o, "n") == 5);
  BOOST_TEST(*opt_bool(o, "b"));
  BOOST_CHECK_THROW(opt_string(o, "n"), matrix_error);
  BOOST_CHECK_THROW(req_string(o, "missing"), matrix_error);
}

BOOST_AUTO_TEST_CASE(error_bodies) {
  auto e = errors::unknown_token(true);
  auto body = boost::json::parse(e.body()).as_object();
  BOOST_TEST(body["errcode"].as_string() == "M_UNKNOWN_TOKEN");
  BOOST_TEST(body["soft_logout"].as_bool());
  BOOST_TEST(e.status() == 401);
  auto l = boost::json::parse(errors::limit_exceeded(1500).body()).as_object();
  BOOST_TEST(l["retry_after_ms"].as_int64() == 1500);
  // A UIA challenge (empty errcode) is only its extra fields.
  matrix_error uia(401, "", "auth", boost::json::object{{"session", "x"}});
  BOOST_TEST(uia.body() == R"({"session":"x"})");
}

BOOST_AUTO_TEST_CASE(password_hashing) {
  crypto_init();
  auto h = hash_password("correct horse");
  BOOST_TEST(h.rfind("$argon2id$", 0) == 0);
  BOOST_TEST(verify_password("correct horse", h));
  BOOST_TEST(!verify_password("wrong", h));
  BOOST_TEST(!verify_password("x", ""));
  BOOST_TEST(hash_password("correct horse") != h);  // salted
}

BOOST_AUTO_TEST_CASE(tokens_and_encodings) {
  crypto_init();
  auto t1 = random_token(32), t2 = random_token(32);
  BOOST_TEST(t1 != t2);
  BOOST_TEST(t1.size() == 43u);
  BOOST_TEST(t1.find_first_of("+/=") == std::string::npos);
  BOOST_TEST(random_device_id().size() == 10u);
  BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(base64_encode_unpadded("") == "");
  BOOST_TEST(base64_encode_unpadded("f") == "Zg");
  BOOST_TEST(base64_encode_unpadded("fo") == "Zm8");
  BOOST_TEST(base64_encode_unpadded("foo") == "Zm9v");
  std::string out;
  BOOST_TEST(base64_decode("Zm8", out));
  BOOST_TEST(out == "fo");
  BOOST_TEST(base64_decode("Zm8=", out));
  BOOST_TEST(out == "fo");
  BOOST_TEST(!base64_decode("Z!8", out));
  BOOST_TEST(!base64_decode("Zm9vY", out));  // a lone sixth of a byte is not base64
  // The spec's test signing key: its last character carries non-zero unused bits.
  std::string a, b;
  BOOST_TEST(base64_decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", a));
  BOOST_TEST(base64_decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0", b));
  BOOST_TEST(a == b);
  BOOST_TEST(a.size() == 32u);
  BOOST_TEST(base64_decode("-_8", out));  // URL-safe alphabet
  BOOST_TEST(out == std::string("\xfb\xff"));
  BOOST_TEST(constant_time_equal("abc", "abc"));
  BOOST_TEST(!constant_time_equal("abc", "abd"));
  BOOST_TEST(!constant_time_equal("abc", "ab"));
}

BOOST_AUTO_TEST_CASE(signing_keys) {
  crypto_init();
  auto k = generate_signing_key();
  BOOST_TEST(k.seed.size() == 32u);
  BOOST_TEST(k.public_key.size() == 32u);
  auto parsed = parse_signing_key(encode_signing_key(k));
  BOOST_TEST(parsed.version == k.version);
  BOOST_TEST(parsed.public_key == k.public_key);
  // RFC 8032 test vector 1: this seed has this public key.
  std::string seed_b64 = base64_encode_unpadded(std::string(
      "\x9d\x61\xb1\x9d\xef\xfd\x5a\x60\xba\x84\x4a\xf4\x92\xec\x2c\xc4\x44\x49\xc5\x69\x7b\x32\x69\x19\x70\x3b\xac"
      "\x03\x1c\xae\x7f\x60",
      32));
  auto rfc = parse_signing_key("ed25519 a_test " + seed_b64);
  BOOST_TEST(base64_encode_unpadded(rfc.public_key) == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo");
  BOOST_CHECK_THROW(parse_signing_key("rsa a_x abc"), std::invalid_argument);
  BOOST_CHECK_THROW(parse_signing_key("ed25519 a_x c2hvcnQ"), std::invalid_argument);
}

// multipart/mixed as federation media answers use it: what build() writes parse() reads back
// (bytes with CRLFs and dashes included), a Location part, other servers' spellings (LF only, a
// preamble, quoted boundaries), and malformed bodies refused.
BOOST_AUTO_TEST_CASE(multipart_mixed) {
  namespace mp = myelin::protocol::multipart;
  BOOST_CHECK_EQUAL(mp::boundary_of("multipart/mixed; boundary=abc").value_or(""), "abc");
  BOOST_CHECK_EQUAL(mp::boundary_of("Multipart/Mixed;charset=x; BOUNDARY=\"a b\"").value_or(""), "a b");
  BOOST_CHECK(!mp::boundary_of("multipart/form-data; boundary=abc"));
  BOOST_CHECK(!mp::boundary_of("multipart/mixed"));
  BOOST_CHECK(!mp::boundary_of("multipart/mixed; boundary=" + std::string(71, 'x')));

  // Content may hold the delimiter followed by anything but a line break (RFC 2046).
  std::string bytes("\r\n--B0UND-ish\r\n\0\xff--", 19);
  auto body = mp::build({{{{"Content-Type", "application/json"}}, "{}"},
                         {{{"Content-Type", "image/png"}, {"Content-Disposition", "inline; filename=\"a.png\""}}, bytes}},
                        "B0UND");
  auto parts = mp::parse(body, "B0UND");
  BOOST_REQUIRE(parts);
  BOOST_REQUIRE_EQUAL(parts->size(), 2u);
  BOOST_CHECK_EQUAL((*parts)[0].body, "{}");
  BOOST_CHECK_EQUAL((*parts)[0].header("content-type").value_or(""), "application/json");
  BOOST_CHECK((*parts)[1].body == bytes);
  BOOST_CHECK_EQUAL((*parts)[1].header("content-disposition").value_or(""), "inline; filename=\"a.png\"");

  auto lf = mp::parse("preamble\n--x\ncontent-type: application/json\n\n{}\n--x\nLocation: https://a/b\n\n\n--x--\n", "x");
  BOOST_REQUIRE(lf);
  BOOST_REQUIRE_EQUAL(lf->size(), 2u);
  BOOST_CHECK_EQUAL((*lf)[1].header("location").value_or(""), "https://a/b");
  BOOST_CHECK_EQUAL((*lf)[1].body, "");

  BOOST_CHECK(!mp::parse("no delimiter", "x"));
  BOOST_CHECK(!mp::parse("--x\r\n\r\n{}\r\n", "x"));                   // never closed
  BOOST_CHECK(!mp::parse("--x\r\nno colon\r\n\r\n{}\r\n--x--", "x"));  // a header line without a name
}

BOOST_AUTO_TEST_SUITE_END()
