"""A real Matrix client in another language against Myelin: matrix-js-sdk (npm, pinned in
tests/e2e/js-sdk/package-lock.json) runs tests/e2e/js-sdk/rooms.mjs — registration through UIA,
login, createRoom, invite/join, sends, display name, redaction, a refused non-member, and /messages
paged back to m.room.create — using the SDK's request-level calls; and tests/e2e/js-sdk/live.mjs — two
clients running their own sync loops (startClient) see each other's invite, join, messages, typing and
read receipts live; and tests/e2e/js-sdk/crypto.mjs — the SDK's Rust crypto (matrix-sdk-crypto-wasm)
exchanging megolm-encrypted messages both ways, and a device that logs in later becoming known to the
other user (device_lists in /sync) and able to decrypt what follows; and tests/e2e/js-sdk/media.mjs —
uploadContent, then the SDK's own download URLs (authenticated and legacy media) give the bytes back.

Needs node and the npm dependencies: `scripts/run-tests.sh` (make test) runs `npm ci` in
tests/e2e/js-sdk when they are missing; without them this suite fails rather than skips."""
import os
import shutil
import subprocess
import time

from harness import ServerTestCase, main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JS_DIR = os.path.join(ROOT, "tests", "e2e", "js-sdk")
TIMEOUT = 120


class JsSdkScript(ServerTestCase):
    """Runs a script of tests/e2e/js-sdk against this class's server (no tests of its own)."""
    # The scripts send a few dozen events and register accounts as fast as they can.
    extra_config = ("rc_message:\n  per_second: 10000\n  burst_count: 10000\n"
                    "rc_registration:\n  per_second: 10000\n  burst_count: 10000\n")

    def run_script(self, name):
        script = os.path.join(JS_DIR, name)
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed (scripts/install-deps.sh test installs it)")
        sdk = os.path.join(JS_DIR, "node_modules", "matrix-js-sdk", "package.json")
        self.assertTrue(os.path.exists(sdk),
                        f"matrix-js-sdk is not installed: run `npm ci` in {JS_DIR} "
                        "(scripts/run-tests.sh does it for `make test`)")
        url = f"http://127.0.0.1:{self.server.port}"
        start = time.monotonic()
        try:
            proc = subprocess.run([node, script, url], cwd=JS_DIR, capture_output=True, text=True,
                                  timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            self.fail(f"{name} did not finish within {TIMEOUT} s\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
                      f"\n--- server log (tail) ---\n{self.server.read_log()[-3000:]}")
        took = time.monotonic() - start
        if proc.returncode != 0:
            self.fail(f"{name} exited with {proc.returncode} after {took:.1f} s\n--- stdout ---\n{proc.stdout}"
                      f"\n--- stderr ---\n{proc.stderr}\n--- server log (tail) ---\n{self.server.read_log()[-3000:]}")
        print(f"\n{proc.stdout}{proc.stderr}{name} took {took:.1f} s", flush=True)



class JsSdkRooms(JsSdkScript):
    def test_rooms_with_matrix_js_sdk(self):
        self.run_script("rooms.mjs")

    def test_live_sync_with_matrix_js_sdk(self):
        self.run_script("live.mjs")

    def test_media_with_matrix_js_sdk(self):
        self.run_script("media.mjs")

    def test_sliding_sync_with_matrix_js_sdk(self):
        self.run_script("sliding.mjs")


# A server of its own: the accounts (ann, ben) are live.mjs's names too.
class JsSdkCrypto(JsSdkScript):
    def test_end_to_end_encryption_with_rust_crypto(self):
        self.run_script("crypto.mjs")


if __name__ == "__main__":
    main()
