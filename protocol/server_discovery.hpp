// Server discovery (server-server API "Resolving server names"): the name another server's
// federation requests are addressed to — the TLS server name, the certificate to expect, the Host
// header — and the hosts and ports to connect to, which SRV records may make different.
// No I/O: the /.well-known fetch and the SRV queries are callables the caller passes in
// (actors/federation/discovery.cpp makes them, and caches the answer).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::protocol::discovery {

inline constexpr uint16_t default_port = 8448;

struct srv_record {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;  // a host name, no trailing dot ("" or "." from DNS: "no service here")
  friend bool operator==(const srv_record&, const srv_record&) = default;
};

// What one SRV query answered.
struct srv_answer {
  enum class outcome {
    found,   // records (which may still be unusable: a "." target, a bad name)
    none,    // the name does not exist or has no SRV records
    failed,  // no usable answer: timeout, SERVFAIL, a malformed message
  };
  outcome result = outcome::none;
  std::vector<srv_record> records;
  uint32_t ttl_seconds = 0;  // the smallest TTL of the records
};

// A place to connect to. `host` is a DNS name or an IP literal without brackets.
struct connect_target {
  std::string host;
  uint16_t port = 0;
  friend bool operator==(const connect_target&, const connect_target&) = default;
};

struct route {
  // "https://<name>[:<port>]": its host is the name for SNI, certificate verification and the
  // Host header (the server name, or the delegated one, never an SRV target).
  std::string url;
  // Where to connect, at least one; connection_order() turns them into the order to try.
  // Without SRV records, one entry of weight 0.
  std::vector<srv_record> targets;
  std::string step;  // the spec's step that decided ("1", "2", "3.1" … "3.5", "4", "5", "6"), for logs and tests
  bool delegated = false;                    // /.well-known/matrix/server named another server
  std::optional<uint32_t> srv_ttl_seconds;   // set when SRV records decided
  bool dns_failed = false;  // an SRV query failed (rather than finding nothing): the route is a guess
};

struct lookups {
  // The `m.server` value of https://<hostname>/.well-known/matrix/server as served (checked
  // here), or nullopt when the request, its status or its JSON failed.
  std::function<std::optional<std::string>(const std::string& hostname)> well_known;
  // The SRV records of a DNS name such as "_matrix-fed._tcp.example.org".
  std::function<srv_answer(const std::string& name)> srv;
};

// The route to `server_name` by the spec's steps; nullopt when it is not a server name. A
// /.well-known answer that is not a server name counts as no answer (step 4), as the spec says.
std::optional<route> resolve(std::string_view server_name, const lookups& lookup);

// The records a route may use: targets lowercased, records whose target is "." / empty / not a
// host name dropped (RFC 2782: "." means the service is decidedly not available there).
std::vector<srv_record> usable_records(std::vector<srv_record> records);

// The order to try the targets in (RFC 2782): ascending priority, and within one priority a
// weighted random order (each pick chosen with probability weight / remaining weight; records of
// weight 0 first in the running sums, so they are picked rarely when others have weight).
// `random(n)` returns a uniformly distributed integer in [0, n].
// How long a /.well-known answer may be cached by its Cache-Control header (RFC 9111): max-age
// in seconds (s-maxage is for shared caches, not us), 0 for no-store or no-cache; nullopt when the
// header says nothing usable (the caller's default then applies).
std::optional<int64_t> cache_max_age_seconds(std::string_view cache_control);

std::vector<connect_target> connection_order(const std::vector<srv_record>& targets,
                                             const std::function<uint32_t(uint32_t)>& random);

} // namespace myelin::protocol::discovery
