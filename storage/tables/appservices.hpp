// The appservice group's progress per application service (table appservice_state, migration 23)
// and the reads it sends from: events of one persister after a position. Written only by the
// appservice group's instance (private bookkeeping, no stream).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/tables/events.hpp"

namespace myelin::storage::appservices {

using positions = std::map<std::string, int64_t>;  // persister label → last stream_ordering covered

struct state {
  positions sent;                       // everything up to here is delivered (or of no interest)
  int64_t last_txn_id = 0;              // the newest transaction id used
  std::optional<std::string> txn_body;  // the transaction last_txn_id while it is not delivered
  positions txn_positions;              // `sent` once it is
};

std::optional<state> get(connection& c, const std::string& as_id);
void put(connection& c, const std::string& as_id, const state& s);

// The committed position of every events persister (stream_positions).
positions events_heads(connection& c);

} // namespace myelin::storage::appservices
