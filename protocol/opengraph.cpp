#include "protocol/opengraph.hpp"

#include <libxml/HTMLparser.h>
#include <libxml/encoding.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url.hpp>
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace myelin::protocol {

namespace {

namespace json = boost::json;

constexpr size_t max_tags_per_prefix = 50;
constexpr size_t max_key_chars = 50;
constexpr size_t max_value_chars = 1000;
constexpr size_t description_min_chars = 200;  // paragraphs are added until the text is this long
constexpr size_t description_max_chars = 500;
constexpr size_t max_walk_stack = 1024;        // bounds the text walk's memory on deep trees

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

// Code points, not bytes: the limits are Synapse's, counted in characters.
size_t chars(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xc0) != 0x80; }));
}

// The first `n` code points of s.
std::string_view first_chars(std::string_view s, size_t n) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i)
    if ((s[i] & 0xc0) != 0x80 && seen++ == n) return s.substr(0, i);
  return s;
}

// ---- libxml2 ----

void ignore_message(void*, const char*, ...) {}
void ignore_error(void*, xmlErrorPtr) {}

struct doc_deleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

std::unique_ptr<xmlDoc, doc_deleter> parse_html(std::string_view html, const std::string& page_url,
                                                const std::string& charset) {
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  // Error reporting is per thread in libxml2; a broken page must not write to the server's stderr.
  xmlSetGenericErrorFunc(nullptr, ignore_message);
  xmlSetStructuredErrorFunc(nullptr, ignore_error);

  html = html.substr(0, std::min<size_t>(html.size(), max_html_parse_bytes));
  // A charset libxml2 does not know is dropped: the page's own <meta charset> or its guess follows.
  const char* encoding = nullptr;
  if (!charset.empty()) {
    if (xmlCharEncodingHandlerPtr h = xmlFindCharEncodingHandler(charset.c_str())) {
      xmlCharEncCloseFunc(h);
      encoding = charset.c_str();
    }
  }
  int options = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET;
  return std::unique_ptr<xmlDoc, doc_deleter>(htmlReadMemory(html.data(), static_cast<int>(html.size()),
                                                             page_url.c_str(), encoding, options));
}

bool is_element(const xmlNode* n, const char* name) {
  return n->type == XML_ELEMENT_NODE && n->name && xmlStrcasecmp(n->name, BAD_CAST name) == 0;
}

std::optional<std::string> attr(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, BAD_CAST name);
  if (!v) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return out;
}

// An attribute with something in it, as Synapse's NON_BLANK test wants.
std::optional<std::string> non_blank_attr(const xmlNode* n, const char* name) {
  auto v = attr(n, name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

std::string text_of(const xmlNode* n) {
  xmlChar* v = xmlNodeGetContent(n);
  if (!v) return {};
  std::string out(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return out;
}

// Calls fn on every element in document order, without recursion (pages nest deeply).
template <class Fn>
void each_element(xmlNode* root, Fn&& fn) {
  for (xmlNode* n = root; n;) {
    if (n->type == XML_ELEMENT_NODE) fn(n);
    if (n->children && (n->type == XML_ELEMENT_NODE || n->type == XML_DOCUMENT_NODE ||
                        n->type == XML_HTML_DOCUMENT_NODE)) {
      n = n->children;
      continue;
    }
    while (n && !n->next && n != root) n = n->parent;
    if (!n || n == root) break;
    n = n->next;
  }
}

// ---- the pieces of a preview ----

struct page_facts {
  // (property, content) of the tags that can become OpenGraph keys, in document order.
  std::vector<std::pair<std::string, std::string>> property_tags;  // og:, article:, profile:
  std::vector<std::pair<std::string, std::string>> twitter_tags;
  std::optional<std::string> title;
  std::optional<std::string> itemprop_image;
  std::optional<std::string> description_meta;
  std::optional<std::string> largest_image;
  double largest_area = 0;
  std::optional<std::string> first_image;
  std::optional<std::string> icon;
};

double number_attr(const xmlNode* n, const char* name) {
  auto v = attr(n, name);
  if (!v) return 0;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  return end == v->c_str() ? 0 : d;
}

bool has_rel_icon(const xmlNode* n) {
  auto rel = attr(n, "rel");
  if (!rel) return false;
  std::string r = " " + lower(*rel) + " ";
  for (char& c : r)
    if (is_space(c)) c = ' ';
  return r.find(" icon ") != std::string::npos;
}

std::string collapse(std::string_view s);

page_facts gather(xmlNode* root) {
  page_facts f;
  each_element(root, [&](xmlNode* n) {
    if (is_element(n, "meta")) {
      auto content = non_blank_attr(n, "content");
      if (!content) return;
      if (auto property = attr(n, "property")) {
        if (property->starts_with("og:") || property->starts_with("article:") || property->starts_with("profile:"))
          f.property_tags.emplace_back(*property, *content);
      }
      if (auto name = attr(n, "name")) {
        if (name->starts_with("twitter:")) f.twitter_tags.emplace_back(*name, *content);
        if (!f.description_meta && lower(*name).find("description") != std::string::npos) f.description_meta = content;
      }
      if (auto itemprop = attr(n, "itemprop"); itemprop && !f.itemprop_image &&
                                                lower(*itemprop).find("image") != std::string::npos)
        f.itemprop_image = content;
    } else if (is_element(n, "title") || is_element(n, "h1") || is_element(n, "h2") || is_element(n, "h3")) {
      if (!f.title) {
        auto t = collapse(text_of(n));
        if (!t.empty()) f.title = std::move(t);
      }
    } else if (is_element(n, "img")) {
      auto src = non_blank_attr(n, "src");
      if (!src) return;
      if (!f.first_image) f.first_image = src;
      double w = number_attr(n, "width"), h = number_attr(n, "height");
      if (w > 10 && h > 10 && w * h > f.largest_area) {
        f.largest_area = w * h;
        f.largest_image = src;
      }
    } else if (is_element(n, "link") && !f.icon && has_rel_icon(n)) {
      f.icon = non_blank_attr(n, "href");
    }
  });
  return f;
}

// The tags of one kind, the first of each key; none at all past the per-prefix limit (a page with
// hundreds of them is abusing the preview, not describing itself).
void merge_tags(json::object& og, const std::vector<std::pair<std::string, std::string>>& tags,
                std::string_view prefix, bool twitter) {
  size_t count = 0;
  for (const auto& [key, _] : tags)
    if (key.starts_with(prefix)) ++count;
  if (count > max_tags_per_prefix) return;
  for (const auto& [key, value] : tags) {
    if (!key.starts_with(prefix)) continue;
    std::string k = key;
    if (twitter) {
      // Twitter's own account fields have no OpenGraph meaning; the rest fill gaps only.
      if (key == "twitter:card" || key == "twitter:creator" || key == "twitter:site") continue;
      k = "og:" + key.substr(prefix.size());
    }
    if (!og.contains(k)) og[k] = value;
  }
}

// The page's prose in document order, skipping what is not shown as prose: text, and the
// boundaries of block elements (inline markup such as <b> runs on inside a paragraph).
class text_walker {
public:
  struct piece {
    bool boundary = false;
    std::string text;
  };

  explicit text_walker(xmlNode* root) { stack_.push_back({root, false}); }

  std::optional<piece> next() {
    while (!stack_.empty()) {
      auto [n, leaving] = stack_.back();
      stack_.pop_back();
      if (leaving) return piece{true, {}};
      if (n->type == XML_TEXT_NODE) return piece{false, text_of(n)};
      if (n->type == XML_ELEMENT_NODE && skipped(n)) continue;
      if (n->type != XML_ELEMENT_NODE && n->type != XML_HTML_DOCUMENT_NODE && n->type != XML_DOCUMENT_NODE) continue;
      bool block = n->type == XML_ELEMENT_NODE && is_block(n);
      if (block) stack_.push_back({n, true});
      std::vector<xmlNode*> children;
      for (xmlNode* c = n->children; c; c = c->next) children.push_back(c);
      for (auto it = children.rbegin(); it != children.rend() && stack_.size() < max_walk_stack; ++it)
        stack_.push_back({*it, false});
      if (block) return piece{true, {}};
    }
    return std::nullopt;
  }

private:
  static bool one_of(const xmlNode* n, std::initializer_list<const char*> names) {
    return std::any_of(names.begin(), names.end(), [&](const char* name) { return is_element(n, name); });
  }
  static bool skipped(const xmlNode* n) {
    if (one_of(n, {"head", "header", "nav", "aside", "footer", "script", "noscript", "style", "svg", "iframe", "video",
                   "canvas", "img", "picture", "template"}))
      return true;
    if (auto role = attr(n, "role")) {
      auto r = lower(*role);
      return r == "directory" || r == "menu" || r == "menubar" || r == "toolbar";
    }
    return false;
  }
  static bool is_block(const xmlNode* n) {
    return one_of(n, {"p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
                      "blockquote", "pre", "section", "article", "main", "table", "tr", "td", "th", "figure",
                      "figcaption", "form", "fieldset", "details", "summary", "hr", "address", "body"});
  }
  std::vector<std::pair<xmlNode*, bool>> stack_;  // (node, leaving it)
};

// Whitespace runs as one space, trimmed.
std::string collapse(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Paragraphs joined by blank lines, at most description_max_chars: cut after the last whole word
// that fits (a first word too long for that is cut mid-word), with an ellipsis because something
// was left out.
std::optional<std::string> summarize(const std::vector<std::string>& paragraphs) {
  std::string text;
  for (const auto& p : paragraphs) {
    auto c = collapse(p);
    if (c.empty()) continue;
    if (!text.empty()) text += "\n\n";
    text += c;
  }
  if (text.empty()) return std::nullopt;
  if (chars(text) <= description_max_chars) return text;

  std::string cut;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t word_start = pos;
    while (word_start < text.size() && is_space(text[word_start])) ++word_start;
    size_t word_end = word_start;
    while (word_end < text.size() && !is_space(text[word_end])) ++word_end;
    std::string_view word(text.data() + pos, word_end - pos);  // with its leading whitespace
    if (chars(cut) + chars(word) < description_max_chars) {
      cut += word;
      pos = word_end;
      continue;
    }
    if (chars(cut) < description_min_chars) cut += word;
    break;
  }
  cut = std::string(first_chars(cut, description_max_chars));
  return std::string(trim(cut)) + "\u2026";
}

// The first paragraphs of the page's prose, until there are description_min_chars of them.
std::optional<std::string> describe_page(xmlNode* root) {
  text_walker walker(root);
  std::vector<std::string> paragraphs;
  std::string current;
  size_t total = 0;
  auto end_paragraph = [&] {
    auto c = collapse(current);
    current.clear();
    if (c.empty()) return;
    total += chars(c) + 2;
    paragraphs.push_back(std::move(c));
  };
  while (total < description_min_chars) {
    auto piece = walker.next();
    if (!piece) break;
    if (piece->boundary) {
      end_paragraph();
      continue;
    }
    current += piece->text;
    // One endless paragraph is cut by summarize() anyway; keep no more of it than that needs.
    if (current.size() > 8 * description_max_chars) end_paragraph();
  }
  end_paragraph();
  return summarize(paragraphs);
}

// s with every invalid UTF-8 sequence replaced by U+FFFD: libxml2 passes some undecodable bytes
// through, and a preview is JSON, which must be valid Unicode.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; ok && k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = cp << 6 | (cc & 0x3f);
    }
    // No overlong forms, surrogates or code points past U+10FFFF.
    ok = ok && !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
         !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\uFFFD";
      ++i;
    }
  }
  return out;
}

// A URL as written in a page may hold spaces and non-ASCII text; browsers send those
// percent-encoded (as UTF-8), and so does the preview when it fetches the image.
std::string encode_unsafe(std::string_view url) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : url) {
    if (c >= 0x80 || c <= 0x20 || std::string_view("\"<>\\^`{|}").find(static_cast<char>(c)) != std::string_view::npos) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string absolute_url(const std::string& base, const std::string& ref) {
  auto b = boost::urls::parse_uri(base);
  auto encoded = encode_unsafe(trim(ref));
  auto r = boost::urls::parse_uri_reference(encoded);
  boost::urls::url out;
  if (!b || !r || !boost::urls::resolve(*b, *r, out)) return ref;
  return std::string(out.buffer());
}

} // namespace

std::string media_type_of(std::string_view content_type) {
  return lower(trim(content_type.substr(0, content_type.find(';'))));
}

std::string charset_of(std::string_view content_type) {
  size_t semi = content_type.find(';');
  while (semi != std::string_view::npos) {
    std::string_view rest = content_type.substr(semi + 1);
    size_t next = rest.find(';');
    auto param = trim(rest.substr(0, next));
    size_t eq = param.find('=');
    if (eq != std::string_view::npos && lower(trim(param.substr(0, eq))) == "charset") {
      auto value = trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return lower(trim(value));
    }
    semi = next == std::string_view::npos ? next : semi + 1 + next;
  }
  return {};
}

bool is_html_media_type(std::string_view media_type) {
  return media_type == "text/html" || media_type == "application/xhtml+xml";
}

json::object html_to_opengraph(std::string_view html, const std::string& page_url, std::string_view content_type) {
  json::object og;
  auto doc = parse_html(html, page_url, charset_of(content_type));
  if (!doc) return og;
  auto* root = reinterpret_cast<xmlNode*>(doc.get());
  auto facts = gather(root);

  for (std::string_view prefix : {"og:", "article:", "profile:"}) merge_tags(og, facts.property_tags, prefix, false);
  merge_tags(og, facts.twitter_tags, "twitter:", true);

  if (!og.contains("og:title") && facts.title) og["og:title"] = *facts.title;

  if (!og.contains("og:image")) {
    for (const auto* candidate : {&facts.itemprop_image, &facts.largest_image, &facts.first_image, &facts.icon})
      if (*candidate) {
        og["og:image"] = **candidate;
        break;
      }
  }

  if (auto* d = og.if_contains("og:description")) {
    if (auto s = summarize({std::string(d->as_string())})) *d = *s;
  } else if (facts.description_meta) {
    og["og:description"] = *facts.description_meta;
  } else if (auto text = describe_page(root)) {
    og["og:description"] = *text;
  }

  for (const char* key : {"og:image", "og:image:url", "og:image:secure_url", "og:url"})
    if (auto* v = og.if_contains(key)) *v = absolute_url(page_url, std::string(v->as_string()));

  // Overlong keys and values are dropped rather than cut: a cut URL is a wrong URL.
  json::object out;
  for (auto& [k, v] : og)
    if (chars(k) <= max_key_chars && chars(v.as_string()) <= max_value_chars)
      out[valid_utf8(k)] = valid_utf8(v.as_string());
  return out;
}

} // namespace myelin::protocol
