// Push Gateway API client (push-gateway-api, POST /_matrix/push/v1/notify): builds the
// notification for one pusher and sends it, retrying what may succeed later. Blocking: called from
// the pusher instance's own delivery thread, never from an actor or Asio thread.
#pragma once
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "storage/tables/pushers.hpp"

namespace myelin::pusher {

inline constexpr const char* notify_path = "/_matrix/push/v1/notify";

// Why `url` cannot be a pusher's data.url (not an absolute http(s) URL whose path is
// /_matrix/push/v1/notify); nullopt when it can.
std::optional<std::string> invalid_gateway_url(const std::string& url);

// What the gateway needs to know about the event; `event_json` is the stored PDU.
struct event_info {
  std::string event_id, room_id, type, sender;
  std::string event_json;
};

// The request body for one pusher (spec: notification {event_id, room_id, type, sender, content,
// counts, devices, prio}; with data.format "event_id_only" only event_id, room_id, counts, devices
// and prio). `unread` is the user's badge: the notification counts /sync shows, summed.
boost::json::object notification_body(const event_info& ev, const storage::pushers::target& t, int64_t unread);

struct retry_policy {
  std::chrono::milliseconds timeout{10000};     // each attempt
  size_t max_attempts = 5;
  std::chrono::milliseconds first_delay{1000};  // doubled after each failed attempt
  std::chrono::milliseconds max_delay{60000};
};

enum class outcome { delivered, failed, gave_up };
struct delivery {
  outcome result = outcome::failed;
  int attempts = 0;
  std::vector<std::string> rejected;  // the gateway's "rejected" pushkeys (on delivered)
};

// POSTs `body` to `url`. 2xx: delivered. 5xx, 429, a timeout or a network error: tried again after
// a delay, up to max_attempts (then gave_up). Another 4xx: failed, not retried (the request itself
// is wrong). `sleep` waits between attempts and returns false to stop early (shutdown).
delivery send(const std::string& url, const boost::json::object& body, const retry_policy& policy,
              const std::function<bool(std::chrono::milliseconds)>& sleep);

} // namespace myelin::pusher
