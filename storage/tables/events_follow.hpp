// Following one persister's events from a stored position, in batches: how the events stream's
// followers outside /sync (pushers, the federation sender) read it, so a restart resumes where the
// last saved batch ended and nothing is held in memory per event.
#pragma once
#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/tables/events.hpp"

namespace myelin::storage::events {

// Reads `persister`'s events after `position`, `batch_size` at a time, until a batch comes back
// short or `stopping()`. Each event goes to `each`; after every non-empty batch `position` is the
// last event's and `saved(position)` stores it.
template <class Stopping, class Each, class Saved>
void follow_persister(database& db, const std::string& persister, int64_t& position, size_t batch_size,
                      Stopping&& stopping, Each&& each, Saved&& saved) {
  while (!stopping()) {
    std::vector<event_row> events;
    {
      auto c = db.acquire();
      events = events_after(*c, persister, position, batch_size);
    }
    for (const auto& ev : events) {
      each(ev);
      position = ev.stream_ordering;
    }
    if (!events.empty()) saved(position);
    if (events.size() < batch_size) break;
  }
}

} // namespace myelin::storage::events
