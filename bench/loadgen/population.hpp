// The population a run works with: users (with their tokens once registered) and rooms (with the
// members that join during setup and those that join during the measured run). Planned from a
// scenario (deterministic for a seed) or loaded from a file a previous run saved, so a run can skip
// the slow registration (one Argon2 hash per user on Myelin) and measure only the workload.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenario.hpp"

namespace loadgen {

struct pop_user {
  std::string localpart;
  std::string user_id, access_token, device_id;  // empty until registered
};

struct pop_room {
  std::string room_id;                 // empty until created
  std::vector<uint32_t> members;       // joined during setup; members[0] creates the room
  std::vector<uint32_t> run_joins;     // joined during the run (join pattern storm / steady)
};

struct population {
  std::string base_url;
  std::vector<pop_user> users;
  std::vector<pop_room> rooms;
};

// Room sizes from the scenario's distribution, members dealt round-robin over a shuffled user list
// (so every user is in a room once the sizes add up to the user count). `run_tag` makes the
// localparts unique per run: "<prefix><tag>-<i>".
population plan_population(const scenario& s, const std::string& run_tag);

// The file is JSON: {"version": 1, "base_url", "users": [{user_id, access_token, device_id}],
// "rooms": [{room_id, members: [user index], run_joins: [user index]}]}. Throws scenario_error.
population load_population(const std::string& path);
void save_population(const std::string& path, const population& p);

}  // namespace loadgen
