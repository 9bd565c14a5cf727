// Push rules (spec: client-server "Push Rules: API"):
//   GET /pushrules/ (and /pushrules)                     {"global": ruleset}
//   GET /pushrules/global/ (and /pushrules/global)       the ruleset
//   GET /pushrules/global/{kind}/ (and without slash)    the rules of one kind (as Synapse)
//   GET/PUT/DELETE /pushrules/global/{kind}/{ruleId}     one rule; PUT takes ?before= / ?after=
//   GET/PUT /pushrules/global/{kind}/{ruleId}/enabled
//   GET/PUT /pushrules/global/{kind}/{ruleId}/actions
// Reads merge the user's rules with the server defaults (storage/tables/push_rules); writes go to
// the push_rules stream writer, which checks what needs the stored rules (unknown rule → 404,
// before/after → 400) and answers with the position the response waits for.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/push_rules.hpp"
#include "storage/database.hpp"
#include "storage/tables/push_rules.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace push = protocol::push;

namespace {

constexpr const char* prefix = "/_matrix/client/{:r0|v3}/pushrules";

push::rule_kind kind_param(const api_request& req) {
  auto kind = push::parse_kind(req.path_params.at(0));
  if (!kind) throw protocol::errors::invalid_param("Unknown push rule kind '" + req.path_params.at(0) + "'");
  return *kind;
}

push::rule_set rules_of(runtime::handler_context& ctx, const api_request& req) {
  auto c = ctx.db.acquire();
  return storage::push_rules::rule_set_for(*c, req.user_id);
}

const push::rule& find_rule(const push::rule_set& rules, const api_request& req) {
  auto* r = rules.find(kind_param(req), req.path_params.at(1));
  if (!r) throw protocol::errors::not_found("The push rule was not found.");
  return *r;
}

// A write of the push_rules stream about the rule named by the path.
api_response write(runtime::handler_context& ctx, const api_request& req, const std::string& op, json::object args) {
  args["user_id"] = req.user_id;
  args["kind"] = push::to_string(kind_param(req));
  args["rule_id"] = req.path_params.at(1);
  auto w = ctx.writers.write("push_rules", req.user_id, op, args);
  return json_response_after(json::object{}, w.position);
}

// The same handler under a path with and without its trailing slash (clients use both).
void add_both(runtime::endpoint_registry& r, const std::string& name, const std::string& path,
              const runtime::handler_fn& handler) {
  r.add({.name = name, .method = "GET", .path = path + "/"}, handler);
  r.add({.name = name + ".no_slash", .method = "GET", .path = path}, handler);
}

} // namespace

void register_push_rules(runtime::endpoint_registry& r) {
  const std::string base = prefix;
  add_both(r, "push_rules.all", base, [](runtime::handler_context& ctx, const api_request& req) {
    return runtime::json_response(json::object{{"global", rules_of(ctx, req).to_json()}});
  });
  add_both(r, "push_rules.global", base + "/global", [](runtime::handler_context& ctx, const api_request& req) {
    return runtime::json_response(rules_of(ctx, req).to_json());
  });
  add_both(r, "push_rules.kind", base + "/global/{kind}", [](runtime::handler_context& ctx, const api_request& req) {
    auto kind = kind_param(req);
    return runtime::json_response(rules_of(ctx, req).to_json().at(push::to_string(kind)));
  });

  const std::string rule_path = base + "/global/{kind}/{ruleId}";
  r.add({.name = "push_rules.get", .method = "GET", .path = rule_path},
        [](runtime::handler_context& ctx, const api_request& req) {
          return runtime::json_response(find_rule(rules_of(ctx, req), req).to_json());
        });
  r.add({.name = "push_rules.put", .method = "PUT", .path = rule_path},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto kind = kind_param(req);
          const auto& rule_id = req.path_params.at(1);
          push::check_user_rule_id(rule_id);
          auto body = body_object(ctx, req);
          push::parse_user_rule(kind, rule_id, body);  // refuse a bad body here, before the writer
          json::object args{{"rule", std::move(body)}};
          if (auto before = query_param(req, "before"); before && !before->empty()) args["before"] = *before;
          if (auto after = query_param(req, "after"); after && !after->empty()) args["after"] = *after;
          return write(ctx, req, "add", std::move(args));
        });
  r.add({.name = "push_rules.delete", .method = "DELETE", .path = rule_path},
        [](runtime::handler_context& ctx, const api_request& req) { return write(ctx, req, "delete", {}); });

  r.add({.name = "push_rules.enabled.get", .method = "GET", .path = rule_path + "/enabled"},
        [](runtime::handler_context& ctx, const api_request& req) {
          return runtime::json_response(json::object{{"enabled", find_rule(rules_of(ctx, req), req).enabled}});
        });
  r.add({.name = "push_rules.enabled.put", .method = "PUT", .path = rule_path + "/enabled"},
        [](runtime::handler_context& ctx, const api_request& req) {
          kind_param(req);
          auto enabled = protocol::opt_bool(body_object(ctx, req), "enabled");
          if (!enabled) throw protocol::errors::bad_json("'enabled' must be a boolean");
          return write(ctx, req, "set_enabled", {{"enabled", *enabled}});
        });
  r.add({.name = "push_rules.actions.get", .method = "GET", .path = rule_path + "/actions"},
        [](runtime::handler_context& ctx, const api_request& req) {
          return runtime::json_response(json::object{{"actions", find_rule(rules_of(ctx, req), req).actions}});
        });
  r.add({.name = "push_rules.actions.put", .method = "PUT", .path = rule_path + "/actions"},
        [](runtime::handler_context& ctx, const api_request& req) {
          kind_param(req);
          auto body = body_object(ctx, req);
          auto* actions = body.if_contains("actions");
          if (!actions) throw protocol::errors::bad_json("'actions' is required");
          return write(ctx, req, "set_actions", {{"actions", push::parse_actions(*actions)}});
        });
}

} // namespace myelin::endpoints
