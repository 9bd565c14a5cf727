// The node's view of where every group instance is: group → instance handles, local or remote.
// Read on every request (gateway bridge, writer client), written when the supervisor (re)starts an
// instance; readers take a snapshot under a shared lock.
#pragma once
#include <caf/actor.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "actors/runtime/groups.hpp"

namespace myelin::runtime {

struct instance_ref {
  caf::actor handle;      // invalid while the instance is (re)starting
  std::string label;      // "sync/2"
};

class instance_registry {
public:
  // Declares a group with at least `count` instance slots (existing slots keep their handles).
  void declare(const std::string& group, size_t count);
  void set(const std::string& group, size_t index, caf::actor handle);
  void clear(const std::string& group, size_t index);
  size_t size(const std::string& group) const;
  // Picks an instance by the group's balancing policy; an invalid handle means "unavailable".
  instance_ref pick(const std::string& group, std::string_view key) const;
  instance_ref at(const std::string& group, size_t index) const;
  std::vector<instance_ref> all(const std::string& group) const;
  std::vector<std::string> groups() const;
  // Called after every set/clear (outside the lock), e.g. to tell linked nodes about a restarted
  // local instance. Install before the first set.
  using observer = std::function<void(const std::string& group, size_t index, const caf::actor& handle)>;
  void set_observer(observer o);

private:
  observer observer_;
  struct slot_set {
    balance_policy policy = balance_policy::round_robin;
    std::vector<instance_ref> slots;
  };
  mutable std::shared_mutex mu_;
  std::map<std::string, slot_set, std::less<>> groups_;
  mutable std::atomic<uint64_t> rr_{0};
};

} // namespace myelin::runtime
