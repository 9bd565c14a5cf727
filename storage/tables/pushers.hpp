// Queries over pushers (storage/schema/0016_pushers.cpp): a user's HTTP pushers, set through
// POST /pushers/set and read by GET /pushers and by the pusher group, which looks up, for each
// notifying event, the notified users' pushers.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::pushers {

struct pusher {
  std::string user_id, app_id, pushkey, kind;
  std::string app_display_name, device_display_name, profile_tag, lang;
  std::string data;        // JSON object as the client sent it (with "url")
  std::string device_id;   // the device whose access token set it
  int64_t pushkey_ts = 0;  // when the pushkey was last set (ms)
};

std::vector<pusher> for_user(connection& c, const std::string& user_id);

// Adds or replaces the user's (app_id, pushkey) pusher. Without `append`, the same (app_id,
// pushkey) is first removed from every other user (the spec's default).
void set(connection& c, const pusher& p, bool append);

// Removes one pusher; false when the user had none with that app_id and pushkey.
bool remove(connection& c, const std::string& user_id, const std::string& app_id, const std::string& pushkey);

// One device to notify of an event: a pusher of a user the event notifies, with the push actions
// stored for that user when the event was persisted (storage/tables/notifications).
struct target {
  pusher p;
  std::string actions;  // JSON array
  bool highlight = false;
};
// Every HTTP pusher of every user a persisted event notifies (event_push_actions rows with notif).
std::vector<target> targets_for_event(connection& c, const std::string& room_id, const std::string& event_id);

// Removes the pushers a device set (the device was deleted or logged out, as Synapse does).
void remove_for_device(connection& c, const std::string& user_id, const std::string& device_id);

// A pusher instance's progress through the events stream (migration 19): per persister label, the
// last stream ordering it handled. `instance` is "pusher/<index>".
using progress = std::map<std::string, int64_t>;
progress load_progress(connection& c, const std::string& instance);
void save_progress(connection& c, const std::string& instance, const progress& p);

} // namespace myelin::storage::pushers
