// State resolution v2 (rooms/v2 "State resolution", fragment v2-state-res), step by step as the
// spec's "Algorithm" section numbers them. Events are numbered as they are first seen so the
// graph walks work on vectors of ints; every walk is iterative and visits each event once, so
// auth chains of tens of thousands of events cost linear time, not a walk per event.
#include "protocol/state_res.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <queue>
#include <unordered_map>

#include "protocol/auth_rules.hpp"
#include "protocol/power_levels.hpp"

namespace myelin::protocol {

namespace {

struct node {
  std::string id;
  const pdu* event = nullptr;
  std::vector<int> auth;  // known auth events, deduplicated; filled on first use
  bool auth_loaded = false;
  bool rejected = false;
};

class resolver {
public:
  resolver(const room_version& version, const event_lookup& lookup, const rejected_check& is_rejected)
      : version_(version), lookup_(lookup), is_rejected_(is_rejected) {}

  state_map resolve(const std::vector<state_map>& state_sets);

private:
  // The node for an event id, or -1 when the event is unknown.
  int index(const std::string& id) {
    auto it = ids_.find(id);
    if (it != ids_.end()) return it->second;
    const pdu* ev = lookup_ ? lookup_(id) : nullptr;
    int i = -1;
    if (ev) {
      i = static_cast<int>(nodes_.size());
      nodes_.push_back(node{id, ev, {}, false, is_rejected_ && is_rejected_(id)});
    }
    ids_.emplace(id, i);
    return i;
  }

  const std::vector<int>& auth_of(int i) {
    if (!nodes_[i].auth_loaded) {
      std::vector<int> auth;
      for (const std::string& id : nodes_[i].event->auth_events()) {
        int a = index(id);
        if (a >= 0 && std::find(auth.begin(), auth.end(), a) == auth.end()) auth.push_back(a);
      }
      nodes_[i].auth = std::move(auth);  // index() may have grown nodes_: assign after
      nodes_[i].auth_loaded = true;
    }
    return nodes_[i].auth;
  }

  const pdu& event(int i) const { return *nodes_[i].event; }

  // The auth event of `i` with this (type, state_key), or -1.
  int auth_event_of_type(int i, std::string_view type) {
    for (int a : auth_of(i)) {
      const pdu& ev = event(a);
      if (ev.type() == type && ev.state_key() == std::string_view{}) return a;
    }
    return -1;
  }

  // The union of the auth chains of `starts`: every event reachable through auth_events. A
  // starting event is in it only if another one's auth chain reaches it (spec "Auth chain": E's
  // auth chain holds E's auth events, theirs, and so on, not E).
  std::vector<int> auth_chain(const std::vector<int>& starts) {
    std::vector<char> seen(nodes_.size(), 0);
    std::vector<int> out, stack(starts.begin(), starts.end());
    while (!stack.empty()) {
      int u = stack.back();
      stack.pop_back();
      for (int a : auth_of(u)) {
        if (static_cast<size_t>(a) >= seen.size()) seen.resize(nodes_.size(), 0);
        if (seen[a]) continue;
        seen[a] = 1;
        out.push_back(a);
        stack.push_back(a);
      }
    }
    return out;
  }

  bool is_power_event(int i) const {
    const pdu& ev = event(i);
    if (!ev.is_state()) return false;
    const std::string_view type = ev.type();
    if (type == "m.room.power_levels" || type == "m.room.join_rules") return true;
    if (type != "m.room.member") return false;
    const std::string_view membership = ev.membership();
    return (membership == "leave" || membership == "ban") && ev.sender() != *ev.state_key();
  }

  // The sender's power level as the event's own auth events give it.
  int64_t sender_power(int i) {
    int pl = auth_event_of_type(i, "m.room.power_levels");
    int create = auth_event_of_type(i, "m.room.create");
    return effective_power_levels(pl >= 0 ? &event(pl) : nullptr, create >= 0 ? &event(create) : nullptr, version_)
        .user_level(event(i).sender());
  }

  std::vector<int> reverse_topological_power_order(const std::vector<int>& power_events,
                                                   const std::vector<char>& in_full_conflicted);
  std::vector<int> mainline_order(std::vector<int> events, const state_map& partial);
  void iterative_auth_checks(const std::vector<int>& order, state_map& state);

  const room_version& version_;
  const event_lookup& lookup_;
  const rejected_check& is_rejected_;
  std::vector<node> nodes_;
  std::unordered_map<std::string, int> ids_;
};

// Step 1's sort. The DAG is that of auth events among X; an event of X must come after every
// event of X in its auth chain even when the path between them leaves X, so Kahn's algorithm runs
// over X plus its whole auth chain, releasing events outside X as soon as they are free and
// picking, among the free events of X, the smallest by (higher sender power, older ts, event id).
std::vector<int> resolver::reverse_topological_power_order(const std::vector<int>& power_events,
                                                           const std::vector<char>& in_full_conflicted) {
  // X: the power events and the events of their auth chains that are in the full conflicted set.
  std::vector<int> chain = auth_chain(power_events);
  std::vector<char> in_x(nodes_.size(), 0), in_graph(nodes_.size(), 0);
  std::vector<int> graph;
  for (int p : power_events) {
    in_x[p] = 1;
    in_graph[p] = 1;
    graph.push_back(p);
  }
  for (int c : chain) {
    if (static_cast<size_t>(c) < in_full_conflicted.size() && in_full_conflicted[c]) in_x[c] = 1;
    if (!in_graph[c]) {
      in_graph[c] = 1;
      graph.push_back(c);
    }
  }

  std::vector<int> pending(nodes_.size(), 0);
  std::vector<std::vector<int>> dependents(nodes_.size());
  for (int u : graph) {
    for (int a : auth_of(u)) {
      ++pending[u];
      dependents[a].push_back(u);
    }
  }

  // Ordering key: higher sender power first, then older origin_server_ts, then event id.
  struct key {
    int64_t neg_power, ts;
    int node;
  };
  auto later = [this](const key& a, const key& b) {  // "a sorts after b"
    if (a.neg_power != b.neg_power) return a.neg_power > b.neg_power;
    if (a.ts != b.ts) return a.ts > b.ts;
    return nodes_[a.node].id > nodes_[b.node].id;
  };
  auto key_of = [&](int i) { return key{-sender_power(i), event(i).origin_server_ts(), i}; };

  std::priority_queue<key, std::vector<key>, decltype(later)> ready(later);
  std::vector<int> free_others;
  auto make_ready = [&](int u) {
    if (in_x[u])
      ready.push(key_of(u));
    else
      free_others.push_back(u);
  };
  for (int u : graph)
    if (pending[u] == 0) make_ready(u);

  std::vector<int> out;
  std::vector<char> done(nodes_.size(), 0);
  auto release = [&](int u) {
    done[u] = 1;
    for (int d : dependents[u])
      if (--pending[d] == 0) make_ready(d);
  };
  for (;;) {
    while (!free_others.empty()) {
      int u = free_others.back();
      free_others.pop_back();
      release(u);
    }
    if (ready.empty()) break;
    int u = ready.top().node;
    ready.pop();
    out.push_back(u);
    release(u);
  }

  // Only a cycle in auth_events (impossible with hashed event ids, craftable in v1–2) leaves
  // events unsorted; they go last in the same power order rather than vanish.
  std::vector<key> stuck;
  for (int u : graph)
    if (in_x[u] && !done[u]) stuck.push_back(key_of(u));
  std::sort(stuck.begin(), stuck.end(), [&](const key& a, const key& b) { return later(b, a); });
  for (const key& k : stuck) out.push_back(k.node);
  return out;
}

// Step 3's sort: by mainline position (events based on an earlier power levels event first),
// then origin_server_ts, then event id.
std::vector<int> resolver::mainline_order(std::vector<int> events, const state_map& partial) {
  constexpr int64_t infinity = std::numeric_limits<int64_t>::max();
  // position[node] for power levels events: their index in the mainline, or what their own
  // power levels auth event resolves to. Filled as walks discover it.
  std::unordered_map<int, int64_t> position;

  auto pl_it = partial.find(state_key_pair("m.room.power_levels", ""));
  int p = pl_it == partial.end() ? -1 : index(pl_it->second);
  for (int64_t i = 0; p >= 0 && !position.count(p); ++i) {
    position[p] = i;
    p = auth_event_of_type(p, "m.room.power_levels");
  }

  auto position_of = [&](int e) -> int64_t {
    // Walk e1, e2, … (the power levels event in each one's auth events) until one is known.
    std::vector<int> path;
    int64_t found = infinity;
    for (int cur = auth_event_of_type(e, "m.room.power_levels"); cur >= 0;
         cur = auth_event_of_type(cur, "m.room.power_levels")) {
      auto it = position.find(cur);
      if (it != position.end()) {
        found = it->second;
        break;
      }
      if (std::find(path.begin(), path.end(), cur) != path.end()) break;  // a cycle: give up
      path.push_back(cur);
    }
    for (int q : path) position[q] = found;  // every event on the way resolves to the same
    return found;
  };

  struct keyed {
    int64_t position, ts;
    int node;
  };
  std::vector<keyed> sorted;
  sorted.reserve(events.size());
  for (int e : events) sorted.push_back({position_of(e), event(e).origin_server_ts(), e});
  std::sort(sorted.begin(), sorted.end(), [&](const keyed& a, const keyed& b) {
    if (a.position != b.position) return a.position > b.position;
    if (a.ts != b.ts) return a.ts < b.ts;
    return nodes_[a.node].id < nodes_[b.node].id;
  });
  for (size_t i = 0; i < sorted.size(); ++i) events[i] = sorted[i].node;
  return events;
}

// "Iterative auth checks": each event is authorised against the state built so far; a key the
// rules need that the state lacks comes from the event's own (not rejected) auth events.
void resolver::iterative_auth_checks(const std::vector<int>& order, state_map& state) {
  for (int i : order) {
    const pdu& ev = event(i);
    auto state_key = ev.state_key();
    if (!state_key) continue;
    auth_state auth;
    for (int a : auth_of(i)) {
      const pdu& a_ev = event(a);
      if (!nodes_[a].rejected && a_ev.state_key()) auth[state_key_pair(a_ev.type(), *a_ev.state_key())] = &a_ev;
    }
    for (const auto& key : auth_types_for_event(version_, ev)) {
      auto it = state.find(key);
      if (it == state.end()) continue;
      int s = index(it->second);
      if (s >= 0 && !nodes_[s].rejected) auth[key] = &event(s);
    }
    if (!check_auth(version_, ev, auth)) state[state_key_pair(ev.type(), *state_key)] = nodes_[i].id;
  }
}

state_map resolver::resolve(const std::vector<state_map>& state_sets) {
  if (state_sets.empty()) return {};
  if (state_sets.size() == 1) return state_sets.front();

  // Unconflicted state map and conflicted state set.
  std::map<state_key_pair, std::vector<const std::string*>> values;
  for (const state_map& s : state_sets)
    for (const auto& [key, id] : s) values[key].push_back(&id);
  state_map unconflicted;
  std::vector<const std::string*> conflicted;
  for (const auto& [key, ids] : values) {
    const std::string& first = *ids.front();
    const bool same = ids.size() == state_sets.size() &&
                      std::all_of(ids.begin(), ids.end(), [&first](const std::string* id) { return *id == first; });
    if (same)
      unconflicted.emplace(key, *ids.front());
    else
      conflicted.insert(conflicted.end(), ids.begin(), ids.end());
  }
  if (conflicted.empty()) return unconflicted;

  // Auth difference: events in some but not all of the states' full auth chains. As the spec
  // defines a full auth chain, the state events themselves are not in it (Synapse and Ruma count
  // them in; that only differs for an unconflicted event some chains reach and others do not,
  // which then gets re-checked here, and step 5 restores it either way).
  std::vector<int> in_chains;  // per node: how many states' full auth chains hold it
  for (const state_map& s : state_sets) {
    std::vector<int> starts;
    for (const auto& entry : s)
      if (int i = index(entry.second); i >= 0) starts.push_back(i);
    std::vector<int> chain = auth_chain(starts);
    in_chains.resize(nodes_.size(), 0);
    for (int c : chain) ++in_chains[c];
  }

  // Full conflicted set = conflicted state set ∪ auth difference (unknown events left out).
  std::vector<char> in_full(nodes_.size(), 0);
  std::vector<int> full;
  auto add_full = [&](int i) {
    if (i < 0) return;
    if (static_cast<size_t>(i) >= in_full.size()) in_full.resize(nodes_.size(), 0);
    if (in_full[i]) return;
    in_full[i] = 1;
    full.push_back(i);
  };
  for (const std::string* id : conflicted) add_full(index(*id));
  for (size_t i = 0; i < in_chains.size(); ++i)
    if (in_chains[i] > 0 && in_chains[i] < static_cast<int>(state_sets.size())) add_full(static_cast<int>(i));
  in_full.resize(nodes_.size(), 0);

  // 1. The power events of the full conflicted set, with the conflicted parts of their auth
  //    chains, in reverse topological power order.
  std::vector<int> power_events;
  for (int i : full)
    if (is_power_event(i)) power_events.push_back(i);
  std::vector<int> power_order = reverse_topological_power_order(power_events, in_full);

  // 2. Iterative auth checks from the unconflicted state map.
  state_map partial = unconflicted;
  iterative_auth_checks(power_order, partial);

  // 3. The rest, in mainline order of the partially resolved power levels.
  std::vector<char> picked(nodes_.size(), 0);
  for (int i : power_order) picked[i] = 1;
  std::vector<int> rest;
  for (int i : full)
    if (!picked[i]) rest.push_back(i);
  rest = mainline_order(std::move(rest), partial);

  // 4. Iterative auth checks of the rest on top.
  iterative_auth_checks(rest, partial);

  // 5. The unconflicted state map wins over whatever the checks produced for its keys.
  for (const auto& [key, id] : unconflicted) partial[key] = id;
  return partial;
}

} // namespace

state_map resolve_state_v2(const room_version& version, const std::vector<state_map>& state_sets,
                           const event_lookup& lookup) {
  return resolve_state_v2(version, state_sets, lookup, rejected_check{});
}

state_map resolve_state_v2(const room_version& version, const std::vector<state_map>& state_sets,
                           const event_lookup& lookup, const rejected_check& is_rejected) {
  resolver r(version, lookup, is_rejected);
  return r.resolve(state_sets);
}

} // namespace myelin::protocol
