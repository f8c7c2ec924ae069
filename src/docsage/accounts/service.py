"""Dashboard accounts: scrypt-hashed passwords, throttled logins, server-side sessions, a CSRF token per session."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta

from docsage.accounts.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from docsage.accounts.throttle import LoginThrottle
from docsage.db.admin import AdminRepository
from docsage.db.engine import Database
from docsage.db.models import AdminSession, AdminUser, utcnow
from docsage.errors import AuthError, ConflictError, InvalidInputError

SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD = 8
# Each scrypt takes 128 MiB and a core for ~0.4 s: more at once than cores only queues inside OpenSSL, and a
# burst of login requests must not take gigabytes.
HASHING_SLOTS = min(os.cpu_count() or 1, 4)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Login:
    username: str
    user_id: str
    csrf_token: str


class AdminAuth:
    def __init__(self, database: Database, throttle: LoginThrottle, env_password: str = "") -> None:
        self.database = database
        self.throttle = throttle
        self.env_password = env_password
        self._hashing = threading.BoundedSemaphore(HASHING_SLOTS)

    def create_user(self, username: str, password: str) -> AdminUser:
        if not username.strip():
            raise InvalidInputError("username must not be empty")
        if len(password) < MIN_PASSWORD:
            raise InvalidInputError(f"password must have at least {MIN_PASSWORD} characters")
        with self.database.session() as session:
            repo = AdminRepository(session)
            if repo.user_by_name(username.strip()):
                raise ConflictError(f"admin user {username!r} already exists")
            return repo.add_user(AdminUser(username=username.strip(), password_hash=hash_password(password)))

    def ensure_env_admin(self) -> None:
        """DOCSAGE_ADMIN_PASSWORD creates (once) an `admin` user with that password."""
        if not self.env_password:
            return
        with self.database.session() as session:
            if AdminRepository(session).user_by_name("admin") is not None:
                return
        self.create_user("admin", self.env_password)

    def login(self, username: str, password: str, client_ip: str = "") -> tuple[str, Login]:
        """(session cookie token, login) for valid credentials; AuthError when wrong, LoginThrottledError while
        the username or the client address is locked out (whatever the password)."""
        name = username.strip()
        self.throttle.check(name, client_ip)  # refused at once, without queueing for a hashing slot
        with self._hashing:
            # Again: failures recorded while this request queued count, so a burst cannot outrun the lockout.
            self.throttle.check(name, client_ip)
            with self.database.session() as session:
                user = AdminRepository(session).user_by_name(name)
                stored = user.password_hash if user else DUMMY_HASH
            # An unknown name costs one scrypt of the current strength, like a known one (the dummy never matches).
            valid = verify_password(password, stored) and user is not None
            if not valid and user is not None and needs_rehash(stored):
                verify_password(password, DUMMY_HASH)  # an account on an older, cheaper hash answers as slowly
            if not valid or user is None:
                self.throttle.record_failure(name, client_ip)
                raise AuthError("wrong username or password")
            upgraded = hash_password(password) if needs_rehash(stored) else None
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        with self.database.session() as session:
            repo = AdminRepository(session)
            if upgraded is not None:
                account = session.get(AdminUser, user.id)
                if account is not None and account.password_hash == stored:
                    account.password_hash = upgraded
            repo.purge_expired(utcnow())
            repo.add_session(
                AdminSession(
                    token_hash=_token_hash(token), user_id=user.id, csrf_token=csrf, expires_at=utcnow() + SESSION_TTL
                )
            )
        return token, Login(user.username, user.id, csrf)

    def current(self, token: str | None) -> Login | None:
        if not token:
            return None
        with self.database.session() as session:
            repo = AdminRepository(session)
            login = repo.session_by_hash(_token_hash(token))
            if login is None or login.expires_at < utcnow():
                return None
            user = session.get(AdminUser, login.user_id)
            return Login(user.username, user.id, login.csrf_token) if user else None

    def logout(self, token: str | None) -> None:
        if token:
            with self.database.session() as session:
                AdminRepository(session).delete_session(_token_hash(token))
