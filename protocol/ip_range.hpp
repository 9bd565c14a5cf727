// IP addresses and CIDR ranges, for deciding which hosts the server may connect to on a user's
// behalf (URL previews; later federation): Synapse's url_preview_ip_range_blacklist/_whitelist.
// No I/O: parsing and membership only.
//
// Every address is held as 128 bits, IPv4 in its IPv4-mapped form ::ffff:a.b.c.d, so "10.0.0.1"
// and "::ffff:10.0.0.1" are the same address and an IPv4 range catches both spellings (a
// resolver or a URL may hand us either; an attacker must not get past 127.0.0.0/8 by writing
// [::ffff:127.0.0.1]).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::protocol {

struct ip_address {
  std::array<uint8_t, 16> bytes{};

  // In ::ffff:0:0/96, i.e. an IPv4 address.
  bool is_v4() const;
  // "10.0.0.1" for IPv4 (mapped or not), RFC 5952 text ("2001:db8::1") for IPv6.
  std::string to_string() const;
  static ip_address from_v4(const std::array<uint8_t, 4>& octets);
  friend bool operator==(const ip_address&, const ip_address&) = default;
};

// A dotted quad ("192.0.2.1", no leading zeros: they read as octal to some parsers) or an IPv6
// address ("::1", "2001:db8::1", "::ffff:192.0.2.1"); no brackets, no zone ("%eth0").
std::optional<ip_address> parse_ip_address(std::string_view text);

// A network: the address with its host bits cleared, and the prefix length over all 128 bits
// (an IPv4 /8 is stored as /104).
struct ip_range {
  ip_address network;
  unsigned prefix = 128;

  // "10.0.0.0/8", "fe80::/10", in the family it was written in.
  std::string to_string() const;
  friend bool operator==(const ip_range&, const ip_range&) = default;
};

// "10.0.0.0/8", "fe80::/10", or a bare address (/32 or /128). Host bits after the prefix are
// cleared ("10.1.2.3/8" is 10.0.0.0/8), as Synapse's netaddr does.
std::optional<ip_range> parse_ip_range(std::string_view text);

bool contains(const ip_range& range, const ip_address& address);

class ip_range_set {
public:
  ip_range_set() = default;
  // Throws std::invalid_argument naming the first entry that is not a range.
  explicit ip_range_set(const std::vector<std::string>& ranges);

  void add(const ip_range& range) { ranges_.push_back(range); }
  bool contains(const ip_address& address) const;
  bool empty() const { return ranges_.empty(); }
  const std::vector<ip_range>& ranges() const { return ranges_; }

private:
  std::vector<ip_range> ranges_;
};

// Which addresses outbound requests may reach: anything not denied, and anything denied that the
// allow list names again (the allow list wins, as Synapse's whitelist does).
struct ip_policy {
  ip_range_set deny;
  ip_range_set allow;

  bool allows(const ip_address& address) const { return !deny.contains(address) || allow.contains(address); }
};

// The default url_preview_ip_range_blacklist: Synapse's list (loopback, private, CGNAT,
// link-local, test and documentation networks, multicast, IPv6 unique-local and site-local) plus
// the unspecified, "this network", reserved and broadcast IPv4 space, and the IPv6 prefixes that
// carry an IPv4 address to a gateway (NAT64, 6to4, Teredo and the rest of 2001::/23), which would
// otherwise reach the IPv4 space this list closes.
const std::vector<std::string>& default_ip_deny_list();

} // namespace myelin::protocol
