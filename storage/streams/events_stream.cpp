// The events stream writer's operations (see events_stream.hpp for the contract).
#include "storage/streams/events_stream.hpp"
#include "storage/streams/events_persister.hpp"

#include <boost/json.hpp>
#include <memory>
#include <unordered_map>

#include "common/clock.hpp"
#include "protocol/auth_rules.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_builder.hpp"
#include "protocol/json.hpp"
#include "protocol/power_levels.hpp"
#include "protocol/redaction.hpp"
#include "protocol/room_versions.hpp"
#include "storage/streams/event_push.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/room_moderation.hpp"
#include "storage/tables/sliding_sync.hpp"

namespace myelin::storage::persister {

namespace json = boost::json;
using protocol::opt_string;
using protocol::req_string;


protocol::pdu to_pdu(const events::event_row& e) {
  protocol::pdu p;
  p.event_id = e.event_id;
  p.json = json::parse(e.json).as_object();
  return p;
}

protocol::event_template parse_template(const json::object& t) {
  protocol::event_template out;
  out.type = req_string(t, "type");
  out.state_key = opt_string(t, "state_key");
  if (auto* c = protocol::opt_object(t, "content")) out.content = *c;
  out.sender = req_string(t, "sender");
  out.redacts = opt_string(t, "redacts");
  return out;
}

// The auth state for `ev`, from the room's current state (the persister's head is always the
// current state: it is the only writer of this room). Keys not yet in `ra.state` are loaded in
// one query.
protocol::auth_state load_auth_state(connection& c, room_append& ra, const protocol::pdu& skeleton) {
  auto keys = protocol::auth_types_for_event(*ra.version, skeleton);
  std::vector<protocol::state_key_pair> missing;
  for (const auto& k : keys)
    if (!ra.state.count(k)) missing.push_back(k);
  if (!missing.empty()) {
    std::string sql = "SELECT e.event_id, e.json, e.redacted_by FROM current_state_events cs JOIN events e "
                      "ON e.event_id = cs.event_id "
                      "WHERE cs.room_id = $1 AND (";
    sql_params params{ra.room.room_id};
    for (size_t i = 0; i < missing.size(); ++i) {
      sql += (i ? " OR " : "") + std::string("(cs.type = $") + std::to_string(params.size() + 1) +
             " AND cs.state_key = $" + std::to_string(params.size() + 2) + ")";
      params.push_back(missing[i].first);
      params.push_back(missing[i].second);
    }
    sql += ")";
    for (const auto& k : missing) ra.state[k] = nullptr;  // absent unless found below
    auto r = c.exec(sql, params);
    for (size_t i = 0; i < r.size(); ++i) {
      auto pdu_json = json::parse(r[i].as_text(1)).as_object();
      // A redacted auth event counts as what survives its redaction (as in Synapse).
      if (!r[i].is_null(2)) pdu_json = protocol::redact(pdu_json, ra.room.room_version);
      auto p = std::make_shared<protocol::pdu>(protocol::pdu{r[i].as_text(0), std::move(pdu_json)});
      if (auto sk = p->state_key()) ra.state[{std::string(p->type()), std::string(*sk)}] = std::move(p);
    }
  }
  protocol::auth_state state;
  for (const auto& k : keys)
    if (auto it = ra.state.find(k); it != ra.state.end() && it->second) state[k] = it->second.get();
  return state;
}

// A local redaction needs more than the auth rules (which from v3 on leave it to the server that
// serves the event): the redacter must have sent the event or hold the redact power level.
void check_local_redaction(connection& c, const room_append& ra, const protocol::event_template& t,
                           const protocol::auth_state& auth) {
  if (!t.redacts) throw protocol::errors::bad_json("m.room.redaction needs 'redacts'");
  auto target = events::get_event(c, *t.redacts);
  if (!target || target->room_id != ra.room.room_id) throw protocol::errors::not_found("Event not found");
  if (target->sender == t.sender) return;
  auto pl_it = auth.find({"m.room.power_levels", ""});
  auto create_it = auth.find({"m.room.create", ""});
  auto levels = protocol::effective_power_levels(pl_it == auth.end() ? nullptr : pl_it->second,
                                                 create_it == auth.end() ? nullptr : create_it->second, *ra.version);
  if (levels.user_level(t.sender) < levels.redact)
    throw protocol::errors::forbidden("You don't have permission to redact events");
}

void index_relations_and_search(connection& c, const events::event_row& row, const protocol::pdu& p) {
  const auto& content = p.content();
  if (auto* rel = content.if_contains("m.relates_to"); rel && rel->is_object()) {
    const auto& r = rel->as_object();
    auto* rel_type = r.if_contains("rel_type");
    auto* target = r.if_contains("event_id");
    if (rel_type && rel_type->is_string() && target && target->is_string()) {
      std::optional<std::string> key;
      if (auto* k = r.if_contains("key"); k && k->is_string()) key = std::string(k->as_string());
      events::insert_relation(c, row.event_id, row.room_id, std::string(target->as_string()),
                              std::string(rel_type->as_string()), key);
    }
  }
  const char* field = row.type == "m.room.message" ? "body"
                      : row.type == "m.room.name"  ? "name"
                      : row.type == "m.room.topic" ? "topic"
                                                   : nullptr;
  if (field)
    if (auto* v = content.if_contains(field); v && v->is_string() && !v->as_string().empty())
      events::insert_search_entry(c, row, std::string("content.") + field, std::string(v->as_string()));
}

// Records whom `ev` notifies (storage/streams/event_push). The room's members stay in the room
// cache: loaded once, then changed by the member events this persister appends. Runs before
// ra.state takes `ev`, so it still holds the target's previous membership.
void record_push_actions(connection& c, persister_state& ps, room_append& ra, const events::event_row& row,
                         const protocol::pdu& ev) {
  auto current = [&](const char* type, const std::string& key) -> const protocol::pdu* {
    auto it = ra.state.find({type, key});
    return it != ra.state.end() ? it->second.get() : nullptr;
  };
  if (row.membership && ra.members) {
    const protocol::pdu* prev = current("m.room.member", *row.state_key);  // an auth event: loaded
    ra.members = ps.push.apply_member_event(ra.members, ev, prev && prev->membership() == "join");
  }
  if (!ra.members) ra.members = ps.push.load_members(c, ra.room.room_id);
  ps.push.on_event(c, row, ev, *ra.members, [&] {
    return protocol::effective_power_levels(current("m.room.power_levels", ""), current("m.room.create", ""),
                                            *ra.version);
  });
}

// Builds, authorises and stores one event at the head of `ra`. Returns the published row.
protocol::pdu build_local_event(connection& c, persister_state& ps, room_append& ra, const protocol::event_template& t) {
  const event_signer& signer = ps.signer;
  protocol::pdu skeleton;
  skeleton.json = {{"type", t.type}, {"sender", t.sender}, {"room_id", ra.room.room_id}, {"content", t.content}};
  if (t.state_key) skeleton.json["state_key"] = *t.state_key;

  auto auth = load_auth_state(c, ra, skeleton);
  if (t.type == "m.room.redaction") check_local_redaction(c, ra, t, auth);

  protocol::event_position_in_dag dag;
  dag.prev_events = ra.head.forward_extremities;
  dag.depth = ra.head.depth + 1;
  for (const auto& [key, ev] : auth) dag.auth_events.push_back(ev->event_id);
  protocol::pdu ev = protocol::build_event(*ra.version, ra.room.room_id, t, dag, now_ms(), signer.server_name,
                                           signer.key);
  if (auto reason = protocol::check_auth(*ra.version, ev, auth)) throw protocol::errors::forbidden(*reason);
  return ev;
}

json::object append_event(op_context& ctx, persister_state& ps, room_append& ra, const protocol::event_template& t,
                          const json::object* txn) {
  connection& c = ctx.db;
  protocol::pdu ev = build_local_event(c, ps, ra, t);
  event_placement where;
  where.state_group_before = ra.head.state_group;
  where.txn = txn;
  if (t.state_key) {
    if (auto it = ra.state.find({t.type, *t.state_key}); it != ra.state.end()) {
      if (it->second) where.replaces = it->second->event_id;
    } else {
      where.replaces = events::current_state_event_id(c, ra.room.room_id, t.type, *t.state_key);
    }
  }
  auto row = store_event(ctx, ps, ra, ev, where);
  if (t.state_key) {
    events::set_current_state(c, ra.room.room_id, t.type, *t.state_key, ev.event_id, row.membership);
    ra.state[{t.type, *t.state_key}] = std::make_shared<protocol::pdu>(ev);
  }
  ra.head.forward_extremities = {ev.event_id};
  ra.head.depth = ev.depth();
  ra.head.state_group = row.state_group;
  ra.head.last_persister = ctx.writer;
  ra.head.last_stream_ordering = row.stream_ordering;
  if (storage::sliding_sync::is_bump_event_type(row.type)) ra.head.bump_stamp = row.stream_ordering;
  ra.event_ids.push_back(ev.event_id);
  return published_row(row);
}

events::event_row store_event(op_context& ctx, persister_state& ps, room_append& ra, protocol::pdu& ev,
                              const event_placement& where) {
  connection& c = ctx.db;
  auto state_key = ev.state_key();
  std::string type(ev.type());
  // What clients see as unsigned.prev_content: kept with the event (unsigned is outside hashes
  // and signatures), so reads need no extra lookup. The replaced event's row says whether it was
  // redacted (a redacted state event's content is gone for clients too).
  ev.json.erase("unsigned");
  if (state_key && where.replaces)
    if (auto prev = events::get_event(c, *where.replaces)) {
      json::object u{{"replaces_state", prev->event_id}, {"prev_sender", prev->sender}};
      u["prev_content"] = prev->redacted_by ? json::object{} : to_pdu(*prev).content();
      ev.json["unsigned"] = std::move(u);
    }
  if (where.extra_unsigned) {
    auto& u = ev.json["unsigned"];
    if (!u.is_object()) u = json::object{};
    for (const auto& [k, v] : *where.extra_unsigned) u.as_object()[k] = v;
  }

  events::event_row row;
  row.event_id = ev.event_id;
  row.room_id = ra.room.room_id;
  // Outliers are told apart by their persister name too ("outlier:…", "soft_failed:…"): a later
  // backfill may put a plain outlier on the timeline, never a soft-failed event.
  row.persister = where.outlier ? std::string(where.soft_failed ? "soft_failed:" : "outlier:") + ctx.writer
                  : where.backfilled ? "backfill:" + ctx.writer
                                     : ctx.writer;
  row.stream_ordering = where.outlier ? -ctx.next_position() : ctx.next_position();
  row.topological_ordering = ev.depth();
  row.type = type;
  if (state_key) row.state_key = std::string(*state_key);
  row.sender = std::string(ev.sender());
  row.origin_server_ts = ev.origin_server_ts();
  if (type == "m.room.member") row.membership = std::string(ev.membership());
  if (where.txn) {
    row.txn_id = req_string(*where.txn, "txn_id");
    row.txn_device_id = req_string(*where.txn, "device_id");
  }
  // A pure outlier (no known state before it) gets no state group: its state is unknown here.
  // Backfilled history takes the state it is given as is (an approximation: see events_remote.cpp).
  if (state_key && !where.backfilled && (!where.outlier || where.state_group_before)) {
    events::state_ids change{{{type, *row.state_key}, ev.event_id}};
    row.state_group = events::add_state_group(c, ra.room.room_id, ev.event_id, where.state_group_before, change);
  } else {
    row.state_group = where.state_group_before;
  }
  row.json = json::serialize(ev.json);
  events::insert_event(c, row);
  if (where.outlier) return row;
  index_relations_and_search(c, row, ev);
  if (auto redacts = ev.redacts(); type == "m.room.redaction" && redacts) {
    events::insert_redaction(c, ev.event_id, std::string(*redacts), ra.room.room_id);
    // Redacting a current state event changes what later auth checks see.
    for (auto& [key, cached] : ra.state)
      if (cached && cached->event_id == *redacts)
        cached = std::make_shared<protocol::pdu>(
            protocol::pdu{cached->event_id, protocol::redact(cached->json, ra.room.room_version)});
  }
  if (where.backfilled) return row;  // history: nobody is notified of it, nothing current changes
  // Coming back to a forgotten room un-forgets it.
  if (row.membership && *row.membership != "leave" && *row.membership != "ban")
    c.exec("DELETE FROM room_forgotten WHERE user_id = $1 AND room_id = $2", {*row.state_key, ra.room.room_id});
  record_push_actions(c, ps, ra, row, ev);
  return row;
}

json::object published_row(const events::event_row& row) {
  json::object out{{"type", "event"},       {"position", row.stream_ordering}, {"room_id", row.room_id},
                   {"event_id", row.event_id}, {"event_type", row.type},        {"sender", row.sender}};
  if (row.state_key) out["state_key"] = *row.state_key;
  if (row.membership) out["membership"] = *row.membership;
  return out;
}

room_append open_room(persister_state& ps, connection& c, const std::string& room_id) {
  if (auto cached = ps.cache.find(room_id)) return std::move(*cached);
  // Room and head in one query.
  auto r = c.exec("SELECT r.room_version, r.creator, r.is_public, r.created_ts, h.forward_extremities, h.depth, "
                  "h.state_group, h.last_persister, h.last_stream_ordering, h.bump_stamp FROM rooms r JOIN room_heads h "
                  "ON h.room_id = r.room_id WHERE r.room_id = $1",
                  {room_id});
  if (r.empty()) throw protocol::errors::not_found("Unknown room " + room_id);
  room_append ra;
  ra.room = events::room_row{room_id, r[0].as_text(0), r[0].as_text(1), r[0].as_int(2) != 0, r[0].as_int(3)};
  ra.head.room_id = room_id;
  auto extremities = json::parse(r[0].as_text(4));  // named: a temporary would die before the loop
  for (const auto& v : extremities.as_array()) ra.head.forward_extremities.emplace_back(v.as_string());
  ra.head.depth = r[0].as_int(5);
  ra.head.state_group = r[0].opt_int(6);
  ra.head.last_persister = r[0].as_text(7);
  ra.head.last_stream_ordering = r[0].as_int(8);
  ra.head.bump_stamp = r[0].as_int(9);
  ra.version = protocol::find_room_version(ra.room.room_version);
  if (!ra.version)
    throw protocol::matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version " + ra.room.room_version);
  return ra;
}

void insert_alias(connection& c, const std::string& alias, const std::string& room_id, const std::string& creator) {
  try {
    c.exec("INSERT INTO room_aliases (room_alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4)",
           {alias, room_id, creator, now_ms()});
  } catch (const database_error& e) {
    if (e.unique_violation()) throw protocol::matrix_error(409, "M_ROOM_IN_USE", "Room alias already taken");
    throw;
  }
}

op_output create_room(op_context& ctx, persister_state& ps, const json::object& args) {
  connection& c = ctx.db;
  room_append ra;
  ra.room.room_id = req_string(args, "room_id");
  ra.room.room_version = req_string(args, "room_version");
  ra.room.creator = req_string(args, "creator");
  ra.room.is_public = protocol::opt_bool(args, "is_public").value_or(false);
  ra.room.created_ts = now_ms();
  ra.version = protocol::find_room_version(ra.room.room_version);
  if (!ra.version)
    throw protocol::matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version " + ra.room.room_version);
  try {
    events::insert_room(c, ra.room);
  } catch (const database_error& e) {
    if (e.unique_violation()) throw protocol::matrix_error(409, "M_ROOM_IN_USE", "Room id already in use");
    throw;
  }
  ra.head.room_id = ra.room.room_id;
  if (auto* aliases = protocol::opt_array(args, "aliases"))
    for (const auto& a : *aliases)
      if (a.is_string()) insert_alias(c, std::string(a.as_string()), ra.room.room_id, ra.room.creator);

  op_output out{json::object{}, {}};
  auto* templates = protocol::opt_array(args, "events");
  if (!templates || templates->empty()) throw protocol::errors::bad_json("create_room needs events");
  for (const auto& t : *templates) {
    if (!t.is_object()) throw protocol::errors::bad_json("event templates must be objects");
    out.rows.push_back(append_event(ctx, ps, ra, parse_template(t.as_object()), nullptr));
  }
  json::array ids;
  for (const auto& id : ra.event_ids) ids.emplace_back(id);
  out.result = json::object{{"room_id", ra.room.room_id}, {"event_ids", std::move(ids)}};
  ps.cache.stage(std::move(ra));
  return out;
}

op_output append(op_context& ctx, persister_state& ps, const json::object& args) {
  connection& c = ctx.db;
  auto room_id = req_string(args, "room_id");
  auto* tmpl = protocol::opt_object(args, "event");
  if (!tmpl) throw protocol::errors::bad_json("append needs an event");
  auto t = parse_template(*tmpl);

  // Idempotency: the same (user, device, scope, txn) returns the event it made the first time.
  const json::object* txn = protocol::opt_object(args, "txn");
  if (txn) {
    if (auto existing = events::event_for_txn(c, room_id, req_string(*txn, "user_id"), req_string(*txn, "device_id"),
                                              req_string(*txn, "scope"), req_string(*txn, "txn_id"))) {
      return op_output{json::object{{"event_id", *existing}, {"duplicate", true}}, {}};
    }
  }
  auto ra = open_room(ps, c, room_id);
  op_output out{json::object{}, {}};
  out.rows.push_back(append_event(ctx, ps, ra, t, txn));
  out.result = json::object{{"event_id", ra.event_ids.back()}, {"stream_ordering", ra.head.last_stream_ordering}};
  ps.cache.stage(std::move(ra));
  return out;
}

// An event built, authorised and signed at the room's head but not stored: an invite of another
// server's user, which that server signs before it is stored (persist_remote).
op_output build_event_op(op_context& ctx, persister_state& ps, const json::object& args) {
  auto ra = open_room(ps, ctx.db, req_string(args, "room_id"));
  auto* tmpl = protocol::opt_object(args, "event");
  if (!tmpl) throw protocol::errors::bad_json("build_event needs an event");
  auto ev = build_local_event(ctx.db, ps, ra, parse_template(*tmpl));
  return op_output{json::object{{"event_id", ev.event_id}, {"event", std::move(ev.json)}}, {}};
}

op_output set_alias(op_context& ctx, const json::object& args) {
  auto room_id = req_string(args, "room_id");
  if (!events::get_room(ctx.db, room_id)) throw protocol::errors::not_found("Unknown room " + room_id);
  auto alias = req_string(args, "room_alias");
  insert_alias(ctx.db, alias, room_id, req_string(args, "creator"));
  return {json::object{}, {json::object{{"type", "alias_added"}, {"room_alias", alias}, {"room_id", room_id}}}};
}

op_output delete_alias(op_context& ctx, const json::object& args) {
  auto alias = req_string(args, "room_alias");
  auto r = ctx.db.exec("DELETE FROM room_aliases WHERE room_alias = $1", {alias});
  if (r.affected_rows() == 0) throw protocol::errors::not_found("Room alias not found");
  return {json::object{}, {json::object{{"type", "alias_removed"}, {"room_alias", alias}}}};
}

op_output set_visibility(op_context& ctx, const json::object& args) {
  auto room_id = req_string(args, "room_id");
  bool is_public = protocol::opt_bool(args, "is_public").value_or(false);
  auto r = ctx.db.exec("UPDATE rooms SET is_public = $2 WHERE room_id = $1", {room_id, int64_t(is_public)});
  if (r.affected_rows() == 0) throw protocol::errors::not_found("Unknown room " + room_id);
  return {json::object{}, {json::object{{"type", "visibility"}, {"room_id", room_id}, {"is_public", is_public}}}};
}

op_output forget(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto room_id = req_string(args, "room_id");
  ctx.db.exec("INSERT INTO room_forgotten (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
              {user_id, room_id});
  return {json::object{}, {json::object{{"type", "forgotten"}, {"user_id", user_id}, {"room_id", room_id}}}};
}

// Room moderation (admin API). Rows: {"type": "room_blocked", "room_id", "blocked"},
// {"type": "room_purged", "room_id"}, {"type": "history_purged", "room_id"},
// {"type": "room_task", "room_id", "task_id"}.
op_output block_room(op_context& ctx, const json::object& args) {
  auto room_id = req_string(args, "room_id");
  bool blocked = protocol::opt_bool(args, "block").value_or(true);
  room_moderation::set_blocked(ctx.db, room_id, req_string(args, "user_id"), blocked);
  return {json::object{}, {json::object{{"type", "room_blocked"}, {"room_id", room_id}, {"blocked", blocked}}}};
}

op_output purge_room(op_context& ctx, persister_state& ps, const json::object& args) {
  auto room_id = req_string(args, "room_id");
  room_moderation::purge_room(ctx.db, room_id);
  ps.cache.forget(room_id);
  return {json::object{}, {json::object{{"type", "room_purged"}, {"room_id", room_id}}}};
}

// Message events before a point (room_moderation::purge_history); state and the latest message stay,
// so the persister's cached room (state and head) remains true.
op_output purge_history(op_context& ctx, const json::object& args) {
  auto room_id = req_string(args, "room_id");
  room_moderation::history_cutoff cut;
  cut.before_depth = protocol::opt_int(args, "before_depth");
  cut.before_ts = protocol::opt_int(args, "before_ts");
  cut.delete_local_events = protocol::opt_bool(args, "delete_local_events").value_or(false);
  cut.server_name = req_string(args, "server_name");
  auto deleted = room_moderation::purge_history(ctx.db, room_id, cut);
  return {json::object{{"deleted", deleted}}, {json::object{{"type", "history_purged"}, {"room_id", room_id}}}};
}

op_output record_room_task(op_context& ctx, const json::object& args) {
  room_moderation::task_row t;
  t.task_id = req_string(args, "task_id");
  t.kind = req_string(args, "kind");
  t.room_id = req_string(args, "room_id");
  t.status = req_string(args, "status");
  t.error = opt_string(args, "error");
  auto* result = protocol::opt_object(args, "result");
  t.result = protocol::to_string(result ? *result : json::object{});
  t.created_ts = protocol::opt_int(args, "created_ts").value_or(now_ms());
  room_moderation::upsert_task(ctx.db, t);
  return {json::object{}, {json::object{{"type", "room_task"}, {"room_id", t.room_id}, {"task_id", t.task_id}}}};
}

} // namespace myelin::storage::persister

namespace myelin::storage {

using namespace persister;

stream_definition events_stream(const event_signer& signer) {
  auto ps = std::make_shared<persister_state>(signer);
  stream_definition def{
      "events",
      {
          {"create_room", [ps](op_context& ctx, const json::object& a) { return create_room(ctx, *ps, a); }},
          {"append", [ps](op_context& ctx, const json::object& a) { return append(ctx, *ps, a); }},
          {"build_event", [ps](op_context& ctx, const json::object& a) { return build_event_op(ctx, *ps, a); }},
          {"set_alias", set_alias},
          {"delete_alias", delete_alias},
          {"set_visibility", set_visibility},
          {"forget", forget},
          {"block_room", block_room},
          {"purge_room", [ps](op_context& ctx, const json::object& a) { return purge_room(ctx, *ps, a); }},
          {"purge_history", purge_history},
          {"record_room_task", record_room_task},
      },
      /*log_rows=*/false};
  add_federation_ops(def.ops, ps);
  def.hooks.on_begin = [ps] {
    ps->cache.begin();
    ps->push.begin_batch();
  };
  def.hooks.on_commit = [ps] { ps->cache.commit(); };
  def.hooks.on_abort = [ps] { ps->cache.abort(); };
  def.hooks.on_flush = [ps](connection& c) { ps->cache.write_heads(c); };
  return def;
}

} // namespace myelin::storage
