// Structured logging: one stream per process, every line carries its component and, where there is
// one, the group instance ("sync/2"). Levels are set per component in the config and can be changed
// at run time. Thread-safe; a line is written with one write() so lines never interleave.
#pragma once
#include <atomic>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace myelin {

struct logging_config;

enum class log_level { trace = 0, debug, info, warn, error, off };

log_level parse_log_level(std::string_view s);  // throws std::invalid_argument

using log_field = std::pair<std::string_view, std::string>;

class logger {
public:
  explicit logger(std::string component, std::string instance = {});
  bool enabled(log_level lvl) const;
  void log(log_level lvl, std::string_view msg, std::initializer_list<log_field> fields = {}) const;
  void trace(std::string_view m, std::initializer_list<log_field> f = {}) const { log(log_level::trace, m, f); }
  void debug(std::string_view m, std::initializer_list<log_field> f = {}) const { log(log_level::debug, m, f); }
  void info(std::string_view m, std::initializer_list<log_field> f = {}) const { log(log_level::info, m, f); }
  void warn(std::string_view m, std::initializer_list<log_field> f = {}) const { log(log_level::warn, m, f); }
  void error(std::string_view m, std::initializer_list<log_field> f = {}) const { log(log_level::error, m, f); }
  const std::string& component() const { return component_; }

private:
  std::string component_;
  std::string instance_;
};

// Process-wide setup from the config's logging section (file, format, levels). Safe to call again
// (SIGHUP reload of levels).
void configure_logging(const logging_config& cfg);
void set_component_level(const std::string& component, log_level lvl);

} // namespace myelin
