// The node's access-token cache for the gateway: token hash → who it is. Entries are dropped when
// the accounts stream reports the token revoked (logout, password change, deactivation), before the
// writer's position counts as seen — so a client told "logged out" can never use the token again.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "gateway/gateway.hpp"

namespace myelin::runtime {

class token_cache {
public:
  struct entry {
    gateway::auth_result who;
    std::optional<int64_t> valid_until_ms;
  };

  std::optional<entry> get(const std::string& token_hash) const;
  // Inserts unless a revocation happened since `generation` was read (the lookup may be stale).
  void put(const std::string& token_hash, entry e, uint64_t generation);
  void revoke(const std::string& token_hash);
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  size_t size() const;

private:
  static constexpr size_t shards = 16;
  static constexpr size_t max_entries_per_shard = 20000;
  struct shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, entry> map;
  };
  shard& shard_for(const std::string& h) const { return shards_[std::hash<std::string>{}(h) % shards]; }
  mutable std::array<shard, shards> shards_;
  std::atomic<uint64_t> generation_{0};
};

} // namespace myelin::runtime
