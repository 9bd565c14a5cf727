// X-Matrix request signatures and server key documents (server-server API "Authentication",
// "Retrieving server keys").
#include "protocol/federation_auth.hpp"

#include <boost/json.hpp>

#include <cctype>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/signing.hpp"

namespace myelin::protocol::federation {

namespace json = boost::json;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 tchar, plus ':' (older servers send unquoted key ids and server names with ports).
bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~:").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

std::optional<x_matrix> parse_x_matrix(std::string_view h) {
  constexpr std::string_view scheme = "x-matrix";
  if (h.size() <= scheme.size() || lower(h.substr(0, scheme.size())) != scheme || !is_space(h[scheme.size()]))
    return std::nullopt;
  size_t i = scheme.size();
  std::map<std::string, std::string> params;
  while (true) {
    while (i < h.size() && (is_space(h[i]) || h[i] == ',')) ++i;
    if (i >= h.size()) break;
    size_t name_start = i;
    while (i < h.size() && is_token_char(h[i]) && h[i] != ':') ++i;
    std::string name = lower(h.substr(name_start, i - name_start));
    if (name.empty() || i >= h.size() || h[i] != '=') return std::nullopt;
    ++i;
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      bool closed = false;
      while (i < h.size()) {
        char c = h[i++];
        if (c == '\\' && i < h.size()) value += h[i++];
        else if (c == '"') {
          closed = true;
          break;
        } else value += c;
      }
      if (!closed) return std::nullopt;
    } else {
      while (i < h.size() && is_token_char(h[i])) value += h[i++];
    }
    while (i < h.size() && is_space(h[i])) ++i;
    if (i < h.size() && h[i] != ',') return std::nullopt;
    params.emplace(std::move(name), std::move(value));  // the first of a repeated name counts
  }
  x_matrix out;
  auto take = [&](const char* name, std::string& into) {
    auto it = params.find(name);
    if (it == params.end() || it->second.empty()) return false;
    into = it->second;
    return true;
  };
  if (!take("origin", out.origin) || !take("key", out.key_id) || !take("sig", out.signature)) return std::nullopt;
  take("destination", out.destination);
  return out;
}

json::object request_json(std::string_view method, std::string_view uri, std::string_view origin,
                          std::string_view destination, const json::value* content) {
  json::object o{{"method", method}, {"uri", uri}, {"origin", origin}, {"destination", destination}};
  if (content) o["content"] = *content;
  return o;
}

std::string authorization_header(std::string_view method, std::string_view uri, const std::string& origin,
                                 std::string_view destination, const json::value* content, const signing_key& key) {
  auto o = request_json(method, uri, origin, destination, content);
  auto sig = sign_json(o, origin, key);
  // Lower-case names, no spaces around commas, no backslashes: what every server parses.
  return "X-Matrix origin=\"" + origin + "\",destination=\"" + std::string(destination) + "\",key=\"" +
         key.key_id() + "\",sig=\"" + sig + "\"";
}

bool verify_request(const x_matrix& auth, std::string_view method, std::string_view uri, std::string_view our_name,
                    const json::value* content, const std::string& public_key_raw) {
  if (!auth.destination.empty() && auth.destination != our_name) return false;
  auto o = request_json(method, uri, auth.origin, our_name, content);
  o["signatures"] = json::object{{auth.origin, json::object{{auth.key_id, auth.signature}}}};
  return verify_json_signature(o, auth.origin, auth.key_id, public_key_raw);
}

json::object server_keys_document(const std::string& server_name, const signing_key& key,
                                  const std::map<std::string, old_key>& old_keys, int64_t valid_until_ts) {
  json::object old;
  for (const auto& [id, k] : old_keys)
    old[id] = json::object{{"key", base64_encode_unpadded(k.public_key_raw)}, {"expired_ts", k.expired_ts}};
  json::object doc{{"server_name", server_name},
                   {"valid_until_ts", valid_until_ts},
                   {"verify_keys", json::object{{key.key_id(), json::object{{"key", base64_encode_unpadded(key.public_key)}}}}},
                   {"old_verify_keys", std::move(old)}};
  sign_json(doc, server_name, key);
  return doc;
}

std::map<std::string, verify_key> check_server_keys(const json::object& doc, const std::string& server_name) {
  const auto* name = doc.if_contains("server_name");
  if (!name || !name->is_string() || name->as_string() != server_name)
    throw errors::unauthorized("Key document is for another server");
  const auto* until = doc.if_contains("valid_until_ts");
  if (!until || !until->is_int64()) throw errors::unauthorized("Key document has no valid_until_ts");
  auto decode_key = [](const json::value& entry) -> std::optional<std::string> {
    if (!entry.is_object()) return std::nullopt;
    const auto* k = entry.as_object().if_contains("key");
    std::string raw;
    if (!k || !k->is_string() || !base64_decode(k->as_string(), raw) || raw.size() != 32) return std::nullopt;
    return raw;
  };
  std::map<std::string, verify_key> out;
  const auto* current = doc.if_contains("verify_keys");
  if (!current || !current->is_object() || current->as_object().empty())
    throw errors::unauthorized("Key document has no verify_keys");
  for (const auto& [id, entry] : current->as_object()) {
    auto raw = decode_key(entry);
    if (!raw || !id.starts_with("ed25519:")) continue;  // other algorithms: not ours to check
    // Every current key must have signed the document (a key the server does not hold is fake).
    if (!verify_json_signature(doc, server_name, std::string(id), *raw))
      throw errors::unauthorized("Key document is not signed by its key " + std::string(id));
    out[std::string(id)] = verify_key{*raw, until->as_int64(), false, 0};
  }
  if (out.empty()) throw errors::unauthorized("Key document has no ed25519 verify key");
  if (const auto* old = doc.if_contains("old_verify_keys"); old && old->is_object())
    for (const auto& [id, entry] : old->as_object()) {
      auto raw = decode_key(entry);
      const auto* expired = entry.is_object() ? entry.as_object().if_contains("expired_ts") : nullptr;
      if (!raw || !expired || !expired->is_int64() || out.count(std::string(id))) continue;
      out[std::string(id)] = verify_key{*raw, expired->as_int64(), true, expired->as_int64()};
    }
  return out;
}

} // namespace myelin::protocol::federation
