"""Media over federation, against a fake remote server (fedremote.RemoteServer).

Inbound: GET /_matrix/federation/v1/media/download/{mediaId} and /thumbnail/{mediaId}, signed by
the remote, answer multipart/mixed — a JSON part {} then the content with its type (parsed here
with Python's email package, an independent multipart reader); unsigned → 401, unknown → 404.

Outbound: a client's GET /_matrix/client/v1/media/download/{remote}/{mediaId} (and the legacy
/_matrix/media/v3/download, and thumbnails) makes Myelin fetch the media from the remote with a
signed request, once: the second download is served from the cache. A Location part is followed.
The remote's 404 is a 404; media past max_upload_size is 502 M_TOO_LARGE; an unreachable server
is 502."""
import email.parser
import email.policy
import glob
import io
import os
import sys
import time
import urllib.parse

from harness import main
from fedremote import FederationTestCase

for path in ("/usr/lib/python3/dist-packages",):
    if path not in sys.path:
        sys.path.append(path)
from PIL import Image  # noqa: E402

V1 = "/_matrix/client/v1"
V3_MEDIA = "/_matrix/media/v3"


def png(width, height):
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def parse_multipart(content_type, body):
    """The parts of a multipart answer as (headers dict, bytes), read by the email package."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    assert msg.is_multipart(), content_type
    return [(dict(p.items()), p.get_payload(decode=True)) for p in msg.iter_parts()]


def header(r, name):
    return r.headers.get(name)


def multipart_body(parts, boundary="remoteboundary"):
    out = b""
    for headers, data in parts:
        out += f"--{boundary}\r\n".encode()
        out += "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/mixed; boundary={boundary}"


class FederationMedia(FederationTestCase):
    more_config = "max_upload_size: 200K\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        user = cls.server.register("mediauser")
        cls.token = user["access_token"]
        cls.fetches = []
        cls.remote_media = {
            "plain": ({"Content-Type": "text/plain", "Content-Disposition": "attachment; filename=\"notes.txt\""},
                      b"remote bytes\r\n--remoteboundary not a delimiter"),
            "image": ({"Content-Type": "image/png"}, png(300, 200)),
            "huge": ({"Content-Type": "application/octet-stream"}, b"x" * 300_000),
        }

        def download(handler, match, body):
            if not cls.remote.verify(handler, "GET"):
                return reply(handler, 401, b'{"errcode":"M_UNAUTHORIZED","error":"bad signature"}', "application/json")
            media_id = match.group(1)
            cls.fetches.append(media_id)
            if media_id == "moved":
                location = f"https://{cls.remote.name}/_test/blob"
                data, ctype = multipart_body([({"Content-Type": "application/json"}, b"{}"),
                                              ({"Location": location}, b"")])
                return reply(handler, 200, data, ctype)
            if media_id not in cls.remote_media:
                return reply(handler, 404, b'{"errcode":"M_NOT_FOUND","error":"no such media"}', "application/json")
            headers, content = cls.remote_media[media_id]
            data, ctype = multipart_body([({"Content-Type": "application/json"}, b"{}"), (headers, content)])
            reply(handler, 200, data, ctype)

        def blob(handler, match, body):
            reply(handler, 200, b"moved bytes", "application/pdf")
        cls.remote.routes.append(("GET", r"^/_matrix/federation/v1/media/download/([^/?]+)", download))
        cls.remote.routes.append(("GET", r"^/_test/blob$", blob))

    # ---- inbound ----
    def upload(self, data, content_type, filename=None):
        path = f"{V3_MEDIA}/upload" + (f"?filename={urllib.parse.quote(filename)}" if filename else "")
        r = self.server.request("POST", path, raw=data, token=self.token, headers={"Content-Type": content_type})
        self.assertEqual(r.status, 200, r)
        return r.json["content_uri"].rsplit("/", 1)[1]

    def federation_get(self, uri, sign=True):
        headers = {"Authorization": self.remote.authorization("GET", uri, "test.local")} if sign else {}
        return self.server.request("GET", uri, headers=headers)

    def test_inbound_download_is_multipart(self):
        media_id = self.upload(b"local \r\n--bytes", "text/plain", filename="n.txt")
        uri = f"/_matrix/federation/v1/media/download/{media_id}"
        r = self.federation_get(uri)
        self.assertEqual(r.status, 200, r)
        (meta_headers, meta), (headers, data) = parse_multipart(header(r, "content-type"), r.data)
        self.assertEqual(meta_headers["Content-Type"], "application/json")
        self.assertEqual(meta, b"{}")
        self.assertTrue(headers["Content-Type"].startswith("text/plain"), headers)
        self.assertIn("n.txt", headers.get("Content-Disposition", ""))
        self.assertEqual(data, b"local \r\n--bytes")
        self.assertError(self.federation_get(uri, sign=False), 401, "M_UNAUTHORIZED")
        self.assertError(self.federation_get("/_matrix/federation/v1/media/download/nosuchmediaid"), 404, "M_NOT_FOUND")

    def test_inbound_thumbnail_is_multipart(self):
        media_id = self.upload(png(640, 480), "image/png")
        uri = f"/_matrix/federation/v1/media/thumbnail/{media_id}?width=32&height=32&method=crop"
        r = self.federation_get(uri)
        self.assertEqual(r.status, 200, r)
        (_, meta), (headers, data) = parse_multipart(header(r, "content-type"), r.data)
        self.assertEqual(meta, b"{}")
        with Image.open(io.BytesIO(data)) as img:
            self.assertLess(max(img.size), 640)  # a thumbnail, not the original
        self.assertError(self.federation_get(f"/_matrix/federation/v1/media/thumbnail/{media_id}"), 400,
                         "M_MISSING_PARAM")

    # ---- outbound ----
    def client_get(self, path):
        return self.server.request("GET", path, token=self.token)

    def test_remote_download_fetched_once_then_cached(self):
        self.fetches.clear()
        path = f"{V1}/media/download/{self.remote.name}/plain"
        r = self.client_get(path)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.data, self.remote_media["plain"][1])
        self.assertTrue(header(r, "content-type").startswith("text/plain"), r.headers)
        self.assertIn("notes.txt", header(r, "content-disposition"))
        self.assertIn(("test.local", "/_matrix/federation/v1/media/download/plain"), self.remote.verified_requests)
        # Again, and through the legacy path: from the cache.
        self.assertEqual(self.client_get(path).data, self.remote_media["plain"][1])
        legacy = self.server.request("GET", f"{V3_MEDIA}/download/{self.remote.name}/plain")
        self.assertEqual(legacy.status, 200, legacy)
        self.assertEqual(legacy.data, self.remote_media["plain"][1])
        self.assertEqual(self.fetches, ["plain"])

    def test_remote_location_is_followed(self):
        r = self.client_get(f"{V1}/media/download/{self.remote.name}/moved")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.data, b"moved bytes")
        self.assertTrue(header(r, "content-type").startswith("application/pdf"), r.headers)

    def test_remote_thumbnail(self):
        path = f"{V1}/media/thumbnail/{self.remote.name}/image?width=32&height=32&method=crop"
        r = self.client_get(path)
        self.assertEqual(r.status, 200, r)
        with Image.open(io.BytesIO(r.data)) as img:
            self.assertLessEqual(max(img.size), 300)
        # Made once, then served from the cache (a file under remote_thumbnails/, a row per size).
        rows = self.server.sql("SELECT origin, media_id, method FROM remote_media_thumbnails")
        self.assertEqual(rows, [(self.remote.name, "image", "crop")])
        again = self.client_get(path)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.data, r.data)
        self.assertEqual(len(self.server.sql("SELECT origin FROM remote_media_thumbnails")), 1)
        # Another size is another row.
        self.assertEqual(self.client_get(
            f"{V1}/media/thumbnail/{self.remote.name}/image?width=800&height=600&method=scale").status, 200)
        self.assertEqual(len(self.server.sql("SELECT origin FROM remote_media_thumbnails")), 2)

    def test_purge_media_cache(self):
        path = f"{V1}/media/download/{self.remote.name}/purgeable"
        self.remote_media["purgeable"] = ({"Content-Type": "text/plain"}, b"cache me")
        self.assertEqual(self.client_get(path).status, 200)
        self.assertEqual(self.client_get(f"{V1}/media/thumbnail/{self.remote.name}/image?width=32&height=32").status,
                         200)
        admin = self.server.register("purger")
        self.server.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{admin['user_id']}'")
        purge = "/_synapse/admin/v1/purge_media_cache"
        self.assertError(self.server.post(f"{purge}?before_ts=1", {}, token=self.token), 403, "M_FORBIDDEN")
        self.assertError(self.server.post(purge, {}, token=admin["access_token"]), 400, "M_MISSING_PARAM")
        # Nothing served before the epoch's first millisecond.
        r = self.server.post(f"{purge}?before_ts=1", {}, token=admin["access_token"])
        self.assertEqual((r.status, r.json), (200, {"deleted": 0}), r)
        # Everything served until now: files, thumbnails and rows go; a later request fetches again.
        r = self.server.post(f"{purge}?before_ts={int(time.time() * 1000) + 1000}", {}, token=admin["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.json["deleted"], 2)
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM remote_media_cache"), [("0",)])
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM remote_media_thumbnails"), [("0",)])
        left = [f for area in ("remote_content", "remote_thumbnails")
                for f in glob.glob(os.path.join(self.server.dir, "**", area, "**"), recursive=True)
                if os.path.isfile(f)]
        self.assertEqual(left, [])
        self.fetches.clear()
        r = self.client_get(path)
        self.assertEqual((r.status, r.data), (200, b"cache me"))
        self.assertEqual(self.fetches, ["purgeable"])

    def test_remote_errors(self):
        self.assertError(self.client_get(f"{V1}/media/download/{self.remote.name}/missing"), 404, "M_NOT_FOUND")
        self.assertError(self.client_get(f"{V1}/media/download/{self.remote.name}/huge"), 502, "M_TOO_LARGE")
        self.assertError(self.client_get(f"{V1}/media/download/127.0.0.1:9/whatever"), 502, "M_UNKNOWN")
        self.assertError(self.client_get(f"{V1}/media/download/{self.remote.name}/bad%2Fid"), 404, "M_NOT_FOUND")


def reply(handler, status, data, content_type):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


if __name__ == "__main__":
    main()
