"""Discord request signatures: Ed25519 over timestamp + body, checked with a real key pair."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from docsage.errors import AuthError, InvalidInputError
from docsage.integrations.discord import public_key, verify_request

BODY = b'{"type":1,"id":"1","application_id":"2","token":"t","version":1}'


@pytest.fixture
def signer() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def hex_key(signer: Ed25519PrivateKey) -> str:
    return signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def test_a_request_signed_by_the_application_key_passes(signer: Ed25519PrivateKey) -> None:
    now = int(time.time())
    signature = signer.sign(f"{now}".encode() + BODY).hex()
    verify_request(public_key(hex_key(signer)), signature, str(now), BODY, now + 10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": BODY.replace(b'"1"', b'"9"')}, "invalid request signature"),
        ({"timestamp": "1700000001"}, "invalid request signature"),  # the timestamp is part of what is signed
        ({"signature": "not hex"}, "invalid request signature"),
        ({"signature": ""}, "missing"),
        ({"timestamp": None}, "missing"),
        ({"now": 1700000000 + 301}, "too old"),
        ({"now": 1700000000 - 301}, "too old"),  # a clock far ahead is refused as well
    ],
)
def test_anything_else_is_refused(signer: Ed25519PrivateKey, change: dict[str, object], message: str) -> None:
    request: dict[str, object] = {"signature": signer.sign(b"1700000000" + BODY).hex(), "timestamp": "1700000000",
                                  "body": BODY, "now": 1700000000 + 5}  # fmt: skip
    request |= change
    with pytest.raises(AuthError, match=message):
        verify_request(public_key(hex_key(signer)), **request)  # type: ignore[arg-type]


def test_a_malformed_public_key_is_a_configuration_error() -> None:
    with pytest.raises(InvalidInputError, match="DOCSAGE_DISCORD_PUBLIC_KEY"):
        public_key("abc")
