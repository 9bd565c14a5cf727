#include "actors/sync/sync_instance.hpp"

#include <caf/all.hpp>
#include <boost/json/object.hpp>

#include <deque>
#include <unordered_map>

#include "actors/runtime/blocking_pool.hpp"
#include "actors/runtime/node_views.hpp"
#include "actors/runtime/writer_client.hpp"
#include "actors/sync/notifier.hpp"
#include "actors/sync/sync.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"

namespace myelin::sync {

namespace {

using runtime::api_instance_deps;

// Long-polls one instance holds at most; beyond it a sync is answered at once (empty), never refused.
constexpr size_t max_parked = 200'000;
// Updates kept for computations in flight; beyond it every such computation runs again.
constexpr size_t max_recent = 20'000;

struct long_poll {
  api_request req;
  sync_params params;
  caf::typed_response_promise<api_response> promise;
  bool computing = false;
  bool parked = false;
  bool expired = false;
  uint64_t started_at_seq = 0;                 // update sequence when the running computation began
  std::shared_ptr<sync_outcome> outcome;       // written by the pool job, read after its done message
  api_response last;                           // the latest (empty) answer, sent when time is up
};

struct sync_state {
  std::string label;
  api_instance_deps deps;
  std::unique_ptr<logger> log;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<api_response>> jobs;  // other endpoints
  std::unordered_map<uint64_t, long_poll> polls;
  notifier index;
  uint64_t seq = 0;                                     // stream updates received
  std::deque<std::pair<uint64_t, stream_update>> recent; // kept while computations run
  uint64_t recent_lost_before = 0;                      // updates before this seq were dropped
  size_t computing = 0;
  bool releasing = false;  // the node is shutting down: nothing is parked any more
};

using instance_type = sync_instance_actor::stateful_pointer<sync_state>;

void compute(instance_type self, uint64_t id) {
  auto& st = self->state;
  auto& p = st.polls.at(id);
  p.computing = true;
  p.parked = false;
  p.started_at_seq = st.seq;
  ++st.computing;
  p.outcome = std::make_shared<sync_outcome>();
  auto me = caf::actor_cast<sync_instance_actor>(self);
  auto* endpoint = long_poll_for(p.req.endpoint);
  st.deps.pool->post([me, id, endpoint, deps = st.deps, label = st.label, req = p.req, params = p.params,
                      out = p.outcome]() {
    logger log("group", label);
    runtime::handler_context ctx{*deps.config, *deps.db, *deps.writers, label, log, deps.limiter, deps.views,
                                 deps.signing_key};
    // Through run_handler like every endpoint: a matrix_error becomes its response, anything else a
    // logged 500 (neither waits: only a 200 can be parked).
    runtime::endpoint_entry job{{.name = req.endpoint}, [&](runtime::handler_context& c, const api_request& r) {
                                  *out = endpoint->compute(c, r, params, current_token(c, params.since));
                                  return std::move(out->response);
                                }};
    api_response resp = runtime::run_handler(ctx, &job, req);
    if (deps.expose_instance_header) resp.headers.emplace_back("X-Myelin-Instance", label);
    caf::anon_send(me, atoms::done_atom_v, id, std::move(resp));
  });
}

void finish(instance_type self, uint64_t id, api_response resp) {
  auto& st = self->state;
  auto it = st.polls.find(id);
  if (it == st.polls.end()) return;
  st.index.unwatch(id);
  it->second.promise.deliver(std::move(resp));
  st.polls.erase(it);
}

// Whether an update that arrived during the computation is past its token and concerns it.
bool missed_update(const sync_state& st, const long_poll& p) {
  if (p.started_at_seq < st.recent_lost_before) return true;
  const auto& o = *p.outcome;
  std::unordered_set<std::string> rooms(o.interest.room_ids.begin(), o.interest.room_ids.end());
  for (const auto& [seq, u] : st.recent) {
    if (seq <= p.started_at_seq) continue;
    if (u.position <= o.upto.get(u.stream, writer_index(u.writer))) continue;
    if (notifier::concerns(u, o.interest.user_id, rooms)) return true;
  }
  return false;
}

void computed(instance_type self, uint64_t id, api_response& resp) {
  auto& st = self->state;
  auto& p = st.polls.at(id);
  p.computing = false;
  // /events without `from` waits for what comes after its first computation.
  if (p.params.from_now && !p.params.since && resp.status == 200) p.params.since = p.outcome->upto;
  bool wait = resp.status == 200 && p.outcome->empty && p.params.since && p.params.timeout_ms > 0 && !p.expired &&
              !st.releasing && st.polls.size() <= max_parked;
  // Checked before the kept updates may be dropped below: they are what this check reads.
  bool missed = wait && missed_update(st, p);
  if (--st.computing == 0) st.recent.clear();
  if (!wait) return finish(self, id, std::move(resp));
  if (missed) return compute(self, id);
  p.last = std::move(resp);
  p.parked = true;
  st.index.watch(id, p.outcome->interest.user_id, p.outcome->interest.room_ids);
  p.outcome.reset();  // the room list now lives in the index
}

sync_instance_actor::behavior_type sync_impl(instance_type self, std::string label, api_instance_deps deps,
                                             runtime::stream_hub_actor hub) {
  auto& st = self->state;
  st.label = std::move(label);
  st.deps = deps;
  st.log = std::make_unique<logger>("group", st.label);
  for (const auto& [stream, code] : protocol::sync_token_streams())
    caf::anon_send(hub, atoms::subscribe_atom_v, stream, caf::actor_cast<caf::actor>(self));
  return {
      [=](api_request& req) -> caf::result<api_response> {
        auto& s = self->state;
        const auto* entry = s.deps.endpoints->find(req.endpoint);
        const auto* poll_endpoint = long_poll_for(req.endpoint);
        if (!poll_endpoint || !entry) {
          if (s.jobs.size() >= s.deps.max_in_flight)
            return runtime::error_response(protocol::errors::unavailable("Server busy, try again"));
          auto id = ++s.next_id;
          auto promise = self->make_response_promise<api_response>();
          s.jobs.emplace(id, promise);
          runtime::post_answer(s.deps, s.label, entry, std::move(req), caf::actor_cast<caf::actor>(self), id);
          return promise;
        }
        sync_params params;
        try {
          params = poll_endpoint->parse(req);
        } catch (const protocol::matrix_error& e) {
          return runtime::error_response(e);
        }
        // A syncing user is online (or what set_presence says) for as long as the long-poll lasts.
        if (req.endpoint == "sync" && !req.user_id.empty())
          s.deps.writers->send("presence", req.user_id, "sync_touch",
                               boost::json::object{{"user_id", req.user_id},
                                                   {"presence", params.set_presence},
                                                   {"timeout_ms", params.timeout_ms}});
        auto id = ++s.next_id;
        auto promise = self->make_response_promise<api_response>();
        int64_t timeout = (params.since || params.from_now) && !s.releasing ? params.timeout_ms : 0;
        long_poll poll;
        poll.req = std::move(req);
        poll.params = std::move(params);
        poll.promise = promise;
        s.polls.emplace(id, std::move(poll));
        if (timeout > 0) self->delayed_send(self, std::chrono::milliseconds(timeout), atoms::wait_atom_v, id);
        compute(self, id);
        return promise;
      },
      [=](atoms::done_atom, uint64_t id, api_response& resp) {
        auto& s = self->state;
        if (auto it = s.jobs.find(id); it != s.jobs.end()) {
          it->second.deliver(std::move(resp));
          s.jobs.erase(it);
          return;
        }
        if (s.polls.count(id)) computed(self, id, resp);
      },
      [=](stream_update& u) {
        auto& s = self->state;
        ++s.seq;
        for (auto id : s.index.affected(u)) {
          s.index.unwatch(id);
          compute(self, id);
        }
        if (s.computing > 0) {
          if (s.recent.size() >= max_recent) {
            s.recent_lost_before = s.recent.front().first + 1;
            s.recent.pop_front();
          }
          s.recent.emplace_back(s.seq, std::move(u));
        }
      },
      [=](atoms::wait_atom, uint64_t id) {
        auto& s = self->state;
        auto it = s.polls.find(id);
        if (it == s.polls.end()) return;
        if (it->second.parked) return finish(self, id, std::move(it->second.last));
        it->second.expired = true;  // answered when the running computation ends
      },
      // Graceful shutdown: a parked long-poll would hold the gateway's drain until its timeout.
      // Each gets its latest (empty) answer now, as if its time were up; clients sync again elsewhere.
      [=](atoms::release_atom) {
        auto& s = self->state;
        s.releasing = true;
        std::vector<uint64_t> parked;
        for (auto& [id, poll] : s.polls) {
          if (poll.parked) parked.push_back(id);
          else poll.expired = true;
        }
        for (auto id : parked) finish(self, id, std::move(s.polls.at(id).last));
      },
      [=](atoms::label_atom) { return self->state.label; },
      [=](atoms::crash_atom) {
        self->state.log->warn("instance asked to crash (test hook)");
        self->quit(caf::sec::runtime_error);
      },
  };
}

} // namespace

sync_instance_actor spawn_sync_instance(caf::actor_system& sys, std::string label, api_instance_deps deps,
                                        runtime::stream_hub_actor hub) {
  return sys.spawn(sync_impl, std::move(label), deps, std::move(hub));
}

} // namespace myelin::sync
