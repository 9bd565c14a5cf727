// Cryptographic primitives the protocol needs, over libsodium and OpenSSL: password hashing
// (argon2id), random tokens, SHA-256, unpadded base64 as Matrix uses it, constant-time compare.
#pragma once
#include <string>
#include <string_view>

namespace myelin::protocol {

// Call once at startup (sodium_init). Safe to call again.
void crypto_init();

// argon2id with libsodium's INTERACTIVE limits (the encoded string carries its parameters, so
// stronger settings later still verify old hashes).
std::string hash_password(std::string_view password);
bool verify_password(std::string_view password, const std::string& encoded_hash);

// `bytes` random bytes, encoded URL-safe unpadded base64 (tokens) / alphanumeric (ids).
std::string random_token(size_t bytes = 32);
std::string random_alnum(size_t length);
// Device ids as Synapse makes them: 10 upper-case letters.
std::string random_device_id();

std::string sha256_hex(std::string_view data);
std::string sha256_raw(std::string_view data);

// SHA-256 of data that arrives in pieces (media files as they are written).
class sha256_stream {
public:
  sha256_stream();
  void update(std::string_view data);
  std::string hex();  // the digest of everything so far, lower-case hex; ends the stream

private:
  alignas(16) unsigned char state_[128];  // libsodium's crypto_hash_sha256_state
};

std::string base64_encode_unpadded(std::string_view data);
std::string base64url_encode_unpadded(std::string_view data);
// Accepts padded or unpadded, standard or URL-safe base64, ignoring unused trailing bits (as
// Synapse does); returns false on invalid input.
bool base64_decode(std::string_view in, std::string& out);

bool constant_time_equal(std::string_view a, std::string_view b);

// HMAC-SHA-256 of `message` under `key`, lower-case hex.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

} // namespace myelin::protocol
