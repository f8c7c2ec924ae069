"""Password hashes: scrypt with its cost parameters stored in the hash, so they can be raised without a reset."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class ScryptParams:
    n: int
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        # scrypt needs 128·r·(N + p) bytes; hashlib refuses more than 32 MiB unless told, and N=2^17 takes 128 MiB.
        return 128 * self.r * (self.n + self.p) + 2**20

    def encode(self) -> str:
        return f"n={self.n},r={self.r},p={self.p}"


# OWASP's scrypt minimum since 2023: N=2^17, r=8, p=1 (128 MiB, about 360 ms on one core of the 2-core test box).
CURRENT = ScryptParams(n=2**17)
# Hashes written before the parameters were stored (`scrypt$salt$digest`) used N=2^14.
LEGACY = ScryptParams(n=2**14)
_PARAMS = re.compile(r"n=(\d+),r=(\d+),p=(\d+)")


@dataclass(frozen=True)
class StoredHash:
    params: ScryptParams
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, stored: str) -> StoredHash | None:
        """`scrypt$n=…,r=…,p=…$salt$digest`, or the legacy `scrypt$salt$digest`; None for anything else."""
        parts = stored.split("$")
        if parts[0] != "scrypt" or len(parts) not in (3, 4):
            return None
        params = LEGACY
        if len(parts) == 4:
            match = _PARAMS.fullmatch(parts[1])
            if match is None:
                return None
            params = ScryptParams(*(int(g) for g in match.groups()))
        try:
            return cls(params, base64.b64decode(parts[-2], validate=True), base64.b64decode(parts[-1], validate=True))
        except ValueError:
            return None

    def encode(self) -> str:
        salt, digest = (base64.b64encode(b).decode() for b in (self.salt, self.digest))
        return f"scrypt${self.params.encode()}${salt}${digest}"


def _scrypt(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=params.n, r=params.r, p=params.p, maxmem=params.maxmem, dklen=32
    )


def hash_password(password: str, params: ScryptParams = CURRENT) -> str:
    salt = secrets.token_bytes(16)
    return StoredHash(params, salt, _scrypt(password, salt, params)).encode()


def verify_password(password: str, stored: str) -> bool:
    parsed = StoredHash.parse(stored)
    if parsed is None:
        return False
    try:
        digest = _scrypt(password, parsed.salt, parsed.params)
    except ValueError:  # parameters OpenSSL refuses (N not a power of two, too much memory)
        return False
    return hmac.compare_digest(digest, parsed.digest)


def needs_rehash(stored: str) -> bool:
    parsed = StoredHash.parse(stored)
    return parsed is None or parsed.params != CURRENT


# Checked when the username is unknown, so that a made-up name costs the same scrypt as a real one; the zero
# digest matches no password.
DUMMY_HASH = StoredHash(CURRENT, bytes(16), bytes(32)).encode()
