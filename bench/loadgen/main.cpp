// myelin-loadgen: drives a Matrix homeserver (Myelin in any placement, or Synapse) through the
// client-server API with a scenario file's workload and reports what it measured. Usage: --help.
#include <boost/json.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "driver.hpp"
#include "scenario.hpp"

namespace {

constexpr const char* usage = R"(usage: myelin-loadgen SCENARIO.yaml [options]

  --out DIR               write the report there (summary.json, timeseries.json, summary.csv,
                          errors.csv, timeseries.csv, processes.csv); default: summary JSON on stdout
  --base-url URL          replace the scenario's base_url (loopback addresses only); repeat it
                          to spread the users over several gateways (user i → URL i mod n)
  --population FILE       reuse a saved population: no registration, no room setup
  --save-population FILE  save the population (tokens + rooms) once setup is done
  --pid [LABEL=]PID[+]    sample this process's CPU and RSS every second (repeatable); with a
                          trailing +, the process and all its descendants (a PostgreSQL server)
  --db-file PATH          report this SQLite database's size before and after the run
  --pg-db CONNINFO        report this PostgreSQL database's size (pg_database_size)
  --duration SECONDS      replace the scenario's measured duration
  --max-requests N        replace the scenario's cap on requests
  --rate-scale FACTOR     multiply every rate of the scenario
  --check                 check the scenario, print it with every default filled in, and exit
  --quiet                 no progress line on stderr
Exit status: 0 the run completed (its errors are in the report), 2 bad input or setup failed,
1 internal error. docs/experiments.md describes the scenario format and the report.
)";

[[noreturn]] void bad_usage(const std::string& what) {
  std::cerr << "myelin-loadgen: " << what << "\n\n" << usage;
  std::exit(2);
}

double number_arg(std::string_view flag, const std::string& v) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(d >= 0)) bad_usage(std::string(flag) + " needs a non-negative number");
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  loadgen::run_options opt;
  std::string scenario_path, population;
  std::vector<std::string> base_urls;
  double duration = -1, max_requests = -1, rate_scale = 1;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) bad_usage(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else if (a == "--out") {
      opt.out_dir = value();
    } else if (a == "--base-url") {
      base_urls.push_back(value());
    } else if (a == "--population") {
      population = value();
    } else if (a == "--save-population") {
      opt.save_population = value();
    } else if (a == "--pid") {
      auto v = value();
      bool tree = !v.empty() && v.back() == '+';
      if (tree) v.pop_back();
      auto eq = v.find('=');
      std::string label = eq == std::string::npos ? "pid" + v : v.substr(0, eq);
      auto pid = number_arg("--pid", eq == std::string::npos ? v : v.substr(eq + 1));
      opt.processes.push_back({label, int(pid), tree});
    } else if (a == "--db-file") {
      opt.db_file = value();
    } else if (a == "--pg-db") {
      opt.pg_db = value();
    } else if (a == "--duration") {
      duration = number_arg(a, value());
    } else if (a == "--max-requests") {
      max_requests = number_arg(a, value());
    } else if (a == "--rate-scale") {
      rate_scale = number_arg(a, value());
    } else if (a == "--check") {
      check = true;
    } else if (a == "--quiet") {
      opt.quiet = true;
    } else if (a.starts_with("-")) {
      bad_usage("unknown option " + std::string(a));
    } else if (scenario_path.empty()) {
      scenario_path = a;
    } else {
      bad_usage("more than one scenario file");
    }
  }
  if (scenario_path.empty()) bad_usage("no scenario file");
  try {
    opt.sc = loadgen::load_scenario(scenario_path);
  } catch (const loadgen::scenario_error& e) {
    std::cerr << "myelin-loadgen: " << e.what() << "\n";
    return 2;
  }
  if (!base_urls.empty()) opt.sc.base_urls = base_urls;
  if (!population.empty()) opt.sc.population = population;
  if (duration > 0) opt.sc.duration = duration;
  if (max_requests >= 1) opt.sc.max_requests = uint64_t(max_requests);
  if (rate_scale != 1) opt.sc.scale_rates(rate_scale);
  if (check) {
    std::cout << boost::json::serialize(loadgen::to_json(opt.sc)) << "\n";
    return 0;
  }
  return loadgen::run(opt);
}
