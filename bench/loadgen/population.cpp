#include "population.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

namespace loadgen {

namespace json = boost::json;

namespace {

uint32_t room_size(const room_size_dist& d, uint32_t k, std::mt19937_64& rng) {
  switch (d.type) {
    case room_size_dist::kind::fixed: return d.size;
    case room_size_dist::kind::uniform: return std::uniform_int_distribution<uint32_t>(d.min, d.max)(rng);
    case room_size_dist::kind::zipf: {
      double s = double(d.max) / std::pow(double(k + 1), d.exponent);
      return std::max(d.min, uint32_t(std::lround(s)));
    }
  }
  return d.size;
}

}  // namespace

population plan_population(const scenario& s, const std::string& run_tag) {
  population p;
  p.base_url = s.base_url();
  p.users.resize(s.users);
  for (uint32_t i = 0; i < s.users; ++i) p.users[i].localpart = s.user_prefix + run_tag + "-" + std::to_string(i);

  std::mt19937_64 rng(s.seed);
  std::vector<uint32_t> order(s.users);
  for (uint32_t i = 0; i < s.users; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);

  size_t cursor = 0;
  p.rooms.resize(s.rooms);
  for (uint32_t k = 0; k < s.rooms; ++k) {
    uint32_t size = std::min(room_size(s.room_size, k, rng), s.users);
    std::vector<uint32_t> members(size);
    for (uint32_t j = 0; j < size; ++j) members[j] = order[(cursor + j) % s.users];  // distinct: size <= users
    cursor = (cursor + size) % s.users;
    auto& room = p.rooms[k];
    // The creator always joins in setup; of the others, `join.fraction` join during the run.
    size_t late = 0;
    if (s.join.type != join_pattern::kind::setup && size > 1)
      late = size_t(std::lround(s.join.fraction * double(size - 1)));
    room.members.assign(members.begin(), members.end() - long(late));
    room.run_joins.assign(members.end() - long(late), members.end());
  }
  return p;
}

population load_population(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw scenario_error(path + ": cannot read the population file");
  std::stringstream ss;
  ss << in.rdbuf();
  population p;
  try {
    auto root = json::parse(ss.str()).as_object();
    if (root.at("version").to_number<int>() != 1) throw scenario_error(path + ": unknown population version");
    p.base_url = root.at("base_url").as_string().c_str();
    for (const auto& u : root.at("users").as_array()) {
      const auto& o = u.as_object();
      pop_user pu;
      pu.user_id = o.at("user_id").as_string().c_str();
      pu.access_token = o.at("access_token").as_string().c_str();
      pu.device_id = o.at("device_id").as_string().c_str();
      pu.localpart = pu.user_id.substr(1, pu.user_id.find(':') - 1);
      p.users.push_back(std::move(pu));
    }
    auto indices = [&](const json::value& v) {
      std::vector<uint32_t> out;
      for (const auto& x : v.as_array()) {
        auto i = x.to_number<uint32_t>();
        if (i >= p.users.size()) throw scenario_error(path + ": a room names user " + std::to_string(i) + " of " +
                                                      std::to_string(p.users.size()));
        out.push_back(i);
      }
      return out;
    };
    for (const auto& r : root.at("rooms").as_array()) {
      const auto& o = r.as_object();
      pop_room pr;
      pr.room_id = o.at("room_id").as_string().c_str();
      pr.members = indices(o.at("members"));
      pr.run_joins = indices(o.at("run_joins"));
      if (pr.members.empty()) throw scenario_error(path + ": room " + pr.room_id + " has no members");
      p.rooms.push_back(std::move(pr));
    }
  } catch (const scenario_error&) {
    throw;
  } catch (const std::exception& e) {
    throw scenario_error(path + ": not a population file (" + e.what() + ")");
  }
  if (p.users.empty()) throw scenario_error(path + ": no users");
  return p;
}

void save_population(const std::string& path, const population& p) {
  json::array users, rooms;
  for (const auto& u : p.users)
    users.push_back(json::object{{"user_id", u.user_id}, {"access_token", u.access_token}, {"device_id", u.device_id}});
  for (const auto& r : p.rooms) {
    json::array members(r.members.begin(), r.members.end()), run_joins(r.run_joins.begin(), r.run_joins.end());
    rooms.push_back(json::object{{"room_id", r.room_id}, {"members", std::move(members)}, {"run_joins", std::move(run_joins)}});
  }
  std::ofstream out(path);
  out << json::serialize(json::object{{"version", 1}, {"base_url", p.base_url}, {"users", std::move(users)},
                                      {"rooms", std::move(rooms)}})
      << "\n";
  if (!out) throw scenario_error(path + ": cannot write the population file");
}

}  // namespace loadgen
