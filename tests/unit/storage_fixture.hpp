// The storage test fixture: runs a test body on SQLite (a fresh file) and on PostgreSQL (a fresh
// database, when MYELIN_TEST_PG holds a conninfo; scripts/test-services.sh), migrated unless told
// otherwise. Shared by the test files that touch the database.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "protocol/errors.hpp"
#include "storage/database.hpp"
#include "storage/streams/stream_definition.hpp"

namespace myelin::test {

using body_fn = std::function<void(storage::database&, storage::dialect)>;

// A name part unique within this run of the tests.
std::string unique_suffix();

// Runs the cleanup whatever the body did, so a failing test leaves no database behind.
struct scope_exit {
  std::function<void()> fn;
  ~scope_exit();
};

void run_sqlite(const body_fn& body, bool migrate);
std::unique_ptr<storage::database> open_pg(const std::string& conninfo, size_t pool);
// Skipped with a warning without MYELIN_TEST_PG (a failure when MYELIN_REQUIRE_PG=1).
void run_postgres(const body_fn& body, bool migrate);
void for_each_backend(const body_fn& body, bool migrate = true);

// The first column of the first row as an integer.
int64_t count(storage::connection& c, const std::string& sql);

// Runs a stream's operations as its writer would: one transaction each, with the stream's hooks.
struct stream_runner {
  storage::database& db;
  storage::stream_definition def;
  int64_t position = 0;

  boost::json::object run(const std::string& op, const boost::json::object& args) {
    boost::json::object result;
    int64_t pos = position;
    db.transact([&](storage::connection& c) {
      pos = position;
      if (def.hooks.on_begin) def.hooks.on_begin();
      storage::op_context ctx{c, def.stream == "events" ? "writer.events/0" : "writer." + def.stream + "/0", pos};
      auto out = def.ops.at(op)(ctx, args);
      if (!out.rows.empty() && pos == position) ++pos;
      if (def.hooks.on_flush) def.hooks.on_flush(c);
      if (out.result.is_object()) result = out.result.as_object();
    });
    position = pos;
    if (def.hooks.on_commit) def.hooks.on_commit();
    return result;
  }
  // The error a refused operation raises, as "status errcode".
  std::string refusal(const std::string& op, const boost::json::object& args) {
    try {
      run(op, args);
    } catch (const protocol::matrix_error& e) {
      if (def.hooks.on_abort) def.hooks.on_abort();
      return std::to_string(e.status()) + " " + e.errcode();
    }
    return "accepted";
  }
};

} // namespace myelin::test
