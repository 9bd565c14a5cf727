#include "protocol/json.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <vector>

#include "protocol/errors.hpp"

namespace myelin::protocol {

namespace json = boost::json;

json::value parse_value(std::string_view text, size_t max_depth) {
  json::parse_options opts;
  opts.max_depth = max_depth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) throw errors::not_json("Content not JSON: " + ec.message());
  return v;
}

json::object parse_object(std::string_view body, size_t max_depth, bool allow_empty) {
  if (body.empty()) {
    if (allow_empty) return {};
    throw errors::not_json("Content not JSON: empty body");
  }
  json::value v = parse_value(body, max_depth);
  if (!v.is_object()) throw errors::bad_json("Request body must be a JSON object");
  return std::move(v.as_object());
}

std::optional<std::string> opt_string(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) throw errors::bad_json("'" + std::string(key) + "' must be a string");
  return std::string(it->value().as_string());
}

std::string req_string(const json::object& o, std::string_view key) {
  auto v = opt_string(o, key);
  if (!v) throw errors::missing_param("Missing '" + std::string(key) + "'");
  return *v;
}

std::optional<bool> opt_bool(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_bool()) throw errors::bad_json("'" + std::string(key) + "' must be a boolean");
  return it->value().as_bool();
}

std::optional<int64_t> opt_int(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64() && it->value().as_uint64() <= uint64_t(INT64_MAX))
    return static_cast<int64_t>(it->value().as_uint64());
  throw errors::bad_json("'" + std::string(key) + "' must be an integer");
}

const json::object* opt_object(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  if (!it->value().is_object()) throw errors::bad_json("'" + std::string(key) + "' must be an object");
  return &it->value().as_object();
}

const json::array* opt_array(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  if (!it->value().is_array()) throw errors::bad_json("'" + std::string(key) + "' must be an array");
  return &it->value().as_array();
}

std::vector<std::string> string_array(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* a = opt_array(o, key))
    for (const auto& v : *a)
      if (v.is_string()) out.emplace_back(v.as_string());
  return out;
}

std::string to_string(const json::value& v) { return json::serialize(v); }

namespace {
void write_canonical(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object: {
      const auto& o = v.as_object();
      std::vector<const json::key_value_pair*> items;
      items.reserve(o.size());
      for (const auto& kv : o) items.push_back(&kv);
      // Sorting UTF-8 bytes orders by code point.
      std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
      out += '{';
      bool first = true;
      for (auto* kv : items) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::value(kv->key()));
        out += ':';
        write_canonical(kv->value(), out);
      }
      out += '}';
      break;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out += ',';
        first = false;
        write_canonical(e, out);
      }
      out += ']';
      break;
    }
    case json::kind::double_:
      throw errors::bad_json("Canonical JSON does not allow floating point numbers");
    default:
      out += json::serialize(v);
  }
}
} // namespace

std::string canonical_json(const json::value& v) {
  std::string out;
  write_canonical(v, out);
  return out;
}

} // namespace myelin::protocol
