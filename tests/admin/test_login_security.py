"""Admin login against a real `docsage serve`: lockouts after repeated failures (per username and per client
address, longer each time), the same answer time for known and unknown usernames, old scrypt hashes upgraded on
login, and the session cookie marked Secure when the request came in over https through a trusted proxy.

Client addresses and https are given the way a reverse proxy on loopback gives them: X-Forwarded-For and
X-Forwarded-Proto, which uvicorn applies for the addresses in DOCSAGE_FORWARDED_ALLOW_IPS (loopback by default).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx
import pytest

from conftest import Cli, LiveServer, serve

ADMIN, PASSWORD = "admin", "correct horse battery"
LEGACY_TIMING, LEGACY_REHASH = "legacy-timing", "legacy-rehash"
# Failures count within the lockout's own window: five wrong logins (each a ~0.4 s scrypt, over 1 s on a busy
# two-core machine) must fit well inside it, or the first ones expire before the fifth and nothing locks.
LOCKOUT_S = 10
RELAXED = {"DOCSAGE_ADMIN_LOGIN_MAX_FAILURES": "1000", "DOCSAGE_ADMIN_LOGIN_MAX_FAILURES_PER_IP": "1000"}
LOCKED = re.compile(r"Too many login attempts\. Try again in (\d+) s\.")
CURRENT_HASH = re.compile(r"scrypt\$n=131072,r=8,p=1\$([^$]+)\$([^$]+)")


def legacy_hash(password: str) -> str:
    """The format written before the parameters were stored: scrypt N=2^14, r=8, p=1, `scrypt$salt$digest`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def stored_hash(cli: Cli, username: str) -> str:
    with closing(cli.connect()) as conn:
        row = conn.execute("SELECT password_hash FROM admin_users WHERE username = ?", (username,)).fetchone()
    assert row, f"no admin user {username!r}"
    return str(row[0])


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A home with three admin accounts made by the CLI; two of them then get an old-format hash."""
    home = tmp_path_factory.mktemp("login-security")
    cli = Cli(home)
    cli.json("project", "list")  # creates the database before the parallel writers below

    def create(username: str) -> None:
        result = cli("admin", "create-user", "--username", username, "--password", PASSWORD)
        assert result.returncode == 0, result.stderr

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(create, (ADMIN, LEGACY_TIMING, LEGACY_REHASH)))
    with closing(cli.connect()) as conn, conn:
        for username in (LEGACY_TIMING, LEGACY_REHASH):
            conn.execute(
                "UPDATE admin_users SET password_hash = ? WHERE username = ?", (legacy_hash(PASSWORD), username)
            )
    return cli


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        yield client


def login(
    client: httpx.Client, server: LiveServer, username: str, password: str, ip: str = "", proto: str = ""
) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    if proto:
        headers["X-Forwarded-Proto"] = proto
    return client.post(
        f"{server.base_url}/admin/login", data={"username": username, "password": password}, headers=headers
    )


def assert_logged_in(resp: httpx.Response) -> None:
    assert resp.status_code == 303 and resp.headers["location"] == "/admin", (resp.status_code, resp.text[:300])
    assert "docsage_admin=" in resp.headers.get("set-cookie", "")


def assert_wrong_password(resp: httpx.Response) -> None:
    assert resp.status_code == 303 and resp.headers["location"].startswith("/admin/login?error="), (
        resp.status_code,
        resp.headers.get("location"),
        resp.text[:300],
    )
    assert "set-cookie" not in resp.headers


def assert_locked(resp: httpx.Response) -> int:
    """The lockout answer: 429, the login page saying how long to wait, Retry-After, no session."""
    assert resp.status_code == 429, (resp.status_code, resp.headers.get("location"), resp.text[:300])
    assert "set-cookie" not in resp.headers
    assert resp.headers["content-type"].startswith("text/html")
    match = LOCKED.search(resp.text)
    assert match, resp.text
    assert 'role="alert"' in resp.text and 'action="/admin/login"' in resp.text, "the login page, to try again"
    assert resp.headers["retry-after"] == match.group(1)
    return int(match.group(1))


def wait_until_unlocked(client: httpx.Client, server: LiveServer, ip: str, seconds: int) -> None:
    time.sleep(seconds)
    deadline = time.monotonic() + 3
    while (resp := login(client, server, ADMIN, PASSWORD, ip)).status_code == 429:
        assert time.monotonic() < deadline, f"still locked {seconds + 3} s after a Retry-After of {seconds}"
        time.sleep(0.2)
    assert_logged_in(resp)


def test_wrong_passwords_lock_the_username_longer_each_time(cli: Cli, client: httpx.Client) -> None:
    with serve(cli.home, {"DOCSAGE_ADMIN_LOGIN_LOCKOUT_S": str(LOCKOUT_S)}) as server:
        for _ in range(5):
            assert_wrong_password(login(client, server, ADMIN, "not the password", "198.51.100.1"))
        first = assert_locked(login(client, server, ADMIN, PASSWORD, "198.51.100.1"))
        assert 1 <= first <= LOCKOUT_S
        # The account is locked, not only the address the guesses came from.
        assert_locked(login(client, server, ADMIN, PASSWORD, "198.51.100.2"))

        wait_until_unlocked(client, server, "198.51.100.1", first)

        for _ in range(5):
            assert_wrong_password(login(client, server, ADMIN, "not the password", "198.51.100.1"))
        second = assert_locked(login(client, server, ADMIN, PASSWORD, "198.51.100.1"))
        assert second > first, f"a second lockout must last longer than the first: {second} s vs {first} s"
        wait_until_unlocked(client, server, "198.51.100.1", second)


def test_failures_from_one_address_lock_that_address_and_unknown_names_lock_alike(
    cli: Cli, client: httpx.Client
) -> None:
    env = {"DOCSAGE_ADMIN_LOGIN_MAX_FAILURES_PER_IP": "6", "DOCSAGE_ADMIN_LOGIN_LOCKOUT_S": "60"}
    with serve(cli.home, env) as server:
        for i in range(6):  # six names, one guess each: no name reaches its own limit of five
            assert_wrong_password(login(client, server, f"guess-{i}", "not the password", "203.0.113.7"))
        assert_locked(login(client, server, ADMIN, PASSWORD, "203.0.113.7"))
        assert_logged_in(login(client, server, ADMIN, PASSWORD, "203.0.113.8"))

        # A name nobody has is locked after as many failures as a real one, so a lockout reveals nothing.
        for _ in range(5):
            assert_wrong_password(login(client, server, "nobody-here", "not the password", "203.0.113.9"))
        assert_locked(login(client, server, "nobody-here", "not the password", "203.0.113.9"))


def test_unknown_and_known_usernames_take_the_same_time(cli: Cli, client: httpx.Client) -> None:
    """Wrong passwords for an existing account (current or old hash) and for a made-up name: same median time."""
    with serve(cli.home, RELAXED) as server:
        login(client, server, "warm-up", "not the password")
        times: dict[str, list[float]] = {"known": [], "known, old hash": [], "unknown": []}
        for i in range(7):
            for kind, username in (("known", ADMIN), ("known, old hash", LEGACY_TIMING), ("unknown", f"nobody-{i}")):
                start = time.perf_counter()
                assert_wrong_password(login(client, server, username, "not the password"))
                times[kind].append(time.perf_counter() - start)
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    shown = {kind: f"{1000 * m:.0f} ms" for kind, m in medians.items()}
    assert max(medians.values()) < 2 * min(medians.values()), f"median time of a failed login: {shown}"


def test_an_old_scrypt_hash_is_upgraded_on_login(cli: Cli, client: httpx.Client) -> None:
    assert CURRENT_HASH.fullmatch(stored_hash(cli, ADMIN)), "new accounts get the current parameters"
    before = stored_hash(cli, LEGACY_REHASH)
    assert before.count("$") == 2, "precondition: an old-format hash"
    with serve(cli.home, RELAXED) as server:
        assert_wrong_password(login(client, server, LEGACY_REHASH, "not the password"))
        assert stored_hash(cli, LEGACY_REHASH) == before, "a failed login changes nothing"
        assert_logged_in(login(client, server, LEGACY_REHASH, PASSWORD))
        after = stored_hash(cli, LEGACY_REHASH)
        match = CURRENT_HASH.fullmatch(after)
        assert match, f"not re-hashed with N=2^17: {after}"
        salt, digest = (base64.b64decode(part) for part in match.groups())
        expected = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**17, r=8, p=1, dklen=32, maxmem=2**28)
        assert digest == expected, "the new hash is scrypt N=2^17, r=8, p=1 of the password"
        assert_logged_in(login(client, server, LEGACY_REHASH, PASSWORD))
        assert_wrong_password(login(client, server, LEGACY_REHASH, "not the password"))


def test_session_cookie_is_secure_when_a_trusted_proxy_says_https(cli: Cli, client: httpx.Client) -> None:
    with serve(cli.home, RELAXED) as server:
        over_https = login(client, server, ADMIN, PASSWORD, proto="https")
        assert_logged_in(over_https)
        assert "secure" in cookie_flags(over_https)
        plain = login(client, server, ADMIN, PASSWORD)
        assert_logged_in(plain)
        assert "secure" not in cookie_flags(plain), "a Secure cookie would not come back over plain http"
    # Forwarded headers count only from the proxies named in DOCSAGE_FORWARDED_ALLOW_IPS.
    with serve(cli.home, {**RELAXED, "DOCSAGE_FORWARDED_ALLOW_IPS": "192.0.2.1"}) as server:
        untrusted = login(client, server, ADMIN, PASSWORD, proto="https")
        assert_logged_in(untrusted)
        assert "secure" not in cookie_flags(untrusted)


def cookie_flags(resp: httpx.Response) -> set[str]:
    cookie = resp.headers["set-cookie"]
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
