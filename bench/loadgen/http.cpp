#include "http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <array>
#include <charconv>

namespace loadgen {
namespace {

namespace http = beast::http;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Beast's parsers are single-use; this one is cheap to make per response and appends the body to
// the connection's reused string instead of allocating a fresh one.
class response_parser final : public http::basic_parser<false> {
 public:
  explicit response_parser(std::string& body) : body_(body) {
    body_.clear();
    body_limit(uint64_t(1) << 30);
  }
  int status = 0;

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int, beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override { status = code; }
  void on_field_impl(http::field, beast::string_view, beast::string_view, beast::error_code&) override {}
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>& length, beast::error_code&) override {
    if (length) body_.reserve(*length);
  }
  size_t on_body_impl(beast::string_view s, beast::error_code&) override {
    body_.append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view s, beast::error_code&) override {
    body_.append(s.data(), s.size());
    return s.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  std::string& body_;
};

// A connection the server closed between requests: safe to reopen and send again.
bool closed_while_idle(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

}  // namespace

http_connection::http_connection(asio::any_io_executor ex, const http_target& target)
    : target_(target), stream_(std::move(ex)) {}

asio::awaitable<beast::error_code> http_connection::connect() {
  ++connects_;
  auto [ec, ep] = co_await stream_.async_connect(target_.endpoints, use_tuple);
  if (!ec) {
    stream_.socket().set_option(tcp::no_delay(true), ec);
    open_ = true;
  }
  co_return ec;
}

void http_connection::close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  open_ = false;
}

asio::awaitable<http_result> http_connection::request(std::string_view method, std::string_view target,
                                                      std::string_view token, std::string_view content_type,
                                                      std::string_view body, std::chrono::milliseconds timeout) {
  head_.clear();
  head_.append(method).append(" ").append(target_.path_prefix).append(target).append(" HTTP/1.1\r\nHost: ");
  head_.append(target_.host).append("\r\n");
  if (!token.empty()) head_.append("Authorization: Bearer ").append(token).append("\r\n");
  if (!content_type.empty()) head_.append("Content-Type: ").append(content_type).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, body.size()).ptr;
    head_.append("Content-Length: ").append(digits, end).append("\r\n");
  }
  head_.append("\r\n");

  beast::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = open_;
    if (!open_) {
      stream_.expires_after(timeout);
      ec = co_await connect();
      if (ec) break;
    }
    stream_.expires_after(timeout);
    std::array<asio::const_buffer, 2> out{asio::buffer(head_), asio::buffer(body.data(), body.size())};
    auto [wec, written] = co_await asio::async_write(stream_, out, use_tuple);
    ec = wec;
    response_parser parser(response_body_);
    if (!ec) {
      auto [rec, read] = co_await http::async_read(stream_, read_buf_, parser, use_tuple);
      ec = rec;
      if (!ec) {
        if (!parser.keep_alive()) close();
        co_return http_result{parser.status, response_body_, {}};
      }
    }
    close();
    read_buf_.clear();
    if (!(reused && closed_while_idle(ec) && !parser.got_some())) break;
  }
  if (ec == beast::error::timeout)
    error_ = "timeout";
  else
    error_ = ec.message();
  co_return http_result{0, {}, error_};
}

}  // namespace loadgen
