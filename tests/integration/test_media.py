"""The media repository over HTTP. So far only its configuration: /_matrix/client/v1/media/config
reports max_upload_size (the limit the gateway enforces on upload bodies), to authenticated users
only, and is served by the media group on every placement. Uploads, downloads and thumbnails come
with the rest of the media issue."""
import os

from harness import ServerTestCase, main

V1 = "/_matrix/client/v1"


class MediaConfig(ServerTestCase):
    extra_config = "max_upload_size: 3M\n"

    def test_config_reports_the_upload_limit(self):
        token = self.server.register("mia")["access_token"]
        r = self.server.get(f"{V1}/media/config", token=token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"m.upload.size": 3 * 1024 * 1024})
        self.assertError(self.server.get(f"{V1}/media/config"), 401, "M_MISSING_TOKEN")


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


class MediaConfigSplit(MediaConfig):
    placement = SPLIT

    def test_served_by_the_media_group(self):
        token = self.server.register("noa")["access_token"]
        r = self.server.get(f"{V1}/media/config", token=token)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("x-myelin-instance", "").startswith("media/"), r.headers)


if __name__ == "__main__":
    main()
