// libFuzzer target: end-to-end key objects and key backup bodies come from clients as untrusted
// JSON. The checks in protocol/e2e_keys and protocol/key_backup must never crash or hang on any
// input; they may only refuse it with a Matrix error.
//
// Input: any JSON; an object is tried as device keys, as one-time/fallback key maps, as each kind
// of cross-signing key, and as a key backup body at every level; the raw text as a backup version.
#include <boost/json.hpp>

#include "protocol/e2e_keys.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/key_backup.hpp"

using namespace myelin::protocol;

namespace {

template <class Fn>
void refused_or_accepted(Fn&& fn) {
  try {
    fn();
  } catch (const matrix_error&) {
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)key_backup::parse_version(in);
  boost::json::value v;
  try {
    v = parse_value(in, 32);
  } catch (const matrix_error&) {
    return 0;
  }
  if (!v.is_object()) return 0;
  const auto& o = v.as_object();
  const std::string user = "@alice:example.org";
  refused_or_accepted([&] { e2e::check_device_keys(o, user, "JLAFKJWSCS"); });
  refused_or_accepted([&] { (void)e2e::parse_one_time_keys(o, "one_time_keys"); });
  for (auto type : e2e::cross_signing_types)
    refused_or_accepted([&] { (void)e2e::parse_cross_signing_key(v, user, type); });
  (void)e2e::ed25519_key(o, "JLAFKJWSCS");
  (void)e2e::signatures_of(o, user);
  (void)e2e::signed_part(o);
  refused_or_accepted([&] { (void)key_backup::parse_rooms(o); });
  refused_or_accepted([&] { (void)key_backup::parse_room("!room:example.org", o); });
  refused_or_accepted([&] { (void)key_backup::parse_session("!room:example.org", "session", o); });
  refused_or_accepted([&] { (void)key_backup::parse_version_body(o); });
  return 0;
}
