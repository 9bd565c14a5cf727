// Application services: registration files read through the homeserver config (errors with file
// and line, duplicates refused) and the pure rules of protocol/appservice (namespaces, exclusivity,
// interest in events).
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/config.hpp"
#include "protocol/appservice.hpp"

using namespace myelin;
namespace as = myelin::protocol::appservice;
namespace fs = std::filesystem;

namespace {

const std::string minimal = "server_name: example.org\n"
                            "listeners:\n"
                            "  - port: 8008\n";

const std::string bridge = "id: bridge\n"
                           "url: http://localhost:9000\n"
                           "as_token: astok\n"
                           "hs_token: hstok\n"
                           "sender_localpart: bridgebot\n"
                           "rate_limited: false\n"
                           "receive_ephemeral: true\n"
                           "namespaces:\n"
                           "  users:\n"
                           "    - exclusive: true\n"
                           "      regex: '@_bridge_.*:example\\.org'\n"
                           "  aliases:\n"
                           "    - exclusive: false\n"
                           "      regex: '#_bridge_.*'\n"
                           "  rooms:\n"
                           "    - exclusive: false\n"
                           "      regex: '!bridged:example\\.org'\n";

// A scratch directory holding registration files.
struct files {
  fs::path dir = fs::temp_directory_path() / ("myelin-as-" + std::to_string(::getpid()));
  files() { fs::create_directories(dir); }
  ~files() { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
  homeserver_config load(const std::vector<std::string>& names) {
    std::string yaml = minimal + "app_service_config_files:\n";
    for (const auto& n : names) yaml += "  - " + n + "\n";
    return parse_homeserver_config(yaml, "hs.yaml", dir.string());
  }
  std::string error(const std::vector<std::string>& names) {
    try {
      load(names);
    } catch (const config_error& e) {
      return e.what();
    }
    return "";
  }
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

as::registration sample() {
  as::registration r;
  r.id = "bridge";
  r.sender = "@bridgebot:example.org";
  r.users.push_back(as::make_rule(true, "@_bridge_.*:example\\.org"));
  r.aliases.push_back(as::make_rule(false, "#_bridge_.*"));
  r.rooms.push_back(as::make_rule(false, "!bridged:example\\.org"));
  return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(appservice_tests)

BOOST_AUTO_TEST_CASE(registration_file_is_read) {
  files f;
  f.write("bridge.yaml", bridge);
  auto cfg = f.load({"bridge.yaml"});
  auto reg = current_appservices(cfg);
  BOOST_REQUIRE_EQUAL(reg->all().size(), 1u);
  const auto& r = reg->all().front();
  BOOST_TEST(r.id == "bridge");
  BOOST_TEST(r.url == "http://localhost:9000");
  BOOST_TEST(r.sender == "@bridgebot:example.org");
  BOOST_TEST(!r.rate_limited);
  BOOST_TEST(r.receive_ephemeral);
  BOOST_TEST(r.users.size() == 1u);
  BOOST_TEST(r.users[0].exclusive);
  BOOST_TEST(reg->by_as_token("astok") == &r);
  BOOST_TEST(reg->by_as_token("hstok") == nullptr);
  BOOST_TEST(reg->by_id("bridge") == &r);
  BOOST_TEST(cfg.app_service_config_files.size() == 1u);
}

BOOST_AUTO_TEST_CASE(null_url_and_msc2409_flag) {
  files f;
  f.write("a.yaml", "id: a\nurl: null\nas_token: x\nhs_token: y\nsender_localpart: a\n"
                    "de.sorunome.msc2409.push_ephemeral: true\n");
  auto r = current_appservices(f.load({"a.yaml"}))->all().front();
  BOOST_TEST(r.url.empty());
  BOOST_TEST(r.receive_ephemeral);
  BOOST_TEST(r.rate_limited);
}

BOOST_AUTO_TEST_CASE(errors_name_the_file_and_line) {
  files f;
  f.write("missing.yaml", "id: a\nurl: null\nhs_token: y\nsender_localpart: a\n");
  auto e = f.error({"missing.yaml"});
  BOOST_TEST(contains(e, "hs.yaml:5: key 'app_service_config_files'"), e);
  BOOST_TEST(contains(e, "missing.yaml: key 'as_token': required"), e);

  f.write("regex.yaml", "id: a\nurl: null\nas_token: x\nhs_token: y\nsender_localpart: a\n"
                        "namespaces:\n  users:\n    - exclusive: true\n      regex: '@(unclosed'\n");
  e = f.error({"regex.yaml"});
  BOOST_TEST(contains(e, "regex.yaml:9: key 'namespaces.users[0].regex': not a valid regular expression"), e);

  f.write("excl.yaml", "id: a\nurl: null\nas_token: x\nhs_token: y\nsender_localpart: a\n"
                       "namespaces:\n  users:\n    - regex: '@a.*'\n");
  e = f.error({"excl.yaml"});
  BOOST_TEST(contains(e, "namespaces.users[0].exclusive': required"), e);

  f.write("noturl.yaml", "id: a\nas_token: x\nhs_token: y\nsender_localpart: a\n");
  BOOST_TEST(contains(f.error({"noturl.yaml"}), "key 'url': required"));

  BOOST_TEST(contains(f.error({"nonexistent.yaml"}), "cannot read application service registration"));
}

BOOST_AUTO_TEST_CASE(duplicate_ids_and_tokens_are_refused) {
  files f;
  f.write("one.yaml", "id: a\nurl: null\nas_token: x\nhs_token: y\nsender_localpart: a\n");
  f.write("same_id.yaml", "id: a\nurl: null\nas_token: z\nhs_token: y\nsender_localpart: b\n");
  f.write("same_token.yaml", "id: b\nurl: null\nas_token: x\nhs_token: y\nsender_localpart: b\n");
  auto e = f.error({"one.yaml", "same_id.yaml"});
  BOOST_TEST(contains(e, "id 'a' is also the id in"), e);
  e = f.error({"one.yaml", "same_token.yaml"});
  BOOST_TEST(contains(e, "as_token is also the as_token in"), e);
  BOOST_CHECK_NO_THROW(f.load({"same_id.yaml", "same_token.yaml"}));
}

BOOST_AUTO_TEST_CASE(namespaces_match_from_the_start) {
  auto r = sample();
  BOOST_TEST(r.is_interested_in_user("@_bridge_alice:example.org"));
  BOOST_TEST(r.is_interested_in_user("@bridgebot:example.org"));  // the sender
  BOOST_TEST(!r.is_interested_in_user("@alice:example.org"));
  BOOST_TEST(!r.is_interested_in_user("@x@_bridge_alice:example.org"));  // anchored at the start
  BOOST_TEST(r.is_exclusive_user("@_bridge_alice:example.org"));
  BOOST_TEST(r.is_interested_in_alias("#_bridge_irc:example.org"));
  BOOST_TEST(!r.is_exclusive_alias("#_bridge_irc:example.org"));  // that rule is not exclusive
  BOOST_TEST(r.is_interested_in_room("!bridged:example.org"));
  BOOST_TEST(!r.is_interested_in_room("!other:example.org"));
}

BOOST_AUTO_TEST_CASE(interest_in_events) {
  auto r = sample();
  int alias_queries = 0, member_queries = 0;
  auto aliases = [&](std::vector<std::string> v) {
    return [&, v] { ++alias_queries; return v; };
  };
  auto members = [&](std::vector<std::string> v) {
    return [&, v] { ++member_queries; return v; };
  };
  auto none = [] { return std::vector<std::string>{}; };
  // The sender decides without asking about the room.
  BOOST_TEST(as::interested_in_event(r, {"!r:example.org", "m.room.message", "@_bridge_bob:example.org", {}},
                                     aliases({}), members({})));
  BOOST_TEST(alias_queries == 0);
  BOOST_TEST(member_queries == 0);
  // An invite of one of its users.
  BOOST_TEST(as::interested_in_event(r, {"!r:example.org", "m.room.member", "@alice:example.org",
                                         std::string("@_bridge_bob:example.org")}, none, none));
  // The room's id, an alias or a member.
  BOOST_TEST(as::interested_in_event(r, {"!bridged:example.org", "m.room.message", "@alice:example.org", {}}, none, none));
  BOOST_TEST(as::interested_in_event(r, {"!r:example.org", "m.room.message", "@alice:example.org", {}},
                                     aliases({"#_bridge_x:example.org"}), none));
  BOOST_TEST(as::interested_in_event(r, {"!r:example.org", "m.room.message", "@alice:example.org", {}}, none,
                                     members({"@alice:example.org", "@_bridge_bob:example.org"})));
  // None of them.
  BOOST_TEST(!as::interested_in_event(r, {"!r:example.org", "m.room.message", "@alice:example.org", {}},
                                      aliases({"#other:example.org"}), members({"@alice:example.org"})));
  // A state_key matters for membership only.
  BOOST_TEST(!as::interested_in_event(r, {"!r:example.org", "m.room.topic", "@alice:example.org",
                                          std::string("@_bridge_bob:example.org")}, none, none));
}

BOOST_AUTO_TEST_CASE(registry_owners_and_queriers) {
  auto a = sample();
  a.url = "http://a";
  a.as_token = "ta";
  auto b = sample();
  b.id = "b";
  b.as_token = "tb";
  b.users = {as::make_rule(false, "@_bridge_.*")};
  as::registry reg({a, b});
  BOOST_TEST(reg.exclusive_owner_of_user("@_bridge_x:example.org")->id == "bridge");
  BOOST_TEST(reg.exclusive_owner_of_user("@alice:example.org") == nullptr);
  BOOST_TEST(reg.exclusive_owner_of_alias("#_bridge_x:example.org") == nullptr);
  // Only services with a URL are asked.
  BOOST_TEST(reg.user_queriers("@_bridge_x:example.org").size() == 1u);
  BOOST_TEST(reg.alias_queriers("#_bridge_x:example.org").size() == 1u);
  BOOST_CHECK_THROW(as::registry({a, a}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
