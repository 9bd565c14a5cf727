// protocol/state_res: state resolution v2 (rooms/v2 "State resolution") on small crafted DAGs.
// The classic cases (a ban racing a power level change, a join racing a join rules change, topic
// forks decided by the mainline, …) are written as chains of events from a common room start; a
// small harness computes the state at every event the way a server does (resolving the states of
// the prev_events when there are several) and compares the state at END with what the spec's
// algorithm must give. Plus the unconflicted/unknown/rejected corner cases and a 10k-event room.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/auth_rules.hpp"
#include "protocol/json.hpp"
#include "protocol/pdu.hpp"
#include "protocol/room_versions.hpp"
#include "protocol/state_res.hpp"

using namespace myelin::protocol;
namespace json = boost::json;

namespace {

const std::string room_id = "!test:example.com";
const std::string alice = "@alice:example.com";
const std::string bob = "@bob:example.com";
const std::string charlie = "@charlie:example.com";
const std::string evelyn = "@evelyn:example.com";
const std::string zara = "@zara:example.com";

json::object obj(std::string_view text) { return parse_value(text).as_object(); }

const room_version& version(std::string_view id) {
  const room_version* v = find_room_version(id);
  BOOST_REQUIRE(v);
  return *v;
}

std::string event_id_of(const std::string& node) { return "$" + node + ":example.com"; }

// An event of a test DAG before it is placed: the harness fills in prev/auth events and ts.
struct fake_event {
  std::string node, sender, type;
  std::optional<std::string> state_key;
  json::object content;
};

fake_event member(std::string node, const std::string& sender, const std::string& target, std::string_view m) {
  return {std::move(node), sender, "m.room.member", target, json::object{{"membership", m}}};
}
fake_event state(std::string node, const std::string& sender, std::string type, json::object content) {
  return {std::move(node), sender, std::move(type), std::string(), std::move(content)};
}
fake_event power(std::string node, const std::string& sender, std::string_view content) {
  return state(std::move(node), sender, "m.room.power_levels", obj(content));
}
fake_event topic(std::string node, const std::string& sender) {
  return state(std::move(node), sender, "m.room.topic", {});
}
fake_event message(std::string node, const std::string& sender) {
  return {std::move(node), sender, "m.room.message", std::nullopt, {}};
}

// The room every classic case starts from: alice created it, made herself 100, opened it; bob,
// charlie and zara joined. START and END are messages between which each case's DAG sits.
std::vector<fake_event> initial_events() {
  return {
      state("CREATE", alice, "m.room.create", json::object{{"creator", alice}}),
      member("IMA", alice, alice, "join"),
      power("IPOWER", alice, R"({"users": {"@alice:example.com": 100}})"),
      state("IJR", alice, "m.room.join_rules", obj(R"({"join_rule": "public"})")),
      member("IMB", bob, bob, "join"),
      member("IMC", charlie, charlie, "join"),
      member("IMZ", zara, zara, "join"),
      message("START", zara),
      message("END", zara),
  };
}
const std::vector<std::string> initial_chain = {"START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE"};

// Builds the DAG given as chains ([A, B, C]: A's prev event is B, B's is C), visiting events in
// topological order (ties by node name), and records the state after each event.
class dag_harness {
public:
  dag_harness(const room_version& v, const std::vector<fake_event>& events,
              const std::vector<std::vector<std::string>>& chains)
      : v_(v) {
    for (const auto& e : initial_events()) fakes_[e.node] = e;
    for (const auto& e : events) fakes_[e.node] = e;
    for (const auto& [node, e] : fakes_) prevs_[node];
    add_chain(initial_chain);
    for (const auto& c : chains) add_chain(c);
    build();
  }

  const state_map& state_after(const std::string& node) const { return state_after_.at(node); }
  const pdu& event(const std::string& node) const { return built_.at(event_id_of(node)); }

  // The state at END that differs from the state at START, plus the keys of `expected_nodes`,
  // compared with the state those nodes make up (Synapse's test_v2 "do_check").
  void check_end_state(const std::vector<std::string>& expected_nodes) const {
    state_map expected;
    for (const auto& node : expected_nodes) {
      const pdu& e = event(node);
      expected[state_key_pair(e.type(), *e.state_key())] = e.event_id;
    }
    const state_map& start = state_after("START");
    state_map end;
    for (const auto& [key, id] : state_after("END")) {
      auto it = start.find(key);
      if (expected.count(key) || it == start.end() || it->second != id) end[key] = id;
    }
    BOOST_TEST(describe(end) == describe(expected));
  }

  static std::string describe(const state_map& s) {
    std::string out;
    for (const auto& [key, id] : s) out += "(" + key.first + "," + key.second + ")=" + id + " ";
    return out;
  }

  event_lookup lookup() const {
    return [this](const std::string& id) -> const pdu* {
      auto it = built_.find(id);
      return it == built_.end() ? nullptr : &it->second;
    };
  }

private:
  void add_chain(const std::vector<std::string>& chain) {
    for (size_t i = 0; i + 1 < chain.size(); ++i) prevs_.at(chain[i]).insert(chain[i + 1]);
  }

  // v1–2 reference other events as [id, hashes] pairs; v3+ as plain ids.
  json::value reference(const std::string& id) const {
    if (v_.event_ids == event_id_format::server_made) return json::array{json::value(id), json::object{}};
    return json::value(id);
  }

  void build() {
    std::set<std::string> done;
    while (done.size() < fakes_.size()) {
      // The smallest node whose prev events are all built.
      std::string next;
      for (const auto& [node, prevs] : prevs_) {
        if (done.count(node)) continue;
        bool ready = std::all_of(prevs.begin(), prevs.end(), [&](const std::string& p) { return done.count(p) > 0; });
        if (ready) {
          next = node;
          break;
        }
      }
      BOOST_REQUIRE(!next.empty());
      place(fakes_.at(next));
      done.insert(next);
    }
  }

  void place(const fake_event& f) {
    const auto& prevs = prevs_.at(f.node);
    state_map before;
    if (prevs.size() == 1) {
      before = state_after_.at(*prevs.begin());
    } else if (prevs.size() > 1) {
      std::vector<state_map> sets;
      for (const auto& p : prevs) sets.push_back(state_after_.at(p));
      before = resolve_state_v2(v_, sets, lookup());
    }

    pdu e;
    e.event_id = event_id_of(f.node);
    e.json["type"] = f.type;
    e.json["sender"] = f.sender;
    e.json["room_id"] = room_id;
    e.json["content"] = f.content;
    e.json["origin_server_ts"] = ts_++;
    if (f.state_key) e.json["state_key"] = *f.state_key;
    if (v_.event_ids == event_id_format::server_made) e.json["event_id"] = e.event_id;
    json::array prev_refs, auth_refs;
    for (const auto& p : prevs) prev_refs.push_back(reference(event_id_of(p)));
    for (const auto& key : auth_types_for_event(v_, e)) {
      auto it = before.find(key);
      if (it != before.end()) auth_refs.push_back(reference(it->second));
    }
    e.json["prev_events"] = std::move(prev_refs);
    e.json["auth_events"] = std::move(auth_refs);

    state_map after = before;
    if (f.state_key) after[state_key_pair(f.type, *f.state_key)] = e.event_id;
    state_after_[f.node] = std::move(after);
    built_.emplace(e.event_id, std::move(e));
  }

  const room_version& v_;
  std::map<std::string, fake_event> fakes_;
  std::map<std::string, std::set<std::string>> prevs_;
  std::map<std::string, pdu> built_;  // event id → event (node-based map: stable addresses)
  std::map<std::string, state_map> state_after_;
  int64_t ts_ = 0;
};

// Each classic case runs in a v2 room (hash-pair references) and a v11 room (plain ids).
void check_dag(const std::vector<fake_event>& events, const std::vector<std::vector<std::string>>& chains,
               const std::vector<std::string>& expected) {
  for (std::string_view v : {"2", "11"}) {
    BOOST_TEST_CONTEXT("room version " << v) {
      dag_harness h(version(v), events, chains);
      h.check_end_state(expected);
    }
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(state_res_tests)

// Alice bans bob while bob (at 50) re-sends the power levels: the ban wins, bob's power levels
// event is not authorised once he is banned.
BOOST_AUTO_TEST_CASE(ban_versus_power_levels) {
  check_dag(
      {
          power("PA", alice, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          member("MA", alice, alice, "join"),
          member("MB", alice, bob, "ban"),
          power("PB", bob, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
      },
      {{"END", "MB", "MA", "PA", "START"}, {"END", "PB", "PA"}}, {"PA", "MA", "MB"});
}

// Evelyn joins while alice makes the room private: the join rules change comes first (a power
// event), and evelyn's join no longer passes.
BOOST_AUTO_TEST_CASE(join_rules_evasion) {
  check_dag(
      {
          state("JR", alice, "m.room.join_rules", obj(R"({"join_rule": "invite"})")),
          member("ME", evelyn, evelyn, "join"),
      },
      {{"END", "JR", "START"}, {"END", "ME", "START"}}, {"JR"});
}

// Power levels off the main topic: charlie's power levels, authorised by bob's, authorised by
// alice's, beat alice's alone.
BOOST_AUTO_TEST_CASE(offtopic_power_levels) {
  check_dag(
      {
          power("PA", alice, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          power("PB", bob,
                R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50, "@charlie:example.com": 50}})"),
          power("PC", charlie,
                R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50, "@charlie:example.com": 0}})"),
      },
      {{"END", "PC", "PB", "PA", "START"}, {"END", "PA"}}, {"PC"});
}

// Alice demotes bob (PA2) while bob sets the topic (T3): bob loses, and the topic is the one on
// alice's side.
BOOST_AUTO_TEST_CASE(topic_basic) {
  check_dag(
      {
          topic("T1", alice),
          power("PA1", alice, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          topic("T2", alice),
          power("PA2", alice, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 0}})"),
          power("PB", bob, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          topic("T3", bob),
      },
      {{"END", "PA2", "T2", "PA1", "T1", "START"}, {"END", "T3", "PB", "PA1"}}, {"PA2", "T2"});
}

// Bob's topic loses to bob's ban: the topic resets to T1 even though T1 is older.
BOOST_AUTO_TEST_CASE(topic_reset) {
  check_dag(
      {
          topic("T1", alice),
          power("PA", alice, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          topic("T2", bob),
          member("MB", alice, bob, "ban"),
      },
      {{"END", "MB", "T2", "PA", "T1", "START"}, {"END", "T1"}}, {"T1", "MB", "PA"});
}

// A longer topic fork with a message merging the branches in between.
BOOST_AUTO_TEST_CASE(topic_fork_with_merge) {
  check_dag(
      {
          topic("T1", alice),
          power("PA1", alice, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          topic("T2", alice),
          power("PA2", alice, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 0}})"),
          power("PB", bob, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          topic("T3", bob),
          message("MZ1", zara),
          topic("T4", alice),
      },
      {{"END", "T4", "MZ1", "PA2", "T2", "PA1", "T1", "START"}, {"END", "MZ1", "T3", "PB", "PA1"}}, {"T4", "PA2"});
}

// The mainline decides between topics: T3 cites the newer power levels PA2, T4 the older PB
// side, so T3 wins although T4 was sent later.
BOOST_AUTO_TEST_CASE(mainline_sort) {
  check_dag(
      {
          topic("T1", alice),
          power("PA1", alice, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          topic("T2", alice),
          power("PA2", alice,
                R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50},
                    "events": {"m.room.power_levels": 100}})"),
          power("PB", bob, R"({"users": {"@alice:example.com": 100, "@bob:example.com": 50}})"),
          topic("T3", bob),
          topic("T4", alice),
      },
      {{"END", "T3", "PA2", "T2", "PA1", "T1", "START"}, {"END", "T4", "PB", "PA1"}}, {"T3", "PA2"});
}

// Two users join at once: both joins survive, along with everything unconflicted.
BOOST_AUTO_TEST_CASE(concurrent_joins_keep_unconflicted_state) {
  for (std::string_view v : {"2", "10"}) {
    dag_harness h(version(v),
                  {member("MX", evelyn, evelyn, "join"), member("MY", "@yann:example.com", "@yann:example.com", "join"),
                   state("NAME", alice, "m.room.name", obj(R"({"name": "n"})"))},
                  {{"END", "MX", "NAME", "START"}, {"END", "MY", "NAME"}});
    const state_map& end = h.state_after("END");
    BOOST_TEST(end.at({"m.room.member", evelyn}) == event_id_of("MX"));
    BOOST_TEST(end.at({"m.room.member", "@yann:example.com"}) == event_id_of("MY"));
    BOOST_TEST(end.at({"m.room.name", ""}) == event_id_of("NAME"));
    BOOST_TEST(end.at({"m.room.power_levels", ""}) == event_id_of("IPOWER"));
    BOOST_TEST(end.size() == h.state_after("START").size() + 3);
  }
}

// The unconflicted state map wins even over what the iterative checks would have produced, and
// events nobody can fetch are left out.
BOOST_AUTO_TEST_CASE(unconflicted_state_and_unknown_events) {
  dag_harness h(version("10"),
                {topic("TA", alice), topic("TB", alice), member("MB", alice, bob, "ban")},
                {{"END", "TA", "MB", "START"}, {"END", "TB", "MB"}});
  const state_map& a = h.state_after("TA");
  const state_map& b = h.state_after("TB");
  auto resolved = resolve_state_v2(version("10"), {a, b}, h.lookup());
  BOOST_TEST(resolved.at({"m.room.member", bob}) == event_id_of("MB"));  // both sides agree
  BOOST_TEST(resolved.at({"m.room.topic", ""}) == event_id_of("TB"));    // same mainline, TB is later

  // A single state set, or identical ones, come back as they are, unknown ids included.
  state_map with_unknown = a;
  with_unknown[{"m.custom", ""}] = "$nobody-has-this";
  BOOST_TEST(dag_harness::describe(resolve_state_v2(version("10"), {with_unknown}, h.lookup())) ==
             dag_harness::describe(with_unknown));
  BOOST_TEST(dag_harness::describe(resolve_state_v2(version("10"), {with_unknown, with_unknown}, h.lookup())) ==
             dag_harness::describe(with_unknown));
  // A conflicted event that cannot be fetched is dropped; a known one takes the key.
  state_map other = a;
  other[{"m.custom", ""}] = event_id_of("TB");  // wrong type for the key, but a real, allowed event
  auto mixed = resolve_state_v2(version("10"), {with_unknown, other}, h.lookup());
  BOOST_TEST(mixed.count({"m.custom", ""}) == 0u);  // TB is checked and applied under its own key…
  BOOST_TEST(mixed.at({"m.room.topic", ""}) == event_id_of("TA"));  // …which the unconflicted TA overrides
  BOOST_TEST(resolve_state_v2(version("10"), {}, h.lookup()).empty());
}

// A rejected event is never taken as an auth event: bob's topic leans on a join that was
// rejected (the room is invite-only), so it only survives when we do not know of the rejection.
BOOST_AUTO_TEST_CASE(rejected_auth_events_are_not_used) {
  const auto& v = version("10");
  dag_harness h(v, {state("JR", alice, "m.room.join_rules", obj(R"({"join_rule": "invite"})")),
                    power("PA", alice, R"({"users": {"@alice:example.com": 100}, "events": {"m.room.topic": 0}})")},
                {{"END", "PA", "JR", "START"}});
  // Craft the rejected join and the topic that cites it by hand (a server that skipped the
  // rules would send them so).
  const state_map base = h.state_after("END");
  std::map<std::string, pdu> extra;
  auto add = [&](const std::string& id, std::string_view json_text, std::vector<std::string> auth) {
    pdu e{id, obj(json_text)};
    json::array refs;
    for (const auto& a : auth) refs.emplace_back(a);
    e.json["auth_events"] = std::move(refs);
    e.json["room_id"] = room_id;
    extra.emplace(id, std::move(e));
  };
  const std::string create = base.at({"m.room.create", ""}), pl = base.at({"m.room.power_levels", ""}),
                    jr = base.at({"m.room.join_rules", ""});
  add("$evil-join", R"({"type": "m.room.member", "state_key": "@evelyn:example.com", "sender": "@evelyn:example.com",
                        "content": {"membership": "join"}, "origin_server_ts": 1000})",
      {create, pl, jr});
  add("$evil-topic", R"({"type": "m.room.topic", "state_key": "", "sender": "@evelyn:example.com",
                         "content": {"topic": "spam"}, "origin_server_ts": 1001})",
      {create, pl, "$evil-join"});
  auto base_lookup = h.lookup();
  event_lookup lookup = [&](const std::string& id) -> const pdu* {
    auto it = extra.find(id);
    return it != extra.end() ? &it->second : base_lookup(id);
  };
  state_map forked = base;
  forked[{"m.room.topic", ""}] = "$evil-topic";

  // Not knowing the join was rejected, its membership is taken from the topic's auth events.
  auto naive = resolve_state_v2(v, {base, forked}, lookup);
  BOOST_TEST(naive.count({"m.room.topic", ""}) == 1u);
  BOOST_TEST(naive.count({"m.room.member", evelyn}) == 0u);  // the join itself fails the checks
  auto careful =
      resolve_state_v2(v, {base, forked}, lookup, [](const std::string& id) { return id == "$evil-join"; });
  BOOST_TEST(careful.count({"m.room.topic", ""}) == 0u);
  BOOST_TEST(careful.count({"m.room.member", evelyn}) == 0u);
}

// A room with a long history (deep power levels mainline, thousands of members) forked in two:
// the resolution must stay linear-ish. Branch A keeps changing power levels, branch B lets users
// in and sets the topic.
BOOST_AUTO_TEST_CASE(ten_thousand_event_room) {
  const auto& v = version("10");
  std::deque<pdu> events;
  std::map<std::string, const pdu*> by_id;
  int64_t ts = 0;
  struct head {
    state_map state;
    std::string last;
  };
  auto send = [&](head& h, std::string_view type, const std::string& sender, json::object content,
                  std::optional<std::string> state_key) {
    pdu e;
    e.event_id = "$ev" + std::to_string(events.size());
    e.json["type"] = type;
    e.json["sender"] = sender;
    e.json["room_id"] = room_id;
    e.json["content"] = std::move(content);
    e.json["origin_server_ts"] = ts++;
    if (state_key) e.json["state_key"] = *state_key;
    e.json["prev_events"] = h.last.empty() ? json::array{} : json::array{json::value(h.last)};
    json::array auth;
    for (const auto& key : auth_types_for_event(v, e))
      if (auto it = h.state.find(key); it != h.state.end()) auth.emplace_back(it->second);
    e.json["auth_events"] = std::move(auth);
    events.push_back(std::move(e));
    const pdu& placed = events.back();
    by_id[placed.event_id] = &placed;
    h.last = placed.event_id;
    if (state_key) h.state[state_key_pair(type, *state_key)] = placed.event_id;
  };
  auto user = [](const std::string& prefix, int i) { return "@" + prefix + std::to_string(i) + ":example.com"; };
  auto levels = [&](int i) {
    return json::object{{"users", json::object{{alice, 100}}}, {"ban", 50 + i % 7}};
  };

  head base;
  send(base, "m.room.create", alice, json::object{{"creator", alice}}, "");
  send(base, "m.room.member", alice, json::object{{"membership", "join"}}, alice);
  send(base, "m.room.power_levels", alice, levels(0), "");
  send(base, "m.room.join_rules", alice, json::object{{"join_rule", "public"}}, "");
  const json::object join{{"membership", "join"}};
  for (int i = 0; i < 2000; ++i) send(base, "m.room.member", user("u", i), join, user("u", i));
  for (int i = 1; i <= 2000; ++i) send(base, "m.room.power_levels", alice, levels(i), "");
  head a = base, b = base;
  for (int i = 2001; i <= 4000; ++i) send(a, "m.room.power_levels", alice, levels(i), "");
  for (int i = 0; i < 2000; ++i) send(b, "m.room.member", user("w", i), join, user("w", i));
  for (int i = 0; i < 2000; ++i) send(b, "m.room.topic", alice, json::object{{"topic", std::to_string(i)}}, "");
  BOOST_TEST(events.size() >= 10000u);

  event_lookup lookup = [&](const std::string& id) -> const pdu* {
    auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : it->second;
  };
  const auto started = std::chrono::steady_clock::now();
  auto resolved = resolve_state_v2(v, {a.state, b.state}, lookup);
  const auto took = std::chrono::steady_clock::now() - started;
  BOOST_TEST_MESSAGE("10k-event resolution: " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                              << " ms");
  BOOST_TEST(resolved.at({"m.room.power_levels", ""}) == a.state.at({"m.room.power_levels", ""}));
  BOOST_TEST(resolved.at({"m.room.topic", ""}) == b.state.at({"m.room.topic", ""}));
  BOOST_TEST(resolved.at({"m.room.member", user("w", 1999)}) == b.state.at({"m.room.member", user("w", 1999)}));
  BOOST_TEST(resolved.size() == b.state.size());
  // Generous: quadratic behaviour on this input takes minutes, the linear walk well under a second.
  BOOST_TEST(std::chrono::duration_cast<std::chrono::seconds>(took).count() < 20);
}

BOOST_AUTO_TEST_SUITE_END()
