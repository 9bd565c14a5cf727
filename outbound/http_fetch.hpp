// Outbound HTTP(S): requests the server makes on its own (URL previews, federation, push gateways,
// application services).
// One synchronous call per request, made from a blocking-pool thread: it runs a private
// io_context for the request and never waits past the options' deadline, whatever the peer does.
//
// Safety against server-side request forgery is part of the call, not left to callers: the host
// is resolved once, every address the ip_policy denies is dropped, and the connection goes only to
// an address that was checked (so a DNS answer that changes between a check and a connect —
// rebinding — cannot reach a denied address); each redirect is checked the same way.
//
// The header is free of Beast and Asio on purpose; only outbound/*.cpp pays their compile cost.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "protocol/ip_range.hpp"

namespace myelin::outbound {

// A host (DNS name, or IP literal with or without brackets) and port to connect to.
struct connect_target {
  std::string host;
  uint16_t port = 0;
};

struct fetch_options {
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host, User-Agent, Connection
  std::string body;                                          // sent when not empty
  std::string user_agent = default_user_agent("");
  // null: any address may be reached (only for destinations the server chose itself).
  const protocol::ip_policy* ip_policy = nullptr;
  size_t max_bytes = 10 << 20;        // response body; past it the transfer stops (too_large)
  size_t max_header_bytes = 64 << 10;
  std::chrono::milliseconds timeout{10000};  // the whole call: resolution, redirects, body
  int max_redirects = 5;                     // 0: a redirect is returned as the result
  // Where the first request connects instead of the URL's host and port (federation: the SRV
  // targets of server discovery), tried in order until one accepts a connection; each resolved
  // and checked against ip_policy exactly as the URL's host would be. The URL still names the
  // server: TLS server name, certificate verification and Host header come from it. A redirect
  // goes where its Location says. Targets but the last get an equal share of the time left to
  // resolve and connect, so one that drops packets does not use up the whole timeout.
  std::vector<connect_target> connect_to;

  // "Myelin/<version>", with " (purpose)" when one is given.
  static std::string default_user_agent(const std::string& purpose);
};

struct fetch_result {
  std::string url;                    // the final URL, after redirects
  int status = 0;
  std::string content_type;           // the Content-Type header, "" when absent
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class fetch_error : public std::runtime_error {
public:
  enum class kind {
    invalid_url,         // not an absolute http(s) URL with a host
    blocked,             // every address of the host is denied by the ip_policy
    dns,                 // the host does not resolve
    connect,             // no address accepted a connection (of any of connect_to's targets)
    tls,                 // handshake or certificate verification failed
    timeout,             // the deadline passed
    too_large,           // body past max_bytes, or headers past max_header_bytes
    too_many_redirects,
    protocol,            // not a valid HTTP response, or a bad redirect
  };
  fetch_error(kind k, const std::string& what) : std::runtime_error(what), kind_(k) {}
  kind which() const noexcept { return kind_; }

private:
  kind kind_;
};

// Why fetch() would refuse `url` outright (not an absolute http(s) URL with a usable host);
// nullopt when it is one. For checking a client's input before anything else is done with it.
std::optional<std::string> unfetchable(const std::string& url);

// Trusts the certificate authorities in a PEM file for every HTTPS request from now on, besides the
// system's (Synapse's federation_custom_ca_list; tests use a private CA on loopback). Called at
// startup; throws std::runtime_error naming the file when it cannot be loaded.
void add_trusted_ca_file(const std::string& path);

// Performs the request, following up to max_redirects redirects (301, 302, 303, 307, 308; a 303,
// or a 301/302 answering a POST, continues as GET without a body, as browsers do). Returns any
// final status, 4xx and 5xx included; throws fetch_error for everything else.
fetch_result fetch(const fetch_options& options, const std::string& url);

} // namespace myelin::outbound
