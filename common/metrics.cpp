#include "common/metrics.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <sstream>

namespace myelin::metrics {

void histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) ++i;
  if (i < bounds.size()) buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (seconds > 0) sum_ns_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

namespace {

// Label values are escaped as the exposition format asks: backslash, quote, newline.
void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

void append_number(std::string& out, double v) {
  char buf[40];
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}

const char* type_name(kind k) {
  switch (k) {
    case kind::counter: return "counter";
    case kind::gauge: return "gauge";
    case kind::histogram: return "histogram";
  }
  return "untyped";
}

template <class T>
T& find_or_add(std::map<std::string, std::unique_ptr<T>>& m, const std::string& name, const std::string& help,
               std::vector<std::string> labels) {
  auto& slot = m[name];
  if (!slot) slot = std::make_unique<T>(name, help, std::move(labels));
  return *slot;
}

} // namespace

void writer::header(std::string_view name, std::string_view help, kind k) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type_name(k);
  out_ += '\n';
}

void writer::sample(std::string_view name,
                    std::initializer_list<std::pair<std::string_view, std::string_view>> labels, double value) {
  out_ += name;
  if (labels.size()) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      append_escaped(out_, v);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  append_number(out_, value);
  out_ += '\n';
}

void writer::sample(std::string_view name, const std::vector<std::string>& label_names,
                    const std::vector<std::string>& values, double value, std::string_view extra_label,
                    std::string_view extra_value) {
  out_ += name;
  if (!label_names.empty() || !extra_label.empty()) {
    out_ += '{';
    for (size_t i = 0; i < label_names.size() && i < values.size(); ++i) {
      if (i) out_ += ',';
      out_ += label_names[i];
      out_ += "=\"";
      append_escaped(out_, values[i]);
      out_ += '"';
    }
    if (!extra_label.empty()) {
      if (!label_names.empty()) out_ += ',';
      out_ += extra_label;
      out_ += "=\"";
      out_ += extra_value;
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  append_number(out_, value);
  out_ += '\n';
}

registry& registry::global() {
  static registry r;
  return r;
}

family<counter>& registry::counters(const std::string& name, const std::string& help, std::vector<std::string> l) {
  std::lock_guard lock(mu_);
  return find_or_add(counters_, name, help, std::move(l));
}

family<gauge>& registry::gauges(const std::string& name, const std::string& help, std::vector<std::string> l) {
  std::lock_guard lock(mu_);
  return find_or_add(gauges_, name, help, std::move(l));
}

family<histogram>& registry::histograms(const std::string& name, const std::string& help,
                                        std::vector<std::string> l) {
  std::lock_guard lock(mu_);
  return find_or_add(histograms_, name, help, std::move(l));
}

std::shared_ptr<void> registry::add_collector(collector c) {
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    id = next_collector_++;
    collectors_.emplace(id, std::move(c));
  }
  return std::shared_ptr<void>(nullptr, [this, id](void*) {
    std::lock_guard lock(mu_);
    collectors_.erase(id);
  });
}

std::string registry::render() const {
  std::string out;
  out.reserve(16 * 1024);
  writer w(out);
  std::lock_guard lock(mu_);  // families are never removed; collectors are, under this lock
  for (const auto& entry : counters_) {  // not structured bindings: lambdas cannot capture those (C++20, clang 15)
    const std::string& name = entry.first;
    const auto* f = entry.second.get();
    w.header(name, f->help(), kind::counter);
    f->each([&](const std::vector<std::string>& values, const counter& c) {
      w.sample(name, f->label_names(), values, static_cast<double>(c.value()));
    });
  }
  for (const auto& entry : gauges_) {
    const std::string& name = entry.first;
    const auto* f = entry.second.get();
    w.header(name, f->help(), kind::gauge);
    f->each([&](const std::vector<std::string>& values, const gauge& g) {
      w.sample(name, f->label_names(), values, static_cast<double>(g.value()));
    });
  }
  for (const auto& entry : histograms_) {
    const std::string& name = entry.first;
    const auto* f = entry.second.get();
    w.header(name, f->help(), kind::histogram);
    const std::string bucket = name + "_bucket", sum = name + "_sum", count = name + "_count";
    f->each([&](const std::vector<std::string>& values, const histogram& h) {
      uint64_t cumulative = 0;
      char le[32];
      for (size_t i = 0; i < histogram::bounds.size(); ++i) {
        cumulative += h.bucket(i);
        std::snprintf(le, sizeof le, "%g", histogram::bounds[i]);
        w.sample(bucket, f->label_names(), values, static_cast<double>(cumulative), "le", le);
      }
      w.sample(bucket, f->label_names(), values, static_cast<double>(h.count()), "le", "+Inf");
      w.sample(sum, f->label_names(), values, h.sum());
      w.sample(count, f->label_names(), values, static_cast<double>(h.count()));
    });
  }
  for (const auto& [id, c] : collectors_) c(w);
  return out;
}

void write_process_metrics(writer& w) {
  static const long ticks = sysconf(_SC_CLK_TCK);
  static const long page = sysconf(_SC_PAGESIZE);
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces, so start after its closing paren).
  auto close = text.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream in(text.substr(close + 2));
  std::vector<std::string> f;
  for (std::string t; in >> t;) f.push_back(t);
  // f[0] is field 3 (state): utime is field 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24.
  auto field = [&](size_t n) { return n - 3 < f.size() ? std::stod(f[n - 3]) : 0.0; };
  w.header("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", kind::counter);
  w.sample("process_cpu_seconds_total", {}, (field(14) + field(15)) / static_cast<double>(ticks));
  w.header("process_resident_memory_bytes", "Resident memory size in bytes.", kind::gauge);
  w.sample("process_resident_memory_bytes", {}, field(24) * static_cast<double>(page));
  w.header("process_virtual_memory_bytes", "Virtual memory size in bytes.", kind::gauge);
  w.sample("process_virtual_memory_bytes", {}, field(23));
  w.header("process_threads", "Threads of the process.", kind::gauge);
  w.sample("process_threads", {}, field(20));
  std::ifstream btime_file("/proc/stat");
  double boot = 0;
  for (std::string line; std::getline(btime_file, line);)
    if (line.rfind("btime ", 0) == 0) boot = std::stod(line.substr(6));
  w.header("process_start_time_seconds", "Start time of the process since the unix epoch, in seconds.", kind::gauge);
  w.sample("process_start_time_seconds", {}, boot + field(22) / static_cast<double>(ticks));
  size_t fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++fds;
    closedir(d);
  }
  w.header("process_open_fds", "Open file descriptors.", kind::gauge);
  w.sample("process_open_fds", {}, static_cast<double>(fds > 2 ? fds - 2 : 0));  // without . and ..
}

} // namespace myelin::metrics
