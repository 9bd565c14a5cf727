#include "protocol/ip_range.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace myelin::protocol {

namespace {

constexpr std::array<uint8_t, 12> v4_mapped_prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// One decimal octet: 0-255, no sign, no leading zero.
std::optional<uint8_t> parse_octet(std::string_view s) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v > 255) return std::nullopt;
  return static_cast<uint8_t>(v);
}

std::optional<std::array<uint8_t, 4>> parse_v4(std::string_view s) {
  std::array<uint8_t, 4> out{};
  for (size_t i = 0; i < 4; ++i) {
    size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return std::nullopt;
    auto octet = parse_octet(s.substr(0, dot));
    if (!octet) return std::nullopt;
    out[i] = *octet;
    s.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  if (!s.empty()) return std::nullopt;
  return out;
}

std::optional<uint16_t> parse_group(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// The groups of one side of "::" (or of a whole address without one); an IPv4 tail counts as two
// groups and is allowed only at the very end of the address.
std::optional<std::vector<uint16_t>> parse_groups(std::string_view s, bool ends_address) {
  std::vector<uint16_t> groups;
  if (s.empty()) return groups;
  while (true) {
    size_t colon = s.find(':');
    std::string_view part = s.substr(0, colon);
    if (colon == std::string_view::npos && ends_address && part.find('.') != std::string_view::npos) {
      auto v4 = parse_v4(part);
      if (!v4) return std::nullopt;
      groups.push_back(static_cast<uint16_t>((*v4)[0] << 8 | (*v4)[1]));
      groups.push_back(static_cast<uint16_t>((*v4)[2] << 8 | (*v4)[3]));
      return groups;
    }
    auto g = parse_group(part);
    if (!g) return std::nullopt;
    groups.push_back(*g);
    if (colon == std::string_view::npos) return groups;
    s.remove_prefix(colon + 1);
  }
}

std::optional<ip_address> parse_v6(std::string_view s) {
  std::vector<uint16_t> groups;
  size_t gap = s.find("::");
  if (gap == std::string_view::npos) {
    auto all = parse_groups(s, true);
    if (!all || all->size() != 8) return std::nullopt;
    groups = std::move(*all);
  } else {
    if (s.find("::", gap + 1) != std::string_view::npos) return std::nullopt;
    auto head = parse_groups(s.substr(0, gap), false);
    auto tail = parse_groups(s.substr(gap + 2), true);
    if (!head || !tail || head->size() + tail->size() > 7) return std::nullopt;  // "::" stands for >= 1 group
    groups = std::move(*head);
    groups.resize(8 - tail->size(), 0);
    groups.insert(groups.end(), tail->begin(), tail->end());
  }
  ip_address a;
  for (size_t i = 0; i < 8; ++i) {
    a.bytes[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
    a.bytes[2 * i + 1] = static_cast<uint8_t>(groups[i] & 0xff);
  }
  return a;
}

void clear_host_bits(ip_address& a, unsigned prefix) {
  for (unsigned bit = prefix; bit < 128; ++bit) a.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
}

} // namespace

bool ip_address::is_v4() const { return std::equal(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), bytes.begin()); }

ip_address ip_address::from_v4(const std::array<uint8_t, 4>& octets) {
  ip_address a;
  std::copy(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), a.bytes.begin());
  std::copy(octets.begin(), octets.end(), a.bytes.begin() + 12);
  return a;
}

std::string ip_address::to_string() const {
  char buf[48];
  if (is_v4()) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", bytes[12], bytes[13], bytes[14], bytes[15]);
    return buf;
  }
  uint16_t g[8];
  for (size_t i = 0; i < 8; ++i) g[i] = static_cast<uint16_t>(bytes[2 * i] << 8 | bytes[2 * i + 1]);
  // RFC 5952: the longest run of two or more zero groups (the first of equals) becomes "::".
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) best = i, best_len = j - i;
    i = j;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    out += buf;
  }
  return out;
}

std::optional<ip_address> parse_ip_address(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return parse_v6(text);
  auto v4 = parse_v4(text);
  if (!v4) return std::nullopt;
  return ip_address::from_v4(*v4);
}

std::string ip_range::to_string() const {
  bool v4 = network.is_v4() && prefix >= 96;
  return network.to_string() + "/" + std::to_string(v4 ? prefix - 96 : prefix);
}

std::optional<ip_range> parse_ip_range(std::string_view text) {
  size_t slash = text.find('/');
  std::string_view addr_text = text.substr(0, slash);
  bool v6 = addr_text.find(':') != std::string_view::npos;
  auto addr = parse_ip_address(addr_text);
  if (!addr) return std::nullopt;
  unsigned bits = v6 ? 128 : 32;
  unsigned prefix = bits;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return std::nullopt;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc{} || end != p.data() + p.size() || prefix > bits) return std::nullopt;
  }
  if (!v6) prefix += 96;  // IPv4 lives under ::ffff:0:0/96
  clear_host_bits(*addr, prefix);
  return ip_range{*addr, prefix};
}

bool contains(const ip_range& range, const ip_address& address) {
  unsigned full = range.prefix / 8, rest = range.prefix % 8;
  if (!std::equal(range.network.bytes.begin(), range.network.bytes.begin() + full, address.bytes.begin()))
    return false;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff00u >> rest);
  return (address.bytes[full] & mask) == range.network.bytes[full];
}

ip_range_set::ip_range_set(const std::vector<std::string>& ranges) {
  for (const auto& text : ranges) {
    auto r = parse_ip_range(text);
    if (!r) throw std::invalid_argument("'" + text + "' is not an IP address or CIDR range");
    add(*r);
  }
}

bool ip_range_set::contains(const ip_address& address) const {
  return std::any_of(ranges_.begin(), ranges_.end(), [&](const ip_range& r) { return protocol::contains(r, address); });
}

const std::vector<std::string>& default_ip_deny_list() {
  static const std::vector<std::string> list = {
      // IPv4
      "127.0.0.0/8",                                    // loopback
      "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  // private networks (RFC 1918)
      "100.64.0.0/10",                                  // carrier-grade NAT
      "192.0.0.0/24",                                   // IETF protocol assignments
      "169.254.0.0/16",                                 // link-local (cloud metadata services live here)
      "192.88.99.0/24",                                 // former 6to4 relay anycast
      "198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",  // benchmarking, documentation
      "224.0.0.0/4",                                    // multicast
      "0.0.0.0/8",                                      // "this network"
      "240.0.0.0/4",                                    // reserved, and the broadcast address
      // IPv6 (IPv4-mapped addresses are checked as IPv4, above)
      "::1/128", "::/128",                              // loopback, unspecified
      "fe80::/10",                                      // link-local
      "fc00::/7",                                       // unique local
      "fec0::/10",                                      // site-local (deprecated)
      "2001:db8::/32",                                  // documentation
      "ff00::/8",                                       // multicast
      "100::/64",                                       // discard-only
      "64:ff9b::/96", "64:ff9b:1::/48",                 // NAT64: IPv4 through a translator
      "2001::/23",                                      // IETF assignments, Teredo among them
      "2002::/16",                                      // 6to4: IPv4 through a relay
  };
  return list;
}

} // namespace myelin::protocol
