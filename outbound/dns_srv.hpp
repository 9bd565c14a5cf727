// DNS SRV queries for federation server discovery (protocol/server_discovery), through glibc's
// stub resolver (libresolv: res_nquery, ns_initparse). A query blocks: call it from a
// blocking-pool thread only, never on an Asio or actor scheduler thread. Its time is bounded
// (the resolver's per-try timeout and retry count are set to stay within about five seconds).
//
// The header is free of the resolver's headers (<arpa/nameser.h> and <resolv.h> define short
// macros such as NOERROR, QUERY, T_A and C_IN that clash with ordinary names); only dns_srv.cpp
// includes them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "protocol/ip_range.hpp"
#include "protocol/server_discovery.hpp"

namespace myelin::outbound {

// A nameserver to ask instead of /etc/resolv.conf's (federation_dns_servers): IPv4 address, port.
using nameserver = std::pair<protocol::ip_address, uint16_t>;

// The SRV records of `name` (e.g. "_matrix-fed._tcp.example.org"): found, none (NXDOMAIN, no SRV
// records) or failed (timeout, SERVFAIL, refused, a malformed answer). `nameservers`, when not
// empty, replaces the system's (IPv4 only; at most three are used, as the resolver allows).
protocol::discovery::srv_answer query_srv(const std::string& name, const std::vector<nameserver>& nameservers = {});

// The SRV records in a DNS response message (`message`, `size` bytes), as query_srv reads what
// the resolver received. Anything malformed is "failed" or skipped, never read past its end.
// Public for the fuzz target.
protocol::discovery::srv_answer parse_srv_response(const unsigned char* message, size_t size);

} // namespace myelin::outbound
