"""Redaction of personal data (emails, phone numbers, card numbers, …) before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Callable

# An address is matched from the first word boundary of a run of local-part characters only. Letting the
# engine start again at every character of a long run with no "@" after it was quadratic: 50 kB of "a.a.a…"
# took 3-6 s. `lead` is the part of the run before that boundary, which stays in the text.
_ADDRESS = r"\b[A-Za-z0-9._%+-]++@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"
EMAIL = re.compile(r"(?P<lead>(?<![\w.%+-])[.%+-]*+|(?<=\w)(?<![A-Za-z0-9_])[A-Za-z0-9_]*+)" + _ADDRESS)
# Right where the previous address ended, even inside a run: where a plain re.sub would look next.
EMAIL_AFTER_MATCH = re.compile(r"(?P<lead>(?<=\w)[A-Za-z0-9_]*+|(?<!\w)[.%+-]*+)" + _ADDRESS)
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
PHONE = re.compile(r"(?<![\w.])\+?\d{1,3}?[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}(?![\w.])")
SECRET = re.compile(r"\b(?:sk|pk|rk|dsk|dsb|ghp|gho|xox[abp])[-_][A-Za-z0-9_-]{16,}\b")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def _redact_emails(text: str) -> str:
    out: list[str] = []
    pos = 0
    while match := (EMAIL_AFTER_MATCH.match(text, pos) if pos else None) or EMAIL.search(text, pos):
        out += [text[pos : match.start()], match.group("lead"), "[EMAIL]"]
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD_NUMBER]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group(0)


# Applied after emails, in this order. Order matters: card numbers before phone numbers (a card would otherwise
# look like a long phone number).
RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str]] = [
    (SECRET, "[SECRET]"),
    (CARD, _card),
    (IBAN, "[IBAN]"),
    (SSN, "[SSN]"),
    (IPV4, "[IP_ADDRESS]"),
    (PHONE, "[PHONE_NUMBER]"),
]


def redact(text: str) -> tuple[str, bool]:
    """The text with personal data replaced by placeholders, and whether anything was replaced."""
    out = _redact_emails(text)
    for pattern, repl in RULES:
        out = pattern.sub(repl, out)
    return out, out != text
