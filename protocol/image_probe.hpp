// The type and size of an image from its first bytes, without decoding it: enough for a URL
// preview's og:image:type/width/height and to tell an image from something claiming to be one.
// PNG, GIF, JPEG and WebP. No I/O.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace myelin::protocol {

struct image_probe {
  std::string media_type;  // image/png, image/gif, image/jpeg, image/webp
  uint32_t width = 0;
  uint32_t height = 0;
};

// nullopt when the bytes are not one of those formats or are cut before the dimensions.
std::optional<image_probe> probe_image(std::string_view bytes);

} // namespace myelin::protocol
