// One keep-alive HTTP/1.1 client connection for a virtual user, on Asio C++20 coroutines. The
// request head is written from a reused string and the response body is read into a reused string
// by a small Beast parser, so a warm connection allocates nothing per request. Included by http.cpp
// and driver.cpp only (it pulls in Beast).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// Where requests go: the resolved base_url (checked to be loopback) and its Host header.
struct http_target {
  tcp::resolver::results_type endpoints;
  std::string host;          // "127.0.0.1:8008"
  std::string path_prefix;   // base_url's path without the trailing '/', usually empty
};

struct http_result {
  int status = 0;             // 0: no HTTP answer (see `transport_error`)
  std::string_view body;      // valid until the connection's next request
  std::string_view transport_error;  // "timeout", "connection refused", …; empty when status != 0
};

class http_connection {
 public:
  http_connection(asio::any_io_executor ex, const http_target& target);

  // `target` is the path and query (the base_url's path is prepended). A connection the server
  // closed while idle is reopened and the request retried once; any other failure is returned.
  asio::awaitable<http_result> request(std::string_view method, std::string_view target, std::string_view token,
                                       std::string_view content_type, std::string_view body,
                                       std::chrono::milliseconds timeout);
  // Cancels whatever is in flight (the awaiting request completes with an error) and closes.
  void close();
  uint64_t reconnects() const { return connects_ > 0 ? connects_ - 1 : 0; }

  // Scratch strings the caller builds paths and bodies in, reused across requests.
  std::string path;
  std::string body;

 private:
  asio::awaitable<beast::error_code> connect();

  const http_target& target_;
  beast::tcp_stream stream_;
  beast::flat_buffer read_buf_;
  std::string head_;
  std::string response_body_;
  std::string error_;
  bool open_ = false;
  uint64_t connects_ = 0;
};

}  // namespace loadgen
