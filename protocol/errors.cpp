#include "protocol/errors.hpp"

#include <boost/json/serialize.hpp>

namespace myelin::protocol {

std::string matrix_error::body() const {
  // A user-interactive-auth challenge is its own body (flows, session…), without errcode.
  if (errcode_.empty()) return boost::json::serialize(extra_);
  boost::json::object o = extra_;
  o["errcode"] = errcode_;
  o["error"] = what();
  return boost::json::serialize(o);
}

namespace errors {
matrix_error unrecognized(std::string msg) { return {404, "M_UNRECOGNIZED", std::move(msg)}; }
matrix_error method_not_allowed() { return {405, "M_UNRECOGNIZED", "Method not allowed for this endpoint"}; }
matrix_error not_json(std::string msg) { return {400, "M_NOT_JSON", std::move(msg)}; }
matrix_error bad_json(std::string msg) { return {400, "M_BAD_JSON", std::move(msg)}; }
matrix_error missing_param(std::string msg) { return {400, "M_MISSING_PARAM", std::move(msg)}; }
matrix_error invalid_param(std::string msg) { return {400, "M_INVALID_PARAM", std::move(msg)}; }
matrix_error missing_token() { return {401, "M_MISSING_TOKEN", "Missing access token"}; }
matrix_error unknown_token(bool soft_logout) {
  boost::json::object extra;
  if (soft_logout) extra["soft_logout"] = true;
  return {401, "M_UNKNOWN_TOKEN", "Unrecognised access token", std::move(extra)};
}
matrix_error forbidden(std::string msg) { return {403, "M_FORBIDDEN", std::move(msg)}; }
matrix_error unauthorized(std::string msg) { return {401, "M_UNAUTHORIZED", std::move(msg)}; }
matrix_error not_found(std::string msg) { return {404, "M_NOT_FOUND", std::move(msg)}; }
matrix_error exclusive(std::string msg) { return {400, "M_EXCLUSIVE", std::move(msg)}; }
matrix_error user_in_use() { return {400, "M_USER_IN_USE", "User ID already taken."}; }
matrix_error invalid_username(std::string msg) { return {400, "M_INVALID_USERNAME", std::move(msg)}; }
matrix_error too_large(std::string msg) { return {413, "M_TOO_LARGE", std::move(msg)}; }
matrix_error limit_exceeded(long long retry_after_ms) {
  boost::json::object extra;
  extra["retry_after_ms"] = retry_after_ms;
  return {429, "M_LIMIT_EXCEEDED", "Too many requests", std::move(extra)};
}
matrix_error unknown(std::string msg) { return {500, "M_UNKNOWN", std::move(msg)}; }
matrix_error unavailable(std::string msg) { return {503, "M_UNKNOWN", std::move(msg)}; }
matrix_error user_deactivated() { return {403, "M_USER_DEACTIVATED", "This account has been deactivated"}; }
matrix_error weak_password(std::string msg) { return {400, "M_WEAK_PASSWORD", std::move(msg)}; }
matrix_error guest_access_forbidden() { return {403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is not allowed"}; }
matrix_error invalid_signature(std::string msg) { return {400, "M_INVALID_SIGNATURE", std::move(msg)}; }
} // namespace errors

} // namespace myelin::protocol
