"""Discord's request signatures: Ed25519 over the timestamp and the raw body, with the application's public key."""

from __future__ import annotations

import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from docsage.errors import AuthError, InvalidInputError

# Discord signs each request as it sends it; one signed longer ago than this is a replay.
MAX_AGE_S = 300


def public_key(hex_key: str) -> Ed25519PublicKey:
    """The application's public key as the Discord developer portal shows it (64 hex digits)."""
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))
    except ValueError:
        raise InvalidInputError("DOCSAGE_DISCORD_PUBLIC_KEY must be the 64 hex digits of an Ed25519 key") from None


def verify_request(
    key: Ed25519PublicKey, signature: str | None, timestamp: str | None, body: bytes, now: float
) -> None:
    """AuthError unless Discord signed this body at this timestamp, less than MAX_AGE_S ago."""
    if not signature or not timestamp:
        raise AuthError("missing X-Signature-Ed25519 or X-Signature-Timestamp")
    try:
        key.verify(binascii.unhexlify(signature), timestamp.encode() + body)
    except (InvalidSignature, ValueError, binascii.Error):
        raise AuthError("invalid request signature") from None
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise AuthError("invalid request timestamp") from None
    if abs(now - signed_at) > MAX_AGE_S:
        raise AuthError("request timestamp is too old (a replay?)")
