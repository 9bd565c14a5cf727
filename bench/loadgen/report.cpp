#include "report.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace loadgen {

namespace json = boost::json;

namespace {

std::ofstream open_out(const std::filesystem::path& p) {
  std::ofstream out(p);
  if (!out) throw std::runtime_error("cannot write " + p.string());
  return out;
}

// A number or string as a CSV cell (numbers as JSON prints them, strings quoted only if needed).
std::string cell(const json::value* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) {
    std::string s(v->get_string());
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  }
  if (v->is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v->get_double());
    return buf;
  }
  return json::serialize(*v);
}

const json::object& obj(const json::object& o, std::string_view key) {
  static const json::object empty;
  auto* v = o.if_contains(key);
  return v && v->is_object() ? v->get_object() : empty;
}

}  // namespace

void write_report(const std::string& dir, const json::object& summary, const json::array& timeseries) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  open_out(fs::path(dir) / "summary.json") << json::serialize(summary) << "\n";
  open_out(fs::path(dir) / "timeseries.json") << json::serialize(timeseries) << "\n";

  const auto& measured = obj(summary, "measured");
  {
    auto out = open_out(fs::path(dir) / "summary.csv");
    out << "class,requests,ok,errors,per_second,p50_ms,p90_ms,p99_ms,max_ms,mean_ms\n";
    for (const auto& [name, v] : obj(measured, "classes")) {
      const auto& c = v.get_object();
      out << std::string(name);
      for (auto key : {"requests", "ok", "errors", "per_second", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"})
        out << "," << cell(c.if_contains(key));
      out << "\n";
    }
    const auto& d = obj(obj(summary, "delivery"), "latency");
    out << "delivery," << cell(obj(summary, "delivery").if_contains("delivered")) << ",,"
        << cell(obj(summary, "delivery").if_contains("missed")) << ",";
    for (auto key : {"p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"}) out << "," << cell(d.if_contains(key));
    out << "\n";
  }
  {
    auto out = open_out(fs::path(dir) / "errors.csv");
    out << "class,status,errcode,count\n";
    if (auto* errs = measured.if_contains("errors_by_code"); errs && errs->is_array())
      for (const auto& e : errs->get_array()) {
        const auto& o = e.get_object();
        out << cell(o.if_contains("class")) << "," << cell(o.if_contains("status")) << ","
            << cell(o.if_contains("errcode")) << "," << cell(o.if_contains("count")) << "\n";
      }
  }
  {
    auto out = open_out(fs::path(dir) / "latency_cdf.csv");
    out << "class,ms,fraction\n";
    for (const auto& [name, v] : obj(summary, "latency_cdf"))
      for (const auto& point : v.get_array()) {
        const auto& p = point.get_array();
        out << std::string(name) << "," << cell(&p.at(0)) << "," << cell(&p.at(1)) << "\n";
      }
  }
  {
    auto ts = open_out(fs::path(dir) / "timeseries.csv");
    auto procs = open_out(fs::path(dir) / "processes.csv");
    ts << "t,phase,class,requests,errors,p50_ms,p99_ms,max_ms\n";
    procs << "t,label,cpu_percent,rss_mb\n";
    for (const auto& entry : timeseries) {
      const auto& e = entry.get_object();
      auto t = cell(e.if_contains("t")), phase = cell(e.if_contains("phase"));
      ts << t << "," << phase << ",all," << cell(e.if_contains("requests")) << "," << cell(e.if_contains("errors"))
         << ",,,\n";
      for (const auto& [name, v] : obj(e, "classes")) {
        const auto& c = v.get_object();
        ts << t << "," << phase << "," << std::string(name);
        for (auto key : {"requests", "errors", "p50_ms", "p99_ms", "max_ms"}) ts << "," << cell(c.if_contains(key));
        ts << "\n";
      }
      const auto& d = obj(e, "delivery");
      ts << t << "," << phase << ",delivery," << cell(d.if_contains("count")) << ",," << cell(d.if_contains("p50_ms"))
         << "," << cell(d.if_contains("p99_ms")) << ",\n";
      for (const auto& [label, v] : obj(e, "processes")) {
        const auto& p = v.get_object();
        if (!p.contains("cpu_percent")) continue;
        procs << t << "," << std::string(label) << "," << cell(p.if_contains("cpu_percent")) << ","
              << cell(p.if_contains("rss_mb")) << "\n";
      }
    }
  }
}

}  // namespace loadgen
