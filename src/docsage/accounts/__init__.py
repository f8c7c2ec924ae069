"""Dashboard accounts: users, password hashes, throttled logins, sessions (the pages live in docsage.admin)."""

from docsage.accounts.service import AdminAuth, Login
from docsage.accounts.throttle import LoginPolicy, LoginThrottle, LoginThrottledError

__all__ = ["AdminAuth", "Login", "LoginPolicy", "LoginThrottle", "LoginThrottledError"]
