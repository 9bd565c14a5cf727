// The endpoint catalog as Myelin ships it: every endpoint registers without conflict, resolves to
// an API group through the built-in route table, and the account endpoints land where the
// Synapse worker layout puts them.
#include <boost/test/unit_test.hpp>

#include "actors/runtime/endpoint_registry.hpp"
#include "actors/runtime/groups.hpp"
#include "gateway/gateway.hpp"

using namespace myelin;

namespace {
gateway::endpoint_catalog shipped_catalog(std::vector<std::string>* warnings = nullptr) {
  runtime::endpoint_registry r;
  runtime::register_all_endpoints(r);
  gateway::endpoint_catalog c;
  for (const auto& e : r.entries()) c.add(e.spec);
  auto w = gateway::assign_groups(c, gateway::route_table::builtin());
  if (warnings) *warnings = w;
  return c;
}
} // namespace

BOOST_AUTO_TEST_SUITE(endpoint_tests)

BOOST_AUTO_TEST_CASE(every_endpoint_has_an_api_group) {
  std::vector<std::string> warnings;
  auto c = shipped_catalog(&warnings);
  BOOST_TEST(warnings.empty());
  for (const auto& spec : c.specs()) {
    const auto& group = c.group_of(spec.name);
    const auto* info = runtime::find_group(group);
    BOOST_TEST_CONTEXT(spec.name << " → " << group) {
      BOOST_REQUIRE(info);
      BOOST_TEST((info->kind == runtime::group_kind::api));
    }
  }
}

BOOST_AUTO_TEST_CASE(account_endpoints_land_on_their_synapse_worker_groups) {
  auto c = shipped_catalog();
  auto group_at = [&](const char* method, const char* path) {
    auto m = c.match(method, path);
    BOOST_REQUIRE_MESSAGE(m.spec, path);
    return c.group_of(m.spec->name);
  };
  BOOST_TEST(group_at("GET", "/_matrix/client/versions") == "client_reader");
  BOOST_TEST(group_at("POST", "/_matrix/client/v3/login") == "client_reader");
  BOOST_TEST(group_at("POST", "/_matrix/client/r0/register") == "client_reader");
  BOOST_TEST(group_at("GET", "/_matrix/client/v3/account/whoami") == "client_reader");
  BOOST_TEST(group_at("POST", "/_matrix/client/v3/account/deactivate") == "client_reader");
  BOOST_TEST(group_at("GET", "/_matrix/client/v3/devices") == "keys");
  BOOST_TEST(group_at("DELETE", "/_matrix/client/v3/devices/ABC") == "keys");
  BOOST_TEST(group_at("POST", "/_matrix/client/v3/delete_devices") == "keys");
  BOOST_TEST(group_at("POST", "/_matrix/client/v3/logout") == "main");
  BOOST_TEST(group_at("POST", "/_matrix/client/v3/account/password") == "main");
  BOOST_TEST(group_at("GET", "/_myelin/debug/whereami/sync") == "sync");
  BOOST_TEST(group_at("GET", "/_myelin/debug/whereami/client_reader") == "client_reader");
  BOOST_TEST(group_at("GET", "/_myelin/debug/whereami/keys") == "keys");
}

BOOST_AUTO_TEST_CASE(path_parameters_are_decoded_after_matching) {
  auto c = shipped_catalog();
  auto m = c.match("POST", "/_matrix/client/v3/user/%40alice%3Aexample.org/openid/request_token");
  BOOST_REQUIRE(m.spec);
  BOOST_TEST(m.params.at(0) == "@alice:example.org");
  auto d = c.match("GET", "/_matrix/client/v3/devices/A%2FB");
  BOOST_REQUIRE(d.spec);
  BOOST_TEST(d.spec->name == "devices.get");
  BOOST_TEST(d.params.at(0) == "A/B");
  auto wrong = c.match("PATCH", "/_matrix/client/v3/devices/X");
  BOOST_TEST(!wrong.spec);
  BOOST_TEST(wrong.path_known);
}

BOOST_AUTO_TEST_SUITE_END()
