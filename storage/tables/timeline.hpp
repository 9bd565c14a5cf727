// Paging through a room's timeline in topological order: (topological_ordering, stream_ordering)
// pairs, the order /messages, /context and the room tokens ("t<topo>_<stream>") use.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "storage/tables/events.hpp"

namespace myelin::storage::timeline {

// A point between two events: just after every event at or before (topo, stream).
struct point {
  int64_t topo = 0;
  int64_t stream = 0;
};

// Events strictly after `from` (forwards, ascending) or at/before it (backwards, descending), up to
// `limit`. Without `from`: from the start (forwards) or the end (backwards) of the room.
std::vector<events::event_row> page(connection& c, const std::string& room_id, std::optional<point> from,
                                    bool backwards, size_t limit);

// The point just after / just before an event.
inline point after(const events::event_row& e) { return {e.topological_ordering, e.stream_ordering}; }
inline point before(const events::event_row& e) { return {e.topological_ordering, e.stream_ordering - 1}; }

// The newest event of a room at or before `p` (for /members?at=).
std::optional<events::event_row> last_event_at(connection& c, const std::string& room_id, point p);

// The first event with origin_server_ts >= ts (forwards) or the last with <= ts (backwards).
std::optional<events::event_row> event_near_ts(connection& c, const std::string& room_id, int64_t ts, bool forwards);

std::string to_token(point p);                        // "t12_345"
std::optional<point> parse_token(std::string_view s); // nullopt for anything malformed

} // namespace myelin::storage::timeline
