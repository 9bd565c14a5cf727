#include "actors/pusher/push_gateway.hpp"

#include <boost/json.hpp>


#include "outbound/http_fetch.hpp"

namespace myelin::pusher {

namespace json = boost::json;

std::optional<std::string> invalid_gateway_url(const std::string& url) {
  if (auto why = outbound::unfetchable(url)) return why;
  // unfetchable() accepted an absolute http(s) URL: the path starts after "scheme://authority".
  auto authority = url.find("://");
  auto slash = url.find('/', authority + 3);
  std::string path = slash == std::string::npos ? "" : url.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  if (path != notify_path) return std::string("the path must be ") + notify_path;
  return std::nullopt;
}

namespace {

// The tweaks of a notify action list ({"set_tweak": "sound", "value": "default"} → sound:
// default; highlight without a value means true).
json::object tweaks_of(const std::string& actions_text) {
  json::object tweaks;
  boost::system::error_code ec;
  auto actions = json::parse(actions_text, ec);
  if (ec || !actions.is_array()) return tweaks;
  for (const auto& a : actions.as_array()) {
    if (!a.is_object()) continue;
    const auto* name = a.as_object().if_contains("set_tweak");
    if (!name || !name->is_string()) continue;
    const auto* value = a.as_object().if_contains("value");
    tweaks[name->as_string()] = value ? *value : json::value(name->as_string() == "highlight");
  }
  return tweaks;
}

} // namespace

json::object notification_body(const event_info& ev, const storage::pushers::target& t, int64_t unread) {
  auto data = json::parse(t.p.data).as_object();
  const auto* format = data.if_contains("format");
  bool id_only = format && format->is_string() && format->as_string() == "event_id_only";
  data.erase("url");  // the spec: forward all of data but url
  auto tweaks = tweaks_of(t.actions);
  // As Synapse: high priority for what should wake a phone (encrypted, highlighted or sounding).
  const auto* highlight = tweaks.if_contains("highlight");
  bool high = ev.type == "m.room.encrypted" || (highlight && highlight->is_bool() && highlight->as_bool()) ||
              tweaks.contains("sound");
  json::object device{{"app_id", t.p.app_id},
                      {"pushkey", t.p.pushkey},
                      {"pushkey_ts", t.p.pushkey_ts / 1000},  // seconds
                      {"data", std::move(data)},
                      {"tweaks", std::move(tweaks)}};
  json::object n{{"event_id", ev.event_id},
                 {"room_id", ev.room_id},
                 {"counts", json::object{{"unread", unread}, {"missed_calls", 0}}},
                 {"devices", json::array{std::move(device)}},
                 {"prio", high ? "high" : "low"}};
  if (!id_only) {
    n["type"] = ev.type;
    n["sender"] = ev.sender;
    boost::system::error_code ec;
    auto pdu = json::parse(ev.event_json, ec);
    if (!ec && pdu.is_object())
      if (const auto* content = pdu.as_object().if_contains("content")) n["content"] = *content;
  }
  return json::object{{"notification", std::move(n)}};
}

delivery post_notification(const std::string& url, const json::object& body, std::chrono::milliseconds timeout) {
  outbound::fetch_options opts;
  opts.method = "POST";
  opts.headers = {{"Content-Type", "application/json"}};
  opts.body = json::serialize(body);
  opts.user_agent = outbound::fetch_options::default_user_agent("push");
  opts.timeout = timeout;
  opts.max_redirects = 0;
  opts.max_bytes = 64 << 10;
  // Any address: a gateway is chosen by the user's app, and Synapse does not restrict it either.
  opts.ip_policy = nullptr;
  delivery d;
  try {
    auto r = outbound::fetch(opts, url);
    if (r.status >= 200 && r.status < 300) {
      d.result = outcome::delivered;
      boost::system::error_code ec;
      auto answer = json::parse(r.body, ec);
      if (!ec && answer.is_object())
        if (const auto* rej = answer.as_object().if_contains("rejected"); rej && rej->is_array())
          for (const auto& k : rej->as_array())
            if (k.is_string()) d.rejected.emplace_back(k.as_string());
      return d;
    }
    d.error = "status " + std::to_string(r.status);
    d.result = r.status < 500 && r.status != 429 ? outcome::refused : outcome::retry;
  } catch (const outbound::fetch_error& e) {
    d.error = e.what();
    d.result = outcome::retry;
  }
  return d;
}

} // namespace myelin::pusher
