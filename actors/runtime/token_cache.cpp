#include "actors/runtime/token_cache.hpp"

namespace myelin::runtime {

std::optional<token_cache::entry> token_cache::get(const std::string& token_hash) const {
  auto& s = shard_for(token_hash);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(token_hash);
  if (it == s.map.end()) return std::nullopt;
  return it->second;
}

void token_cache::put(const std::string& token_hash, entry e, uint64_t generation) {
  auto& s = shard_for(token_hash);
  std::lock_guard lock(s.mu);
  // Checked under the shard lock: revoke() bumps the generation before erasing under this lock.
  if (generation_.load(std::memory_order_acquire) != generation) return;
  if (s.map.size() >= max_entries_per_shard) s.map.clear();  // bounded memory; misses refill it
  s.map[token_hash] = std::move(e);
}

void token_cache::revoke(const std::string& token_hash) {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  auto& s = shard_for(token_hash);
  std::lock_guard lock(s.mu);
  s.map.erase(token_hash);
}

size_t token_cache::size() const {
  size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.map.size();
  }
  return n;
}

} // namespace myelin::runtime
