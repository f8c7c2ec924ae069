"""Redaction of personal data: what is replaced, and that hostile input cannot make it slow."""

from __future__ import annotations

import time

import pytest

from docsage.redaction import redact

# Each ~100 kB, shaped to make one pattern backtrack: long runs of the characters it accepts that never
# complete a match. Before the email fix the first ones took seconds (quadratic in the run's length).
ADVERSARIAL = {
    "email: local-part run with no @": "a." * 50_000,
    "email: dashes with no @": "1-" * 50_000,
    "email: long local part before a bad domain": ("a" * 60 + "@") * 1_600,
    "email: domain of dots": "a@" + "a." * 50_000,
    "email: domain labels ending in digits": "x@" + ".ab1" * 25_000,
    "email: adjacent addresses": "a@b.co" * 16_000,
    "card: digits and spaces": "1 " * 50_000,
    "card: digits and dashes": "1-" * 50_000,
    "card: one digit run": "1" * 100_000,
    "iban: groups": "DE12 " + "ABCD " * 20_000,
    "iban: country and check digits": "DE12" * 25_000,
    "ssn: half numbers": "123-45-" * 14_300,
    "ipv4: dotted digits": "1." * 50_000,
    "ipv4: dotted 255": "255." * 25_000,
    "phone: plus signs": "+1 " * 33_000,
    "phone: area codes": "(12) " * 20_000,
    "phone: dotted digits": "1.1" * 33_000,
    "secret: prefixes": "sk-" * 33_000,
    "secret: no word boundary at the end": "sk_" + "a" * 100_000 + "é",
    "secret: dashes": "sk-" + "-" * 100_000,
}
LIMIT_S = 0.1  # every pattern together; linear patterns take a few ms on 100 kB


def fastest_redaction_s(text: str) -> float:
    """The fastest of up to three runs, in CPU time of this thread: other processes on a busy machine (a test
    run beside other work measured 101 ms of wall time for 51 ms of work) do not count, backtracking does (the
    quadratic e-mail pattern spent seconds of CPU on these inputs)."""
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        redact(text)
        best = min(best, time.thread_time() - start)
        if best < LIMIT_S:
            break
    return best


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_hostile_input_is_redacted_in_linear_time(text: str) -> None:
    elapsed = fastest_redaction_s(text)
    assert elapsed < LIMIT_S, f"redacting {len(text)} characters took {elapsed * 1000:.0f} ms"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail jane.doe@example.com today", "Mail [EMAIL] today"),
        ("jane@example.com,john.smith+docs@mail.example.org;", "[EMAIL],[EMAIL];"),
        ("(reply to ..ops-team@corp.example.co.uk)", "(reply to ..[EMAIL])"),
        ("José: josé.garcia@example.com", "José: josé[EMAIL]"),
        ("a%@ex.ab.co_@ex.co", "[EMAIL][EMAIL]"),
        ("Card 4111 1111 1111 1111, or 4111-1111-1111-1111.", "Card [CARD_NUMBER], or [CARD_NUMBER]."),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please"),
        ("SSN 123-45-6789.", "SSN [SSN]."),
        ("server 192.168.1.20, not 256.1.1.1", "server [IP_ADDRESS], not 256.1.1.1"),
        ("call +1 415 555 0134: or 415-555-0134", "call [PHONE_NUMBER]: or [PHONE_NUMBER]"),
        ("keys sk-abcdefghijklmnop1234 and ghp_ABCDEFGHIJKLMNOPQRSTuv", "keys [SECRET] and [SECRET]"),
    ],
)
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == (expected, True)


def test_text_without_personal_data_is_unchanged() -> None:
    text = "Set rate_limit.chat_per_minute = 40 in docsage.toml (version 1.2.3), then restart."
    assert redact(text) == (text, False)
