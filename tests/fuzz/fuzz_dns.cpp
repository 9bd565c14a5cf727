// libFuzzer target: DNS answers come from the network, and server names and /.well-known answers
// from other servers. outbound::parse_srv_response (glibc's ns_parserr and dn_expand plus our own
// reading of SRV record data) and the discovery steps of protocol/server_discovery must never
// crash, hang or read past their input on any of it.
//
// Input: any bytes; they are parsed as a DNS response, and the records found (if any) are the SRV
// answer to every query of a resolution in which the same bytes, as text, are both the server
// name and its /.well-known delegation. The route's targets are then ordered with a random source
// drawn from the input too. The text is also read as a /.well-known answer's Cache-Control.
#include <cstdint>
#include <optional>
#include <string>

#include "outbound/dns_srv.hpp"
#include "protocol/server_discovery.hpp"

using namespace myelin;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto answer = outbound::parse_srv_response(data, size);
  std::string text(reinterpret_cast<const char*>(data), size);
  protocol::discovery::lookups lookups{
      [&](const std::string&) -> std::optional<std::string> { return text; },
      [&](const std::string&) { return answer; }};
  size_t next = 0;
  auto random = [&](uint32_t bound) -> uint32_t {
    uint32_t v = size ? data[next++ % size] * 257u : 0;
    return bound == UINT32_MAX ? v : v % (bound + 1);
  };
  for (std::string name : {text, std::string("example.org")}) {
    if (auto r = protocol::discovery::resolve(name, lookups))
      (void)protocol::discovery::connection_order(r->targets, random);
  }
  (void)protocol::discovery::connection_order(answer.records, random);
  (void)protocol::discovery::cache_max_age_seconds(text);  // a /.well-known answer's Cache-Control
  return 0;
}
