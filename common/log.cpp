// Logger implementation: a process-wide sink (stderr or a file) and per-component levels.
#include "common/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unistd.h>
#include <fcntl.h>

#include "common/config.hpp"

namespace myelin {
namespace {

struct sink_state {
  std::shared_mutex mu;
  log_level default_level = log_level::info;
  std::map<std::string, log_level, std::less<>> levels;
  bool json = false;
  int fd = 2;
};

sink_state& sink() {
  static sink_state s;
  return s;
}

const char* level_name(log_level l) {
  switch (l) {
    case log_level::trace: return "TRACE";
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warn: return "WARN";
    case log_level::error: return "ERROR";
    default: return "OFF";
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Text values are quoted only when they would otherwise be ambiguous.
void append_text_value(std::string& out, std::string_view v) {
  bool plain = !v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
  if (plain) out += v;
  else append_json_string(out, v);
}

void timestamp(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ms));
  out += buf;
}

} // namespace

log_level parse_log_level(std::string_view s) {
  if (s == "trace") return log_level::trace;
  if (s == "debug") return log_level::debug;
  if (s == "info") return log_level::info;
  if (s == "warn" || s == "warning") return log_level::warn;
  if (s == "error") return log_level::error;
  if (s == "off" || s == "none") return log_level::off;
  throw std::invalid_argument("unknown log level '" + std::string(s) +
                              "' (expected trace, debug, info, warn, error or off)");
}

logger::logger(std::string component, std::string instance)
    : component_(std::move(component)), instance_(std::move(instance)) {}

bool logger::enabled(log_level lvl) const {
  auto& s = sink();
  std::shared_lock lock(s.mu);
  auto it = s.levels.find(component_);
  log_level threshold = it == s.levels.end() ? s.default_level : it->second;
  return lvl >= threshold && lvl != log_level::off;
}

void logger::log(log_level lvl, std::string_view msg, std::initializer_list<log_field> fields) const {
  if (!enabled(lvl)) return;
  auto& s = sink();
  std::string line;
  line.reserve(160);
  bool json;
  int fd;
  {
    std::shared_lock lock(s.mu);
    json = s.json;
    fd = s.fd;
  }
  if (json) {
    line += "{\"ts\":\"";
    timestamp(line);
    line += "\",\"level\":\"";
    line += level_name(lvl);
    line += "\",\"component\":";
    append_json_string(line, component_);
    if (!instance_.empty()) {
      line += ",\"instance\":";
      append_json_string(line, instance_);
    }
    line += ",\"msg\":";
    append_json_string(line, msg);
    for (auto& [k, v] : fields) {
      line += ',';
      append_json_string(line, k);
      line += ':';
      append_json_string(line, v);
    }
    line += "}\n";
  } else {
    timestamp(line);
    line += ' ';
    line += level_name(lvl);
    line += ' ';
    line += component_;
    if (!instance_.empty()) {
      line += '[';
      line += instance_;
      line += ']';
    }
    line += ' ';
    line += msg;
    for (auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      append_text_value(line, v);
    }
    line += '\n';
  }
  // One write per line: lines from different threads never interleave.
  ssize_t rc = ::write(fd, line.data(), line.size());
  (void)rc;
}

void configure_logging(const logging_config& cfg) {
  auto& s = sink();
  std::unique_lock lock(s.mu);
  s.default_level = parse_log_level(cfg.level);
  s.levels.clear();
  for (auto& [comp, lvl] : cfg.component_levels) s.levels[comp] = parse_log_level(lvl);
  s.json = cfg.format == "json";
  if (!cfg.file.empty()) {
    int fd = ::open(cfg.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) throw std::runtime_error("cannot open log file " + cfg.file);
    if (s.fd != 2) ::close(s.fd);
    s.fd = fd;
  }
}

void set_component_level(const std::string& component, log_level lvl) {
  auto& s = sink();
  std::unique_lock lock(s.mu);
  s.levels[component] = lvl;
}

} // namespace myelin
