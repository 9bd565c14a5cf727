// A stream's write operations, as plain functions over a connection. The stream writer actor
// (actors/runtime/stream_writer) runs them in group-committed transactions, assigns positions and
// publishes the rows they return; this file keeps the SQL side free of actors.
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage {

struct op_output {
  boost::json::value result;                // returned to the caller
  std::vector<boost::json::object> rows;    // published to subscribers; empty = no new position
};

// What an operation sees: the writer's transaction and its position counter. Most operations
// ignore the counter (the writer gives all rows of an operation one new position); operations that
// must record positions in their own tables (events: stream_ordering) take one per row with
// next_position() and put it in the row as "position".
struct op_context {
  connection& db;
  const std::string& writer;   // instance label, e.g. "writer.events/1"
  int64_t& position;           // the last position assigned in this transaction
  int64_t next_position() { return ++position; }
};

// Runs inside the writer's transaction. Throw protocol::matrix_error to refuse the write; the
// writer rolls back just this operation (savepoint), and its positions, and reports the error.
using stream_op = std::function<op_output(op_context&, const boost::json::object& args)>;

// Adapts an operation that needs only the connection.
template <class Fn>
stream_op on_connection(Fn fn) {
  return [fn](op_context& ctx, const boost::json::object& args) { return fn(ctx.db, args); };
}

struct stream_definition {
  std::string stream;
  std::map<std::string, stream_op> ops;
  // Copy each published row into stream_log (the replay log for subscribers catching up). Off for
  // streams whose own tables already are that log, keyed by position (events: persister +
  // stream_ordering), so every event is not written twice.
  bool log_rows = true;
  // Called by the writer around each batch transaction, for streams that keep memory of what
  // they wrote (the events persister's room heads): begin (also before a retried attempt),
  // commit after it is durable, abort after a failed batch. Empty = nothing to do.
  // on_flush runs inside the transaction after the last write, to write what the stream batched.
  struct transaction_hooks {
    std::function<void()> on_begin, on_commit, on_abort;
    std::function<void(connection&)> on_flush;
  } hooks = {};
  // Work the writer does by itself every `interval` (expiring typing notifications, presence
  // timeouts): `op`, one of `ops`, queued with args {} like any write, so it joins the group
  // commit and its rows are published the same way. `due`, if set, is a cheap check on the
  // writer's thread that lets a tick be skipped without a transaction (nothing can have expired).
  struct periodic_op {
    std::chrono::milliseconds interval{0};
    std::string op;
    std::function<bool()> due = {};
  };
  std::optional<periodic_op> periodic = {};
};

// Streams defined so far.
stream_definition accounts_stream();
stream_definition account_data_stream();  // storage/streams/account_data_stream.cpp
stream_definition push_rules_stream();     // storage/streams/push_rules_stream.cpp
struct event_signer;
stream_definition events_stream(const event_signer& signer);  // storage/streams/events_stream.cpp
stream_definition typing_stream();                    // storage/streams/typing_stream.cpp
stream_definition receipts_stream();                  // storage/streams/receipts_stream.cpp
stream_definition to_device_stream();                 // storage/streams/to_device_stream.cpp
stream_definition presence_stream(bool enabled);      // storage/streams/presence_stream.cpp
stream_definition device_lists_stream();              // storage/streams/device_lists_stream.cpp

} // namespace myelin::storage
