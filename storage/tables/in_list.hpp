// IN lists for queries over many keys: "$k, $k+1, …" placeholders, chunked so no statement grows
// without bound. Shared by the table files that read many rows by key in one query.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

namespace myelin::storage {

// At most this many values per IN list; longer lists run as several queries.
inline constexpr size_t max_in_list = 256;

// "$1, $2, …" for an IN list whose first value is parameter `first_param`. Lists are padded to a
// power of two (repeating the last value) so a handful of statement texts cover every size and
// stay in the prepared-statement cache. `values` must not be empty.
inline std::string in_list(size_t first_param, std::vector<std::string>& values) {
  size_t n = 1;
  while (n < values.size()) n *= 2;
  while (values.size() < n) values.push_back(values.back());
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? ", $" : "$") + std::to_string(first_param + i);
  return s;
}

// Calls fn(chunk) for consecutive chunks of at most max_in_list values (none for an empty list).
template <class Fn>
void for_each_chunk(const std::vector<std::string>& values, Fn&& fn) {
  for (size_t start = 0; start < values.size(); start += max_in_list) {
    std::vector<std::string> chunk(values.begin() + start,
                                   values.begin() + std::min(values.size(), start + max_in_list));
    fn(chunk);
  }
}

} // namespace myelin::storage
