// The URL preview's pure parts: IP ranges and the address policy (protocol/ip_range), the URL
// blocklist (protocol/url_blocklist), HTML → OpenGraph (protocol/opengraph), image headers
// (protocol/image_probe), and the url_preview_* configuration keys.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <ostream>

#include "common/config.hpp"
#include "protocol/image_probe.hpp"
#include "protocol/ip_range.hpp"
#include "protocol/opengraph.hpp"
#include "protocol/url_blocklist.hpp"

namespace myelin::protocol {
// For Boost.Test's messages.
inline std::ostream& operator<<(std::ostream& os, const ip_address& a) { return os << a.to_string(); }
} // namespace myelin::protocol

using namespace myelin;
using namespace myelin::protocol;
namespace json = boost::json;

namespace {

ip_address addr(const char* text) {
  auto a = parse_ip_address(text);
  BOOST_REQUIRE_MESSAGE(a, text);
  return *a;
}

bool in(const char* range, const char* address) {
  auto r = parse_ip_range(range);
  BOOST_REQUIRE_MESSAGE(r, range);
  return contains(*r, addr(address));
}

const ip_policy& default_policy() {
  static const ip_policy p{ip_range_set(default_ip_deny_list()), {}};
  return p;
}

bool allowed_by_default(const char* address) { return default_policy().allows(addr(address)); }

std::string og_string(const json::object& og, const char* key) {
  auto* v = og.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string("<absent>");
}

json::object preview(const std::string& html, const std::string& content_type = "text/html; charset=utf-8",
                     const std::string& url = "https://example.org/blog/post.html") {
  return html_to_opengraph(html, url, content_type);
}

} // namespace

// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(ip_range_tests)

BOOST_AUTO_TEST_CASE(addresses_parse_strictly) {
  for (const char* good : {"0.0.0.0", "255.255.255.255", "192.0.2.1", "::", "::1", "1::", "2001:db8::1",
                           "2001:DB8:0:0:8:800:200C:417A", "fe80::1:2:3:4", "::ffff:192.0.2.1", "64:ff9b::10.0.0.1",
                           "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8"})
    BOOST_TEST(parse_ip_address(good).has_value(), good);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "1.2.3.4 ", " 1.2.3.4",
                          "1..2.3", "a.b.c.d", ":", ":::", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9",
                          "1:2:3:4:5:6:7", "::1.2.3.4:5", "1.2.3.4::", "fe80::1%eth0", "[::1]", "g::1",
                          "1:2:3:4:5:6:7:8::", "::ffff:1.2.3"})
    BOOST_TEST(!parse_ip_address(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(addresses_print_canonically) {
  BOOST_TEST(addr("192.0.2.1").to_string() == "192.0.2.1");
  BOOST_TEST(addr("::ffff:192.0.2.1").to_string() == "192.0.2.1");  // mapped = the IPv4 address
  BOOST_TEST(addr("2001:DB8:0:0:0:0:0:1").to_string() == "2001:db8::1");
  BOOST_TEST(addr("2001:db8:0:0:1:0:0:1").to_string() == "2001:db8::1:0:0:1");  // first of equal runs
  BOOST_TEST(addr("2001:0:0:1:0:0:0:1").to_string() == "2001:0:0:1::1");        // longest run
  BOOST_TEST(addr("1:0:2:3:4:5:6:7").to_string() == "1:0:2:3:4:5:6:7");         // one zero stays
  BOOST_TEST(addr("::").to_string() == "::");
  BOOST_TEST(addr("::1").to_string() == "::1");
  BOOST_TEST(addr("fe80::").to_string() == "fe80::");
}

BOOST_AUTO_TEST_CASE(ipv4_mapped_ipv6_is_the_ipv4_address) {
  BOOST_TEST(addr("::ffff:127.0.0.1") == addr("127.0.0.1"));
  BOOST_TEST(addr("::ffff:7f00:1") == addr("127.0.0.1"));
  BOOST_TEST(addr("::ffff:10.1.2.3").is_v4());
  BOOST_TEST(!addr("::10.1.2.3").is_v4());  // IPv4-compatible is not mapped
  BOOST_TEST(!addr("::1").is_v4());
}

BOOST_AUTO_TEST_CASE(ranges_parse_and_clear_host_bits) {
  BOOST_TEST(parse_ip_range("10.0.0.0/8")->to_string() == "10.0.0.0/8");
  BOOST_TEST(parse_ip_range("10.1.2.3/8")->to_string() == "10.0.0.0/8");
  BOOST_TEST(parse_ip_range("192.0.2.7")->to_string() == "192.0.2.7/32");
  BOOST_TEST(parse_ip_range("fe80::1/10")->to_string() == "fe80::/10");
  BOOST_TEST(parse_ip_range("2001:db8::1")->to_string() == "2001:db8::1/128");
  BOOST_TEST(parse_ip_range("0.0.0.0/0")->to_string() == "0.0.0.0/0");
  BOOST_TEST(parse_ip_range("::/0")->to_string() == "::/0");
  BOOST_TEST(parse_ip_range("10.0.0.0/8")->prefix == 104u);  // stored over 128 bits
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/8/8",
                          "10.0.0.0/a", "/8", "10.0.0/8", "example.org/8", "10.0.0.0/ 8"})
    BOOST_TEST(!parse_ip_range(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(membership_at_the_edges) {
  BOOST_TEST(in("10.0.0.0/8", "10.0.0.0"));
  BOOST_TEST(in("10.0.0.0/8", "10.255.255.255"));
  BOOST_TEST(!in("10.0.0.0/8", "11.0.0.0"));
  BOOST_TEST(!in("10.0.0.0/8", "9.255.255.255"));
  BOOST_TEST(in("172.16.0.0/12", "172.31.255.255"));
  BOOST_TEST(!in("172.16.0.0/12", "172.32.0.0"));
  BOOST_TEST(in("100.64.0.0/10", "100.127.255.255"));
  BOOST_TEST(!in("100.64.0.0/10", "100.128.0.0"));
  BOOST_TEST(in("192.0.2.1", "192.0.2.1"));
  BOOST_TEST(!in("192.0.2.1", "192.0.2.2"));
  BOOST_TEST(in("0.0.0.0/0", "203.0.113.9"));
  BOOST_TEST(!in("0.0.0.0/0", "2001:db8::1"));  // the IPv4 space only
  BOOST_TEST(in("::/0", "203.0.113.9"));        // every address, IPv4 included
  BOOST_TEST(in("fe80::/10", "febf:ffff::1"));
  BOOST_TEST(!in("fe80::/10", "fec0::1"));
  BOOST_TEST(in("fc00::/7", "fdff::1"));
  BOOST_TEST(!in("fc00::/7", "fe00::1"));
  BOOST_TEST(in("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
  BOOST_TEST(!in("2001:db8::/32", "2001:db9::"));
  // An IPv4 range catches the mapped spelling, and a mapped range the dotted one.
  BOOST_TEST(in("127.0.0.0/8", "::ffff:127.0.0.1"));
  BOOST_TEST(in("::ffff:127.0.0.0/104", "127.1.2.3"));
  BOOST_TEST(!in("127.0.0.0/8", "::127.0.0.1"));
}

BOOST_AUTO_TEST_CASE(the_default_deny_list_closes_internal_addresses) {
  for (const char* denied : {"127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
                             "169.254.169.254", "0.0.0.0", "0.1.2.3", "192.0.0.8", "192.0.2.1", "198.18.0.1",
                             "198.51.100.1", "203.0.113.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
                             "255.255.255.255", "192.88.99.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1",
                             "fec0::1", "2001:db8::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
                             "::ffff:169.254.169.254", "64:ff9b::a00:1", "64:ff9b::8.8.8.8", "2002:7f00:1::1",
                             "2001:0:4136:e378::1", "100::1"})
    BOOST_TEST(!allowed_by_default(denied), denied);
  for (const char* open : {"8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "11.0.0.1",
                           "192.0.3.1", "2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8"})
    BOOST_TEST(allowed_by_default(open), open);
}

BOOST_AUTO_TEST_CASE(the_allow_list_wins_over_the_deny_list) {
  ip_policy p{ip_range_set(default_ip_deny_list()), ip_range_set({"127.0.0.1", "fd00::/8"})};
  BOOST_TEST(p.allows(addr("127.0.0.1")));
  BOOST_TEST(p.allows(addr("::ffff:127.0.0.1")));
  BOOST_TEST(!p.allows(addr("127.0.0.2")));
  BOOST_TEST(p.allows(addr("fd00::5")));
  BOOST_TEST(!p.allows(addr("fc00::5")));
  BOOST_TEST(p.allows(addr("8.8.8.8")));  // not denied at all
  ip_policy open;                         // nothing denied
  BOOST_TEST(open.allows(addr("127.0.0.1")));
}

BOOST_AUTO_TEST_CASE(a_range_set_names_the_entry_it_cannot_read) {
  try {
    ip_range_set({"10.0.0.0/8", "10.0.0.0/40"});
    BOOST_FAIL("accepted a bad range");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("10.0.0.0/40") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(url_blocklist_tests)

BOOST_AUTO_TEST_CASE(every_part_of_a_rule_must_match) {
  url_blocklist b;
  b.add({{"netloc", "google.com"}});
  b.add({{"netloc", "*.google.com"}});
  b.add({{"scheme", "http"}, {"netloc", "twitter.com"}});
  b.add({{"netloc", "www.acme.com"}, {"path", "/foo"}});
  b.add({{"netloc", "^.*\\.domain\\.com$"}});
  BOOST_TEST(b.blocks("https://google.com/"));
  BOOST_TEST(b.blocks("https://mail.google.com/x"));
  BOOST_TEST(!b.blocks("https://notgoogle.com/"));
  BOOST_TEST(b.blocks("http://twitter.com/a"));
  BOOST_TEST(!b.blocks("https://twitter.com/a"));
  BOOST_TEST(b.blocks("https://www.acme.com/foo"));
  BOOST_TEST(!b.blocks("https://www.acme.com/foobar"));
  BOOST_TEST(b.blocks("https://sub.domain.com/"));
  BOOST_TEST(!b.blocks("https://domain.com/"));
}

BOOST_AUTO_TEST_CASE(parts_are_the_ones_python_urlsplit_names) {
  url_blocklist b;
  b.add({{"hostname", "internal.example"}});  // lowercased, without port or credentials
  b.add({{"port", "8448"}});
  b.add({{"username", "*"}});
  b.add({{"query", "*secret=*"}});
  b.add({{"hostname", "::1"}});
  BOOST_TEST(b.blocks("http://user:pw@INTERNAL.example:8080/"));
  BOOST_TEST(b.blocks("https://example.org:8448/"));
  BOOST_TEST(!b.blocks("https://example.org/"));          // no port: matches nothing
  BOOST_TEST(b.blocks("https://example.org:08448/"));     // the port as a number
  BOOST_TEST(!b.blocks("https://example.org:73984/"));    // wraps to 8448 in a 16-bit parser
  BOOST_TEST(b.blocks("https://me@example.org/"));
  BOOST_TEST(!b.blocks("https://example.org/?a=1"));
  BOOST_TEST(b.blocks("https://example.org/?a=1&secret=2"));
  BOOST_TEST(b.blocks("http://[::1]:8080/"));
  BOOST_TEST(!b.blocks("not a url"));
}

BOOST_AUTO_TEST_CASE(globs_follow_fnmatch) {
  url_blocklist b;
  b.add({{"path", "/a?c/[xy]*"}});
  b.add({{"netloc", "[!w]*.example"}});
  BOOST_TEST(b.blocks("https://e.org/abc/x"));
  BOOST_TEST(b.blocks("https://e.org/a-c/y/deeper/still"));  // '*' crosses '/'
  BOOST_TEST(!b.blocks("https://e.org/abc/z"));
  BOOST_TEST(!b.blocks("https://e.org/ac/x"));
  BOOST_TEST(b.blocks("https://api.example/"));
  BOOST_TEST(!b.blocks("https://www.example/"));
}

BOOST_AUTO_TEST_CASE(bad_rules_are_refused) {
  url_blocklist b;
  BOOST_CHECK_THROW(b.add({}), std::invalid_argument);
  BOOST_CHECK_THROW(b.add({{"host", "x"}}), std::invalid_argument);
  BOOST_CHECK_THROW(b.add({{"netloc", "^(unclosed"}}), std::invalid_argument);
  BOOST_TEST(b.empty());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(opengraph_tests)

BOOST_AUTO_TEST_CASE(content_type_parts) {
  BOOST_TEST(media_type_of("Text/HTML; charset=UTF-8") == "text/html");
  BOOST_TEST(media_type_of(" image/png ") == "image/png");
  BOOST_TEST(media_type_of("") == "");
  BOOST_TEST(charset_of("text/html; charset=UTF-8") == "utf-8");
  BOOST_TEST(charset_of("text/html;charset=\"ISO-8859-1\"; foo=bar") == "iso-8859-1");
  BOOST_TEST(charset_of("text/html; foo=bar; Charset = Shift_JIS") == "shift_jis");
  BOOST_TEST(charset_of("text/html") == "");
  BOOST_TEST(is_html_media_type("text/html"));
  BOOST_TEST(is_html_media_type("application/xhtml+xml"));
  BOOST_TEST(!is_html_media_type("text/plain"));
}

BOOST_AUTO_TEST_CASE(a_page_with_opengraph_tags) {
  auto og = preview(R"(<!DOCTYPE html>
<html lang="en"><head>
  <meta charset="utf-8">
  <title>Ignored when og:title exists</title>
  <meta property="og:title" content="Matrix 2.0 is here">
  <meta property="og:type" content="article">
  <meta property="og:url" content="/blog/2024/matrix-2">
  <meta property="og:image" content="../img/cover.png?v=2">
  <meta property="og:image:width" content="1200">
  <meta property="og:site_name" content="Matrix.org">
  <meta property="og:description" content="  Sliding sync,
      native OIDC   and more. ">
  <meta property="og:title" content="a second og:title is ignored">
  <meta property="og:empty" content="">
  <meta property="article:published_time" content="2024-10-01">
  <meta name="twitter:card" content="summary_large_image">
  <meta name="twitter:title" content="twitter does not override og">
  <meta name="twitter:creator" content="@matrixdotorg">
  <meta name="twitter:label1" content="Reading time">
</head><body><h1>Body heading</h1><p>Body text.</p></body></html>)");
  BOOST_TEST(og_string(og, "og:title") == "Matrix 2.0 is here");
  BOOST_TEST(og_string(og, "og:type") == "article");
  BOOST_TEST(og_string(og, "og:url") == "https://example.org/blog/2024/matrix-2");
  BOOST_TEST(og_string(og, "og:image") == "https://example.org/img/cover.png?v=2");
  BOOST_TEST(og_string(og, "og:image:width") == "1200");
  BOOST_TEST(og_string(og, "og:site_name") == "Matrix.org");
  BOOST_TEST(og_string(og, "og:description") == "Sliding sync, native OIDC and more.");
  BOOST_TEST(og_string(og, "article:published_time") == "2024-10-01");
  BOOST_TEST(og_string(og, "og:label1") == "Reading time");  // twitter:* fills gaps
  BOOST_TEST(!og.contains("og:empty"));
  BOOST_TEST(!og.contains("og:card"));
  BOOST_TEST(!og.contains("og:creator"));
  BOOST_TEST(!og.contains("twitter:title"));
}

BOOST_AUTO_TEST_CASE(a_page_without_opengraph_falls_back) {
  auto og = preview(R"(<html><head>
  <title>
     Plain   page
  </title>
  <link rel="shortcut icon" href="/favicon.ico">
  <script>var description = "not this";</script>
  <style>p { color: red }</style>
</head><body>
  <nav role="navigation">Home | About</nav>
  <header>Site header</header>
  <ul role="menu"><li>Menu item</li></ul>
  <img src="/tiny.gif" width="1" height="1">
  <img src="/small.png" width="20" height="20">
  <img src="big.jpg" width="640" height="480">
  <p>First    paragraph
     of the page.</p>
  <!-- a comment -->
  <p>Second paragraph.</p>
  <footer>Footer</footer>
</body></html>)",
                    "text/html", "http://example.org/dir/page");
  BOOST_TEST(og_string(og, "og:title") == "Plain page");
  BOOST_TEST(og_string(og, "og:image") == "http://example.org/dir/big.jpg");  // the largest over 10x10
  BOOST_TEST(og_string(og, "og:description") == "First paragraph of the page.\n\nSecond paragraph.");
}

BOOST_AUTO_TEST_CASE(image_and_title_fallbacks_in_order) {
  // itemprop=image beats <img>; h1 stands in for a missing <title>.
  auto og = preview(R"(<body><meta itemprop="image" content="https://cdn.example/i.png">
                       <h1>  Heading  </h1><img src="/x.png" width="100" height="100"></body>)");
  BOOST_TEST(og_string(og, "og:image") == "https://cdn.example/i.png");
  BOOST_TEST(og_string(og, "og:title") == "Heading");
  // Without sizes the first <img>; without any image the icon link.
  og = preview(R"(<body><img src="a.png"><img src="b.png"></body>)");
  BOOST_TEST(og_string(og, "og:image") == "https://example.org/blog/a.png");
  // Spaces and non-ASCII in a relative URL are percent-encoded, as a browser would send them.
  og = preview("<body><img src=\"../img/caf\xc3\xa9 au lait.png\"></body>");
  BOOST_TEST(og_string(og, "og:image") == "https://example.org/img/caf%C3%A9%20au%20lait.png");
  og = preview(R"(<head><link rel="icon" href="/icon.svg"></head><body>text</body>)");
  BOOST_TEST(og_string(og, "og:image") == "https://example.org/icon.svg");
  // Nothing at all: no keys made up.
  og = preview("<html><body></body></html>");
  BOOST_TEST(og.empty());
  BOOST_TEST(preview("").empty());
}

BOOST_AUTO_TEST_CASE(meta_description_beats_page_text) {
  auto og = preview(R"(<head><meta name="Description" content="From the meta tag"></head>
                       <body><p>From the body</p></body>)");
  BOOST_TEST(og_string(og, "og:description") == "From the meta tag");
}

BOOST_AUTO_TEST_CASE(long_text_is_cut_at_a_word_with_an_ellipsis) {
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word" + std::to_string(i) + " ";
  auto og = preview("<body><p>" + words + "</p></body>");
  auto d = og_string(og, "og:description");
  BOOST_TEST(d.size() <= 500 + 3);  // the ellipsis is three bytes
  BOOST_TEST(d.ends_with("\u2026"));
  BOOST_TEST(d.starts_with("word0 word1 word2"));
  auto before = d.substr(0, d.size() - 3);
  BOOST_TEST(words.find(before + " ") == 0u);  // whole words only
  // One giant word is cut mid-word rather than dropped.
  og = preview("<body><p>" + std::string(3000, 'x') + "</p></body>");
  BOOST_TEST(og_string(og, "og:description") == std::string(500, 'x') + "\u2026");
  // Multi-byte characters are counted and cut as characters.
  std::string umlauts;
  for (int i = 0; i < 300; ++i) umlauts += "\xc3\xa4\xc3\xb6 ";
  d = og_string(preview("<body><p>" + umlauts + "</p></body>"), "og:description");
  BOOST_TEST(d.ends_with("\u2026"));
  BOOST_TEST(json::parse(json::serialize(json::string(d))).as_string() == d);
}

BOOST_AUTO_TEST_CASE(broken_markup_is_recovered) {
  auto og = preview(R"(<html><head><title>Broken <b>title</title>
    <meta property=og:site_name content=Unquoted>
    <meta property="og:title" content="Fish &amp; chips &lt;3 &#x1F41F;">
    </head><body><div><p>Unclosed <i>text</div></span></body>)");
  BOOST_TEST(og_string(og, "og:title") == "Fish & chips <3 \xF0\x9F\x90\x9F");
  BOOST_TEST(og_string(og, "og:site_name") == "Unquoted");
  BOOST_TEST(og_string(og, "og:description") == "Unclosed text");
  // Garbage, binary and unterminated input give whatever can be recovered, never a crash.
  BOOST_TEST(preview(std::string("\x00\x01\x02<<<>>>\xff\xfe", 11)).size() <= 2u);
  (void)preview("<meta property=\"og:title\" content=\"unterminated");
  (void)preview(std::string(100000, '<'));
  std::string deep;
  for (int i = 0; i < 20000; ++i) deep += "<div>";
  deep += "<p>deep text</p>";
  (void)preview(deep);
}

BOOST_AUTO_TEST_CASE(charsets_from_the_header_and_the_page) {
  // ISO-8859-1 from the header: "café" is c a f 0xE9.
  auto og = preview("<title>caf\xe9</title>", "text/html; charset=ISO-8859-1");
  BOOST_TEST(og_string(og, "og:title") == "caf\xc3\xa9");
  // windows-1251 from <meta charset>: "Привет".
  og = preview("<head><meta charset=\"windows-1251\"><title>\xcf\xf0\xe8\xe2\xe5\xf2</title></head>", "text/html");
  BOOST_TEST(og_string(og, "og:title") == "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
  // Shift_JIS from http-equiv: "日本" is 93fa 967b.
  og = preview("<head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">"
               "<title>\x93\xfa\x96\x7b</title></head>",
               "text/html");
  BOOST_TEST(og_string(og, "og:title") == "\xe6\x97\xa5\xe6\x9c\xac");
  // The header wins over the page, as HTML says.
  og = preview("<head><meta charset=\"windows-1251\"><title>caf\xc3\xa9</title></head>", "text/html; charset=utf-8");
  BOOST_TEST(og_string(og, "og:title") == "caf\xc3\xa9");
  // An unknown charset is ignored rather than failing the page; invalid UTF-8 still gives valid text.
  og = preview("<title>plain</title>", "text/html; charset=x-no-such-thing");
  BOOST_TEST(og_string(og, "og:title") == "plain");
  og = preview("<title>bad \xff\xfe bytes</title>", "text/html");
  BOOST_TEST(json::parse(json::serialize(og)).as_object().contains("og:title"));
  // Bytes that are not UTF-8 under a UTF-8 header come out as U+FFFD, never raw (found by the fuzzer).
  og = preview("<body><p>x \xd1\x97\x9a\x9e\xc3 y</p></body>", "text/html; charset=utf-8");
  auto d = og_string(og, "og:description");
  BOOST_TEST(json::parse(json::serialize(og)).as_object().contains("og:description"));
  BOOST_TEST(d.starts_with("x \xd1\x97"));
  BOOST_TEST(d.find("\xef\xbf\xbd") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(huge_pages_are_bounded) {
  // The tags at the top are found; the megabytes after them are parsed only up to the limit and
  // leave a bounded description.
  std::string page = "<html><head><meta property=\"og:title\" content=\"Huge\"></head><body>";
  while (page.size() < 5 * max_html_parse_bytes / 2) page += "<p>Lorem ipsum dolor sit amet, consectetur.</p>\n";
  page += "<meta property=\"og:late\" content=\"past the parse limit\"></body></html>";
  auto og = preview(page);
  BOOST_TEST(og_string(og, "og:title") == "Huge");
  BOOST_TEST(!og.contains("og:late"));
  BOOST_TEST(og_string(og, "og:description").size() <= 503u);
}

BOOST_AUTO_TEST_CASE(abusive_tags_are_dropped) {
  std::string page = "<head>";
  for (int i = 0; i < 51; ++i) page += "<meta property=\"og:k" + std::to_string(i) + "\" content=\"v\">";
  page += "<meta property=\"article:author\" content=\"kept\">";
  page += "<meta property=\"article:" + std::string(60, 'k') + "\" content=\"long key\">";
  page += "<meta property=\"article:section\" content=\"" + std::string(1001, 'v') + "\">";
  page += "<title>Still titled</title></head>";
  auto og = preview(page);
  BOOST_TEST(!og.contains("og:k0"));                    // more than 50 og: tags: none kept
  BOOST_TEST(og_string(og, "og:title") == "Still titled");
  BOOST_TEST(og_string(og, "article:author") == "kept");
  BOOST_TEST(og.size() == 2u);                          // the overlong key and value are gone
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(image_probe_tests)

BOOST_AUTO_TEST_CASE(dimensions_from_headers) {
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x01\x2c\0\0\0\xc8\x08\x06\0\0\0", 29);
  auto p = probe_image(png);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->media_type == "image/png");
  BOOST_TEST(p->width == 300u);
  BOOST_TEST(p->height == 200u);

  p = probe_image(std::string("GIF89a\x10\x00\x20\x00\xf7\x00", 12));
  BOOST_REQUIRE(p);
  BOOST_TEST(p->media_type == "image/gif");
  BOOST_TEST(p->width == 16u);
  BOOST_TEST(p->height == 32u);

  // JPEG: SOI, an APP0 segment to skip, fill bytes, then SOF2 (progressive) with height 480, width 640.
  std::string jpeg("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
                   "\xff\xff\xff\xc2\x00\x11\x08\x01\xe0\x02\x80\x03\x01\x22\x00",
                   35);
  p = probe_image(jpeg);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->media_type == "image/jpeg");
  BOOST_TEST(p->width == 640u);
  BOOST_TEST(p->height == 480u);

  std::string vp8("RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a\x40\x01\xf0\x00", 30);
  p = probe_image(vp8);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->width == 320u);
  BOOST_TEST(p->height == 240u);
  // VP8L: 14 bits of width-1 (99) then 14 of height-1 (49).
  uint32_t bits = 99u | (49u << 14);
  std::string vp8l("RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f", 21);
  for (int i = 0; i < 4; ++i) vp8l += static_cast<char>((bits >> (8 * i)) & 0xff);
  vp8l += std::string(5, '\0');
  p = probe_image(vp8l);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->width == 100u);
  BOOST_TEST(p->height == 50u);
  std::string vp8x("RIFF\0\0\0\0WEBPVP8X\0\0\0\0\0\0\0\0\xff\x03\x00\x7f\x02\x00", 30);
  p = probe_image(vp8x);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->width == 1024u);
  BOOST_TEST(p->height == 640u);
}

BOOST_AUTO_TEST_CASE(not_images_or_cut_short) {
  BOOST_TEST(!probe_image(""));
  BOOST_TEST(!probe_image("<html>"));
  BOOST_TEST(!probe_image(std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0", 18)));
  BOOST_TEST(!probe_image(std::string("\xff\xd8\xff\xe0\x00\x10JFIF", 10)));
  BOOST_TEST(!probe_image(std::string("\xff\xd8\xff\xda\x00\x08", 6)));  // scan data before a frame header
  BOOST_TEST(!probe_image(std::string("GIF89a\0\0\0\0", 10)));           // zero size
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(url_preview_config_tests)

namespace {
const std::string minimal = "server_name: example.org\nlisteners:\n  - port: 8008\n";

homeserver_config parse(const std::string& extra) { return parse_homeserver_config(minimal + extra, "hs.yaml", "/srv"); }

std::string error_of(const std::string& extra) {
  try {
    parse(extra);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}
} // namespace

BOOST_AUTO_TEST_CASE(defaults) {
  auto cfg = parse("");
  const auto& up = cfg.url_preview;
  BOOST_TEST(up.enabled);
  BOOST_TEST(up.max_spider_size == 10u << 20);
  BOOST_TEST(up.timeout_ms == 10000);
  BOOST_TEST(up.accept_language == "en");
  BOOST_TEST(up.url_blocklist.empty());
  BOOST_TEST(!up.ip_policy.allows(addr("127.0.0.1")));
  BOOST_TEST(!up.ip_policy.allows(addr("10.1.1.1")));
  BOOST_TEST(up.ip_policy.allows(addr("8.8.8.8")));
  BOOST_TEST(cfg.warnings.empty());
}

BOOST_AUTO_TEST_CASE(synapse_keys) {
  auto cfg = parse("url_preview_enabled: false\n"
                   "url_preview_ip_range_blacklist: ['10.0.0.0/8', 'fd00::/8']\n"
                   "url_preview_ip_range_whitelist: ['10.1.2.3']\n"
                   "url_preview_url_blacklist:\n"
                   "  - netloc: '*.example.com'\n"
                   "  - scheme: http\n"
                   "    path: '^/private/'\n"
                   "url_preview_accept_language: ['en-GB', 'fr;q=0.5']\n"
                   "url_preview_timeout: 2500ms\n"
                   "max_spider_size: 512K\n");
  const auto& up = cfg.url_preview;
  BOOST_TEST(!up.enabled);
  BOOST_TEST(!up.ip_policy.allows(addr("10.9.9.9")));
  BOOST_TEST(up.ip_policy.allows(addr("10.1.2.3")));
  BOOST_TEST(up.ip_policy.allows(addr("127.0.0.1")));   // the given list replaces the default...
  BOOST_TEST(!up.ip_policy.allows(addr("0.0.0.0")));    // ...but the unspecified addresses stay denied
  BOOST_TEST(!up.ip_policy.allows(addr("::")));
  BOOST_TEST(up.url_blocklist.blocks("https://a.example.com/"));
  BOOST_TEST(up.url_blocklist.blocks("http://x.org/private/1"));
  BOOST_TEST(!up.url_blocklist.blocks("https://x.org/private/1"));
  BOOST_TEST(up.accept_language == "en-GB, fr;q=0.5");
  BOOST_TEST(up.timeout_ms == 2500);
  BOOST_TEST(up.max_spider_size == 512u << 10);
  BOOST_TEST(cfg.warnings.empty(), (cfg.warnings.empty() ? "" : cfg.warnings.front()));
}

BOOST_AUTO_TEST_CASE(errors_name_the_line_and_entry) {
  auto e = error_of("url_preview_ip_range_blacklist:\n  - 10.0.0.0/8\n  - 300.0.0.0/8\n");
  BOOST_TEST(e.find("hs.yaml:6: key 'url_preview_ip_range_blacklist[1]'") == 0u, e);
  BOOST_TEST(e.find("300.0.0.0/8") != std::string::npos, e);
  e = error_of("url_preview_ip_range_whitelist: 10.0.0.0/8\n");
  BOOST_TEST(e.find("hs.yaml:4: key 'url_preview_ip_range_whitelist': expected a list") == 0u, e);
  e = error_of("url_preview_url_blacklist:\n  - host: x\n");
  BOOST_TEST(e.find("hs.yaml:5: key 'url_preview_url_blacklist[0]': unknown URL part 'host'") == 0u, e);
  e = error_of("url_preview_url_blacklist:\n  - netloc: '^(bad'\n");
  BOOST_TEST(e.find("not a valid regular expression") != std::string::npos, e);
  e = error_of("url_preview_accept_language: []\n");
  BOOST_TEST(e.find("expected at least one language") != std::string::npos, e);
  e = error_of("url_preview_accept_language: [\"en\\r\\nX-Injected: 1\"]\n");
  BOOST_TEST(e.find("expected a language tag") != std::string::npos, e);
  e = error_of("max_spider_size: lots\n");
  BOOST_TEST(e.find("key 'max_spider_size'") != std::string::npos, e);
  BOOST_TEST(!error_of("url_preview_timeout: 0\n").empty());
}

BOOST_AUTO_TEST_CASE(other_synapse_preview_keys_are_warnings) {
  auto cfg = parse("url_preview_something_new: 1\n");
  BOOST_REQUIRE(cfg.warnings.size() == 1u);
  BOOST_TEST(cfg.warnings[0].find("url_preview_something_new") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
