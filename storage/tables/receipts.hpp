// Queries over receipts (storage/schema/0005_receipts.cpp). Written only by the receipts stream
// writer (storage/streams/receipts_stream.cpp); read by /sync and the push helper.
#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::receipts {

// m.read and m.read.private are receipts; m.fully_read is room account data (read markers).
inline constexpr const char* read = "m.read";
inline constexpr const char* read_private = "m.read.private";

struct receipt {
  std::string room_id;
  std::string receipt_type;   // m.read | m.read.private
  std::string user_id;
  std::string thread_id;      // "" = unthreaded, "main", or a thread root's event id
  std::string event_id;
  std::string data;           // JSON text: {"ts": …, "thread_id"?: …}
  int64_t position = 0;       // receipts stream position of this receipt
};

// Receipts of `room_ids` that changed in (after, upto]; after = 0 gives every current receipt of
// those rooms. Includes every user's m.read.private: callers show those to their owner only
// (receipt_events does).
std::vector<receipt> changed(connection& c, const std::vector<std::string>& room_ids, int64_t after, int64_t upto);

std::optional<receipt> get(connection& c, const std::string& room_id, const std::string& receipt_type,
                           const std::string& user_id, const std::string& thread_id);

// The user's furthest read point in the room: of their unthreaded and main-timeline m.read and
// m.read.private receipts, the one on the latest event (topological, then stream order). The
// spec's "read up to" mark for notification counts.
std::optional<receipt> latest_read(connection& c, const std::string& room_id, const std::string& user_id);

// One m.receipt event per room for `viewer`, as /sync puts them in rooms.join.*.ephemeral:
// {"type": "m.receipt", "content": {event_id: {receipt_type: {user_id: data}}}}. Other users'
// m.read.private receipts are left out (spec: only their sender sees them).
std::map<std::string, boost::json::object> receipt_events(const std::vector<receipt>& receipts,
                                                          const std::string& viewer);

// The thread an event belongs to for threaded receipts (spec "Threaded read receipts"): the
// thread root if it has an m.thread relation, or relates (any rel_type) to an event that has one;
// "main" otherwise. Thread roots themselves are in "main".
std::string thread_of_event(connection& c, const std::string& event_id);

// ---- writes (receipts stream writer only) ----
void put(connection& c, const receipt& r);

} // namespace myelin::storage::receipts
