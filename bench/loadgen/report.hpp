// Writes a run's report directory: summary.json (one document), timeseries.json (one entry per
// second), and the same numbers as CSV for plotting (summary.csv, errors.csv, timeseries.csv,
// processes.csv). docs/experiments.md describes every field.
#pragma once

#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace loadgen {

void write_report(const std::string& dir, const boost::json::object& summary, const boost::json::array& timeseries);

}  // namespace loadgen
