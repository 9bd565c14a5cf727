// The pure parts of the federation sender (no I/O, unit-tested in tests/unit/federation_sender_tests.cpp):
// which servers an event goes to, a destination's in-memory queue and the transactions cut from
// it, and the backoff schedule.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

namespace myelin::federation_sender {

// The spec's limits for one transaction (server-server API "Transactions").
constexpr size_t max_pdus_per_transaction = 50;
constexpr size_t max_edus_per_transaction = 100;

// The servers of `users` (user ids; malformed ones are skipped) other than `own_server`, sorted,
// each once: where an event of a room with these members goes.
std::vector<std::string> servers_of(const std::vector<std::string>& users, const std::string& own_server);

// A PDU waiting for a destination: its id (to mark it sent) and the JSON as sent.
struct queued_pdu {
  std::string event_id;
  boost::json::object pdu;
};

// What a destination waits for in memory. PDUs are also recorded in the database (the newest per
// room), so beyond `max_pdus` the queue is dropped and the destination catches up from there;
// ephemeral EDUs (typing, receipts, presence, device lists) beyond `max_edus` drop the oldest.
class destination_queue {
public:
  explicit destination_queue(size_t max_pdus = 1000, size_t max_edus = 1000) : max_pdus_(max_pdus), max_edus_(max_edus) {}

  // False when the queue was full: it is cleared and the caller switches to catch-up.
  bool push_pdu(queued_pdu p);
  void push_edu(boost::json::object edu);
  void clear_pdus() { pdus_.clear(); }
  void clear() { pdus_.clear(), edus_.clear(); }

  size_t pdu_count() const { return pdus_.size(); }
  size_t edu_count() const { return edus_.size(); }
  bool empty() const { return pdus_.empty() && edus_.empty(); }

  // The next transaction's content, oldest first, without removing it (it goes only once the
  // destination accepted it): at most `max_pdus` PDUs and `max_edus` EDUs.
  std::vector<const queued_pdu*> peek_pdus(size_t max_pdus = max_pdus_per_transaction) const;
  std::vector<const boost::json::object*> peek_edus(size_t max_edus = max_edus_per_transaction) const;
  // Removes what a transaction carried.
  void pop(size_t pdus, size_t edus);

private:
  size_t max_pdus_, max_edus_;
  std::deque<queued_pdu> pdus_;
  std::deque<boost::json::object> edus_;
};

// The transaction body (PUT /_matrix/federation/v1/send/{txnId}).
boost::json::object transaction_body(const std::string& origin, int64_t origin_server_ts,
                                     const std::vector<boost::json::object>& pdus,
                                     const std::vector<boost::json::object>& edus);

// The backoff after a failure: `base` after the first, doubled after each further one, at most
// `cap` (Synapse: 10 minutes, doubling). `previous` is 0 for a healthy destination.
std::chrono::milliseconds next_backoff(std::chrono::milliseconds previous, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap);

// A PDU as another server gets it: the stored event without what is only ours (unsigned).
boost::json::object pdu_for_federation(const std::string& stored_json);

} // namespace myelin::federation_sender
