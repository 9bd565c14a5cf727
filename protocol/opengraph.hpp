// What a URL preview says about an HTML page: its OpenGraph data (https://ogp.me/), with the
// fallbacks Synapse's previews use for pages that have none, so clients see the same previews
// from either server. Parsing only (libxml2's forgiving HTML parser, never patterns over markup);
// fetching and storing images is the media group's.
#pragma once
#include <boost/json/object.hpp>
#include <string>
#include <string_view>

namespace myelin::protocol {

// The media type of a Content-Type header, lowercased, without parameters: "text/html".
std::string media_type_of(std::string_view content_type);
// Its charset parameter, lowercased and unquoted; "" when it has none.
std::string charset_of(std::string_view content_type);
bool is_html_media_type(std::string_view media_type);   // text/html, application/xhtml+xml

// The most of a page that is parsed: OpenGraph tags live in <head> and a description needs the
// first paragraphs, so the rest of a huge page is not worth the memory its tree would take.
constexpr size_t max_html_parse_bytes = 2 << 20;

// The preview of an HTML page. `page_url` is where the page was finally fetched from (relative
// og:image / og:url values are resolved against it); `content_type` is the response's header,
// whose charset wins over the page's own <meta charset> as HTML says. Returns:
//   - every og:*, article:* and profile:* <meta property> with content (the first of each;
//     none of a prefix on a page with more than 50 of them), twitter:* <meta name> filling gaps;
//   - og:title from <title> (or the first h1..h3) when missing;
//   - og:image from itemprop=image, else the largest <img> over 10x10, else the first <img>,
//     else the icon link — as an absolute URL;
//   - og:description from <meta name=description>, else the text of the first paragraphs,
//     whitespace collapsed, at most 500 characters (cut at a word, with an ellipsis);
//   - no key longer than 50 or value longer than 1000 characters.
// Never throws for any input; broken markup gives what could be recovered (perhaps nothing).
boost::json::object html_to_opengraph(std::string_view html, const std::string& page_url,
                                      std::string_view content_type);

} // namespace myelin::protocol
