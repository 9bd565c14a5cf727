"""The media repository over HTTP: configuration, uploads (plain and asynchronous), downloads with
their safety headers and byte ranges, limits, quarantine — on both databases and on the split
placement. Thumbnails and URL previews have their own files."""
import hashlib
import os
import threading
import time
import urllib.parse

from harness import ServerTestCase, main

V1 = "/_matrix/client/v1"
V3_MEDIA = "/_matrix/media/v3"
CSP = ("sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
       "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';")


def media_files(server):
    """Every file under the media store's content and tmp directories."""
    root = os.path.join(server.dir, "media_store")
    found = []
    for sub in ("local_content", "tmp"):
        for dirpath, _, files in os.walk(os.path.join(root, sub)):
            found += [os.path.join(dirpath, f) for f in files]
    return found


class MediaCase(ServerTestCase):
    extra_config = "max_upload_size: 3M\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token = cls.server.register("uploader")["access_token"]

    def upload(self, data, content_type="application/octet-stream", filename=None, token=None, path=None,
               method="POST", headers=None):
        h = {"Content-Type": content_type} if content_type is not None else {}
        h.update(headers or {})
        target = path or f"{V3_MEDIA}/upload"
        if filename is not None:
            target += "?filename=" + urllib.parse.quote(filename)
        return self.server.request(method, target, raw=data, token=token or self.token, headers=h)

    def upload_ok(self, data, **kw):
        r = self.upload(data, **kw)
        self.assertEqual(r.status, 200, r)
        uri = r.json["content_uri"]
        self.assertTrue(uri.startswith("mxc://test.local/"), uri)
        return uri[len("mxc://test.local/"):]

    def download(self, media_id, authed=True, name=None, headers=None, method="GET", query=""):
        base = f"{V1}/media/download" if authed else f"{V3_MEDIA}/download"
        path = f"{base}/test.local/{media_id}" + (f"/{urllib.parse.quote(name)}" if name else "") + query
        return self.server.request(method, path, token=self.token if authed else None, headers=headers)


class MediaConfig(MediaCase):
    def test_config_reports_the_upload_limit(self):
        r = self.server.get(f"{V1}/media/config", token=self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"m.upload.size": 3 * 1024 * 1024})
        self.assertError(self.server.get(f"{V1}/media/config"), 401, "M_MISSING_TOKEN")
        self.assertEqual(self.server.get(f"{V3_MEDIA}/config", token=self.token).json, {"m.upload.size": 3145728})


class MediaUploadDownload(MediaCase):
    def test_binary_round_trip_is_byte_identical(self):
        data = bytes(range(256)) * 1000 + os.urandom(200_001)  # every byte value, odd length
        media_id = self.upload_ok(data, filename="blob.bin")
        for authed in (True, False):
            r = self.download(media_id, authed=authed)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(hashlib.sha256(r.data).hexdigest(), hashlib.sha256(data).hexdigest())
            self.assertEqual(int(r.headers["content-length"]), len(data))
        rows = self.server.sql(f"SELECT size, sha256, content_type, upload_name FROM local_media "
                               f"WHERE media_id = '{media_id}'")
        self.assertEqual(rows, [(str(len(data)), hashlib.sha256(data).hexdigest(), "application/octet-stream",
                                 "blob.bin")])

    def test_empty_upload(self):
        media_id = self.upload_ok(b"", content_type="text/plain")
        r = self.download(media_id)
        self.assertEqual((r.status, r.data, r.headers["content-length"]), (200, b"", "0"))

    def test_missing_content_type_is_octet_stream(self):
        media_id = self.upload_ok(b"abc", content_type=None)
        self.assertEqual(self.download(media_id).headers["content-type"], "application/octet-stream")

    def test_unusable_content_types_are_refused(self):
        before = set(media_files(self.server))
        for bad in ("image/p\xe9ng", "noslash", "/png", "a/" + "b" * 300):
            with self.subTest(content_type=bad):
                self.assertError(self.upload(b"x", content_type=bad), 400, "M_INVALID_PARAM")
        time.sleep(0.2)
        self.assertEqual(set(media_files(self.server)), before)  # refused uploads leave no spool file

    def test_safe_types_inline_others_attachment_all_sandboxed(self):
        cases = [("image/png", "inline"), ("text/plain", "inline"), ("video/mp4", "inline"),
                 ("text/html", "attachment"), ("image/svg+xml", "attachment"),
                 ("application/javascript", "attachment"), ("application/pdf", "attachment")]
        for content_type, disposition in cases:
            with self.subTest(content_type=content_type):
                media_id = self.upload_ok(b"<script>alert(1)</script>", content_type=content_type, filename="f")
                r = self.download(media_id)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.headers["content-disposition"], f"{disposition}; filename=f")
                self.assertEqual(r.headers["content-security-policy"], CSP)
                self.assertEqual(r.headers["cross-origin-resource-policy"], "cross-origin")
                self.assertEqual(r.headers["x-content-type-options"], "nosniff")
                self.assertIn("max-age=", r.headers["cache-control"])
                expected_type = content_type + ("; charset=UTF-8" if content_type.startswith("text/") else "")
                self.assertEqual(r.headers["content-type"], expected_type)

    def test_file_names_are_encoded_and_the_path_name_wins(self):
        media_id = self.upload_ok(b"x", content_type="text/plain", filename='na\u00efve "q"; x=y.txt')
        r = self.download(media_id)
        self.assertEqual(r.headers["content-disposition"],
                         "inline; filename*=utf-8''na%C3%AFve%20%22q%22%3B%20x%3Dy.txt")
        r = self.download(media_id, name="other.txt")
        self.assertEqual(r.headers["content-disposition"], "inline; filename=other.txt")
        # A CR/LF in the path name cannot become a header of its own.
        r = self.download(media_id, name="a\r\nSet-Cookie: x=1")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("set-cookie", r.headers)
        self.assertTrue(r.headers["content-disposition"].startswith("inline; filename*=utf-8''a%0D%0ASet-Cookie"))

    def test_byte_ranges(self):
        data = os.urandom(100_000)
        media_id = self.upload_ok(data)
        r = self.download(media_id, headers={"Range": "bytes=1000-1999"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.data, data[1000:2000])
        self.assertEqual(r.headers["content-range"], "bytes 1000-1999/100000")
        r = self.download(media_id, headers={"Range": "bytes=-10"})
        self.assertEqual((r.status, r.data), (206, data[-10:]))
        r = self.download(media_id, headers={"Range": "bytes=99990-"})
        self.assertEqual((r.status, r.data), (206, data[99990:]))
        r = self.download(media_id, headers={"Range": "bytes=200000-"})
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.headers["content-range"], "bytes */100000")
        # Several ranges: the whole body, which RFC 9110 allows.
        r = self.download(media_id, headers={"Range": "bytes=0-1,5-6"})
        self.assertEqual((r.status, r.data), (200, data))

    def test_head_has_the_length_and_no_body(self):
        media_id = self.upload_ok(b"0123456789")
        r = self.download(media_id, method="HEAD")
        self.assertEqual((r.status, r.headers["content-length"], r.data), (200, "10", b""))

    def test_keep_alive_connection_carries_uploads_and_downloads(self):
        conn = self.server.connect()
        try:
            ids = []
            for i in range(3):
                r = self.server.request("POST", f"{V3_MEDIA}/upload", raw=bytes([i]) * 70_000, token=self.token,
                                        headers={"Content-Type": "application/octet-stream"}, conn=conn)
                self.assertEqual(r.status, 200, r)
                ids.append(r.json["content_uri"].rsplit("/", 1)[1])
            for i, media_id in enumerate(ids):
                r = self.server.request("GET", f"{V1}/media/download/test.local/{media_id}", token=self.token,
                                        conn=conn)
                self.assertEqual(r.data, bytes([i]) * 70_000)
        finally:
            conn.close()

    def test_unknown_and_malformed_ids_are_not_found(self):
        for media_id in ("nope", "..%2F..%2Fhomeserver.yaml", "..", "a.b", "%00", "x" * 300):
            with self.subTest(media_id=media_id):
                for authed in (True, False):
                    self.assertError(self.download(media_id, authed=authed), 404, "M_NOT_FOUND")
        # Another server's media is fetched over federation: a server that cannot be reached is a
        # 502 (test_federation_media has the rest).
        self.assertError(self.server.get(f"{V1}/media/download/other.example/abc", token=self.token), 502,
                         "M_UNKNOWN")

    def test_upload_file_name_never_becomes_a_path(self):
        before = set(media_files(self.server))
        media_id = self.upload_ok(b"secret", filename="../../../homeserver.yaml")
        new = set(media_files(self.server)) - before
        self.assertEqual(len(new), 1, new)
        path = new.pop()
        self.assertIn(os.path.join("media_store", "local_content"), path)
        self.assertTrue(path.endswith(media_id[4:]), path)
        with open(os.path.join(self.server.dir, "homeserver.yaml"), "rb") as f:
            self.assertNotEqual(f.read(), b"secret")

    def test_authentication(self):
        self.assertError(self.upload(b"x", token="", path=None) if False else
                         self.server.request("POST", f"{V3_MEDIA}/upload", raw=b"x",
                                             headers={"Content-Type": "text/plain"}), 401, "M_MISSING_TOKEN")
        media_id = self.upload_ok(b"x")
        self.assertError(self.server.get(f"{V1}/media/download/test.local/{media_id}"), 401, "M_MISSING_TOKEN")
        self.assertError(self.server.get(f"{V1}/media/download/test.local/{media_id}", token="bogus"), 401,
                         "M_UNKNOWN_TOKEN")
        self.assertEqual(self.download(media_id, authed=False).status, 200)


class MediaLimits(MediaCase):
    extra_config = "max_upload_size: 1M\n"

    def assertNothingStored(self, before_files, before_rows):
        self.assertEqual(set(media_files(self.server)), before_files)
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM local_media"), before_rows)

    def test_oversized_upload_is_refused_and_nothing_is_stored(self):
        before_files, before_rows = set(media_files(self.server)), self.server.sql("SELECT COUNT(*) FROM local_media")
        # Declared too large: refused on the header alone.
        self.assertError(self.upload(b"x" * (1024 * 1024 + 1)), 413, "M_TOO_LARGE")
        self.assertNothingStored(before_files, before_rows)
        # Chunked, no length: refused once the stream passes the limit.
        def chunks():
            for _ in range(40):
                yield b"y" * 65536
        conn = self.server.connect()
        try:
            conn.request("POST", f"{V3_MEDIA}/upload", body=chunks(), encode_chunked=True,
                         headers={"Authorization": "Bearer " + self.token, "Content-Type": "text/plain",
                                  "Transfer-Encoding": "chunked"})
            r = conn.getresponse()
            self.assertEqual(r.status, 413)
            r.read()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before the client has sent everything
        finally:
            conn.close()
        time.sleep(0.3)  # the discard runs on the file pool after the reply
        self.assertNothingStored(before_files, before_rows)
        # Exactly at the limit is fine.
        self.upload_ok(b"z" * (1024 * 1024))

    def test_refused_upload_is_not_read_or_stored(self):
        before = set(media_files(self.server))
        r = self.server.request("POST", f"{V3_MEDIA}/upload", raw=b"x" * 500_000, token="bogus",
                                headers={"Content-Type": "text/plain"})
        self.assertError(r, 401, "M_UNKNOWN_TOKEN")
        self.assertEqual(set(media_files(self.server)), before)


class MediaRateLimit(MediaCase):
    extra_config = "rc_media_create: {per_second: 0.01, burst_count: 2}\n"

    def test_uploads_per_user_are_rate_limited(self):
        self.upload_ok(b"1")
        self.upload_ok(b"2")
        before = set(media_files(self.server))
        r = self.upload(b"3")
        self.assertError(r, 429, "M_LIMIT_EXCEEDED")
        self.assertGreater(r.json["retry_after_ms"], 0)
        self.assertEqual(set(media_files(self.server)), before)
        self.assertError(self.server.post(f"{V1.replace('client/v1', 'media/v1')}/create", {}, token=self.token),
                         429, "M_LIMIT_EXCEEDED")
        # Another user has their own budget.
        other = self.server.register("other_uploader")["access_token"]
        self.assertEqual(self.upload(b"4", token=other).status, 200)


class MediaAsyncUpload(MediaCase):
    extra_config = "max_pending_media_uploads: 3\n"

    def create(self, token=None):
        r = self.server.post("/_matrix/media/v1/create", {}, token=token or self.token)
        self.assertEqual(r.status, 200, r)
        self.assertGreater(r.json["unused_expires_at"], time.time() * 1000 + 23 * 3600 * 1000)
        return r.json["content_uri"].rsplit("/", 1)[1]

    def put(self, media_id, data, token=None, server="test.local"):
        return self.upload(data, content_type="text/plain", token=token, method="PUT",
                           path=f"{V3_MEDIA}/upload/{server}/{media_id}", filename="later.txt")

    def test_create_then_upload(self):
        media_id = self.create()
        self.assertError(self.download(media_id, query="?timeout_ms=0"), 504, "M_NOT_YET_UPLOADED")
        other = self.server.register("intruder")["access_token"]
        self.assertError(self.put(media_id, b"evil", token=other), 403, "M_FORBIDDEN")
        r = self.put(media_id, b"the content")
        self.assertEqual((r.status, r.json), (200, {}))
        self.assertError(self.put(media_id, b"again"), 409, "M_CANNOT_OVERWRITE_MEDIA")
        r = self.download(media_id)
        self.assertEqual((r.status, r.data), (200, b"the content"))
        self.assertEqual(r.headers["content-disposition"], "inline; filename=later.txt")

    def test_unknown_ids_and_other_servers(self):
        self.assertError(self.put("abcdefghijklmnopqrstuvwx", b"x"), 404, "M_NOT_FOUND")
        media_id = self.create()
        self.assertError(self.put(media_id, b"x", server="elsewhere.example"), 404, "M_NOT_FOUND")
        self.assertEqual(self.put(media_id, b"x").status, 200)

    def test_download_waits_for_the_content(self):
        media_id = self.create()
        result = {}

        def fetch():
            result["r"] = self.download(media_id, query="?timeout_ms=10000")
        t = threading.Thread(target=fetch)
        t.start()
        time.sleep(0.5)
        self.assertEqual(self.put(media_id, b"worth the wait").status, 200)
        t.join(15)
        self.assertEqual((result["r"].status, result["r"].data), (200, b"worth the wait"))

    def test_pending_ids_per_user_are_limited(self):
        user = self.server.register("creator")["access_token"]
        ids = [self.create(token=user) for _ in range(3)]
        self.assertError(self.server.post("/_matrix/media/v1/create", {}, token=user), 429, "M_LIMIT_EXCEEDED")
        self.assertEqual(self.put(ids[0], b"done", token=user).status, 200)  # a slot frees up
        self.create(token=user)


class MediaExpiry(MediaCase):
    extra_config = "unused_expiration_time: 1s\n"

    def test_unused_ids_expire(self):
        r = self.server.post("/_matrix/media/v1/create", {}, token=self.token)
        media_id = r.json["content_uri"].rsplit("/", 1)[1]
        time.sleep(1.2)
        self.assertError(self.upload(b"late", method="PUT", path=f"{V3_MEDIA}/upload/test.local/{media_id}"), 404,
                         "M_NOT_FOUND")
        self.assertError(self.download(media_id, query="?timeout_ms=0"), 404, "M_NOT_FOUND")


class MediaQuarantine(MediaCase):
    def test_quarantined_media_is_not_served(self):
        media_id = self.upload_ok(b"bad content", content_type="text/plain")
        admin = self.server.register("media_admin")
        self.server.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{admin['user_id']}'")
        path = f"/_synapse/admin/v1/media/quarantine/test.local/{media_id}"
        self.assertError(self.server.post(path, {}, token=self.token), 403, "M_FORBIDDEN")
        self.assertEqual(self.download(media_id).status, 200)
        self.assertEqual(self.server.post(path, {}, token=admin["access_token"]).status, 200)
        for authed in (True, False):
            self.assertError(self.download(media_id, authed=authed), 404, "M_NOT_FOUND")
        self.assertEqual(self.server.post(path.replace("/quarantine/", "/unquarantine/"), {},
                                          token=admin["access_token"]).status, 200)
        self.assertEqual(self.download(media_id).data, b"bad content")


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


class MediaSplit(MediaUploadDownload):
    placement = SPLIT

    def test_served_by_the_media_group(self):
        media_id = self.upload_ok(b"split")
        r = self.download(media_id)
        self.assertEqual(r.data, b"split")
        self.assertTrue(r.headers.get("x-myelin-instance", "").startswith("media/"), r.headers)


if __name__ == "__main__":
    main()
