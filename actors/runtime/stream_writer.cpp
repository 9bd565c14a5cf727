#include "actors/runtime/stream_writer.hpp"

#include <caf/all.hpp>
#include <boost/json.hpp>

#include <optional>

#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::runtime {
namespace {

struct pending_write {
  write_request request;
  // Empty for the stream's own periodic operation: nobody waits for its result.
  std::optional<caf::typed_response_promise<write_result>> promise;
};

struct writer_state {
  std::shared_ptr<const stream_writer_config> cfg;
  int64_t position = 0;
  std::vector<pending_write> pending;
  bool flush_scheduled = false;
  bool periodic_queued = false;  // a periodic op waits in `pending`: a slow batch does not pile up ticks
  std::unique_ptr<logger> log;
};

using writer_type = stream_writer_actor::stateful_pointer<writer_state>;

write_result error_result(int status, std::string errcode, std::string error, stream_position pos) {
  write_result r;
  r.status = static_cast<int16_t>(status);
  r.errcode = std::move(errcode);
  r.error = std::move(error);
  r.position = std::move(pos);
  return r;
}

void answer(writer_state& st, pending_write& p, write_result r) {
  if (p.promise) {
    p.promise->deliver(std::move(r));
  } else if (r.status != 200) {
    st.log->warn("periodic operation failed", {{"op", p.request.op}, {"error", r.errcode + " " + r.error}});
  }
}

// Thrown inside a batch transaction to roll it back: a write failed while running without
// savepoints, so the batch is run again with one savepoint per write.
struct needs_isolation {};

// Runs one batch in one transaction. Every write gets a result; rows of successful writes are
// published only after the commit succeeded.
//
// Writes almost always succeed, so a batch first runs without savepoints (they cost two round
// trips per write on PostgreSQL). If a write fails, the transaction is rolled back and the batch
// runs again with a savepoint around each write, so the failure undoes only itself. A batch of one
// needs no second run: its rollback is the failed write's.
void flush(writer_type self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.pending.empty()) return;
  std::vector<pending_write> batch;
  batch.swap(st.pending);
  st.periodic_queued = false;
  const auto& def = st.cfg->definition;
  const std::string& writer = st.cfg->writer_name;

  std::vector<write_result> results(batch.size());
  std::vector<stream_update> updates;
  int64_t pos = st.position;
  bool isolate = false;
  bool single_failed = false;
  auto run_batch = [&](storage::connection& c) {
    pos = st.position;  // a retried transaction starts again from the committed position
    updates.clear();
    if (def.hooks.on_begin) def.hooks.on_begin();
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& req = batch[i].request;
      auto op = def.ops.find(req.op);
      if (op == def.ops.end()) {
        results[i] = error_result(400, "M_UNRECOGNIZED", "unknown write operation " + req.op, {def.stream, writer, pos});
        continue;
      }
      if (isolate) c.savepoint("w");
      const int64_t start = pos;
      auto failed = [&](write_result r) {
        pos = start;
        results[i] = std::move(r);
        if (!isolate) {
          single_failed = batch.size() == 1;  // then the result above is final
          throw needs_isolation{};            // rolls the transaction back
        }
        c.rollback_to_savepoint("w");
        c.release_savepoint("w");
      };
      try {
        auto args = protocol::parse_object(req.args, 64, true);
        storage::op_context ctx{c, writer, pos};
        storage::op_output out = op->second(ctx, args);
        if (isolate) c.release_savepoint("w");
        write_result r;
        if (!out.rows.empty()) {
          // Rows that took their own positions say so; the others share one new position.
          if (pos == start) ++pos;
          stream_update u{def.stream, writer, pos, {}};
          for (const auto& row : out.rows) {
            auto* own = row.if_contains("position");
            int64_t row_pos = own && own->is_int64() ? own->as_int64() : pos;
            auto text = boost::json::serialize(row);
            if (def.log_rows)
              c.exec("INSERT INTO stream_log (stream, writer, position, row_json) VALUES ($1, $2, $3, $4)",
                     {def.stream, writer, row_pos, text});
            u.rows.push_back(std::move(text));
          }
          updates.push_back(std::move(u));
        }
        r.result = boost::json::serialize(out.result);
        r.position = {def.stream, writer, pos};
        results[i] = std::move(r);
      } catch (const protocol::matrix_error& e) {
        failed(error_result(e.status(), e.errcode(), e.what(), {def.stream, writer, start}));
      } catch (const needs_isolation&) {
        throw;
      } catch (const std::exception& e) {
        st.log->error("write failed", {{"op", req.op}, {"error", e.what()}});
        failed(error_result(500, "M_UNKNOWN", "Internal error while writing", {def.stream, writer, start}));
      }
    }
    if (def.hooks.on_flush) def.hooks.on_flush(c);
    if (pos != st.position) {
      c.exec("INSERT INTO stream_positions (stream, writer, position) VALUES ($1, $2, $3) "
             "ON CONFLICT (stream, writer) DO UPDATE SET position = excluded.position",
             {def.stream, writer, pos});
    }
  };
  try {
    for (;;) {
      try {
        st.cfg->db->transact(run_batch);
        break;
      } catch (const needs_isolation&) {
        if (def.hooks.on_abort) def.hooks.on_abort();
        if (single_failed) {
          // The only write failed and its transaction is gone: nothing to publish.
          answer(st, batch[0], std::move(results[0]));
          return;
        }
        isolate = true;
      }
    }
  } catch (const std::exception& e) {
    // The commit itself failed: nothing of this batch happened.
    if (def.hooks.on_abort) def.hooks.on_abort();
    st.log->error("batch commit failed", {{"writes", std::to_string(batch.size())}, {"error", e.what()}});
    for (auto& p : batch)
      answer(st, p, error_result(503, "M_UNKNOWN", "Database unavailable", {def.stream, writer, st.position}));
    return;
  }
  st.position = pos;
  if (def.hooks.on_commit) def.hooks.on_commit();
  // Publish before answering: the hub sees the position before any caller can ask to wait for it.
  for (auto& u : updates) self->send(st.cfg->hub, atoms::publish_atom_v, std::move(u));
  for (size_t i = 0; i < batch.size(); ++i) answer(st, batch[i], std::move(results[i]));
}

// Queues a write; the flush message queues behind the writes already in the mailbox, so they
// join this batch.
void enqueue(writer_type self, pending_write w) {
  auto& s = self->state;
  s.pending.push_back(std::move(w));
  if (s.pending.size() >= s.cfg->max_batch) {
    flush(self);
  } else if (!s.flush_scheduled) {
    s.flush_scheduled = true;
    self->send(self, atoms::flush_atom_v);
  }
}

stream_writer_actor::behavior_type writer_impl(writer_type self, std::shared_ptr<const stream_writer_config> cfg) {
  auto& st = self->state;
  st.cfg = cfg;
  st.log = std::make_unique<logger>("writer", cfg->writer_name);
  st.position = load_stream_position(*cfg->db, cfg->definition.stream, cfg->writer_name);
  // Announce where this writer stands, so waiters on this node resolve after a restart too.
  self->send(cfg->hub, atoms::publish_atom_v, stream_update{cfg->definition.stream, cfg->writer_name, st.position, {}});
  st.log->info("stream writer started", {{"stream", cfg->definition.stream}, {"position", std::to_string(st.position)}});
  const auto& periodic = cfg->definition.periodic;
  if (periodic) self->delayed_send(self, periodic->interval, atoms::wait_atom_v);
  return {
      [=](write_request& req) -> caf::result<write_result> {
        auto promise = self->make_response_promise<write_result>();
        enqueue(self, {std::move(req), promise});
        return promise;
      },
      [=](atoms::wait_atom) {
        auto& s = self->state;
        if (!s.cfg->definition.periodic) return;  // not ours: only the writer itself sends ticks
        const auto& p = *s.cfg->definition.periodic;
        self->delayed_send(self, p.interval, atoms::wait_atom_v);
        if (s.periodic_queued || (p.due && !p.due())) return;
        s.periodic_queued = true;
        enqueue(self, {write_request{p.op, "{}"}, std::nullopt});
      },
      [=](atoms::position_atom) {
        return stream_position{self->state.cfg->definition.stream, self->state.cfg->writer_name, self->state.position};
      },
      [=](atoms::flush_atom) { flush(self); },
      [=](atoms::crash_atom) { self->quit(caf::sec::runtime_error); },
  };
}

} // namespace

int64_t load_stream_position(storage::database& db, const std::string& stream, const std::string& writer) {
  auto c = db.acquire();
  auto r = c->exec("SELECT position FROM stream_positions WHERE stream = $1 AND writer = $2", {stream, writer});
  return r.empty() ? 0 : r[0].as_int(0);
}

std::vector<stream_position> load_all_stream_positions(storage::database& db) {
  auto c = db.acquire();
  auto r = c->exec("SELECT stream, writer, position FROM stream_positions");
  std::vector<stream_position> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back({r[i].as_text(0), r[i].as_text(1), r[i].as_int(2)});
  return out;
}

stream_writer_actor spawn_stream_writer(caf::actor_system& sys, std::shared_ptr<const stream_writer_config> cfg) {
  return sys.spawn<caf::detached>(writer_impl, std::move(cfg));
}

} // namespace myelin::runtime
