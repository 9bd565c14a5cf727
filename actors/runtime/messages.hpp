// Every message that crosses a group boundary. Each one is a plain, inspectable struct registered in
// the `myelin` type-id block, so any group can move to another node without code changes: no
// pointers, callbacks or shared state ever travel between groups.
#pragma once
#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace myelin {

// A position in one stream as written by one writer instance. A stream with several writers
// (events sharded over persisters) has one position per writer.
struct stream_position {
  std::string stream;
  std::string writer;
  int64_t position = 0;
};

// A client API request after the gateway has matched its endpoint, decoded its path parameters
// and authenticated it. The body is passed through untouched; the handler parses it.
struct api_request {
  std::string endpoint;                                     // endpoint catalog name
  std::string method;
  std::vector<std::string> path_params;                     // percent-decoded, template order
  std::vector<std::pair<std::string, std::string>> query;   // decoded; access_token removed
  std::string body;
  std::string content_type;
  std::string user_id;                                      // "" when unauthenticated
  std::string device_id;
  int64_t token_id = 0;
  bool is_guest = false;
  std::string appservice_id;                                // the token was this service's as_token
  std::string client_ip;
  std::string user_agent;
  std::string request_id;
  // A streamed upload (endpoint_spec::large_body): the gateway wrote the body to a spool file in
  // the media store's tmp directory instead of `body`. The name is the gateway's, never the
  // client's; the handler adopts or discards the file.
  std::string body_file;
  int64_t body_size = 0;
  std::string body_sha256;  // hex
  // Server-server requests (an `Authorization: X-Matrix ...` header): the header and the request
  // target as sent (path and query), which the signature covers. Empty otherwise.
  std::string authorization;
  std::string target;
};

struct api_response {
  uint16_t status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Read-after-write: the gateway answers only once its node has seen these positions.
  std::vector<stream_position> wait_for;
  // A file to send as the body (media downloads), streamed by the gateway in chunks with range
  // support; `body` is then empty. The path is on the answering node's media store, which every
  // node whose gateway serves media must share (docs/architecture.md, "Media").
  std::string file_path;
};

// A write submitted to a stream writer. `op` names one of the writer's operations; `args` is a
// JSON object. Writers are the only code that writes their stream's tables.
struct write_request {
  std::string op;
  std::string args;
};

struct write_result {
  int16_t status = 200;         // HTTP-style: 200 ok, otherwise a Matrix error below
  std::string errcode;
  std::string error;
  std::string result;           // JSON
  stream_position position;     // the stream position the write produced (or the current one)
};

// What a writer publishes after each commit: the rows it wrote, as JSON objects.
struct stream_update {
  std::string stream;
  std::string writer;
  int64_t position = 0;
  std::vector<std::string> rows;
};

// ---- node links (actors/runtime/node_link.cpp) ----
// A node proves it holds the placement's shared secret before it learns any actor of ours:
// hello → challenge (the server's proof) → auth (the client's proof) → the server's table.
struct link_hello {
  std::string node;   // who is connecting
  std::string nonce;
  std::string layout; // its placement's layout_text: nodes of incompatible files must not mix
};
struct link_challenge {
  std::string node;   // who answers
  std::string nonce;
  std::string proof;  // HMAC(secret, "server|<server>|<client>|<client nonce>|<server nonce>")
};
struct link_auth {
  std::string node;
  std::string proof;  // HMAC(secret, "client|<client>|<server>|<server nonce>|<client nonce>")
  caf::actor connector;  // receives the server's later table changes
  caf::actor hub;        // receives the server's stream updates
  caf::actor directory;  // the client's own directory: the server's connector links back through it
};
// Instances of the sending node: (group, global index) → handle; an invalid handle = restarting.
struct link_entry {
  std::string group;
  uint64_t index = 0;
  caf::actor handle;
};
struct link_table {
  std::string node;
  std::vector<link_entry> entries;
  caf::actor hub;
  std::string layout;  // the answering node's layout_text: a client with an older one adopts it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_position& x) {
  return f(caf::meta::type_name("stream_position"), x.stream, x.writer, x.position);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_request& x) {
  return f(caf::meta::type_name("api_request"), x.endpoint, x.method, x.path_params, x.query, x.body,
           x.content_type, x.user_id, x.device_id, x.token_id, x.is_guest, x.appservice_id, x.client_ip,
           x.user_agent, x.request_id, x.body_file, x.body_size, x.body_sha256, x.authorization, x.target);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_response& x) {
  return f(caf::meta::type_name("api_response"), x.status, x.body, x.content_type, x.headers, x.wait_for,
           x.file_path);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_request& x) {
  return f(caf::meta::type_name("write_request"), x.op, x.args);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_result& x) {
  return f(caf::meta::type_name("write_result"), x.status, x.errcode, x.error, x.result, x.position);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_update& x) {
  return f(caf::meta::type_name("stream_update"), x.stream, x.writer, x.position, x.rows);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_hello& x) {
  return f(caf::meta::type_name("link_hello"), x.node, x.nonce, x.layout);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_challenge& x) {
  return f(caf::meta::type_name("link_challenge"), x.node, x.nonce, x.proof);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_auth& x) {
  return f(caf::meta::type_name("link_auth"), x.node, x.proof, x.connector, x.hub, x.directory);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_entry& x) {
  return f(caf::meta::type_name("link_entry"), x.group, x.index, x.handle);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_table& x) {
  return f(caf::meta::type_name("link_table"), x.node, x.entries, x.hub, x.layout);
}

} // namespace myelin

CAF_BEGIN_TYPE_ID_BLOCK(myelin, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(myelin, (myelin::stream_position))
  CAF_ADD_TYPE_ID(myelin, (std::vector<myelin::stream_position>))
  CAF_ADD_TYPE_ID(myelin, (myelin::api_request))
  CAF_ADD_TYPE_ID(myelin, (myelin::api_response))
  CAF_ADD_TYPE_ID(myelin, (myelin::write_request))
  CAF_ADD_TYPE_ID(myelin, (myelin::write_result))
  CAF_ADD_TYPE_ID(myelin, (myelin::stream_update))
  CAF_ADD_TYPE_ID(myelin, (std::vector<std::pair<std::string, std::string>>))
  CAF_ADD_TYPE_ID(myelin, (myelin::link_hello))
  CAF_ADD_TYPE_ID(myelin, (myelin::link_challenge))
  CAF_ADD_TYPE_ID(myelin, (myelin::link_auth))
  CAF_ADD_TYPE_ID(myelin, (myelin::link_entry))
  CAF_ADD_TYPE_ID(myelin, (std::vector<myelin::link_entry>))
  CAF_ADD_TYPE_ID(myelin, (myelin::link_table))
  CAF_ADD_TYPE_ID(myelin, (std::vector<myelin::stream_update>))
  CAF_ADD_ATOM(myelin, myelin::atoms, label_atom, "label")
  CAF_ADD_ATOM(myelin, myelin::atoms, subscribe_atom, "subscribe")
  CAF_ADD_ATOM(myelin, myelin::atoms, wait_atom, "wait")
  CAF_ADD_ATOM(myelin, myelin::atoms, publish_atom, "publish")
  CAF_ADD_ATOM(myelin, myelin::atoms, crash_atom, "crash")
  CAF_ADD_ATOM(myelin, myelin::atoms, done_atom, "done")
  CAF_ADD_ATOM(myelin, myelin::atoms, flush_atom, "flush")
  CAF_ADD_ATOM(myelin, myelin::atoms, position_atom, "position")
  CAF_ADD_ATOM(myelin, myelin::atoms, release_atom, "release")
  CAF_ADD_ATOM(myelin, myelin::atoms, forward_atom, "forward")
  CAF_ADD_ATOM(myelin, myelin::atoms, link_atom, "link")
  CAF_ADD_ATOM(myelin, myelin::atoms, redis_atom, "redis")
CAF_END_TYPE_ID_BLOCK(myelin)
