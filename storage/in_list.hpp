// IN lists with bound parameters, for queries over a set of ids (events, rooms).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace myelin::storage {

// Longest IN list one statement carries; longer inputs are queried in chunks of this size.
constexpr size_t max_in_list = 256;

// "$1, $2, …" for an IN list. Lists are padded to a power of two (repeating the last value) so a
// handful of statement texts cover every size and stay in the prepared-statement cache.
inline std::string in_list(size_t first_param, std::vector<std::string>& values) {
  size_t n = 1;
  while (n < values.size()) n *= 2;
  while (values.size() < n) values.push_back(values.back());
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? ", $" : "$") + std::to_string(first_param + i);
  return s;
}

} // namespace myelin::storage
