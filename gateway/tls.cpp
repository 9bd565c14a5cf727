// The TLS context of `tls: true` listeners: the certificate chain and private key named in
// homeserver.yaml, modern protocol versions only. Loaded once at startup; a file OpenSSL cannot
// use is a startup error that names the config key.
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

#include "gateway/detail_server.hpp"

namespace myelin::gateway::detail {
namespace {

// OpenSSL's own reason, which says more than Asio's error_code message ("PEM routines::no start line").
std::string openssl_reason(const boost::system::error_code& ec) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return ec.message();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

} // namespace

std::shared_ptr<asio::ssl::context> make_tls_context(const std::string& certificate_path,
                                                     const std::string& private_key_path) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  // TLS 1.2 and 1.3 only (the Matrix spec asks servers for TLS 1.2 at least), no renegotiation.
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                   asio::ssl::context::single_dh_use);
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
  boost::system::error_code ec;
  ERR_clear_error();
  ctx->use_certificate_chain_file(certificate_path, ec);
  if (ec)
    throw std::runtime_error("tls_certificate_path: cannot load the certificate chain " + certificate_path + ": " +
                             openssl_reason(ec));
  ctx->use_private_key_file(private_key_path, asio::ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error("tls_private_key_path: cannot load the private key " + private_key_path + ": " +
                             openssl_reason(ec));
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("tls_private_key_path: " + private_key_path +
                             " is not the key of the certificate in tls_certificate_path (" + certificate_path + ")");
  }
  return ctx;
}

} // namespace myelin::gateway::detail
