// The run: setup (register users, create and join rooms — or reuse a saved population), then the
// measured run with every virtual user as coroutines on one io_context, then the report.
#pragma once

#include <string>
#include <vector>

#include "procstat.hpp"
#include "scenario.hpp"

namespace loadgen {

struct run_options {
  scenario sc;
  std::string out_dir;                   // report directory; empty: summary JSON on stdout
  std::string save_population;           // write the population here after setup
  std::vector<watched_process> processes;
  std::string db_file;                   // SQLite database to measure
  std::string pg_db;                     // PostgreSQL conninfo to measure
  bool quiet = false;                    // no progress line
};

// Exit codes: 0 the run completed (errors it saw are data, in the report), 2 bad input or setup
// failed (nothing measured), 1 internal failure.
int run(const run_options& options);

}  // namespace loadgen
