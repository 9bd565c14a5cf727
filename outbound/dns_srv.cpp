// SRV queries through glibc's resolver (see dns_srv.hpp). Each query has its own res_state, so
// threads never share resolver state, and its own copy of /etc/resolv.conf's settings.
#include "outbound/dns_srv.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

namespace myelin::outbound {

namespace {

using protocol::discovery::srv_answer;
using protocol::discovery::srv_record;

srv_answer failed() { return {srv_answer::outcome::failed, {}, 0}; }
srv_answer none() { return {srv_answer::outcome::none, {}, 0}; }

// The seconds one query can take over UDP at most, as glibc's send_dg computes them: each try
// asks every nameserver in turn, waiting (retrans << i) / nscount seconds for server i > 0,
// retrans for the first, and at least one second each.
int worst_case_seconds(int retrans, int retry, int servers) {
  int per_try = 0;
  for (int i = 0; i < servers; ++i) {
    int seconds = retrans << i;
    if (i > 0) seconds /= servers;
    per_try += std::max(seconds, 1);
  }
  return per_try * retry;
}

// Two tries of two seconds when they fit in ~5 s, else less: a lost UDP packet is retried once,
// a dead nameserver does not hold a federation request for the system default's 30 s.
void bound_time(res_state st) {
  int servers = std::max(st->nscount, 1);
  for (int retry : {2, 1})
    for (int retrans : {2, 1})
      if (worst_case_seconds(retrans, retry, servers) <= 5) {
        st->retrans = retrans;
        st->retry = retry;
        return;
      }
  st->retrans = 1;
  st->retry = 1;
}

struct resolver_state {
  struct __res_state st {};
  bool open = false;
  ~resolver_state() {
    if (open) res_nclose(&st);
  }
};

} // namespace

srv_answer parse_srv_response(const unsigned char* message, size_t size) {
  if (!message || size > std::numeric_limits<int>::max()) return failed();
  ns_msg msg;
  if (ns_initparse(message, static_cast<int>(size), &msg) < 0) return failed();
  switch (ns_msg_getflag(msg, ns_f_rcode)) {
  case ns_r_noerror: break;
  case ns_r_nxdomain: return none();
  default: return failed();  // SERVFAIL, REFUSED, FORMERR…: nothing is known about the name
  }
  srv_answer out;
  uint32_t ttl = std::numeric_limits<uint32_t>::max();
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) return failed();
    // CNAMEs the resolver followed come along; only SRV records of class IN count.
    if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in) continue;
    const unsigned char* rdata = ns_rr_rdata(rr);
    size_t rdlen = ns_rr_rdlen(rr);
    if (rdlen < 7) continue;  // priority, weight, port and at least the root name
    srv_record rec;
    rec.priority = static_cast<uint16_t>(ns_get16(rdata));
    rec.weight = static_cast<uint16_t>(ns_get16(rdata + 2));
    rec.port = static_cast<uint16_t>(ns_get16(rdata + 4));
    char target[NS_MAXDNAME];
    int used = dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata + 6, target, sizeof target);
    if (used < 0 || static_cast<size_t>(used) != rdlen - 6) continue;  // the name must fill the record
    rec.target = target;
    out.records.push_back(std::move(rec));
    ttl = std::min<uint32_t>(ttl, ns_rr_ttl(rr));
  }
  if (out.records.empty()) return none();
  out.result = srv_answer::outcome::found;
  out.ttl_seconds = ttl;
  return out;
}

srv_answer query_srv(const std::string& name, const std::vector<nameserver>& nameservers) {
  auto state = std::make_unique<resolver_state>();  // ~570 bytes: not on a pool thread's stack
  res_state st = &state->st;
  if (res_ninit(st) != 0) return failed();
  state->open = true;
  if (!nameservers.empty()) {
    int n = 0;
    for (const auto& [address, port] : nameservers) {
      if (n == MAXNS) break;
      if (!address.is_v4()) continue;  // the configuration only accepts IPv4
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      std::memcpy(&sa.sin_addr, address.bytes.data() + 12, 4);
      // A non-zero family makes the resolver use this entry rather than an IPv6 nameserver
      // res_ninit may have read from resolv.conf into the same slot.
      st->nsaddr_list[n++] = sa;
    }
    if (n == 0) return failed();
    st->nscount = n;
  }
  bound_time(st);
  // A truncated answer is used as it is rather than asked again over TCP (whose connect has no
  // timeout of ours); SRV answers are small, and EDNS0 makes room for larger ones.
  st->options |= RES_USE_EDNS0 | RES_IGNTC;

  std::vector<unsigned char> answer(64 * 1024);
  int n = res_nquery(st, name.c_str(), ns_c_in, ns_t_srv, answer.data(), static_cast<int>(answer.size()));
  if (n < 0) {
    switch (st->res_h_errno) {
    case HOST_NOT_FOUND:  // NXDOMAIN
    case NO_DATA: return none();  // the name exists without SRV records
    default: return failed();     // TRY_AGAIN (timeout, SERVFAIL), NO_RECOVERY (refused, bad query)
    }
  }
  // res_nquery reports the full length of an answer larger than the buffer.
  return parse_srv_response(answer.data(), std::min<size_t>(static_cast<size_t>(n), answer.size()));
}

} // namespace myelin::outbound
