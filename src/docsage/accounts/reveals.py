"""A new key's secret handed to the dashboard user who made it: once, within minutes, on any replica.

The create-key form redirects (post/redirect/get, so a reload cannot make a second key) to a page that shows
the secret; that page may be served by another replica than the form, so the secret waits in the database.
It waits sealed: the one-time token in the redirect URL is the only key to it, and the table holds the
token's hash, so a copy of the database (a backup taken in those minutes) shows nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

from docsage.db.admin import KeyRevealRepository
from docsage.db.engine import Database
from docsage.db.models import KeyReveal, utcnow

REVEAL_TTL = timedelta(minutes=5)
_TAG_BYTES = 16


def _derive(token: str, purpose: bytes, length: int) -> bytes:
    return hashlib.shake_256(b"docsage-key-reveal\0" + purpose + b"\0" + token.encode()).digest(length)


def _token_hash(token: str) -> str:
    return _derive(token, b"id", 32).hex()


def seal(token: str, secret: str) -> str:
    """Encrypt-then-MAC under keys drawn from the token. SHAKE-256 keyed by a 256-bit token that seals exactly
    one secret is a keystream used once (the standard library has no AEAD cipher, and this needs no nonce)."""
    plain = secret.encode()
    cipher = bytes(a ^ b for a, b in zip(plain, _derive(token, b"stream", len(plain)), strict=True))
    tag = hmac.new(_derive(token, b"mac", 32), cipher, hashlib.sha256).digest()[:_TAG_BYTES]
    return base64.b64encode(tag + cipher).decode()


def unseal(token: str, sealed: str) -> str | None:
    raw = base64.b64decode(sealed)
    tag, cipher = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
    expected = hmac.new(_derive(token, b"mac", 32), cipher, hashlib.sha256).digest()[:_TAG_BYTES]
    if not hmac.compare_digest(tag, expected):
        return None
    return bytes(a ^ b for a, b in zip(cipher, _derive(token, b"stream", len(cipher)), strict=True)).decode()


class KeyReveals:
    def __init__(self, database: Database, ttl: timedelta = REVEAL_TTL) -> None:
        self.database = database
        self.ttl = ttl

    def stash(self, user_id: str, secret: str) -> str:
        """Keep `secret` for `user_id`; returns the one-time token that reveals it."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.database.session() as session:
            repo = KeyRevealRepository(session)
            repo.purge_expired(now)
            repo.add(
                KeyReveal(
                    token_hash=_token_hash(token),
                    user_id=user_id,
                    sealed=seal(token, secret),
                    expires_at=now + self.ttl,
                )
            )
        return token

    def take(self, token: str, user_id: str) -> str | None:
        """The secret, if the token is this user's, unexpired and not used yet; it is gone afterwards."""
        if not token:
            return None
        with self.database.session() as session:
            sealed = KeyRevealRepository(session).take(_token_hash(token), user_id, utcnow())
        return unseal(token, sealed) if sealed is not None else None
