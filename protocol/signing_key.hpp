// The server's ed25519 signing key in Synapse's file format: one line "ed25519 <key_id> <seed>",
// with the 32-byte seed in unpadded base64. Parsing and encoding only; reading the file is the
// caller's business.
#pragma once
#include <string>

namespace myelin::protocol {

struct signing_key {
  std::string algorithm = "ed25519";
  std::string version;          // "a_AbCd": the key id is "ed25519:" + version
  std::string seed;             // 32 raw bytes
  std::string public_key;       // 32 raw bytes, derived from the seed

  std::string key_id() const { return algorithm + ":" + version; }
};

signing_key generate_signing_key();
// Throws std::invalid_argument with what is wrong.
signing_key parse_signing_key(const std::string& line);
std::string encode_signing_key(const signing_key& k);

} // namespace myelin::protocol
