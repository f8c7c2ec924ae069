"""Dashboard accounts: scrypt-hashed passwords, server-side sessions, a CSRF token per session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from docsage.db.admin import AdminRepository
from docsage.db.engine import Database
from docsage.db.models import AdminSession, AdminUser, utcnow
from docsage.errors import AuthError, ConflictError, InvalidInputError

SESSION_TTL = timedelta(hours=12)
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), dklen=32, **SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Login:
    username: str
    user_id: str
    csrf_token: str


class AdminAuth:
    def __init__(self, database: Database, env_password: str = "") -> None:
        self.database = database
        self.env_password = env_password

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

    def login(self, username: str, password: str) -> tuple[str, Login]:
        """(session cookie token, login) for valid credentials."""
        with self.database.session() as session:
            repo = AdminRepository(session)
            user = repo.user_by_name(username.strip())
            if user is None or not verify_password(password, user.password_hash):
                raise AuthError("wrong username or password")
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(24)
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
