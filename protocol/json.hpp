// JSON helpers over Boost.JSON for request handling: parsing with limits, typed field access that
// fails with the spec's errors (M_NOT_JSON / M_BAD_JSON / M_MISSING_PARAM), canonical output.
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::protocol {

// Parses a request body that must be a JSON object. Empty body → empty object when allow_empty.
// Throws M_NOT_JSON for invalid JSON (or too deep), M_BAD_JSON when it is not an object.
boost::json::object parse_object(std::string_view body, size_t max_depth = 64, bool allow_empty = false);

// Parses any JSON value (throws M_NOT_JSON).
boost::json::value parse_value(std::string_view text, size_t max_depth = 64);

// Field access: absent → nullopt / throw M_MISSING_PARAM; wrong type → M_BAD_JSON naming the key.
std::optional<std::string> opt_string(const boost::json::object& o, std::string_view key);
std::string req_string(const boost::json::object& o, std::string_view key);
std::optional<bool> opt_bool(const boost::json::object& o, std::string_view key);
std::optional<int64_t> opt_int(const boost::json::object& o, std::string_view key);
const boost::json::object* opt_object(const boost::json::object& o, std::string_view key);
const boost::json::array* opt_array(const boost::json::object& o, std::string_view key);
// The strings of an array field (other values skipped); empty when absent.
std::vector<std::string> string_array(const boost::json::object& o, std::string_view key);

// Compact serialization.
std::string to_string(const boost::json::value& v);

// Canonical JSON (Matrix appendix): keys sorted by code point, no insignificant whitespace,
// UTF-8 output. Floats are rejected (Matrix canonical JSON has integers only).
std::string canonical_json(const boost::json::value& v);

} // namespace myelin::protocol
