// A stream's write operations, as plain functions over a connection. The stream writer actor
// (actors/runtime/stream_writer) runs them in group-committed transactions, assigns positions and
// publishes the rows they return; this file keeps the SQL side free of actors.
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage {

struct op_output {
  boost::json::value result;                // returned to the caller
  std::vector<boost::json::object> rows;    // published to subscribers; empty = no new position
};

// Runs inside the writer's transaction. Throw protocol::matrix_error to refuse the write; the
// writer rolls back just this operation (savepoint) and reports the error to its caller.
using stream_op = std::function<op_output(connection&, const boost::json::object& args)>;

struct stream_definition {
  std::string stream;
  std::map<std::string, stream_op> ops;
};

// Streams defined so far.
stream_definition accounts_stream();

} // namespace myelin::storage
