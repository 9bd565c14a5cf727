// Ed25519 signing of JSON per the appendix "Signing JSON": the signed bytes are the canonical JSON
// of the object minus `signatures` and `unsigned`, so that intermediaries can add those freely.
#include "protocol/signing.hpp"

#include <sodium.h>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::protocol {

namespace json = boost::json;

namespace {

// The bytes a signature covers. Works on a copy so that a failure (a float somewhere) leaves the
// caller's object exactly as it was.
std::string signed_bytes(const json::object& obj) {
  json::object copy = obj;
  copy.erase("signatures");
  copy.erase("unsigned");
  return canonical_json(copy);
}

const unsigned char* bytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

} // namespace

std::string sign_json(json::object& obj, const std::string& server_name, const signing_key& key) {
  auto existing = obj.find("signatures");
  if (existing != obj.end() && !existing->value().is_object())
    throw errors::bad_json("'signatures' must be an object");
  const std::string message = signed_bytes(obj);

  // libsodium signs with the 64-byte secret key (seed || public key) expanded from the seed.
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, bytes(key.seed));
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, bytes(message), message.size(), sk);
  sodium_memzero(sk, sizeof sk);

  std::string encoded = base64_encode_unpadded(std::string_view(reinterpret_cast<char*>(sig), sizeof sig));
  // operator[] inserts null when absent; emplace_object() would replace what is there.
  json::value& sigs = obj["signatures"];
  if (!sigs.is_object()) sigs.emplace_object();
  json::value& by_server = sigs.as_object()[server_name];
  if (!by_server.is_object()) by_server.emplace_object();
  by_server.as_object()[key.key_id()] = encoded;
  return encoded;
}

bool verify_json_signature(const json::object& obj, const std::string& server_name, const std::string& key_id,
                           const std::string& public_key_raw) {
  if (public_key_raw.size() != crypto_sign_PUBLICKEYBYTES) return false;
  const auto* sigs = obj.if_contains("signatures");
  if (!sigs || !sigs->is_object()) return false;
  const auto* by_server = sigs->as_object().if_contains(server_name);
  if (!by_server || !by_server->is_object()) return false;
  const auto* sig_b64 = by_server->as_object().if_contains(key_id);
  if (!sig_b64 || !sig_b64->is_string()) return false;
  std::string sig;
  if (!base64_decode(sig_b64->as_string(), sig) || sig.size() != crypto_sign_BYTES) return false;
  std::string message;
  try {
    message = signed_bytes(obj);
  } catch (const matrix_error&) {
    return false;  // not canonicalisable, so nobody can have signed it
  }
  return crypto_sign_verify_detached(bytes(sig), bytes(message), message.size(), bytes(public_key_raw)) == 0;
}

} // namespace myelin::protocol
