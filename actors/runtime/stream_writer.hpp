// The stream writer actor: the only code that writes one stream's tables. It runs detached (its
// own thread), because it blocks on the database. Writes that arrive while it is committing are
// group-committed: one transaction, one savepoint per write, positions assigned in arrival order;
// then each caller gets its result and position, and the hub gets the rows.
#pragma once
#include <caf/fwd.hpp>

#include <memory>

#include "actors/runtime/interfaces.hpp"
#include "storage/streams/stream_definition.hpp"

namespace myelin::runtime {

struct stream_writer_config {
  storage::stream_definition definition;
  std::string writer_name;     // instance label, e.g. "writer.accounts/0"
  storage::database* db = nullptr;
  stream_hub_actor hub;
  size_t max_batch = 256;
};

stream_writer_actor spawn_stream_writer(caf::actor_system& sys, std::shared_ptr<const stream_writer_config> cfg);

// Reads the committed position of (stream, writer); 0 if it never wrote.
int64_t load_stream_position(storage::database& db, const std::string& stream, const std::string& writer);

// Every (stream, writer, position) recorded in the database, for a hub starting up.
std::vector<stream_position> load_all_stream_positions(storage::database& db);

} // namespace myelin::runtime
