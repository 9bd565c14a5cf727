// Private to gateway/*.cpp: the small text rules of HTTP requests that the gateway applies itself
// (percent-decoding, query strings, Bearer tokens, X-Forwarded-For). Pure functions, no Beast, so
// the catalog and the tests can use them without paying for Asio.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace myelin::gateway::detail {

inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' as a space in query strings, per application/x-www-form-urlencoded).
// Returns false on a malformed escape; `out` is then unspecified. The output is never longer than
// the input, which the routing fuzzer checks.
inline bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

// The query string's pairs, decoded. When `access_token` is given, the access_token parameter is
// taken out (into it, first one wins) so it is never passed on to handlers. A malformed escape keeps the raw text: clients send
// odd queries and Synapse is lenient here too.
inline std::vector<std::pair<std::string, std::string>> parse_query(std::string_view raw,
                                                                    std::string* access_token) {
  std::vector<std::pair<std::string, std::string>> out;
  bool have_token = false;
  while (!raw.empty()) {
    size_t amp = raw.find('&');
    std::string_view piece = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    std::string_view raw_key = piece.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);
    std::string key, value;
    if (!percent_decode(raw_key, key, true)) key.assign(raw_key);
    if (!percent_decode(raw_value, value, true)) value.assign(raw_value);
    if (access_token && key == "access_token") {
      if (!have_token) *access_token = std::move(value);
      have_token = true;
      continue;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Bearer <token>" → the token; anything else (other scheme, empty token, spaces inside) → false.
inline bool parse_bearer(std::string_view authorization, std::string& token) {
  authorization = trim(authorization);
  size_t sp = authorization.find(' ');
  if (sp == std::string_view::npos || !iequals(authorization.substr(0, sp), "bearer")) return false;
  std::string_view t = trim(authorization.substr(sp + 1));
  if (t.empty() || t.find_first_of(" \t") != std::string_view::npos) return false;
  token.assign(t);
  return true;
}

// The original client of a request relayed by a trusted proxy: the first X-Forwarded-For entry.
inline std::string_view first_forwarded_for(std::string_view header) {
  return trim(header.substr(0, header.find(',')));
}

// The path part of a request target: origin-form as is, absolute-form ("http://host/p") without
// scheme and authority. The query (raw) goes to `query`.
inline std::string_view split_target(std::string_view target, std::string_view& query) {
  size_t scheme = target.find("://");
  if (!target.empty() && target.front() != '/' && scheme != std::string_view::npos) {
    size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view{"/"} : target.substr(slash);
  }
  size_t cut = target.find_first_of("?#");
  query = {};
  if (cut != std::string_view::npos && target[cut] == '?') {
    query = target.substr(cut + 1);
    query = query.substr(0, query.find('#'));
  }
  return target.substr(0, cut);
}

// A Range header against a body of `size` bytes (RFC 9110 §14). Only a single byte range is
// served; anything else (several ranges, another unit, a malformed header) is ignored and the
// whole body sent, which the RFC allows. `unsatisfiable` means 416.
struct byte_range {
  enum class kind { whole, part, unsatisfiable } result = kind::whole;
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

inline bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

inline byte_range parse_byte_range(std::string_view header, uint64_t size) {
  byte_range whole;
  header = trim(header);
  if (header.size() < 6 || !iequals(header.substr(0, 6), "bytes=")) return whole;
  std::string_view spec = trim(header.substr(6));
  if (spec.find(',') != std::string_view::npos) return whole;
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  std::string_view a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
  byte_range r;
  r.result = byte_range::kind::part;
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: the last N bytes
    if (!parse_decimal(b, last)) return whole;
    if (last == 0 || size == 0) return byte_range{byte_range::kind::unsatisfiable};
    r.first = last >= size ? 0 : size - last;
    r.last = size - 1;
    return r;
  }
  if (!parse_decimal(a, first)) return whole;
  if (b.empty()) last = UINT64_MAX;
  else if (!parse_decimal(b, last) || last < first) return whole;
  if (first >= size) return byte_range{byte_range::kind::unsatisfiable};
  r.first = first;
  r.last = last >= size ? size - 1 : last;
  return r;
}

} // namespace myelin::gateway::detail
