#include "protocol/signing_key.hpp"

#include <sodium.h>
#include <sstream>
#include <stdexcept>

#include "protocol/crypto.hpp"

namespace myelin::protocol {

namespace {
void derive_public(signing_key& k) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(k.seed.data()));
  sodium_memzero(sk, sizeof sk);
  k.public_key.assign(reinterpret_cast<char*>(pk), sizeof pk);
}
} // namespace

signing_key generate_signing_key() {
  signing_key k;
  k.version = "a_" + random_alnum(4);
  k.seed.resize(crypto_sign_SEEDBYTES);
  randombytes_buf(k.seed.data(), k.seed.size());
  derive_public(k);
  return k;
}

signing_key parse_signing_key(const std::string& line) {
  std::istringstream in(line);
  signing_key k;
  std::string seed_b64;
  if (!(in >> k.algorithm >> k.version >> seed_b64))
    throw std::invalid_argument("expected 'ed25519 <version> <base64 seed>'");
  if (k.algorithm != "ed25519") throw std::invalid_argument("unsupported key algorithm '" + k.algorithm + "'");
  if (!base64_decode(seed_b64, k.seed) || k.seed.size() != crypto_sign_SEEDBYTES)
    throw std::invalid_argument("the seed is not 32 bytes of base64");
  derive_public(k);
  return k;
}

std::string encode_signing_key(const signing_key& k) {
  return k.algorithm + " " + k.version + " " + base64_encode_unpadded(k.seed) + "\n";
}

} // namespace myelin::protocol
