// Synapse worker deployment → placement file. Synapse runs one process per worker and an nginx
// that sends each endpoint to a pool of them; Myelin runs one process per machine, with each
// worker's job as an instance of a group. So the translation counts, per machine, how many
// workers did each group's job:
//   - the shared config names the workers of the jobs that are not HTTP endpoints
//     (stream_writers, federation_sender_instances, pusher_instances, run_background_tasks_on, …);
//   - historical worker_app values (synchrotron, client_reader, media_repository, …) name theirs;
//   - a generic worker's HTTP job is only known to the reverse proxy, so it is read from the name
//     operators give it (sync1, event_creator2, federation_reader…) or, failing that, from its
//     listener resources, and otherwise it becomes a client_reader with a note.
// Machines come from instance_map hosts and listener bind addresses; loopback and unix sockets
// mean main's machine.
#include "actors/runtime/synapse_import.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "actors/runtime/groups.hpp"
#include "actors/runtime/placement.hpp"
#include "common/config.hpp"

namespace myelin::runtime {
namespace {

constexpr uint16_t first_link_port = 9300;   // Myelin's usual link port (configs/placement-split.yaml)
constexpr size_t comment_width = 100;

// Everything wrong with the input, reported together as "FILE:LINE: problem".
struct problems {
  std::vector<std::string> lines;

  void fail(const std::string& file, const YAML::Node& at, const std::string& msg) {
    fail(file, at.IsDefined() ? at.Mark().line + 1 : 0, msg);
  }
  void fail(const std::string& file, int line, const std::string& msg) {
    lines.push_back(file + (line > 0 ? ":" + std::to_string(line) : "") + ": " + msg);
  }
};

// A YAML value and the file it was read from (shared keys may come from several files).
struct located {
  YAML::Node node;
  std::string file;
};

// A mapping's entries by key. Later duplicates win, as with PyYAML (Synapse's parser); complex
// keys are skipped: none of the keys read here can be one.
std::map<std::string, YAML::Node> fields(const YAML::Node& map) {
  std::map<std::string, YAML::Node> out;
  if (!map.IsDefined() || !map.IsMap()) return out;
  for (auto kv : map)
    if (kv.first.IsScalar()) out[kv.first.Scalar()] = kv.second;
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A worker name reduced to its letters, so "normal_sync-2" and "NormalSync2" read alike.
std::string letters_of(const std::string& name) {
  std::string out;
  for (unsigned char c : name)
    if (std::isalpha(c)) out += static_cast<char>(std::tolower(c));
  return out;
}

bool contains_any(const std::string& text, const std::vector<const char*>& words) {
  for (const char* w : words)
    if (text.find(w) != std::string::npos) return true;
  return false;
}

bool is_loopback(const std::string& host) {
  auto h = lower(host);
  return h == "localhost" || h.rfind("127.", 0) == 0 || h == "::1" || h == "[::1]" || h == "ip6-localhost";
}

bool is_wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::" || host == "*"; }

// Host names and addresses only: they are written into the placement file.
bool plausible_host(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  for (unsigned char c : host)
    if (!std::isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_' && c != '[' && c != ']' && c != '%')
      return false;
  return true;
}

// Names from config values end up in comments: keep them on one line.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

// "workers/synchrotron-1.yaml" → "synchrotron-1".
std::string file_stem(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  for (const char* ext : {".yaml", ".yml"})
    if (base.size() > std::strlen(ext) && base.compare(base.size() - std::strlen(ext), std::string::npos, ext) == 0)
      return base.substr(0, base.size() - std::strlen(ext));
  return base.empty() ? "worker" : base;
}

// ---- reading values ----

std::optional<std::string> read_name(problems& p, const located& v, const std::string& what) {
  if (v.node.IsScalar() && !v.node.Scalar().empty()) return v.node.Scalar();
  p.fail(v.file, v.node, what + " must be a worker name");
  return std::nullopt;
}

// "x" or [x, y]: Synapse accepts both for stream writers; null is an empty list.
std::vector<std::string> read_names(problems& p, const located& v, const std::string& what) {
  std::vector<std::string> out;
  if (v.node.IsNull()) return out;
  if (v.node.IsScalar()) {
    if (auto n = read_name(p, v, what)) out.push_back(*n);
    return out;
  }
  if (!v.node.IsSequence()) {
    p.fail(v.file, v.node, what + " must be a worker name or a list of them");
    return out;
  }
  for (auto item : v.node)
    if (auto n = read_name(p, {item, v.file}, what)) out.push_back(*n);
  return out;
}

std::optional<uint16_t> read_port(problems& p, const located& v, const std::string& what) {
  try {
    long n = v.node.as<long>();
    if (n >= 0 && n <= 65535) return static_cast<uint16_t>(n);
  } catch (const YAML::Exception&) {
  }
  p.fail(v.file, v.node, what + " must be a port number (0-65535)");
  return std::nullopt;
}

std::optional<std::string> read_host(problems& p, const located& v, const std::string& what) {
  if (v.node.IsScalar() && plausible_host(v.node.Scalar())) return v.node.Scalar();
  p.fail(v.file, v.node, what + " must be a host name or address");
  return std::nullopt;
}

struct listener {
  std::optional<uint16_t> port;
  bool unix_socket = false;
  std::vector<std::string> bind_addresses;
  std::string type = "http";
  std::vector<std::string> resources;
};

// Whether a listener takes client or federation traffic (not replication, metrics or manhole).
bool serves_requests(const listener& l) {
  if (l.type != "http") return false;
  for (const auto& r : l.resources)
    if (r == "client" || r == "federation" || r == "media" || r == "keys" || r == "openid") return true;
  return false;
}

std::vector<listener> read_listeners(problems& p, const located& v, const std::string& key) {
  std::vector<listener> out;
  if (v.node.IsNull()) return out;
  if (!v.node.IsSequence()) {
    p.fail(v.file, v.node, key + " must be a list of listeners");
    return out;
  }
  for (auto item : v.node) {
    if (!item.IsMap()) {
      p.fail(v.file, item, key + ": each listener must be a mapping (port or path, type, resources)");
      continue;
    }
    listener l;
    for (const auto& [k, value] : fields(item)) {
      located at{value, v.file};
      if (k == "port") l.port = read_port(p, at, key + ".port");
      else if (k == "path") l.unix_socket = true;
      else if (k == "bind_addresses" || k == "bind_address")
        for (auto& a : read_names(p, at, key + "." + k)) l.bind_addresses.push_back(a);
      else if (k == "type" && value.IsScalar()) l.type = value.Scalar();
      else if (k == "resources" && value.IsSequence()) {
        for (auto r : value)
          if (r.IsMap())
            for (auto& n : read_names(p, {fields(r)["names"], v.file}, key + ".resources.names")) l.resources.push_back(n);
      }
    }
    out.push_back(std::move(l));
  }
  return out;
}

// ---- the deployment as read ----

struct instance_entry {
  std::string host;        // "" with a unix socket path
  std::optional<uint16_t> port;
  bool unix_socket = false;
};

struct shared_config {
  std::map<std::string, located> keys;                    // top-level key → value, across fragments
  std::map<std::string, instance_entry> instance_map;
  std::vector<std::pair<std::string, std::vector<std::string>>> stream_writers;  // in file order
  std::vector<std::string> federation_sender_instances, pusher_instances, outbound_federation_restricted_to;
  std::optional<std::string> background_on, user_dir_on, appservice_on, media_jobs_on;
  bool enable_media_repo = true;
  std::vector<listener> listeners;
  std::vector<std::string> fragments;                     // conf.d-like files merged in
};

struct worker {
  std::string file, name, app;   // app without "synapse.app."
  std::vector<listener> listeners;
  std::string replication_host;  // legacy worker_replication_host: where it reached main
  size_t machine = 0;
  bool placed_on_main_by_default = false;
};

// worker_app values (without "synapse.app.") and the group a historical one maps to; "" for the
// generic worker, whose job is read from its name and from the shared config.
const std::vector<std::pair<std::string, std::string>>& worker_apps() {
  static const std::vector<std::pair<std::string, std::string>> apps = {
      {"generic_worker", ""},
      {"synchrotron", "sync"},
      {"client_reader", "client_reader"},
      {"event_creator", "event_creator"},
      {"federation_reader", "federation_reader"},
      {"frontend_proxy", "keys"},
      {"media_repository", "media"},
      {"user_dir", "user_dir"},
      {"federation_sender", "federation_sender"},
      {"pusher", "pusher"},
      {"appservice", "appservice"},
  };
  return apps;
}

// Synapse's streams that Myelin has a writer group for (writer.<stream>).
bool is_synapse_stream(const std::string& s) {
  static const std::set<std::string> streams = {"events",   "typing",   "to_device",  "account_data",
                                                "receipts", "presence", "push_rules", "device_lists"};
  return streams.count(s) > 0;
}

// The shared keys a worker file should not carry (Synapse reads them from the shared config).
const std::vector<std::string>& shared_only_keys() {
  static const std::vector<std::string> keys = {
      "instance_map", "stream_writers", "federation_sender_instances", "pusher_instances",
      "run_background_tasks_on", "update_user_directory_from_worker", "notify_appservices_from_worker",
      "media_instance_running_background_jobs"};
  return keys;
}

std::optional<YAML::Node> load_yaml(problems& p, const synapse_config_file& f) {
  YAML::Node root;
  try {
    root = YAML::Load(f.text);
  } catch (const YAML::ParserException& e) {
    p.fail(f.name, e.mark.line + 1, "invalid YAML: " + e.msg);
    return std::nullopt;
  }
  if (!root.IsMap()) {
    p.fail(f.name, root.IsNull() ? 1 : root.Mark().line + 1, "expected a mapping of configuration keys");
    return std::nullopt;
  }
  return root;
}

void read_shared_keys(problems& p, shared_config& s) {
  auto get = [&](const std::string& key) -> std::optional<located> {
    auto it = s.keys.find(key);
    if (it == s.keys.end()) return std::nullopt;
    return it->second;
  };
  if (auto v = get("instance_map")) {
    if (!v->node.IsMap() && !v->node.IsNull()) p.fail(v->file, v->node, "instance_map must map worker names to {host, port} or {path}");
    for (const auto& [name, entry] : fields(v->node)) {
      instance_entry e;
      if (!entry.IsMap()) {
        p.fail(v->file, entry, "instance_map." + name + " must be a mapping {host, port} or {path}");
        continue;
      }
      auto f = fields(entry);
      if (f.count("path")) e.unix_socket = true;
      if (f.count("host"))
        if (auto h = read_host(p, {f["host"], v->file}, "instance_map." + name + ".host")) e.host = *h;
      if (f.count("port")) e.port = read_port(p, {f["port"], v->file}, "instance_map." + name + ".port");
      s.instance_map[name] = e;
    }
  }
  if (auto v = get("stream_writers")) {
    if (!v->node.IsMap() && !v->node.IsNull()) p.fail(v->file, v->node, "stream_writers must map stream names to workers");
    for (auto kv : v->node.IsMap() ? v->node : YAML::Node()) {
      if (!kv.first.IsScalar()) continue;
      auto stream = kv.first.Scalar();
      s.stream_writers.emplace_back(stream, read_names(p, {kv.second, v->file}, "stream_writers." + stream));
    }
  }
  auto list = [&](const char* key, std::vector<std::string>& out) {
    if (auto v = get(key)) out = read_names(p, *v, key);
  };
  list("federation_sender_instances", s.federation_sender_instances);
  list("pusher_instances", s.pusher_instances);
  list("outbound_federation_restricted_to", s.outbound_federation_restricted_to);
  auto one = [&](const char* key, std::optional<std::string>& out) {
    if (auto v = get(key); v && !v->node.IsNull()) out = read_name(p, *v, key);
  };
  one("run_background_tasks_on", s.background_on);
  one("update_user_directory_from_worker", s.user_dir_on);
  one("notify_appservices_from_worker", s.appservice_on);
  one("media_instance_running_background_jobs", s.media_jobs_on);
  if (auto v = get("enable_media_repo")) {
    try {
      s.enable_media_repo = v->node.as<bool>();
    } catch (const YAML::Exception&) {
      p.fail(v->file, v->node, "enable_media_repo must be true or false");
    }
  }
  if (auto v = get("listeners")) s.listeners = read_listeners(p, *v, "listeners");
}

// Reads one worker file; notes what it carries that a worker file should not.
std::optional<worker> read_worker(problems& p, std::vector<std::string>& notes, std::vector<std::string>& unnamed,
                                  const synapse_config_file& f, const YAML::Node& root) {
  auto top = fields(root);
  worker w;
  w.file = f.name;
  const YAML::Node& app = top["worker_app"];
  bool ok = true;
  if (!app.IsScalar()) {
    p.fail(f.name, app, "worker_app must be a string such as synapse.app.generic_worker");
    ok = false;
  } else {
    std::string full = app.Scalar();
    std::string shortname = full.rfind("synapse.app.", 0) == 0 ? full.substr(12) : full;
    bool known = false;
    for (const auto& a : worker_apps()) known = known || a.first == shortname;
    if (shortname == "homeserver") {
      p.fail(f.name, app, "worker_app " + printable(full) + " is the main process: give its config first, as homeserver.yaml");
      ok = false;
    } else if (!known) {
      std::vector<std::string> names;
      for (const auto& a : worker_apps()) names.push_back("synapse.app." + a.first);
      p.fail(f.name, app, "unknown worker_app '" + printable(full) + "' (known: " + join(names) + ")");
      ok = false;
    }
    w.app = shortname;
  }
  auto name = top.find("worker_name");
  if (name == top.end() && ok && w.app != "generic_worker") {
    // Historical apps predate worker_name (Synapse then names the worker after its worker_app);
    // the file's name tells two synchrotrons apart.
    w.name = file_stem(f.name);
    unnamed.push_back(f.name);
  } else if (name == top.end()) {
    p.fail(f.name, app, "worker_name is missing: a generic worker needs a unique name (the one instance_map, "
                        "stream_writers and the *_instances lists use)");
    ok = false;
  } else if (auto n = read_name(p, {name->second, f.name}, "worker_name")) {
    if (*n == "main") {
      p.fail(f.name, name->second, "worker_name 'main' is reserved for the main process in instance_map");
      ok = false;
    }
    w.name = *n;
  } else {
    ok = false;
  }
  if (auto l = top.find("worker_listeners"); l != top.end())
    w.listeners = read_listeners(p, {l->second, f.name}, "worker_listeners");
  if (auto h = top.find("worker_replication_host"); h != top.end())
    if (auto host = read_host(p, {h->second, f.name}, "worker_replication_host")) w.replication_host = *host;
  std::vector<std::string> misplaced;
  for (const auto& k : shared_only_keys())
    if (top.count(k)) misplaced.push_back(k);
  if (!misplaced.empty())
    notes.push_back(f.name + ": " + join(misplaced) +
                    " in a worker file: ignored, these belong in the shared config (homeserver.yaml)");
  if (!ok) return std::nullopt;
  return w;
}

// A file without worker_app is more shared config unless it has worker keys (then worker_app is
// what is missing). worker_replication_secret(_path) is a shared key despite its name.
bool has_worker_keys(const YAML::Node& root) {
  for (const auto& [k, v] : fields(root))
    if (k.rfind("worker_", 0) == 0 && k.rfind("worker_replication_secret", 0) != 0) return true;
  return false;
}

// ---- machines and nodes ----

struct machine {
  std::string host;                    // what the placement says other nodes reach it at
  std::string host_source;             // where that came from, for the comment
  std::string node;
  std::vector<std::string> processes;  // "main" and worker names
};

class translator {
public:
  translator(shared_config shared, std::vector<worker> workers, std::string shared_name)
      : shared_(std::move(shared)), workers_(std::move(workers)), shared_name_(std::move(shared_name)) {}

  synapse_translation run(std::vector<std::string> notes) {
    notes_ = std::move(notes);
    place_machines();
    assign_duties();
    for (const auto& w : workers_) assign_worker(w);
    // Usually names the media worker counted just above; a generic worker named here gets media jobs.
    if (shared_.media_jobs_on) duty("media", *shared_.media_jobs_on, "media_instance_running_background_jobs");
    name_nodes();   // once every machine is known: duties may name workers that only instance_map places
    choose_link_port();
    synapse_translation out;
    out.placement_yaml = render();
    general_notes();
    out.notes = std::move(notes_);
    return out;
  }

private:
  struct contribution {
    std::string process;   // "main" or a worker name
    size_t machine;
    std::string reason;    // why this process counts for the group
  };

  shared_config shared_;
  std::vector<worker> workers_;
  std::string shared_name_;
  std::vector<std::string> notes_;
  std::vector<machine> machines_;
  std::map<std::string, size_t> machine_by_host_;   // lower-cased host → machines_ index
  std::map<std::string, std::vector<contribution>> groups_;
  std::set<std::pair<std::string, std::string>> counted_;   // (group, process): each counts once
  std::set<std::string> has_duty_;                           // processes the shared config gives a job
  std::map<std::string, std::vector<std::string>> unplaced_refs_;  // name → keys naming it
  std::vector<std::string> unrecognised_;                          // generic workers counted as client_reader
  uint16_t link_port_ = first_link_port;

  const worker* find_worker(const std::string& name) const {
    for (const auto& w : workers_)
      if (w.name == name) return &w;
    return nullptr;
  }

  size_t machine_for_host(const std::string& host, const std::string& source) {
    if (is_loopback(host) || is_wildcard(host)) return 0;
    auto key = lower(host);
    if (auto it = machine_by_host_.find(key); it != machine_by_host_.end()) return it->second;
    machines_.push_back(machine{host, source, "", {}});
    machine_by_host_[key] = machines_.size() - 1;
    return machines_.size() - 1;
  }

  void place_machines() {
    // Main's machine first: it becomes the first node, where unmentioned groups run.
    std::string host, source;
    if (auto it = shared_.instance_map.find("main"); it != shared_.instance_map.end()) {
      host = it->second.host;
      source = it->second.unix_socket ? "instance_map.main is a unix socket" : "instance_map.main.host: " + host;
    }
    if (host.empty())
      for (const auto& w : workers_)
        if (!w.replication_host.empty()) {
          host = w.replication_host;
          source = "worker_replication_host in " + w.file;
          break;
        }
    if (source.empty()) source = "no instance_map.main";
    bool local = host.empty() || is_loopback(host) || is_wildcard(host);
    if (local && !host.empty()) source += ": one machine";
    machines_.push_back(machine{local ? "127.0.0.1" : host, source, "main", {"main"}});
    if (!local) machine_by_host_[lower(host)] = 0;

    for (auto& w : workers_) {
      if (auto it = shared_.instance_map.find(w.name); it != shared_.instance_map.end()) {
        const auto& e = it->second;
        w.machine = e.unix_socket ? 0 : machine_for_host(e.host, "instance_map." + w.name + ".host");
      } else {
        w.placed_on_main_by_default = true;
        for (const auto& l : w.listeners)
          for (const auto& a : l.bind_addresses)
            if (w.placed_on_main_by_default && !is_wildcard(a) && !is_loopback(a) && plausible_host(a)) {
              w.machine = machine_for_host(a, w.name + "'s listener bind address");
              w.placed_on_main_by_default = false;
            }
      }
      machines_[w.machine].processes.push_back(w.name);
    }
  }

  // main, then the host's first label ("matrix2" for matrix2.example.org) or "node-<address>".
  void name_nodes() {
    std::set<std::string> taken{"main"};
    for (size_t i = 1; i < machines_.size(); ++i) {
      const auto& host = machines_[i].host;
      bool address = host.find_first_not_of("0123456789.") == std::string::npos || host.find(':') != std::string::npos;
      std::string base = address ? "node-" + host : host.substr(0, host.find('.'));
      for (auto& c : base) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '-';
      }
      std::string name = base;
      for (int n = 2; name.empty() || taken.count(name); ++n) name = base + "-" + std::to_string(n);
      taken.insert(name);
      machines_[i].node = name;
    }
  }

  // One link port for every node, clear of every port the Synapse processes listened on (the
  // same machines will run Myelin's listeners and links).
  void choose_link_port() {
    std::set<uint16_t> used;
    auto add = [&](const std::vector<listener>& ls) {
      for (const auto& l : ls)
        if (l.port) used.insert(*l.port);
    };
    add(shared_.listeners);
    for (const auto& w : workers_) add(w.listeners);
    for (const auto& [name, e] : shared_.instance_map)
      if (e.port) used.insert(*e.port);
    while (used.count(link_port_)) ++link_port_;
  }

  // Where a process named in the shared config runs.
  size_t locate(const std::string& name, const std::string& key) {
    if (name == "main") return 0;
    if (const worker* w = find_worker(name)) return w->machine;
    bool first = !unplaced_refs_.count(name);
    unplaced_refs_[name].push_back(key);
    size_t m = 0;
    if (auto it = shared_.instance_map.find(name); it != shared_.instance_map.end() && !it->second.unix_socket)
      m = machine_for_host(it->second.host, "instance_map." + name + ".host");
    if (first) machines_[m].processes.push_back(name);
    return m;
  }

  void count(const std::string& group, const std::string& process, size_t machine, const std::string& reason) {
    if (!counted_.insert({group, process}).second) return;
    groups_[group].push_back(contribution{process, machine, reason});
  }

  void duty(const std::string& group, const std::string& process, const std::string& key) {
    has_duty_.insert(process);
    count(group, process, locate(process, key), key);
  }

  // The jobs the shared config hands to named workers.
  void assign_duties() {
    for (const auto& [stream, writers] : shared_.stream_writers) {
      if (!is_synapse_stream(stream)) {
        notes_.push_back("stream_writers." + printable(stream) + ": Myelin has no writer group for this stream; " +
                         "ignored (its data is written where Myelin's endpoints for it run)");
        continue;
      }
      for (const auto& w : writers) duty("writer." + stream, w, "stream_writers." + stream);
    }
    for (const auto& w : shared_.federation_sender_instances) duty("federation_sender", w, "federation_sender_instances");
    for (const auto& w : shared_.pusher_instances) duty("pusher", w, "pusher_instances");
    if (shared_.background_on) duty("background", *shared_.background_on, "run_background_tasks_on");
    if (shared_.user_dir_on) duty("user_dir", *shared_.user_dir_on, "update_user_directory_from_worker");
    if (shared_.appservice_on) duty("appservice", *shared_.appservice_on, "notify_appservices_from_worker");
    if (!shared_.outbound_federation_restricted_to.empty())
      notes_.push_back("outbound_federation_restricted_to (" + printable(join(shared_.outbound_federation_restricted_to)) +
                       ") has no Myelin equivalent yet: outbound federation leaves from the federation_sender " +
                       "group's nodes");
  }

  // Names that say the worker was meant for a job the shared config hands out.
  struct job_name {
    std::vector<const char*> words;
    const char* what;
    const char* listed_in;
  };

  static const job_name* named_for_a_job(const std::string& letters) {
    static const job_name jobs[] = {
        {{"persister", "eventwriter"}, "an event persister", "stream_writers.events"},
        {{"federationsender", "fedsender"}, "a federation sender", "federation_sender_instances"},
        {{"pusher"}, "a pusher", "pusher_instances"},
        {{"appservice"}, "an application service sender", "notify_appservices_from_worker"},
        {{"background"}, "a background worker", "run_background_tasks_on"},
        {{"writer"}, "a stream writer", "stream_writers"},
    };
    for (const auto& j : jobs)
      if (contains_any(letters, j.words)) return &j;
    return nullptr;
  }

  // The HTTP group an operator's name for a generic worker points at; checked in this order
  // ("federation_reader" before "reader", "sync" before anything).
  static const char* named_for_endpoints(const std::string& letters) {
    static const std::pair<std::vector<const char*>, const char*> rules[] = {
        {{"synchrotron", "sync"}, "sync"},
        {{"federationinbound", "inboundfederation", "fedinbound"}, "federation_inbound"},
        {{"federationreader", "fedreader", "federation"}, "federation_reader"},
        {{"eventcreator", "creator"}, "event_creator"},
        {{"media"}, "media"},
        {{"userdir"}, "user_dir"},
        {{"frontendproxy", "frontend", "keys", "encryption", "crypto"}, "keys"},
        {{"clientreader", "client", "reader", "login", "register", "auth"}, "client_reader"},
    };
    for (const auto& [words, group] : rules)
      if (contains_any(letters, words)) return group;
    return nullptr;
  }

  void assign_worker(const worker& w) {
    std::string app_reason = "worker_app synapse.app." + w.app;
    for (const auto& [app, group] : worker_apps())
      if (app == w.app && !group.empty()) {
        count(group, w.name, w.machine, app_reason);
        return;
      }
    // A generic worker: the shared config may have given it jobs; its name or listeners say which
    // endpoints the reverse proxy sent it.
    bool serves = std::any_of(w.listeners.begin(), w.listeners.end(), serves_requests);
    std::string letters = letters_of(w.name);
    if (const job_name* job = named_for_a_job(letters)) {
      if (has_duty_.count(w.name)) return;
      std::string why = printable(w.name) + " (" + w.file + ") is named like " + job->what + " but is not in " +
                        job->listed_in + ", so Synapse did not use it as one";
      if (!serves) {
        notes_.push_back(why + "; it has no client or federation listener either: left out");
        return;
      }
      notes_.push_back(why + "; it serves HTTP requests: counted as a client_reader instance");
      count("client_reader", w.name, w.machine, "generic worker, named like " + std::string(job->what));
      return;
    }
    if (const char* group = named_for_endpoints(letters)) {
      count(group, w.name, w.machine, "generic worker named for " + std::string(group));
      return;
    }
    if (has_duty_.count(w.name)) return;   // a writer or sender whose listener serves its stream's endpoints
    if (!serves) {
      notes_.push_back(printable(w.name) + " (" + w.file + ") is a generic worker with no job in the shared config and " +
                       "no client or federation listener: it did no work in Synapse; left out");
      return;
    }
    std::set<std::string> resources;
    for (const auto& l : w.listeners)
      if (serves_requests(l)) resources.insert(l.resources.begin(), l.resources.end());
    resources.erase("replication");
    resources.erase("metrics");
    if (resources == std::set<std::string>{"media"}) {
      count("media", w.name, w.machine, "generic worker serving only the media resource");
      return;
    }
    if (resources == std::set<std::string>{"federation"}) {
      count("federation_reader", w.name, w.machine, "generic worker serving only the federation resource");
      return;
    }
    unrecognised_.push_back(printable(w.name));
    count("client_reader", w.name, w.machine, "generic worker, job not recognisable");
  }

  std::string default_reason(const group_info& g) const {
    if (g.name == "writer.accounts") return "Myelin's writer of users, devices and access tokens (Synapse's main process)";
    if (g.kind == group_kind::writer) return "not in stream_writers: Synapse's main process wrote this stream";
    if (g.kind == group_kind::api) return "no worker for it: Synapse's main process served these endpoints";
    return "no worker for it: Synapse's main process did this";
  }

  // "a, b (reason); c (other reason)".
  static std::string describe(const std::vector<contribution>& cs) {
    std::vector<std::pair<std::string, std::vector<std::string>>> by_reason;
    for (const auto& c : cs) {
      auto it = std::find_if(by_reason.begin(), by_reason.end(), [&](auto& r) { return r.first == c.reason; });
      if (it == by_reason.end()) by_reason.push_back({c.reason, {printable(c.process)}});
      else it->second.push_back(printable(c.process));
    }
    std::vector<std::string> parts;
    for (const auto& [reason, names] : by_reason) parts.push_back(join(names) + " (" + reason + ")");
    return join(parts, "; ");
  }

  static void comment(std::ostringstream& out, const std::string& indent, const std::string& text) {
    std::string line = indent + "#";
    std::istringstream words(text);
    std::string word;
    while (words >> word) {
      if (line.size() + 1 + word.size() > comment_width && line.size() > indent.size() + 1) {
        out << line << "\n";
        line = indent + "#  ";
      }
      line += " " + word;
    }
    out << line << "\n";
  }

  // A node field with its comment, the comments aligned.
  static void field(std::ostringstream& out, const std::string& text, const std::string& why) {
    std::string line = "    " + text;
    line.resize(std::max<size_t>(line.size() + 2, 28), ' ');
    out << line << "# " << why << "\n";
  }

  std::string render() {
    std::ostringstream out;
    comment(out, "", "Myelin placement translated by `myelin placement from-synapse` from " + printable(shared_name_) +
                         " and " + std::to_string(workers_.size()) + " worker file(s). Each group says which Synapse " +
                         "processes it replaces; check the file with `myelin placement check`.");
    bool multi = machines_.size() > 1;
    out << "nodes:\n";
    for (const auto& m : machines_) {
      std::vector<std::string> names;
      for (const auto& p : m.processes) names.push_back(p == "main" ? "the main process" : printable(p));
      comment(out, "  ", "Synapse processes on this machine: " + (names.empty() ? "none with a worker file" : join(names)));
      out << "  " << m.node << ":\n";
      field(out, "host: '" + m.host + "'", printable(m.host_source));
      field(out, "port: " + std::to_string(link_port_),
                 "node link: the first port from " + std::to_string(first_link_port) + " that no Synapse listener uses");
      if (multi) {
        bool address = m.host.find_first_not_of("0123456789.") == std::string::npos;
        out << "    bind_address: '" << (address ? m.host : "0.0.0.0") << "'\n";
      }
    }
    if (multi)
      out << "# Node links authenticate with a shared secret: set one (the same on every node).\n"
          << "# shared_secret: CHANGE-ME\n";
    out << "groups:\n";
    for (const auto& g : known_groups()) {
      std::vector<contribution> cs = g.name == "main"
                                         ? std::vector<contribution>{{"main", 0, "Synapse's main process"}}
                                         : groups_[g.name];
      if (cs.empty()) {
        cs.push_back({"main", 0, default_reason(g)});
        if (g.name == "media" && !shared_.enable_media_repo)
          notes_.push_back("enable_media_repo is false and no media worker was given: Synapse served no media; " +
                           std::string("Myelin's media group runs once on node main"));
      }
      if (g.singleton && cs.size() > 1) {
        std::vector<contribution> rest(cs.begin() + 1, cs.end());
        notes_.push_back(g.name + " has a single instance in Myelin: on node " + machines_[cs[0].machine].node +
                         " (" + printable(cs[0].process) + "); " + describe(rest) + " " +
                         (rest.size() == 1 ? "does" : "do") + " not add instances");
        cs.resize(1);
      }
      std::string text = g.name + ": " + (cs.size() == 1 && cs[0].process == "main" ? cs[0].reason : describe(cs));
      comment(out, "  ", text);
      std::vector<size_t> per_machine(machines_.size(), 0);
      for (const auto& c : cs) ++per_machine[c.machine];
      size_t used = std::count_if(per_machine.begin(), per_machine.end(), [](size_t n) { return n > 0; });
      if (used == 1 && per_machine[0] > 0) {
        out << "  " << g.name << ": " << per_machine[0] << "\n";
      } else if (used == 1) {
        size_t m = std::find_if(per_machine.begin(), per_machine.end(), [](size_t n) { return n > 0; }) - per_machine.begin();
        out << "  " << g.name << ": {node: " << machines_[m].node << ", instances: " << per_machine[m] << "}\n";
      } else {
        out << "  " << g.name << ":\n";
        for (size_t m = 0; m < machines_.size(); ++m)
          if (per_machine[m]) out << "    - {node: " << machines_[m].node << ", instances: " << per_machine[m] << "}\n";
      }
    }
    return out.str();
  }

  void general_notes() {
    size_t processes = 1 + workers_.size();
    std::vector<std::string> note_front;
    if (machines_.size() == 1) {
      note_front.push_back("the " + std::to_string(processes) + " Synapse processes (main and " +
                           std::to_string(workers_.size()) + " workers) ran on one machine: they become one " +
                           "Myelin process (node main), each worker an instance (an actor) of its group inside it; " +
                           "Redis and replication listeners are not needed");
    } else {
      std::vector<std::string> nodes;
      for (const auto& m : machines_) nodes.push_back(m.node + " (" + m.host + ")");
      note_front.push_back("the Synapse processes ran on " + std::to_string(machines_.size()) +
                           " machines: they become as many Myelin nodes, " + join(nodes) +
                           "; run `myelin --config homeserver.yaml --placement FILE --node NAME` on each, and set " +
                           "shared_secret (Synapse's worker_replication_secret is not copied)");
      std::vector<std::string> defaulted;
      for (const auto& w : workers_)
        if (w.placed_on_main_by_default) defaulted.push_back(printable(w.name));
      if (!defaulted.empty())
        note_front.push_back(join(defaulted) + ": not in instance_map and listening on no specific address, so " +
                             "placed on node main; move their instances if they ran elsewhere");
      if (is_loopback(machines_[0].host))
        note_front.push_back("node main's host is 127.0.0.1 (instance_map.main is a loopback or unix address): " +
                             std::string("give it an address the other nodes can reach"));
    }
    std::set<uint16_t> ports;
    size_t sockets = 0;
    for (const auto& w : workers_)
      for (const auto& l : w.listeners)
        if (serves_requests(l)) l.port ? void(ports.insert(*l.port)) : void(++sockets);
    std::vector<std::string> listeners;
    if (!ports.empty()) {
      std::vector<std::string> numbers;
      for (auto port : ports) numbers.push_back(std::to_string(port));
      listeners.push_back("ports " + join(numbers));
    }
    if (sockets) listeners.push_back(std::to_string(sockets) + " unix socket(s)");
    if (!listeners.empty())
      note_front.push_back("Myelin serves every endpoint on the listeners of its homeserver.yaml and routes each to its " +
                           std::string("group itself: the workers' HTTP listeners (") + join(listeners, "; ") +
                           ") and the reverse proxy's per-worker location rules are not needed; point the proxy at " +
                           "Myelin's listeners");
    std::vector<std::string> initial;
    for (const auto& c : groups_["sync"])
      if (letters_of(c.process).find("initial") != std::string::npos) initial.push_back(printable(c.process));
    if (!initial.empty())
      note_front.push_back(join(initial) + ": Synapse's separate initial-sync pool joins the sync group; Myelin " +
                           "balances every /sync by user");
    if (!unrecognised_.empty())
      note_front.push_back(join(unrecognised_) + ": generic worker(s) whose name and listeners do not say which " +
                           "endpoints the reverse proxy sent them: counted as client_reader; move instances to " +
                           "sync, event_creator or federation_reader if that is the traffic they took");
    for (const auto& [name, keys] : unplaced_refs_) {
      bool mapped = shared_.instance_map.count(name) > 0;
      note_front.push_back(printable(name) + " (named in " + join(keys) + ") has no worker file among the inputs: " +
                           (mapped ? "placed by its instance_map entry" : "not in instance_map either, placed on node main"));
    }
    for (const auto& f : shared_.fragments)
      note_front.push_back(f + ": no worker_app: read as more shared configuration (like Synapse's conf.d)");
    notes_.insert(notes_.begin(), note_front.begin(), note_front.end());
  }
};

} // namespace

synapse_translation translate_synapse_deployment(const synapse_config_file& shared_file,
                                                 const std::vector<synapse_config_file>& others) {
  problems p;
  std::vector<std::string> notes;
  shared_config shared;
  std::vector<worker> workers;
  std::map<std::string, std::string> worker_files;   // worker_name → file, to catch duplicates
  std::vector<std::string> unnamed;                  // historical worker files without worker_name

  auto merge_shared = [&](const synapse_config_file& f, const YAML::Node& root) {
    for (const auto& [k, v] : fields(root)) shared.keys[k] = located{v, f.name};
  };
  if (auto root = load_yaml(p, shared_file)) {
    auto top = fields(*root);
    if (auto app = top.find("worker_app"); app != top.end()) {
      std::string a = app->second.IsScalar() ? app->second.Scalar() : "";
      if (a != "synapse.app.homeserver")
        p.fail(shared_file.name, app->second,
               "this is a worker's config (worker_app " + printable(a) + "): give homeserver.yaml first, then the workers");
    }
    merge_shared(shared_file, *root);
  }
  for (const auto& f : others) {
    auto root = load_yaml(p, f);
    if (!root) continue;
    auto top = fields(*root);
    if (!top.count("worker_app")) {
      if (has_worker_keys(*root)) {
        p.fail(f.name, 1, "worker_app is missing (e.g. worker_app: synapse.app.generic_worker)");
        continue;
      }
      merge_shared(f, *root);
      shared.fragments.push_back(f.name);
      continue;
    }
    auto w = read_worker(p, notes, unnamed, f, *root);
    if (!w) continue;
    auto [it, fresh] = worker_files.emplace(w->name, f.name);
    if (!fresh) {
      p.fail(f.name, top["worker_name"], "worker_name '" + printable(w->name) + "' is already used by " + it->second);
      continue;
    }
    workers.push_back(std::move(*w));
  }
  read_shared_keys(p, shared);
  if (!p.lines.empty()) throw config_error(join(p.lines, "\n"));
  if (!unnamed.empty())
    notes.push_back(join(unnamed) + ": no worker_name (historical workers; Synapse names them after their " +
                    "worker_app): each is named after its file");

  auto result = translator(std::move(shared), std::move(workers), shared_file.name).run(std::move(notes));
  // The output is meant to be used as is: a file the parser refuses would be a bug here.
  try {
    parse_placement(result.placement_yaml, "from-synapse output");
  } catch (const config_error& e) {
    throw std::logic_error(std::string("placement from-synapse produced an invalid placement: ") + e.what());
  }
  return result;
}

} // namespace myelin::runtime
