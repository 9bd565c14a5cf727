// libFuzzer target: what other servers send before anything is trusted — the X-Matrix
// Authorization header, server key documents (protocol/federation_auth) and multipart media
// answers (protocol/multipart). Parsing must never crash or hang; a key document may only be
// refused with a Matrix error.
//
// Input: the raw text as a header (with and without the scheme), as a multipart Content-Type and
// as a multipart body (boundary "b"), and, when it is JSON, as a key document for "a.example".
#include <boost/json.hpp>

#include "protocol/errors.hpp"
#include "protocol/federation_auth.hpp"
#include "protocol/multipart.hpp"

using namespace myelin::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  (void)federation::parse_x_matrix(in);
  (void)federation::parse_x_matrix("X-Matrix " + in);
  (void)multipart::boundary_of(in);
  if (auto parts = multipart::parse(in, "b"))
    for (const auto& p : *parts) (void)p.header("location");
  boost::system::error_code ec;
  auto v = boost::json::parse(in, ec);
  if (!ec && v.is_object()) {
    try {
      (void)federation::check_server_keys(v.as_object(), "a.example");
    } catch (const matrix_error&) {
    }
  }
  return 0;
}
