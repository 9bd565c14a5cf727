"""URL previews (GET /_matrix/client/v1/media/preview_url and the legacy /_matrix/media/v3 path)
against a small HTTP server run by the test on 127.0.0.1: pages with and without OpenGraph tags,
an image, redirects, a page past max_spider_size, a page slower than the timeout, the cache, the
URL blocklist and the errors Synapse gives. The main server class allows 127.0.0.1 explicitly;
a second class with the default address policy proves loopback is refused, and a third that
previews can be switched off."""
import http.server
import os
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import zlib

from harness import ServerTestCase, main

V1 = "/_matrix/client/v1"
V3_MEDIA = "/_matrix/media/v3"
PREVIEW = f"{V1}/media/preview_url"
LEGACY_PREVIEW = f"{V3_MEDIA}/preview_url"


def png(width, height):
    """A valid RGB PNG of the given size, all black."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + b"\0\0\0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


IMAGE = png(48, 32)

OG_PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Not this title</title>
<meta property="og:title" content="A page with OpenGraph">
<meta property="og:description" content="Described   by its tags.">
<meta property="og:type" content="article">
<meta property="og:site_name" content="Test Site">
<meta property="og:image" content="/image.png">
</head><body><p>Body text that the tags override.</p></body></html>"""

PLAIN_PAGE = """<html><head><title>Fallback title</title>
<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1"></head>
<body><nav>Menu</nav><p>Caf\u00e9 paragraph one.</p><p>Paragraph two.</p>
<img src="missing.png"></body></html>""".encode("latin-1")


class PreviewSite:
    """The pages a preview may fetch, served by http.server on an ephemeral loopback port. Counts
    requests per path so tests can tell a cached answer from a fresh fetch."""

    def __init__(self):
        self.hits = {}
        self.lock = threading.Lock()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, body=b"", content_type="text/html; charset=utf-8", headers=()):
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                with site.lock:
                    site.hits[path] = site.hits.get(path, 0) + 1
                    site.last_headers = dict(self.headers)
                if path.startswith("/og"):
                    self.send(200, OG_PAGE)
                elif path == "/plain":
                    self.send(200, PLAIN_PAGE, "text/html")
                elif path == "/image.png":
                    self.send(200, IMAGE, "image/png")
                elif path.startswith("/hop/"):  # /hop/N redirects N times, then the OG page
                    n = int(path[5:])
                    self.send(302, headers=[("Location", f"/hop/{n - 1}" if n > 1 else "/og-after-redirects")])
                elif path == "/huge":
                    self.send(200, b"<html><body>" + b"x" * (300 * 1024) + b"</body></html>")
                elif path == "/slow":
                    time.sleep(4)
                    self.send(200, OG_PAGE)
                elif path == "/text":
                    self.send(200, b"just text", "text/plain")
                elif path == "/broken-image":  # an og:image that is not an image: the page still previews
                    self.send(200, b'<html><head><meta property="og:title" content="Bad image">'
                                   b'<meta property="og:image" content="/text"></head></html>')
                else:
                    self.send(404, b"not here")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path):
        with self.lock:
            return self.hits.get(path, 0)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class PreviewCase(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.site = PreviewSite()
        try:
            super().setUpClass()
        except Exception:
            cls.site.close()
            raise
        cls.token = cls.server.register("previewer")["access_token"]

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.site.close()

    def preview(self, url, token=None, path=PREVIEW, extra=""):
        q = urllib.parse.urlencode({"url": url}) + extra
        return self.server.get(f"{path}?{q}", token=token or self.token)


class Previews(PreviewCase):
    extra_config = ("url_preview_ip_range_whitelist: ['127.0.0.1']\n"
                    "max_spider_size: 64K\n"
                    "url_preview_timeout: 1500ms\n"
                    "url_preview_accept_language: ['en-GB', 'fr;q=0.5']\n"
                    "url_preview_url_blacklist:\n"
                    "  - path: '/forbidden*'\n"
                    "allow_guest_access: true\n")

    def download(self, mxc):
        self.assertTrue(mxc.startswith("mxc://test.local/"), mxc)
        r = self.server.request("GET", f"{V1}/media/download/test.local/{mxc[len('mxc://test.local/'):]}",
                                token=self.token)
        self.assertEqual(r.status, 200, r)
        return r

    def test_opengraph_page_with_its_image_stored_as_media(self):
        images = self.site.count("/image.png")
        r = self.preview(self.site.url("/og"))
        self.assertEqual(r.status, 200, r)
        og = r.json
        self.assertEqual(og["og:title"], "A page with OpenGraph")
        self.assertEqual(og["og:description"], "Described by its tags.")
        self.assertEqual(og["og:type"], "article")
        self.assertEqual(og["og:site_name"], "Test Site")
        # The image was fetched too and is served as local media.
        self.assertEqual(og["og:image:type"], "image/png")
        self.assertEqual(og["matrix:image:size"], len(IMAGE))
        self.assertEqual((og["og:image:width"], og["og:image:height"]), (48, 32))
        self.download(og["og:image"])
        self.assertEqual(self.site.count("/image.png"), images + 1)
        # The request said who it is and what languages it wants.
        self.assertTrue(self.site.last_headers.get("User-Agent", "").startswith("Myelin/"), self.site.last_headers)
        self.assertEqual(self.site.last_headers.get("Accept-Language"), "en-GB, fr;q=0.5")

    def test_page_without_opengraph_uses_fallbacks(self):
        r = self.preview(self.site.url("/plain"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["og:title"], "Fallback title")
        # Latin-1 from the page's own meta tag, decoded to UTF-8; the nav is not prose.
        self.assertEqual(r.json["og:description"], "Caf\u00e9 paragraph one.\n\nParagraph two.")
        # The first <img> could not be fetched (404): no image, but still a preview.
        self.assertNotIn("og:image", r.json)

    def test_an_image_url_previews_as_the_image(self):
        r = self.preview(self.site.url("/image.png"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["og:image:type"], "image/png")
        self.assertEqual(r.json["matrix:image:size"], len(IMAGE))
        self.assertEqual(r.json["og:image:width"], 48)
        d = self.download(r.json["og:image"])
        self.assertEqual(d.headers["content-type"], "image/png")
        self.assertEqual(int(d.headers["content-length"]), len(IMAGE))

    def test_an_og_image_that_is_not_an_image_is_left_out(self):
        r = self.preview(self.site.url("/broken-image"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"og:title": "Bad image"})

    def test_redirects_are_followed_up_to_five(self):
        r = self.preview(self.site.url("/hop/5"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["og:title"], "A page with OpenGraph")
        r = self.preview(self.site.url("/hop/6"))
        self.assertError(r, 502, "M_UNKNOWN")

    def test_a_page_past_max_spider_size_is_refused(self):
        self.assertError(self.preview(self.site.url("/huge")), 502, "M_TOO_LARGE")

    def test_a_slow_page_times_out(self):
        start = time.monotonic()
        self.assertError(self.preview(self.site.url("/slow")), 504, "M_UNKNOWN")
        self.assertLess(time.monotonic() - start, 3.5)

    def test_remote_errors(self):
        self.assertError(self.preview(self.site.url("/nowhere")), 502, "M_UNKNOWN")  # a 404 upstream
        self.assertError(self.preview(self.site.url("/text")), 502, "M_UNKNOWN")     # not previewable
        self.assertError(self.preview("http://no-such-host.invalid/"), 502, "M_UNKNOWN")
        # Loopback other than the allowed address stays closed.
        self.assertError(self.preview(f"http://127.0.0.2:{self.site.port}/og"), 403, "M_UNKNOWN")
        self.assertError(self.preview(f"http://[::1]:{self.site.port}/og"), 403, "M_UNKNOWN")

    def test_tls_certificates_are_verified(self):
        # An HTTPS server with a self-signed certificate: the handshake must fail (502), not preview.
        with tempfile.TemporaryDirectory() as d:
            key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(4)
            port = listener.getsockname()[1]
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)

            def serve():
                try:
                    conn, _ = listener.accept()
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(4096)
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n")
                except (ssl.SSLError, OSError):
                    pass

            t = threading.Thread(target=serve, daemon=True)
            t.start()
            try:
                r = self.preview(f"https://127.0.0.1:{port}/")
                self.assertError(r, 502, "M_UNKNOWN")
            finally:
                listener.close()
                t.join(5)

    def test_the_url_blocklist(self):
        self.assertError(self.preview(self.site.url("/forbidden/page")), 403, "M_UNKNOWN")
        self.assertEqual(self.site.count("/forbidden/page"), 0)

    def test_bad_parameters(self):
        self.assertError(self.server.get(PREVIEW, token=self.token), 400, "M_MISSING_PARAM")
        for bad in ("ftp://example.org/file", "not a url", "javascript:alert(1)", "/relative/path"):
            self.assertError(self.preview(bad), 400, "M_INVALID_PARAM")
        self.assertError(self.preview(self.site.url("/og"), extra="&ts=yesterday"), 400, "M_INVALID_PARAM")

    def test_a_preview_is_fetched_once_then_cached(self):
        url = self.site.url("/og-cached")
        first = self.preview(url)
        self.assertEqual(first.status, 200, first)
        images = self.site.count("/image.png")
        second = self.preview(url, extra=f"&ts={int(time.time() * 1000)}")
        self.assertEqual(second.status, 200, second)
        self.assertEqual(second.json, first.json)
        self.assertEqual(self.site.count("/og-cached"), 1)
        self.assertEqual(self.site.count("/image.png"), images)
        # The legacy path shares the cache.
        self.assertEqual(self.preview(url, path=LEGACY_PREVIEW).json, first.json)
        self.assertEqual(self.site.count("/og-cached"), 1)
        rows = self.server.sql("SELECT url, expires_ts - ts FROM url_cache WHERE url = '%s'" % url)
        self.assertEqual(rows, [(url, "3600000")])

    def test_failures_are_not_cached(self):
        self.assertError(self.preview(self.site.url("/nowhere-twice")), 502, "M_UNKNOWN")
        self.assertError(self.preview(self.site.url("/nowhere-twice")), 502, "M_UNKNOWN")
        self.assertEqual(self.site.count("/nowhere-twice"), 2)

    def test_authentication(self):
        r = self.server.get(f"{PREVIEW}?url=" + urllib.parse.quote(self.site.url("/og")))
        self.assertError(r, 401, "M_MISSING_TOKEN")
        self.assertError(self.preview(self.site.url("/og"), token="bogus"), 401, "M_UNKNOWN_TOKEN")
        self.assertError(self.server.get(f"{LEGACY_PREVIEW}?url=x"), 401, "M_MISSING_TOKEN")
        # Guests may not make the server fetch pages (the spec's guest endpoints do not list it).
        guest = self.server.post("/_matrix/client/v3/register?kind=guest", {})
        self.assertEqual(guest.status, 200, guest)
        self.assertError(self.preview(self.site.url("/og"), token=guest.json["access_token"]), 403,
                         "M_GUEST_ACCESS_FORBIDDEN")


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


class PreviewsSplit(PreviewCase):
    """On the split placement the media group makes previews (and may write media and url_cache)."""
    placement = SPLIT
    extra_config = "url_preview_ip_range_whitelist: ['127.0.0.1']\n"

    def test_served_by_the_media_group(self):
        r = self.preview(self.site.url("/og"))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("x-myelin-instance", "").startswith("media/"), r.headers)
        self.assertTrue(r.json["og:image"].startswith("mxc://test.local/"), r.json)


class DefaultAddressPolicy(PreviewCase):
    """No allow list: loopback and private addresses are refused before any connection."""

    def test_loopback_is_refused(self):
        for url in (self.site.url("/og"), f"http://localhost:{self.site.port}/og",
                    f"http://[::ffff:127.0.0.1]:{self.site.port}/og", f"http://0.0.0.0:{self.site.port}/og"):
            self.assertError(self.preview(url), 403, "M_UNKNOWN")
            self.assertEqual(self.preview(url).json["error"], "IP address blocked")
        self.assertEqual(sum(self.site.hits.values()), 0)


class PreviewsDisabled(PreviewCase):
    extra_config = "url_preview_enabled: false\nurl_preview_ip_range_whitelist: ['127.0.0.1']\n"

    def test_disabled_previews_are_unrecognized(self):
        self.assertError(self.preview(self.site.url("/og")), 404, "M_UNRECOGNIZED")
        self.assertError(self.preview(self.site.url("/og"), path=LEGACY_PREVIEW), 404, "M_UNRECOGNIZED")
        self.assertEqual(self.site.count("/og"), 0)


if __name__ == "__main__":
    main()
