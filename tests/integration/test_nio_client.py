"""A real Matrix client against Myelin: matrix-nio (Debian's python3-matrix-nio) registers, logs in
on a second device, asks whoami, lists and renames devices, and logs out — through nio's own
request code (legacy r0 paths, access_token as a query parameter)."""
import asyncio
import sys

from harness import ServerTestCase, main

# Debian installs nio for the system interpreter; the test may run under another python3.
for path in ("/usr/lib/python3/dist-packages",):
    if path not in sys.path:
        sys.path.append(path)
# Required, not skipped: scripts/install-deps.sh installs it for `make test`.
import nio  # noqa: E402
from nio.responses import WhoamiResponse  # noqa: E402


class NioClient(ServerTestCase):
    def run_async(self, coro):
        return asyncio.run(coro)

    def test_register_login_devices_logout(self):
        url = f"http://127.0.0.1:{self.server.port}"

        async def scenario():
            first = nio.AsyncClient(url, "niouser", device_id="NIOFIRST")
            try:
                r = await first.register("niouser", "nio password", device_name="nio first")
                self.assertIsInstance(r, nio.RegisterResponse, r)
                self.assertEqual(r.user_id, "@niouser:test.local")

                second = nio.AsyncClient(url, "@niouser:test.local")
                try:
                    r = await second.login("nio password", device_name="nio second")
                    self.assertIsInstance(r, nio.LoginResponse, r)
                    w = await second.whoami()
                    self.assertIsInstance(w, WhoamiResponse, w)
                    self.assertEqual(w.user_id, "@niouser:test.local")

                    devices = await second.devices()
                    self.assertIsInstance(devices, nio.DevicesResponse, devices)
                    ids = sorted(d.id for d in devices.devices)
                    self.assertEqual(len(ids), 2, ids)
                    self.assertIn("NIOFIRST", ids)

                    upd = await second.update_device(second.device_id, {"display_name": "renamed by nio"})
                    self.assertIsInstance(upd, nio.UpdateDeviceResponse, upd)
                    devices = await second.devices()
                    names = {d.id: d.display_name for d in devices.devices}
                    self.assertEqual(names[second.device_id], "renamed by nio")

                    token = second.access_token
                    out = await second.logout()
                    self.assertIsInstance(out, nio.LogoutResponse, out)
                    # nio forgets its token on logout; the server must have revoked it too.
                    w = self.server.get("/_matrix/client/v3/account/whoami", token=token)
                    self.assertError(w, 401, "M_UNKNOWN_TOKEN")
                finally:
                    await second.close()

                bad = nio.AsyncClient(url, "@niouser:test.local")
                try:
                    r = await bad.login("wrong password")
                    self.assertIsInstance(r, nio.LoginError, r)
                    self.assertEqual(r.status_code, "M_FORBIDDEN")
                finally:
                    await bad.close()
            finally:
                await first.close()

        self.run_async(scenario())


if __name__ == "__main__":
    main()
