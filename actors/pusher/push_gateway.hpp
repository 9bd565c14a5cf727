// Push Gateway API client (push-gateway-api, POST /_matrix/push/v1/notify): builds the
// notification for one pusher and makes one attempt to send it; the pusher instance decides about
// retries. Blocking: called from the pusher instance's own delivery thread, never from an actor or
// Asio thread.
#pragma once
#include <boost/json/object.hpp>
#include <chrono>
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

// delivered: 2xx. refused: another 4xx (the request itself is wrong: never retried). retry: 5xx,
// 429, a timeout or a network error (may succeed later).
enum class outcome { delivered, refused, retry };
struct delivery {
  outcome result = outcome::retry;
  std::vector<std::string> rejected;  // the gateway's "rejected" pushkeys (on delivered)
  std::string error;                  // why, when not delivered
};

// One POST of `body` to `url`, bounded by `timeout`.
delivery post_notification(const std::string& url, const boost::json::object& body, std::chrono::milliseconds timeout);

} // namespace myelin::pusher
