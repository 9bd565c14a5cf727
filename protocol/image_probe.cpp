#include "protocol/image_probe.hpp"

namespace myelin::protocol {

namespace {

uint32_t be16(std::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at]) << 8 | static_cast<uint8_t>(b[at + 1]));
}
uint32_t be32(std::string_view b, size_t at) { return be16(b, at) << 16 | be16(b, at + 2); }
uint32_t le16(std::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at]) | static_cast<uint8_t>(b[at + 1]) << 8);
}
uint32_t le24(std::string_view b, size_t at) { return le16(b, at) | static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 16; }
uint32_t le32(std::string_view b, size_t at) { return le16(b, at) | le16(b, at + 2) << 16; }

std::optional<image_probe> sized(const char* type, uint32_t w, uint32_t h) {
  if (w == 0 || h == 0) return std::nullopt;
  return image_probe{type, w, h};
}

std::optional<image_probe> png(std::string_view b) {
  // Signature, then the IHDR chunk (length, "IHDR", width, height) always comes first.
  if (b.size() < 24 || b.substr(0, 8) != "\x89PNG\r\n\x1a\n" || b.substr(12, 4) != "IHDR") return std::nullopt;
  return sized("image/png", be32(b, 16), be32(b, 20));
}

std::optional<image_probe> gif(std::string_view b) {
  if (b.size() < 10 || (b.substr(0, 6) != "GIF87a" && b.substr(0, 6) != "GIF89a")) return std::nullopt;
  return sized("image/gif", le16(b, 6), le16(b, 8));
}

std::optional<image_probe> jpeg(std::string_view b) {
  if (b.size() < 4 || static_cast<uint8_t>(b[0]) != 0xff || static_cast<uint8_t>(b[1]) != 0xd8) return std::nullopt;
  // Walk the marker segments to the first start-of-frame, which holds the dimensions.
  size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (static_cast<uint8_t>(b[pos]) != 0xff) return std::nullopt;
    uint8_t marker = static_cast<uint8_t>(b[pos + 1]);
    if (marker == 0xff) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {  // no length field
      pos += 2;
      continue;
    }
    if (marker == 0xd9 || marker == 0xda) return std::nullopt;  // image data before any frame header
    uint32_t length = be16(b, pos + 2);
    bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
    if (sof) {
      if (pos + 9 > b.size()) return std::nullopt;
      return sized("image/jpeg", be16(b, pos + 7), be16(b, pos + 5));
    }
    if (length < 2) return std::nullopt;
    pos += 2 + length;
  }
  return std::nullopt;
}

std::optional<image_probe> webp(std::string_view b) {
  if (b.size() < 30 || b.substr(0, 4) != "RIFF" || b.substr(8, 4) != "WEBP") return std::nullopt;
  auto chunk = b.substr(12, 4);
  if (chunk == "VP8 ") {  // lossy: frame tag (3), start code 9d 01 2a, 14-bit width and height
    if (b.substr(23, 3) != "\x9d\x01\x2a") return std::nullopt;
    return sized("image/webp", le16(b, 26) & 0x3fff, le16(b, 28) & 0x3fff);
  }
  if (chunk == "VP8L") {  // lossless: signature 0x2f, then width-1 and height-1 in 14 bits each
    if (static_cast<uint8_t>(b[20]) != 0x2f) return std::nullopt;
    uint32_t bits = le32(b, 21);
    return sized("image/webp", (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
  }
  if (chunk == "VP8X")  // extended: canvas width-1 and height-1 in 24 bits each
    return sized("image/webp", le24(b, 24) + 1, le24(b, 27) + 1);
  return std::nullopt;
}

} // namespace

std::optional<image_probe> probe_image(std::string_view bytes) {
  for (auto probe : {png, gif, jpeg, webp})
    if (auto p = probe(bytes)) return p;
  return std::nullopt;
}

} // namespace myelin::protocol
