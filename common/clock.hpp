// Wall-clock time as Matrix counts it: milliseconds since the Unix epoch (origin_server_ts,
// token expiry, created_ts columns). Durations that must not jump use steady_clock instead.
#pragma once
#include <chrono>
#include <cstdint>

namespace myelin {

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace myelin
