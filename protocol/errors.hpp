// Matrix error responses: every failure a handler raises becomes {"errcode","error"} with the
// HTTP status the spec gives. Handlers throw matrix_error; the group runtime turns it into a body.
#pragma once
#include <boost/json/object.hpp>
#include <stdexcept>
#include <string>

namespace myelin::protocol {

class matrix_error : public std::runtime_error {
public:
  matrix_error(int status, std::string errcode, std::string message, boost::json::object extra = {})
      : std::runtime_error(message), status_(status), errcode_(std::move(errcode)), extra_(std::move(extra)) {}

  int status() const noexcept { return status_; }
  const std::string& errcode() const noexcept { return errcode_; }
  const boost::json::object& extra() const noexcept { return extra_; }

  // {"errcode": ..., "error": ..., ...extra} serialized compactly; just `extra` when errcode is
  // empty (UIA challenges).
  std::string body() const;

private:
  int status_;
  std::string errcode_;
  boost::json::object extra_;
};

// The spec's common errors, named so call sites read like the spec.
namespace errors {
matrix_error unrecognized(std::string msg = "Unrecognized request");            // 404 M_UNRECOGNIZED
matrix_error method_not_allowed();                                               // 405 M_UNRECOGNIZED
matrix_error not_json(std::string msg = "Content not JSON.");                   // 400 M_NOT_JSON
matrix_error bad_json(std::string msg);                                          // 400 M_BAD_JSON
matrix_error missing_param(std::string msg);                                     // 400 M_MISSING_PARAM
matrix_error invalid_param(std::string msg);                                     // 400 M_INVALID_PARAM
matrix_error missing_token();                                                    // 401 M_MISSING_TOKEN
matrix_error unknown_token(bool soft_logout = false);                            // 401 M_UNKNOWN_TOKEN
matrix_error forbidden(std::string msg);                                         // 403 M_FORBIDDEN
matrix_error unauthorized(std::string msg);                                      // 401 M_UNAUTHORIZED (server-server)
matrix_error not_found(std::string msg);                                         // 404 M_NOT_FOUND
matrix_error exclusive(std::string msg);                                         // 400 M_EXCLUSIVE
matrix_error user_in_use();                                                      // 400 M_USER_IN_USE
matrix_error invalid_username(std::string msg);                                  // 400 M_INVALID_USERNAME
matrix_error too_large(std::string msg = "Request body too large");             // 413 M_TOO_LARGE
matrix_error limit_exceeded(long long retry_after_ms);                           // 429 M_LIMIT_EXCEEDED
matrix_error unknown(std::string msg = "Internal server error");                // 500 M_UNKNOWN
matrix_error unavailable(std::string msg);                                       // 503 M_UNKNOWN (+Retry-After)
matrix_error user_deactivated();                                                 // 403 M_USER_DEACTIVATED
matrix_error weak_password(std::string msg);                                     // 400 M_WEAK_PASSWORD
matrix_error guest_access_forbidden();                                           // 403 M_GUEST_ACCESS_FORBIDDEN
matrix_error invalid_signature(std::string msg);                                 // 400 M_INVALID_SIGNATURE
} // namespace errors

} // namespace myelin::protocol
