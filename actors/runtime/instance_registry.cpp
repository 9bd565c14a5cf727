#include "actors/runtime/instance_registry.hpp"

#include <mutex>

namespace myelin::runtime {

void instance_registry::declare(const std::string& group, size_t count) {
  std::unique_lock lock(mu_);
  auto& s = groups_[group];
  const group_info* info = find_group(group);
  s.policy = info ? info->balance : balance_policy::round_robin;
  if (count <= s.slots.size()) return;  // slots only grow: a placement grows while the node runs
  s.slots.resize(count);
  for (size_t i = 0; i < count; ++i) s.slots[i].label = instance_label(group, i);
}

void instance_registry::set(const std::string& group, size_t index, caf::actor handle) {
  {
    std::unique_lock lock(mu_);
    auto& s = groups_[group];
    if (index >= s.slots.size()) {
      s.slots.resize(index + 1);
      s.slots[index].label = instance_label(group, index);
    }
    s.slots[index].handle = handle;
  }
  if (observer_) observer_(group, index, handle);
}

void instance_registry::clear(const std::string& group, size_t index) {
  {
    std::unique_lock lock(mu_);
    auto it = groups_.find(group);
    if (it == groups_.end() || index >= it->second.slots.size()) return;
    it->second.slots[index].handle = nullptr;
  }
  if (observer_) observer_(group, index, caf::actor{});
}

void instance_registry::set_observer(observer o) { observer_ = std::move(o); }

size_t instance_registry::size(const std::string& group) const {
  std::shared_lock lock(mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? 0 : it->second.slots.size();
}

instance_ref instance_registry::pick(const std::string& group, std::string_view key) const {
  std::shared_lock lock(mu_);
  auto it = groups_.find(group);
  if (it == groups_.end() || it->second.slots.empty()) return {};
  const auto& s = it->second;
  size_t idx = pick_instance(s.policy, key, s.slots.size(), rr_.fetch_add(1, std::memory_order_relaxed));
  // A round-robin group skips a slot that is restarting; affinity groups must not (the user's
  // state lives on that instance), so they report it unavailable instead.
  if (!s.slots[idx].handle && s.policy == balance_policy::round_robin) {
    for (size_t i = 1; i < s.slots.size(); ++i) {
      const auto& alt = s.slots[(idx + i) % s.slots.size()];
      if (alt.handle) return alt;
    }
  }
  return s.slots[idx];
}

instance_ref instance_registry::at(const std::string& group, size_t index) const {
  std::shared_lock lock(mu_);
  auto it = groups_.find(group);
  if (it == groups_.end() || index >= it->second.slots.size()) return {};
  return it->second.slots[index];
}

std::vector<instance_ref> instance_registry::all(const std::string& group) const {
  std::shared_lock lock(mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? std::vector<instance_ref>{} : it->second.slots;
}

std::vector<std::string> instance_registry::groups() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [g, _] : groups_) out.push_back(g);
  return out;
}

} // namespace myelin::runtime
