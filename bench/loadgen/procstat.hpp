// Server-side cost while a run goes on: CPU and RSS of the given processes (and of the generator
// itself) from /proc, and the database's size — a SQLite file (+ WAL) or a PostgreSQL database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

namespace loadgen {

struct watched_process {
  std::string label;  // "myelin", "loadgen", or what `--pid label=PID` said
  int pid = 0;
  bool tree = false;  // `--pid label=PID+`: the process and all its descendants (a PostgreSQL server)
};

class process_sampler {
 public:
  explicit process_sampler(std::vector<watched_process> procs);
  // Reads /proc for every process; `now_seconds` is the run clock. Cheap (a few reads per process).
  // Returns {label: {"cpu_percent", "rss_mb"}} for the time series.
  boost::json::object sample(double now_seconds);
  // Per process: average and peak CPU %, peak and last RSS, over samples taken in [from, to].
  boost::json::array summary(double from, double to) const;
  const std::vector<watched_process>& processes() const { return procs_; }

 private:
  struct point {
    double t, cpu_percent, rss_mb;
  };
  struct state {
    double last_t = -1, last_cpu_seconds = 0;
    bool alive = true;
    std::vector<point> points;
  };
  std::vector<watched_process> procs_;
  std::vector<state> states_;
};

// CPU seconds (user + system) and resident bytes of a process; nullopt once it has exited.
struct proc_usage {
  double cpu_seconds;
  uint64_t rss_bytes;
};
std::optional<proc_usage> read_proc_usage(int pid);
// The same for a process and every descendant: their CPU (with what exited children the root
// reaped had used, so a short-lived backend's work is not lost) and the sum of their RSS (shared
// memory counts once per process, so this overstates a PostgreSQL server's footprint).
std::optional<proc_usage> read_tree_usage(int root);

// Size of a SQLite database file with its -wal and -shm companions.
uint64_t sqlite_size(const std::string& path);
// pg_database_size(current_database()) over a libpq connection string; throws on failure.
// Blocking: call it before or after the run, never from the event loop.
uint64_t postgres_size(const std::string& conninfo);

}  // namespace loadgen
