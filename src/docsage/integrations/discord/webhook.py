"""Discord's interaction webhooks: the follow-up message of a deferred answer."""

from __future__ import annotations

from typing import Any

import httpx

from docsage.errors import ProviderError


class DiscordWebhook:
    """Edits an interaction's original response; `api_url` is Discord's API (or a stand-in)."""

    def __init__(self, api_url: str, timeout_s: float = 15.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s

    def edit_original(self, application_id: str, token: str, message: dict[str, Any]) -> None:
        # The interaction token authorises this call (for 15 minutes); it is a secret, so it is never logged.
        url = f"{self.api_url}/webhooks/{application_id}/{token}/messages/@original"
        try:
            response = httpx.patch(url, json=message, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise ProviderError(f"Discord could not be reached: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise ProviderError(
                f"Discord refused the follow-up message: HTTP {response.status_code} {response.text[:200]}"
            )
