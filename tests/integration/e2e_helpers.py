"""End-to-end encryption keys for the key suites: devices with real ed25519 identity keys (olm
accounts from Debian's python3-olm, as Element-class clients have), signed device keys, one-time
and fallback keys, and cross-signing keys (olm.PkSigning). Canonical JSON as the spec's appendix
defines it, so the server verifies exactly what the client signed."""
import json
import sys

# Debian installs python3-olm (a dependency of python3-matrix-nio) for the system interpreter.
for path in ("/usr/lib/python3/dist-packages",):
    if path not in sys.path:
        sys.path.append(path)
import olm  # noqa: E402

ALGORITHMS = ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"]


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def unsigned_part(obj):
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def add_signature(obj, user_id, key_id, signature):
    obj.setdefault("signatures", {}).setdefault(user_id, {})[key_id] = signature
    return obj


class Device:
    """A device of `user_id` with an olm account: its device keys and one-time keys, signed."""

    def __init__(self, user_id, device_id, token):
        self.user_id, self.device_id, self.token = user_id, device_id, token
        self.account = olm.Account()

    @property
    def ed25519(self):
        return self.account.identity_keys["ed25519"]

    def sign(self, obj):
        """Adds this device's signature to obj (in place) and returns it."""
        sig = self.account.sign(canonical(unsigned_part(obj)).decode("utf-8"))
        return add_signature(obj, self.user_id, f"ed25519:{self.device_id}", sig)

    def device_keys(self):
        keys = self.account.identity_keys
        return self.sign({
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": ALGORITHMS,
            "keys": {f"curve25519:{self.device_id}": keys["curve25519"], f"ed25519:{self.device_id}": keys["ed25519"]},
        })

    def one_time_keys(self, n):
        """n new signed curve25519 one-time keys, as /keys/upload wants them."""
        self.account.generate_one_time_keys(n)
        out = {}
        for key_id, key in self.account.one_time_keys["curve25519"].items():
            out[f"signed_curve25519:{key_id}"] = self.sign({"key": key})
        self.account.mark_keys_as_published()
        return out

    def fallback_key(self, key_id="FALLBACK1"):
        curve = olm.Account().identity_keys["curve25519"]  # any valid curve25519 key will do here
        return {f"signed_curve25519:{key_id}": self.sign({"key": curve, "fallback": True})}


class CrossSigningKey:
    """A cross-signing key (master, self_signing or user_signing) of `user_id`."""

    def __init__(self, user_id, usage):
        self.user_id, self.usage = user_id, usage
        self.signing = olm.PkSigning(olm.PkSigning.generate_seed())

    @property
    def public(self):
        return self.signing.public_key

    @property
    def key_id(self):
        return f"ed25519:{self.public}"

    def sign(self, obj):
        sig = self.signing.sign(canonical(unsigned_part(obj)).decode("utf-8"))
        return add_signature(obj, self.user_id, self.key_id, sig)

    def key_object(self, signed_by=None):
        obj = {"user_id": self.user_id, "usage": [self.usage], "keys": {self.key_id: self.public}}
        if signed_by is not None:
            signed_by.sign(obj)
        return obj
