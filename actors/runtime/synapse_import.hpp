// `myelin placement from-synapse`: translates a Synapse worker deployment (homeserver.yaml and one
// file per worker) into an equivalent placement file. Pure: config texts in, placement text and
// notes out; server/main.cpp reads the files and prints the result.
#pragma once
#include <string>
#include <vector>

namespace myelin::runtime {

struct synapse_config_file {
  std::string name;   // the path as the operator gave it: errors say "NAME:LINE: ..."
  std::string text;
};

struct synapse_translation {
  std::string placement_yaml;        // accepted by parse_placement; comments say where each group came from
  std::vector<std::string> notes;    // what did not translate one to one, for the operator to read
};

// `shared` is homeserver.yaml. `others` are the worker files (those with `worker_app`) and any
// further shared fragments (no `worker_*` key at all, like Synapse's conf.d/*.yaml: merged into the
// shared config, later files winning per top-level key, as Synapse does).
// Throws config_error with one "FILE:LINE: problem" line per problem: malformed YAML, a worker
// without worker_name or worker_app, an unknown worker_app, two workers with one name, values of
// the wrong type in the worker keys.
synapse_translation translate_synapse_deployment(const synapse_config_file& shared,
                                                 const std::vector<synapse_config_file>& others);

} // namespace myelin::runtime
