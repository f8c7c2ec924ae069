"""ASGI middleware around every surface: body limits, CORS, security headers."""

from docsage.api.middleware.body_limit import BodyLimitMiddleware
from docsage.api.middleware.cors import ChatbotCORSMiddleware, PrefixCORSMiddleware
from docsage.api.middleware.security_headers import SecurityHeadersMiddleware

__all__ = ["BodyLimitMiddleware", "ChatbotCORSMiddleware", "PrefixCORSMiddleware", "SecurityHeadersMiddleware"]
