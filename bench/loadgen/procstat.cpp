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

namespace {

struct proc_stat {
  int ppid = 0;
  unsigned long utime = 0, stime = 0;  // clock ticks
  long cutime = 0, cstime = 0;         // of reaped children
};

std::optional<proc_stat> read_stat(int pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::ifstream stat(path);
  std::string line;
  if (!stat || !std::getline(stat, line)) return std::nullopt;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  proc_stat st;
  char state = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  if (std::sscanf(line.c_str() + close + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &state,
                  &st.ppid, &st.utime, &st.stime, &st.cutime, &st.cstime) != 6)
    return std::nullopt;
  if (state == 'Z' || state == 'X') return std::nullopt;
  return st;
}

std::optional<uint64_t> read_rss(int pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/statm", pid);
  std::ifstream statm(path);
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return std::nullopt;
  static const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  return resident * page;
}

const double ticks_per_second = double(sysconf(_SC_CLK_TCK));

}  // namespace

std::optional<proc_usage> read_proc_usage(int pid) {
  auto st = read_stat(pid);
  auto rss = st ? read_rss(pid) : std::nullopt;
  if (!st || !rss) return std::nullopt;
  return proc_usage{double(st->utime + st->stime) / ticks_per_second, *rss};
}

std::optional<proc_usage> read_tree_usage(int root) {
  auto top = read_stat(root);
  auto top_rss = top ? read_rss(root) : std::nullopt;
  if (!top || !top_rss) return std::nullopt;
  double ticks = double(top->utime + top->stime) + double(top->cutime + top->cstime);
  uint64_t rss = *top_rss;
  // Every process whose parent chain reaches the root (a PostgreSQL server's backends are the
  // postmaster's children).
  std::vector<std::pair<int, proc_stat>> all;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    int pid = std::stoi(name);
    if (pid == root) continue;
    if (auto st = read_stat(pid)) all.emplace_back(pid, *st);
  }
  std::vector<int> tree{root};
  for (size_t i = 0; i < tree.size(); ++i)
    for (const auto& [pid, st] : all)
      if (st.ppid == tree[i]) {
        tree.push_back(pid);
        ticks += double(st.utime + st.stime) + double(st.cutime + st.cstime);
        rss += read_rss(pid).value_or(0);
      }
  return proc_usage{ticks / ticks_per_second, rss};
}

process_sampler::process_sampler(std::vector<watched_process> procs)
    : procs_(std::move(procs)), states_(procs_.size()) {}

json::object process_sampler::sample(double now) {
  json::object out;
  for (size_t i = 0; i < procs_.size(); ++i) {
    auto& st = states_[i];
    if (!st.alive) continue;
    auto usage = procs_[i].tree ? read_tree_usage(procs_[i].pid) : read_proc_usage(procs_[i].pid);
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
