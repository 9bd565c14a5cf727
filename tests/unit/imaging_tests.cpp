// imaging/thumbnailer: real PNG, JPEG, GIF and WebP files made with libvips itself, thumbnailed,
// and the results decoded again to check their sizes, formats and frames; the size rule; and the
// inputs that must fail cleanly (corrupt, truncated, disguised, decompression bombs).
#include <vips/vips.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "imaging/thumbnailer.hpp"
#include "storage_fixture.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using imaging::thumbnail_size;

namespace {

struct unref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
using image_ptr = std::unique_ptr<VipsImage, unref>;

image_ptr checked(int rc, VipsImage* out, const char* what) {
  if (rc) {
    std::string err = vips_error_buffer();
    vips_error_clear();
    BOOST_FAIL(std::string(what) + ": " + err);
  }
  return image_ptr(out);
}

// A solid-colour RGB image.
image_ptr solid(int w, int h, std::vector<double> rgb) {
  VipsImage* black = nullptr;
  auto b = checked(vips_black(&black, w, h, "bands", 3, nullptr), black, "black");
  VipsImage* out = nullptr;
  std::vector<double> ones(3, 1.0);
  auto lin = checked(vips_linear(b.get(), &out, ones.data(), rgb.data(), 3, nullptr), out, "linear");
  VipsImage* cast = nullptr;
  return checked(vips_cast_uchar(lin.get(), &cast, nullptr), cast, "cast");
}

// Noise, so encoders cannot make the file trivially small and decoders have real work.
image_ptr noise(int w, int h) {
  VipsImage* n = nullptr;
  auto g = checked(vips_gaussnoise(&n, w, h, nullptr), n, "gaussnoise");
  VipsImage* joined = nullptr;
  VipsImage* three[] = {g.get(), g.get(), g.get()};
  auto j = checked(vips_bandjoin(three, &joined, 3, nullptr), joined, "bandjoin");
  VipsImage* cast = nullptr;
  return checked(vips_cast_uchar(j.get(), &cast, nullptr), cast, "cast");
}

// Frames stacked vertically with page-height set: libvips' layout of an animation.
image_ptr animation(const std::vector<image_ptr>& frames) {
  std::vector<VipsImage*> raw;
  for (const auto& f : frames) raw.push_back(f.get());
  VipsImage* joined = nullptr;
  auto j = checked(vips_arrayjoin(raw.data(), &joined, static_cast<int>(raw.size()), "across", 1, nullptr), joined,
                   "arrayjoin");
  VipsImage* copy = nullptr;
  auto c = checked(vips_copy(j.get(), &copy, nullptr), copy, "copy");
  vips_image_set_int(c.get(), VIPS_META_PAGE_HEIGHT, frames.front()->Ysize);
  std::vector<int> delays(frames.size(), 100);
  vips_image_set_array_int(c.get(), "delay", delays.data(), static_cast<int>(delays.size()));
  return c;
}

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("myelin-imaging-" + test::unique_suffix());
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  // Saves with the saver the name's suffix picks (.png, .jpg, .gif, .webp).
  std::string save(VipsImage* image, const std::string& name) const {
    auto file = (path / name).string();
    if (vips_image_write_to_file(image, file.c_str(), nullptr)) {
      std::string err = vips_error_buffer();
      vips_error_clear();
      BOOST_FAIL("saving " + name + ": " + err);
    }
    return file;
  }
  std::string write(const std::string& name, const std::string& bytes) const {
    auto file = (path / name).string();
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }
};

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A thumbnail decoded again: what a client would see.
struct decoded {
  std::string loader;
  int width = 0, height = 0, pages = 0;
};
decoded decode(const imaging::thumbnail& t) {
  const char* loader = vips_foreign_find_load_buffer(t.bytes.data(), t.bytes.size());
  BOOST_REQUIRE_MESSAGE(loader, "thumbnail is not a readable image");
  VipsImage* raw = vips_image_new_from_buffer(t.bytes.data(), t.bytes.size(), "", nullptr);
  BOOST_REQUIRE(raw);
  image_ptr image(raw);
  return {loader, image->Xsize, vips_image_get_height(image.get()), vips_image_get_n_pages(image.get())};
}

// The colour at (x, y) of frame `page` of a thumbnail.
std::vector<double> pixel_of_frame(const imaging::thumbnail& t, int page, int x, int y) {
  // Only the animation loaders know "page".
  VipsImage* raw = t.animated ? vips_image_new_from_buffer(t.bytes.data(), t.bytes.size(), "", "page", page, nullptr)
                              : vips_image_new_from_buffer(t.bytes.data(), t.bytes.size(), "", nullptr);
  BOOST_REQUIRE(raw);
  image_ptr image(raw);
  double* values = nullptr;
  int n = 0;
  BOOST_REQUIRE(vips_getpoint(image.get(), &values, &n, x, y, nullptr) == 0);
  std::vector<double> out(values, values + std::min(n, 3));
  g_free(values);
  return out;
}

bool near(const std::vector<double>& a, const std::vector<double>& b, double tolerance = 24) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > tolerance) return false;
  return true;
}

constexpr uint64_t max_pixels = 32ull << 20;

imaging::thumbnail thumb(const std::string& file, const std::string& type, thumbnail_size size, bool animated = false,
                         uint64_t limit = max_pixels) {
  return imaging::make_thumbnail(file, type, size, animated, limit);
}

struct vips_fixture {
  vips_fixture() { imaging::init(); }
  temp_dir dir;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(imaging_tests, vips_fixture)

BOOST_AUTO_TEST_CASE(thumbnailable_and_animatable_types) {
  for (const char* yes : {"image/jpeg", "image/jpg", "image/png", "image/gif", "image/webp", "IMAGE/PNG",
                          "image/jpeg; charset=x", " image/webp ;q=1"})
    BOOST_TEST(imaging::thumbnailable(yes), yes);
  for (const char* moving : {"image/gif", "Image/WebP; x=y"}) BOOST_TEST(imaging::animatable(moving), moving);
  for (const char* still : {"image/jpeg", "image/png", "image/apng", "video/mp4"})
    BOOST_TEST(!imaging::animatable(still), still);
  for (const char* no : {"image/svg+xml", "image/tiff", "image/heic", "application/pdf", "text/plain", "", "image/",
                         "image/pngx"})
    BOOST_TEST(!imaging::thumbnailable(no), no);
}

BOOST_AUTO_TEST_CASE(choose_size_follows_synapse) {
  const auto sizes = media_config{}.thumbnail_sizes;  // 32x32c 96x96c 320x240s 640x480s 800x600s
  auto pick = [&](int w, int h, const char* m) { return imaging::choose_size(sizes, w, h, m); };
  BOOST_TEST((pick(32, 32, "crop") == thumbnail_size{32, 32, "crop"}));
  BOOST_TEST((pick(33, 10, "crop") == thumbnail_size{96, 96, "crop"}));    // smallest that covers it
  BOOST_TEST((pick(500, 500, "crop") == thumbnail_size{96, 96, "crop"}));  // none covers: the largest crop
  BOOST_TEST((pick(1, 1, "scale") == thumbnail_size{320, 240, "scale"}));
  BOOST_TEST((pick(320, 240, "scale") == thumbnail_size{320, 240, "scale"}));
  BOOST_TEST((pick(321, 240, "scale") == thumbnail_size{640, 480, "scale"}));
  BOOST_TEST((pick(100, 481, "scale") == thumbnail_size{800, 600, "scale"}));
  BOOST_TEST((pick(4000, 3000, "scale") == thumbnail_size{800, 600, "scale"}));
  // Only one method configured: the other is served from it.
  const std::vector<thumbnail_size> scale_only{{100, 100, "scale"}, {400, 300, "scale"}};
  BOOST_TEST((imaging::choose_size(scale_only, 50, 50, "crop") == thumbnail_size{100, 100, "scale"}));
  BOOST_TEST((imaging::choose_size(scale_only, 200, 50, "crop") == thumbnail_size{400, 300, "scale"}));
  BOOST_CHECK_THROW(imaging::choose_size({}, 1, 1, "scale"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(probe_reads_the_header) {
  auto png = dir.save(noise(300, 200).get(), "a.png");
  auto info = imaging::probe(png, max_pixels);
  BOOST_TEST(info.width == 300);
  BOOST_TEST(info.height == 200);
  BOOST_TEST(!info.animated);
  BOOST_TEST(info.pages == 1);
  BOOST_TEST(info.content_type == "image/png");

  std::vector<image_ptr> frames;
  for (int i = 0; i < 4; ++i) frames.push_back(solid(60, 40, {i * 60.0, 0, 0}));
  auto gif = dir.save(animation(frames).get(), "anim.gif");
  auto anim = imaging::probe(gif, max_pixels);
  BOOST_TEST(anim.width == 60);
  BOOST_TEST(anim.height == 40);  // one frame
  BOOST_TEST(anim.animated);
  BOOST_TEST(anim.pages == 4);
  BOOST_TEST(anim.content_type == "image/gif");
}

BOOST_AUTO_TEST_CASE(scale_fits_inside_and_never_enlarges) {
  auto png = dir.save(noise(1000, 500).get(), "wide.png");
  struct want {
    thumbnail_size size;
    int w, h;
  };
  for (const auto& [size, w, h] : {want{{320, 240, "scale"}, 320, 160}, want{{640, 480, "scale"}, 640, 320},
                                   want{{800, 600, "scale"}, 800, 400}, want{{100, 400, "scale"}, 100, 50}}) {
    auto t = thumb(png, "image/png", size);
    auto d = decode(t);
    BOOST_TEST(d.width == w, size.width << "x" << size.height);
    BOOST_TEST(d.height == h, size.width << "x" << size.height);
    BOOST_TEST(t.width == w);
    BOOST_TEST(t.height == h);
    BOOST_TEST(t.content_type == "image/png");
    BOOST_TEST(!t.animated);
  }
  auto small = dir.save(noise(100, 50).get(), "small.png");
  auto t = thumb(small, "image/png", {320, 240, "scale"});
  BOOST_TEST(decode(t).width == 100);  // not upscaled
  BOOST_TEST(decode(t).height == 50);
}

BOOST_AUTO_TEST_CASE(crop_fills_exactly_or_keeps_the_aspect_of_a_small_source) {
  auto png = dir.save(noise(1000, 500).get(), "wide.png");
  for (auto size : {thumbnail_size{32, 32, "crop"}, thumbnail_size{96, 96, "crop"}, thumbnail_size{640, 480, "crop"},
                    thumbnail_size{300, 20, "crop"}}) {
    auto d = decode(thumb(png, "image/png", size));
    BOOST_TEST(d.width == size.width, size.width << "x" << size.height);
    BOOST_TEST(d.height == size.height, size.width << "x" << size.height);
  }
  struct want {
    int src_w, src_h;
    thumbnail_size size;
    int w, h;
  };
  // A source smaller than the crop: the largest region of the requested shape, unscaled.
  for (const auto& c : {want{100, 50, {96, 96, "crop"}, 50, 50}, want{60, 200, {96, 96, "crop"}, 60, 60},
                        want{100, 50, {320, 240, "crop"}, 66, 50}, want{90, 300, {96, 32, "crop"}, 90, 30}}) {
    auto file = dir.save(noise(c.src_w, c.src_h).get(), "s" + std::to_string(c.src_w) + ".png");
    auto t = thumb(file, "image/png", c.size);
    auto d = decode(t);
    BOOST_TEST(d.width == c.w, c.src_w << "x" << c.src_h);
    BOOST_TEST(d.height == c.h, c.src_w << "x" << c.src_h);
  }
}

BOOST_AUTO_TEST_CASE(crop_keeps_the_centre) {
  // Red borders left and right, green in the middle: a centred square crop is all green.
  auto base = solid(400, 100, {255, 0, 0});
  auto mem = image_ptr(vips_image_copy_memory(base.get()));
  BOOST_REQUIRE(mem);
  std::vector<double> green{0, 255, 0};
  BOOST_REQUIRE(vips_draw_rect(mem.get(), green.data(), 3, 140, 0, 120, 100, "fill", TRUE, nullptr) == 0);
  auto file = dir.save(mem.get(), "centre.png");
  auto t = thumb(file, "image/png", {96, 96, "crop"});
  BOOST_REQUIRE(decode(t).width == 96);
  for (int x : {2, 48, 93}) BOOST_TEST(near(pixel_of_frame(t, 0, x, 48), green), "x=" << x);
}

BOOST_AUTO_TEST_CASE(output_formats_follow_the_source) {
  auto src = noise(400, 300);
  struct want {
    const char* file;
    const char* type;
    const char* out_type;
    const char* loader_prefix;
  };
  for (const auto& c : {want{"n.jpg", "image/jpeg", "image/jpeg", "VipsForeignLoadJpeg"},
                        want{"n.png", "image/png", "image/png", "VipsForeignLoadPng"},
                        want{"n.gif", "image/gif", "image/png", "VipsForeignLoadPng"},
                        want{"n.webp", "image/webp", "image/png", "VipsForeignLoadPng"}}) {
    auto file = dir.save(src.get(), c.file);
    auto t = thumb(file, c.type, {320, 240, "scale"});
    BOOST_TEST(t.content_type == c.out_type, c.file);
    auto d = decode(t);
    BOOST_TEST(d.loader.starts_with(c.loader_prefix), c.file << " decoded by " << d.loader);
    BOOST_TEST(d.width == 320);
    BOOST_TEST(d.height == 240);
  }
  // The bytes decide, not the uploader's label: a PNG uploaded as image/jpeg stays PNG.
  auto png = dir.save(src.get(), "labelled.png");
  BOOST_TEST(thumb(png, "image/jpeg", {96, 96, "crop"}).content_type == "image/png");
}

BOOST_AUTO_TEST_CASE(jpeg_metadata_is_stripped_and_orientation_applied) {
  auto src = noise(400, 200);
  VipsImage* copy = nullptr;
  BOOST_REQUIRE(vips_copy(src.get(), &copy, nullptr) == 0);
  image_ptr tagged(copy);
  vips_image_set_int(tagged.get(), VIPS_META_ORIENTATION, 6);  // rotate 90°: displayed 200x400
  auto file = dir.save(tagged.get(), "rotated.jpg");
  auto info = imaging::probe(file, max_pixels);
  BOOST_TEST(info.width == 200);
  BOOST_TEST(info.height == 400);
  auto t = thumb(file, "image/jpeg", {320, 240, "scale"});
  BOOST_TEST(t.width == 120);
  BOOST_TEST(t.height == 240);
  auto crop = thumb(file, "image/jpeg", {96, 32, "crop"});
  BOOST_TEST(decode(crop).width == 96);
  BOOST_TEST(decode(crop).height == 32);
  VipsImage* raw = vips_image_new_from_buffer(t.bytes.data(), t.bytes.size(), "", nullptr);
  BOOST_REQUIRE(raw);
  image_ptr out(raw);
  BOOST_TEST(!vips_image_get_typeof(out.get(), VIPS_META_EXIF_NAME));  // no camera data leaks out
}

BOOST_AUTO_TEST_CASE(large_jpeg_uses_shrink_on_load) {
  auto file = dir.save(noise(4000, 3000).get(), "photo.jpg");
  auto t = thumb(file, "image/jpeg", {800, 600, "scale"});
  BOOST_TEST(t.content_type == "image/jpeg");
  BOOST_TEST(decode(t).width == 800);
  BOOST_TEST(decode(t).height == 600);
  auto c = thumb(file, "image/jpeg", {96, 96, "crop"});
  BOOST_TEST(decode(c).width == 96);
  BOOST_TEST(decode(c).height == 96);
}

BOOST_AUTO_TEST_CASE(animated_sources_give_animated_webp_when_asked) {
  const std::vector<std::vector<double>> colours{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  std::vector<image_ptr> frames;
  for (const auto& c : colours) frames.push_back(solid(400, 200, c));
  auto anim = animation(frames);
  for (const char* name : {"anim.gif", "anim.webp"}) {
    auto file = dir.save(anim.get(), name);
    const std::string type = std::string("image/") + (std::string(name).ends_with("gif") ? "gif" : "webp");

    auto scaled = thumb(file, type, {320, 240, "scale"}, true);
    BOOST_TEST(scaled.animated, name);
    BOOST_TEST(scaled.content_type == "image/webp");
    auto d = decode(scaled);
    BOOST_TEST(d.pages == 3, name);
    BOOST_TEST(d.width == 320);
    BOOST_TEST(d.height == 160, name);  // one frame

    // Every frame cropped on its own, in order: no frame straddles another.
    auto cropped = thumb(file, type, {96, 96, "crop"}, true);
    BOOST_TEST(cropped.animated);
    auto dc = decode(cropped);
    BOOST_TEST(dc.pages == 3, name);
    BOOST_TEST(dc.width == 96);
    BOOST_TEST(dc.height == 96);
    for (int page = 0; page < 3; ++page)
      for (int y : {1, 48, 94})
        BOOST_TEST(near(pixel_of_frame(cropped, page, 48, y), colours[page]), name << " frame " << page << " y=" << y);

    // Not asked for animation: the first frame, as PNG.
    auto still = thumb(file, type, {96, 96, "crop"}, false);
    BOOST_TEST(!still.animated);
    BOOST_TEST(still.content_type == "image/png");
    BOOST_TEST(decode(still).pages == 1);
    BOOST_TEST(near(pixel_of_frame(still, 0, 48, 48), colours[0]));

    // All frames together over the pixel budget (one frame within it): static.
    auto capped = thumb(file, type, {96, 96, "crop"}, true, 400 * 200 * 2);
    BOOST_TEST(!capped.animated, name);
    BOOST_TEST(capped.content_type == "image/png");
  }
  // Asking for animation of a still image gives the still image.
  auto png = dir.save(frames[0].get(), "still.png");
  auto t = thumb(png, "image/png", {96, 96, "crop"}, true);
  BOOST_TEST(!t.animated);
  BOOST_TEST(t.content_type == "image/png");
}

BOOST_AUTO_TEST_CASE(corrupt_and_disguised_files_fail_cleanly) {
  auto jpeg = read_file(dir.save(noise(640, 480).get(), "whole.jpg"));
  auto png = read_file(dir.save(noise(640, 480).get(), "whole.png"));
  struct bad {
    const char* name;
    std::string bytes;
    const char* type;
  };
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 7919) % 251);
  // A PNG signature and header followed by noise instead of image data.
  std::string png_head_garbage = png.substr(0, 33) + garbage;
  for (const auto& c :
       {bad{"empty", "", "image/png"}, bad{"garbage", garbage, "image/png"},
        bad{"truncated.jpg", jpeg.substr(0, jpeg.size() / 2), "image/jpeg"},
        bad{"truncated.png", png.substr(0, png.size() / 2), "image/png"},
        bad{"png-garbage", png_head_garbage, "image/png"}, bad{"text", "hello, world\n", "image/gif"},
        bad{"svg", R"(<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>)",
            "image/png"}}) {
    auto file = dir.write(c.name, c.bytes);
    BOOST_CHECK_THROW(thumb(file, c.type, {96, 96, "crop"}), imaging::image_error);
    BOOST_CHECK_THROW(thumb(file, c.type, {320, 240, "scale"}), imaging::image_error);
  }
  // libvips' error buffer does not carry one failure into the next success.
  auto good = dir.write("good.jpg", jpeg);
  BOOST_TEST(decode(thumb(good, "image/jpeg", {96, 96, "crop"})).width == 96);
  BOOST_TEST(std::string(vips_error_buffer()).empty());

  // A thumbnailable image uploaded under a type we do not thumbnail.
  BOOST_CHECK_THROW(thumb(good, "image/svg+xml", {96, 96, "crop"}), imaging::image_error);
  BOOST_CHECK_THROW(thumb(dir.write("missing-dir/x", ""), "image/png", {96, 96, "crop"}), imaging::image_error);
}

BOOST_AUTO_TEST_CASE(decompression_bombs_are_refused_from_the_header) {
  // A real small JPEG whose frame header is rewritten to claim 60000x60000 (3.6 G pixels): it must be
  // refused before any decoding (which would need ~10 GB).
  auto jpeg = read_file(dir.save(noise(64, 64).get(), "small.jpg"));
  auto sof = jpeg.find("\xFF\xC0");
  BOOST_REQUIRE(sof != std::string::npos);
  for (size_t at : {sof + 5, sof + 7}) {  // height, then width, big-endian
    jpeg[at] = static_cast<char>(60000 >> 8);
    jpeg[at + 1] = static_cast<char>(60000 & 0xFF);
  }
  auto bomb = dir.write("bomb.jpg", jpeg);
  try {
    imaging::probe(bomb, max_pixels);
    BOOST_FAIL("probe accepted a 60000x60000 image");
  } catch (const imaging::image_too_large& e) {
    BOOST_TEST(std::string(e.what()).find("too large") != std::string::npos, e.what());
  }
  BOOST_CHECK_THROW(thumb(bomb, "image/jpeg", {32, 32, "crop"}), imaging::image_too_large);

  // The limit is the configured one.
  auto file = dir.save(noise(100, 100).get(), "hundred.png");
  BOOST_CHECK_THROW(thumb(file, "image/png", {32, 32, "crop"}, false, 9999), imaging::image_too_large);
  BOOST_TEST(thumb(file, "image/png", {32, 32, "crop"}, false, 10000).width == 32);
}

BOOST_AUTO_TEST_CASE(file_extensions) {
  BOOST_TEST(imaging::file_extension("image/jpeg") == "jpg");
  BOOST_TEST(imaging::file_extension("image/png") == "png");
  BOOST_TEST(imaging::file_extension("image/webp") == "webp");
}

BOOST_AUTO_TEST_SUITE_END()
