"""Dashboard accounts: users, password hashes, throttled logins, sessions, new keys' secrets shown once (the
pages live in docsage.admin)."""

from docsage.accounts.reveals import KeyReveals
from docsage.accounts.service import AdminAuth, Login
from docsage.accounts.throttle import LoginPolicy, LoginThrottle, LoginThrottledError

__all__ = ["AdminAuth", "KeyReveals", "Login", "LoginPolicy", "LoginThrottle", "LoginThrottledError"]
