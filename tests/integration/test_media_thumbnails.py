"""Thumbnails over HTTP (GET /_matrix/client/v1/media/thumbnail/… and the legacy
/_matrix/media/{r0,v3}/thumbnail/…): real PNG, JPEG, GIF and WebP uploads, thumbnails decoded with
Pillow to check their size, format and frames; requests snapped to the configured sizes; the
errors the spec names; and the second request served from the cached file."""
import io
import os
import sys

from harness import main
import test_media  # the upload helpers (imported as a module, so its tests do not run here)

# Pillow from Debian's python3-pil (scripts/install-deps.sh test), installed for the system interpreter.
for path in ("/usr/lib/python3/dist-packages",):
    if path not in sys.path:
        sys.path.append(path)
from PIL import Image  # noqa: E402

V1 = "/_matrix/client/v1"
V3_MEDIA = "/_matrix/media/v3"
R0_MEDIA = "/_matrix/media/r0"
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def encode(image, fmt, **kw):
    out = io.BytesIO()
    image.save(out, format=fmt, **kw)
    return out.getvalue()


def gradient(width, height):
    """A picture with detail everywhere (so scaling is visible) that still compresses well."""
    return Image.merge("RGB", [Image.linear_gradient("L").resize((width, height)),
                               Image.linear_gradient("L").rotate(90).resize((width, height)),
                               Image.new("L", (width, height), 128)])


def animation(fmt, size=(400, 200)):
    frames = [Image.new("RGB", size, c) for c in COLOURS]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


class Decoded:
    def __init__(self, data):
        image = Image.open(io.BytesIO(data))
        self.format = image.format
        self.size = image.size
        self.frames = getattr(image, "n_frames", 1)
        self.image = image


class ThumbnailCase(test_media.MediaCase):
    extra_config = "max_upload_size: 10M\nmax_image_pixels: 2M\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        upload = cls().upload_ok  # an instance only for its helpers
        cls.png = upload(encode(gradient(1000, 500), "PNG"), content_type="image/png")
        cls.jpeg = upload(encode(gradient(1200, 900), "JPEG", quality=85), content_type="image/jpeg")
        cls.small = upload(encode(gradient(50, 40), "PNG"), content_type="image/png")
        cls.gif = upload(animation("GIF"), content_type="image/gif")
        cls.webp = upload(animation("WEBP"), content_type="image/webp")
        cls.still_webp = upload(encode(gradient(400, 300), "WEBP"), content_type="image/webp")

    def thumbnail(self, media_id, query, authed=True, server_name="test.local", api=None, token=None):
        base = api or (f"{V1}/media/thumbnail" if authed else f"{V3_MEDIA}/thumbnail")
        return self.server.get(f"{base}/{server_name}/{media_id}?{query}",
                               token=token or (self.token if authed else None))

    def thumbnail_ok(self, media_id, query, content_type, **kw):
        r = self.thumbnail(media_id, query, **kw)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], content_type, query)
        return Decoded(r.data)


class Thumbnails(ThumbnailCase):
    def test_scale_and_crop_snap_to_the_configured_sizes_on_both_apis(self):
        # Synapse's defaults: 32x32 crop, 96x96 crop, 320x240, 640x480, 800x600 scale.
        cases = [("width=320&height=240", (320, 160)),                 # fits 320x240, keeps 2:1
                 ("width=100&height=100&method=scale", (320, 160)),    # smallest covering size
                 ("width=700&height=500&method=scale", (800, 400)),
                 ("width=5000&height=5000", (800, 400)),               # none covers: the largest
                 ("width=32&height=32&method=crop", (32, 32)),
                 ("width=50&height=50&method=crop", (96, 96)),
                 ("width=1000&height=1000&method=crop", (96, 96))]
        for authed, api in ((True, None), (False, None), (False, f"{R0_MEDIA}/thumbnail")):
            for query, size in cases:
                d = self.thumbnail_ok(self.png, query, "image/png", authed=authed, api=api)
                self.assertEqual(d.format, "PNG")
                self.assertEqual(d.size, size, (query, authed, api))

    def test_jpeg_gives_jpeg(self):
        d = self.thumbnail_ok(self.jpeg, "width=640&height=480", "image/jpeg")
        self.assertEqual((d.format, d.size), ("JPEG", (640, 480)))
        d = self.thumbnail_ok(self.jpeg, "width=96&height=96&method=crop", "image/jpeg")
        self.assertEqual((d.format, d.size), ("JPEG", (96, 96)))
        # image/jpg is not registered, but clients send it.
        jpg = self.upload_ok(encode(gradient(400, 300), "JPEG"), content_type="image/jpg")
        self.assertEqual(self.thumbnail_ok(jpg, "width=320&height=240", "image/jpeg").size, (320, 240))

    def test_small_images_are_not_enlarged(self):
        self.assertEqual(self.thumbnail_ok(self.small, "width=320&height=240", "image/png").size, (50, 40))
        # Crop: the largest centred square the image holds.
        self.assertEqual(self.thumbnail_ok(self.small, "width=96&height=96&method=crop", "image/png").size, (40, 40))

    def test_safety_headers_as_downloads(self):
        r = self.thumbnail(self.png, "width=32&height=32&method=crop")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-disposition"], "inline; filename=thumbnail.png")
        self.assertEqual(r.headers["content-security-policy"], test_media.CSP)
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")
        self.assertEqual(r.headers["cross-origin-resource-policy"], "cross-origin")
        self.assertEqual(int(r.headers["content-length"]), len(r.data))

    def test_animated_thumbnails_only_when_asked(self):
        for media_id in (self.gif, self.webp):
            d = self.thumbnail_ok(media_id, "width=320&height=240&animated=true", "image/webp")
            self.assertEqual((d.format, d.size, d.frames), ("WEBP", (320, 160), 3))
            d = self.thumbnail_ok(media_id, "width=96&height=96&method=crop&animated=true", "image/webp")
            self.assertEqual((d.size, d.frames), ((96, 96), 3))
            for frame, colour in enumerate(COLOURS):  # each frame cropped on its own, in order
                d.image.seek(frame)
                pixel = d.image.convert("RGB").getpixel((48, 48))
                self.assertTrue(all(abs(a - b) < 30 for a, b in zip(pixel, colour)), (media_id, frame, pixel))
            # animated=false MUST NOT animate; absent SHOULD NOT.
            for query in ("width=320&height=240&animated=false", "width=320&height=240"):
                d = self.thumbnail_ok(media_id, query, "image/png")
                self.assertEqual((d.format, d.frames), ("PNG", 1))
        # A still image asked to animate is served still.
        d = self.thumbnail_ok(self.still_webp, "width=320&height=240&animated=true", "image/png")
        self.assertEqual((d.size, d.frames), ((320, 240), 1))
        d = self.thumbnail_ok(self.png, "width=320&height=240&animated=true", "image/png")
        self.assertEqual(d.frames, 1)

    def test_bad_parameters(self):
        for query, errcode in [("height=240", "M_MISSING_PARAM"), ("width=320", "M_MISSING_PARAM"),
                               ("width=0&height=240", "M_INVALID_PARAM"), ("width=-5&height=240", "M_INVALID_PARAM"),
                               ("width=abc&height=240", "M_INVALID_PARAM"), ("width=3.5&height=240", "M_INVALID_PARAM"),
                               ("width=320&height=240&method=fit", "M_INVALID_PARAM"),
                               ("width=320&height=240&animated=yes", "M_INVALID_PARAM"),
                               ("width=320&height=240&timeout_ms=-1", "M_INVALID_PARAM")]:
            for authed in (True, False):
                self.assertError(self.thumbnail(self.png, query, authed=authed), 400, errcode)
        # Absurdly large is just "the largest".
        self.assertEqual(self.thumbnail_ok(self.png, "width=99999999999999999999&height=1", "image/png").size,
                         (800, 400))

    def test_content_that_cannot_be_thumbnailed(self):
        png = encode(gradient(300, 200), "PNG")
        broken = self.upload_ok(png[:len(png) // 2], content_type="image/png")             # truncated
        garbage = self.upload_ok(png[:40] + os.urandom(4000), content_type="image/png")    # header, then noise
        text = self.upload_ok(b"hello, world\n", content_type="text/plain")
        svg = self.upload_ok(b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
                             content_type="image/svg+xml")
        disguised = self.upload_ok(b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
                                   content_type="image/png")
        for media_id in (broken, garbage, text, svg, disguised):
            for authed in (True, False):
                self.assertError(self.thumbnail(media_id, "width=96&height=96&method=crop", authed=authed),
                                 400, "M_UNKNOWN")
        # Nothing was cached for them.
        ids = "', '".join((broken, garbage, text, svg, disguised))
        self.assertEqual(self.server.sql(f"SELECT media_id FROM local_media_thumbnails WHERE media_id IN ('{ids}')"),
                         [])

    def test_too_many_pixels_is_413(self):
        # max_image_pixels is 2M here: 1500x1500 is refused from its header alone.
        big = self.upload_ok(encode(Image.new("RGB", (1500, 1500), (9, 9, 9)), "PNG"), content_type="image/png")
        self.assertError(self.thumbnail(big, "width=96&height=96&method=crop"), 413, "M_TOO_LARGE")

    def test_unknown_quarantined_and_unreachable_remote_media(self):
        for media_id in ("doesNotExist", "bad.id"):
            self.assertError(self.thumbnail(media_id, "width=32&height=32"), 404, "M_NOT_FOUND")
        # Remote media comes over federation: an unreachable server is 502 (test_federation_media).
        self.assertError(self.thumbnail(self.png, "width=32&height=32", server_name="elsewhere.example"),
                         502, "M_UNKNOWN")
        media_id = self.upload_ok(encode(gradient(200, 100), "PNG"), content_type="image/png")
        self.assertEqual(self.thumbnail(media_id, "width=32&height=32&method=crop").status, 200)  # cached now
        admin = self.server.register("thumb_admin")
        self.server.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{admin['user_id']}'")
        r = self.server.post(f"/_synapse/admin/v1/media/quarantine/test.local/{media_id}", {},
                             token=admin["access_token"])
        self.assertEqual(r.status, 200, r)
        for authed in (True, False):  # the cached thumbnail is not served either
            self.assertError(self.thumbnail(media_id, "width=32&height=32&method=crop", authed=authed),
                             404, "M_NOT_FOUND")

    def test_authentication(self):
        r = self.server.get(f"{V1}/media/thumbnail/test.local/{self.png}?width=32&height=32")
        self.assertError(r, 401, "M_MISSING_TOKEN")
        r = self.server.get(f"{V1}/media/thumbnail/test.local/{self.png}?width=32&height=32", token="nope")
        self.assertError(r, 401, "M_UNKNOWN_TOKEN")
        self.assertEqual(self.thumbnail(self.png, "width=32&height=32", authed=False).status, 200)

    def test_second_request_is_served_from_the_cache(self):
        media_id = self.upload_ok(encode(gradient(600, 400), "PNG"), content_type="image/png")
        first = self.thumbnail(media_id, "width=320&height=240")
        self.assertEqual(first.status, 200, first)
        rows = self.server.sql("SELECT width, height, method, animated, content_type, actual_width, actual_height, "
                               f"size FROM local_media_thumbnails WHERE media_id = '{media_id}'")
        self.assertEqual(rows, [("320", "240", "scale", "0", "image/png", "320", "213", str(len(first.data)))])
        files = thumbnail_files(self.server, media_id)
        self.assertEqual([os.path.basename(f) for f in files], ["320-240-scale.png"])
        before = os.stat(files[0])

        # Same request, and another one that snaps to the same size: the same file, untouched.
        for query in ("width=320&height=240", "width=200&height=200&method=scale"):
            again = self.thumbnail(media_id, query, authed=False)
            self.assertEqual(again.status, 200, again)
            self.assertEqual(again.data, first.data)
        after = os.stat(files[0])
        self.assertEqual((after.st_ino, after.st_mtime_ns), (before.st_ino, before.st_mtime_ns))
        self.assertEqual(len(self.server.sql(f"SELECT 1 FROM local_media_thumbnails WHERE media_id = '{media_id}'")), 1)

        # A cached row whose file went missing is made again rather than failing.
        os.remove(files[0])
        again = self.thumbnail(media_id, "width=320&height=240")
        self.assertEqual(again.status, 200, again)
        self.assertEqual(Decoded(again.data).size, (320, 213))
        self.assertTrue(os.path.exists(files[0]))


def thumbnail_files(server, media_id):
    """The thumbnail files of one media id (the store shards ids as <2>/<2>/<rest>)."""
    found = []
    for dirpath, _, files in os.walk(os.path.join(server.dir, "media_store", "local_thumbnails")):
        if os.path.basename(dirpath) == media_id[4:]:
            found += [os.path.join(dirpath, f) for f in sorted(files)]
    return found


class ThumbnailSizesConfig(ThumbnailCase):
    extra_config = ("max_upload_size: 10M\n"
                    "thumbnail_sizes:\n  - {width: 50, height: 50, method: crop}\n"
                    "  - {width: 150, height: 100, method: scale}\n")

    def test_requests_snap_to_the_configured_sizes(self):
        self.assertEqual(self.thumbnail_ok(self.png, "width=32&height=32&method=crop", "image/png").size, (50, 50))
        self.assertEqual(self.thumbnail_ok(self.png, "width=800&height=600", "image/png").size, (150, 75))
        self.assertEqual(self.thumbnail_ok(self.jpeg, "width=10&height=10", "image/jpeg").size, (133, 100))


class ThumbnailsSplit(ThumbnailCase):
    placement = test_media.SPLIT

    def test_served_by_the_media_group(self):
        r = self.thumbnail(self.png, "width=96&height=96&method=crop")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("x-myelin-instance", "").startswith("media/"), r.headers)
        self.assertEqual(Decoded(r.data).size, (96, 96))


if __name__ == "__main__":
    main()
