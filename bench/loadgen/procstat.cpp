#include "procstat.hpp"

#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace loadgen {

namespace json = boost::json;

std::optional<proc_usage> read_proc_usage(int pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::ifstream stat(path);
  std::string line;
  if (!stat || !std::getline(stat, line)) return std::nullopt;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  unsigned long utime = 0, stime = 0;
  char state = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(line.c_str() + close + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &state, &utime,
                  &stime) != 3)
    return std::nullopt;
  if (state == 'Z' || state == 'X') return std::nullopt;
  std::snprintf(path, sizeof path, "/proc/%d/statm", pid);
  std::ifstream statm(path);
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return std::nullopt;
  static const double ticks = double(sysconf(_SC_CLK_TCK));
  static const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  return proc_usage{double(utime + stime) / ticks, resident * page};
}

process_sampler::process_sampler(std::vector<watched_process> procs)
    : procs_(std::move(procs)), states_(procs_.size()) {}

json::object process_sampler::sample(double now) {
  json::object out;
  for (size_t i = 0; i < procs_.size(); ++i) {
    auto& st = states_[i];
    if (!st.alive) continue;
    auto usage = read_proc_usage(procs_[i].pid);
    if (!usage) {
      st.alive = false;
      out[procs_[i].label] = json::object{{"exited", true}};
      continue;
    }
    double rss_mb = double(usage->rss_bytes) / double(1 << 20);
    if (st.last_t >= 0 && now > st.last_t) {
      double cpu = 100.0 * (usage->cpu_seconds - st.last_cpu_seconds) / (now - st.last_t);
      st.points.push_back({now, cpu, rss_mb});
      out[procs_[i].label] = json::object{{"cpu_percent", cpu}, {"rss_mb", rss_mb}};
    }
    st.last_t = now;
    st.last_cpu_seconds = usage->cpu_seconds;
  }
  return out;
}

json::array process_sampler::summary(double from, double to) const {
  json::array out;
  for (size_t i = 0; i < procs_.size(); ++i) {
    double sum = 0, peak = 0, rss_peak = 0, rss_last = 0;
    size_t n = 0;
    for (const auto& p : states_[i].points) {
      if (p.t < from || p.t > to + 1e-6) continue;
      sum += p.cpu_percent;
      peak = std::max(peak, p.cpu_percent);
      rss_peak = std::max(rss_peak, p.rss_mb);
      rss_last = p.rss_mb;
      ++n;
    }
    out.push_back(json::object{{"label", procs_[i].label},
                               {"pid", procs_[i].pid},
                               {"samples", n},
                               {"cpu_percent_avg", n ? sum / double(n) : 0.0},
                               {"cpu_percent_max", peak},
                               {"rss_mb_max", rss_peak},
                               {"rss_mb_last", rss_last},
                               {"exited", !states_[i].alive}});
  }
  return out;
}

uint64_t sqlite_size(const std::string& path) {
  uint64_t total = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    auto n = std::filesystem::file_size(path + suffix, ec);
    if (!ec) total += n;
  }
  return total;
}

uint64_t postgres_size(const std::string& conninfo) {
  pqxx::connection conn(conninfo);
  pqxx::nontransaction tx(conn);
  return tx.exec1("SELECT pg_database_size(current_database())")[0].as<uint64_t>();
}

}  // namespace loadgen
