// outbound/dns_srv: SRV answers parsed from hand-built DNS messages (well-formed, odd and broken),
// and real queries through glibc's resolver to a scripted DNS server on a loopback UDP port
// (the federation_dns_servers override): found, none, failed, and a silent server that must not
// hold the caller past the bound.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "outbound/dns_srv.hpp"

using namespace myelin;
using protocol::discovery::srv_answer;
using protocol::discovery::srv_record;
using outcome = srv_answer::outcome;
using bytes = std::vector<unsigned char>;

namespace {

void put16(bytes& b, unsigned v) {
  b.push_back(static_cast<unsigned char>(v >> 8));
  b.push_back(static_cast<unsigned char>(v));
}
void put32(bytes& b, uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}

bytes dns_name(const std::string& name) {
  bytes out;
  size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<unsigned char>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
               name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

// A resource record; `owner` defaults to a pointer to the question's name (offset 12).
bytes rr(unsigned type, uint32_t ttl, const bytes& rdata, bytes owner = {0xc0, 0x0c}) {
  bytes b = owner;
  put16(b, type);
  put16(b, 1);  // IN
  put32(b, ttl);
  put16(b, static_cast<unsigned>(rdata.size()));
  b.insert(b.end(), rdata.begin(), rdata.end());
  return b;
}

bytes srv_rdata(unsigned priority, unsigned weight, unsigned port, const bytes& target) {
  bytes b;
  put16(b, priority);
  put16(b, weight);
  put16(b, port);
  b.insert(b.end(), target.begin(), target.end());
  return b;
}

bytes srv_rr(unsigned priority, unsigned weight, unsigned port, const std::string& target, uint32_t ttl = 300) {
  return rr(33, ttl, srv_rdata(priority, weight, port, dns_name(target)));
}

// A response to a query for `qname`: header (id, QR|RD|RA and `rcode`), the question, the answers.
bytes response(uint16_t id, const std::string& qname, unsigned rcode, const std::vector<bytes>& answers) {
  bytes b;
  put16(b, id);
  put16(b, 0x8180 | rcode);
  put16(b, 1);
  put16(b, static_cast<unsigned>(answers.size()));
  put16(b, 0);
  put16(b, 0);
  auto q = dns_name(qname);
  b.insert(b.end(), q.begin(), q.end());
  put16(b, 33);
  put16(b, 1);
  for (const auto& a : answers) b.insert(b.end(), a.begin(), a.end());
  return b;
}

srv_answer parse(const bytes& b) { return outbound::parse_srv_response(b.data(), b.size()); }

// A DNS server on a loopback UDP port: each query's name goes to the script, which answers
// (rcode, answer records) or stays silent (nullopt).
class scripted_dns {
public:
  struct reply {
    unsigned rcode = 0;
    std::vector<bytes> answers;
  };
  using script = std::function<std::optional<reply>(const std::string& qname, unsigned qtype)>;

  explicit scripted_dns(script s) : script_(std::move(s)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~scripted_dns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  outbound::nameserver address() const { return {*protocol::parse_ip_address("127.0.0.1"), port_}; }
  int queries() const { return queries_; }
  std::string last_query() const {
    std::lock_guard l(m_);
    return last_;
  }

private:
  void serve() {
    unsigned char buf[4096];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      auto n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 17) continue;
      // The question's name, label by label (the resolver never compresses it).
      std::string qname;
      size_t i = 12;
      while (i < static_cast<size_t>(n) && buf[i] != 0) {
        size_t l = buf[i];
        if (!qname.empty()) qname += '.';
        qname.append(reinterpret_cast<const char*>(buf + i + 1), std::min(l, static_cast<size_t>(n) - i - 1));
        i += l + 1;
      }
      if (i + 4 >= static_cast<size_t>(n)) continue;
      unsigned qtype = (buf[i + 1] << 8) | buf[i + 2];
      ++queries_;
      {
        std::lock_guard l(m_);
        last_ = qname + "/" + std::to_string(qtype);
      }
      auto r = script_(qname, qtype);
      if (!r) continue;
      auto out = response(static_cast<uint16_t>((buf[0] << 8) | buf[1]), qname, r->rcode, r->answers);
      ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  script script_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  mutable std::mutex m_;
  std::string last_;
};

// A loopback UDP port nobody listens on.
outbound::nameserver closed_udp_port() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return {*protocol::parse_ip_address("127.0.0.1"), ntohs(a.sin_port)};
}

const std::string qname = "_matrix-fed._tcp.example.org";

} // namespace

BOOST_AUTO_TEST_SUITE(dns_srv_tests)

BOOST_AUTO_TEST_CASE(srv_records_are_read) {
  // The second target is compressed: "b" + a pointer to "example.org" in the question (offset 29).
  bytes compressed = srv_rdata(20, 0, 8449, {1, 'b', 0xc0, 29});
  auto a = parse(response(1, qname, 0, {srv_rr(10, 5, 8448, "a.example.org.", 600), rr(33, 120, compressed)}));
  BOOST_TEST((a.result == outcome::found));
  BOOST_TEST((a.records == std::vector<srv_record>{{10, 5, 8448, "a.example.org"}, {20, 0, 8449, "b.example.org"}}));
  BOOST_TEST(a.ttl_seconds == 120u);  // the smallest
}

BOOST_AUTO_TEST_CASE(other_records_and_rcodes) {
  // A CNAME the resolver followed comes first; only the SRV record counts.
  auto cname = rr(5, 60, dns_name("alias.example.org"));
  auto a = parse(response(1, qname, 0, {cname, rr(33, 30, srv_rdata(1, 1, 443, dns_name("t.example.org")),
                                                  dns_name("alias.example.org"))}));
  BOOST_TEST((a.result == outcome::found));
  BOOST_TEST((a.records == std::vector<srv_record>{{1, 1, 443, "t.example.org"}}));
  BOOST_TEST((parse(response(1, qname, 0, {cname})).result == outcome::none));
  BOOST_TEST((parse(response(1, qname, 0, {})).result == outcome::none));
  BOOST_TEST((parse(response(1, qname, 3, {})).result == outcome::none));    // NXDOMAIN
  BOOST_TEST((parse(response(1, qname, 2, {})).result == outcome::failed));  // SERVFAIL
  BOOST_TEST((parse(response(1, qname, 5, {})).result == outcome::failed));  // REFUSED
  // The root target ("no service") is read as it is; protocol::discovery drops it.
  a = parse(response(1, qname, 0, {rr(33, 30, srv_rdata(0, 0, 0, {0}))}));
  BOOST_TEST((a.result == outcome::found));
  BOOST_REQUIRE(a.records.size() == 1u);
  BOOST_TEST((a.records[0].target == "" || a.records[0].target == "."));
}

BOOST_AUTO_TEST_CASE(malformed_messages_are_failed_or_skipped) {
  BOOST_TEST((outbound::parse_srv_response(nullptr, 0).result == outcome::failed));
  bytes empty;
  BOOST_TEST((parse(empty).result == outcome::failed));
  BOOST_TEST((parse(bytes(11, 0)).result == outcome::failed));
  auto good = response(1, qname, 0, {srv_rr(10, 5, 8448, "a.example.org")});
  for (size_t cut = 12; cut < good.size(); ++cut)  // every truncation: never a read past the end
    BOOST_TEST((parse(bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut))).result == outcome::failed),
               cut);
  // More answers announced than present.
  auto lying = good;
  lying[7] = 5;
  BOOST_TEST((parse(lying).result == outcome::failed));
  // Record data too short for an SRV record, a target running past its record, a pointer loop,
  // a pointer past the end: each record is skipped.
  BOOST_TEST((parse(response(1, qname, 0, {rr(33, 1, {0, 1, 0, 2})})).result == outcome::none));
  BOOST_TEST((parse(response(1, qname, 0, {rr(33, 1, srv_rdata(1, 1, 1, {3, 'a', 'b'}))})).result == outcome::none));
  auto loop = response(1, qname, 0, {});
  loop[7] = 1;
  auto record = rr(33, 1, srv_rdata(1, 1, 1, {0xc0, 0}));
  size_t rdata_target = loop.size() + record.size() - 2;  // the pointer's own offset
  record[record.size() - 2] = static_cast<unsigned char>(0xc0 | (rdata_target >> 8));
  record[record.size() - 1] = static_cast<unsigned char>(rdata_target & 0xff);
  loop.insert(loop.end(), record.begin(), record.end());
  BOOST_TEST((parse(loop).result == outcome::none));
  BOOST_TEST((parse(response(1, qname, 0, {rr(33, 1, srv_rdata(1, 1, 1, {0xc3, 0xff}))})).result == outcome::none));
}

BOOST_AUTO_TEST_CASE(queries_go_to_the_configured_nameserver) {
  scripted_dns dns([](const std::string& name, unsigned qtype) -> std::optional<scripted_dns::reply> {
    if (qtype != 33) return scripted_dns::reply{5, {}};
    if (name == "_matrix-fed._tcp.example.org")
      return scripted_dns::reply{0, {srv_rr(10, 0, 8448, "fed.example.org", 77)}};
    if (name == "_matrix._tcp.example.org") return scripted_dns::reply{0, {}};
    if (name == "_matrix-fed._tcp.broken.example") return scripted_dns::reply{2, {}};
    return scripted_dns::reply{3, {}};
  });
  auto a = outbound::query_srv("_matrix-fed._tcp.example.org", {dns.address()});
  BOOST_TEST((a.result == outcome::found));
  BOOST_TEST((a.records == std::vector<srv_record>{{10, 0, 8448, "fed.example.org"}}));
  BOOST_TEST(a.ttl_seconds == 77u);
  BOOST_TEST(dns.last_query() == "_matrix-fed._tcp.example.org/33");
  BOOST_TEST((outbound::query_srv("_matrix._tcp.example.org", {dns.address()}).result == outcome::none));
  BOOST_TEST((outbound::query_srv("_matrix-fed._tcp.nothing.example", {dns.address()}).result == outcome::none));
  BOOST_TEST((outbound::query_srv("_matrix-fed._tcp.broken.example", {dns.address()}).result == outcome::failed));
  // A nameserver that refuses (ICMP port unreachable) is passed over for the next one.
  a = outbound::query_srv("_matrix-fed._tcp.example.org", {closed_udp_port(), dns.address()});
  BOOST_TEST((a.result == outcome::found));
}

BOOST_AUTO_TEST_CASE(a_silent_nameserver_does_not_hold_the_caller) {
  scripted_dns silent([](const std::string&, unsigned) { return std::nullopt; });
  auto start = std::chrono::steady_clock::now();
  auto a = outbound::query_srv("_matrix-fed._tcp.example.org", {silent.address()});
  auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST((a.result == outcome::failed));
  BOOST_TEST(took < std::chrono::milliseconds(6500));
  BOOST_TEST(silent.queries() >= 1);
  // Three silent nameservers: still within the bound.
  scripted_dns silent2([](const std::string&, unsigned) { return std::nullopt; });
  scripted_dns silent3([](const std::string&, unsigned) { return std::nullopt; });
  start = std::chrono::steady_clock::now();
  a = outbound::query_srv("_matrix-fed._tcp.example.org", {silent.address(), silent2.address(), silent3.address()});
  took = std::chrono::steady_clock::now() - start;
  BOOST_TEST((a.result == outcome::failed));
  BOOST_TEST(took < std::chrono::milliseconds(6500));
  BOOST_TEST_MESSAGE("three silent nameservers: " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                                  << " ms");
}

BOOST_AUTO_TEST_SUITE_END()
