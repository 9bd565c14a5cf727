#include "actors/runtime/api_instance.hpp"

#include <caf/all.hpp>

#include <unordered_map>

#include "actors/runtime/blocking_pool.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "protocol/errors.hpp"

namespace myelin::runtime {

api_response run_handler(handler_context& ctx, const endpoint_entry* entry, const api_request& req) {
  api_response resp;
  try {
    if (!entry) throw protocol::errors::unrecognized("This endpoint is not served by " + ctx.instance);
    resp = entry->handler(ctx, req);
  } catch (const protocol::matrix_error& e) {
    resp = error_response(e);
  } catch (const std::exception& e) {
    // Never a stack trace or an exception text for the client: the log has the detail.
    ctx.log.error("handler failed", {{"endpoint", req.endpoint}, {"request_id", req.request_id}, {"error", e.what()}});
    resp = error_response(protocol::errors::unknown("Internal server error"));
  }
  return resp;
}

namespace {

// run_handler with the instance's dependencies (and its X-Myelin-Instance header).
api_response answer_request(const api_instance_deps& deps, const std::string& label, const logger& log,
                            const endpoint_entry* entry, const api_request& req) {
  handler_context ctx{*deps.config, *deps.db, *deps.writers, label, log, deps.limiter, deps.views, deps.signing_key,
                      deps.pool};
  api_response resp = run_handler(ctx, entry, req);
  if (deps.expose_instance_header) resp.headers.emplace_back("X-Myelin-Instance", label);
  return resp;
}

} // namespace

namespace {

// Per instance: requests handed to the blocking pool and not answered yet (its backlog, the
// instance's real queue: the actor's own mailbox only holds them for a moment). Per endpoint: the
// handler's time, and how long jobs wait for a pool thread.
struct instance_metrics {
  metrics::family<metrics::gauge>& pending = metrics::registry::global().gauges(
      "myelin_instance_pending_requests", "Requests a group instance has queued or running on the blocking pool.",
      {"instance"});
  metrics::family<metrics::histogram>& handler = metrics::registry::global().histograms(
      "myelin_handler_duration_seconds", "Time an endpoint's handler runs, by endpoint.", {"endpoint"});
  metrics::histogram& queue_wait =
      metrics::registry::global()
          .histograms("myelin_blocking_pool_wait_seconds", "Time a handler waits for a blocking-pool thread.", {})
          .with({});
};

instance_metrics& instance_stats() {
  static instance_metrics m;
  return m;
}

} // namespace

void post_answer(const api_instance_deps& deps, const std::string& label, const endpoint_entry* entry,
                 api_request req, const caf::actor& reply_to, uint64_t job_id) {
  auto& stats = instance_stats();
  auto& pending = stats.pending.with({label});
  pending.add(1);
  deps.pool->post([reply_to, job_id, entry, deps, req = std::move(req), label, &pending, &stats,
                   posted = std::chrono::steady_clock::now()]() {
    auto started = std::chrono::steady_clock::now();
    stats.queue_wait.observe(std::chrono::duration<double>(started - posted).count());
    logger job_log("group", label);
    auto resp = answer_request(deps, label, job_log, entry, req);
    stats.handler.with({req.endpoint}).observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    pending.add(-1);
    caf::anon_send(reply_to, atoms::done_atom_v, job_id, std::move(resp));
  });
}

namespace {

struct instance_state {
  std::string label;
  api_instance_deps deps;
  std::unique_ptr<logger> log;
  uint64_t next_job = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<api_response>> in_flight;
};

using instance_type = api_instance_actor::stateful_pointer<instance_state>;

api_instance_actor::behavior_type instance_impl(instance_type self, std::string label, api_instance_deps deps) {
  auto& st = self->state;
  st.label = std::move(label);
  st.deps = deps;
  st.log = std::make_unique<logger>("group", st.label);
  return {
      [=](api_request& req) -> caf::result<api_response> {
        auto& s = self->state;
        if (s.in_flight.size() >= s.deps.max_in_flight)
          return error_response(protocol::errors::unavailable("Server busy, try again"));
        const endpoint_entry* entry = s.deps.endpoints->find(req.endpoint);
        if (entry && entry->spec.nonblocking) return answer_request(s.deps, s.label, *s.log, entry, req);
        auto id = ++s.next_job;
        auto promise = self->make_response_promise<api_response>();
        s.in_flight.emplace(id, promise);
        post_answer(s.deps, s.label, entry, std::move(req), caf::actor_cast<caf::actor>(self), id);
        return promise;
      },
      [=](atoms::done_atom, uint64_t id, api_response& resp) {
        auto& s = self->state;
        auto it = s.in_flight.find(id);
        if (it == s.in_flight.end()) return;
        it->second.deliver(std::move(resp));
        s.in_flight.erase(it);
      },
      [=](atoms::label_atom) { return self->state.label; },
      [=](atoms::crash_atom) {
        self->state.log->warn("instance asked to crash (test hook)");
        self->quit(caf::sec::runtime_error);
      },
  };
}

} // namespace

api_instance_actor spawn_api_instance(caf::actor_system& sys, std::string label, api_instance_deps deps) {
  return sys.spawn(instance_impl, std::move(label), deps);
}

} // namespace myelin::runtime
