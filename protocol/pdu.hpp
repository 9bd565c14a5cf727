// A PDU (persistent data unit, "room event") as the auth rules and state resolution see it: the
// federation JSON plus its event id, with typed accessors. Formats v1–2 (prev_events/auth_events
// as [id, hashes] pairs, event_id inside) and v3+ (plain id lists, id from the reference hash)
// are both read.
#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::protocol {

struct pdu {
  std::string event_id;
  boost::json::object json;

  std::string_view type() const;
  std::string_view sender() const;
  std::string_view room_id() const;
  std::optional<std::string_view> state_key() const;  // nullopt for non-state events
  bool is_state() const { return state_key().has_value(); }
  const boost::json::object& content() const;          // an empty object when absent/not an object
  int64_t depth() const;
  int64_t origin_server_ts() const;
  std::vector<std::string> prev_events() const;
  std::vector<std::string> auth_events() const;
  std::optional<std::string_view> redacts() const;     // top-level (v1–10) or content (v11)
  // content.membership for m.room.member, else "".
  std::string_view membership() const;
};

// (type, state_key): the key of a piece of room state.
using state_key_pair = std::pair<std::string, std::string>;

} // namespace myelin::protocol
