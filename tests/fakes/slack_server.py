"""A stand-in for the Slack Web API on loopback (auth.test, chat.postMessage, chat.postEphemeral), for tests of
the Slack app: it checks the bot token as Slack does and answers in Slack's `{"ok": …}` shape."""

from __future__ import annotations

import itertools
from typing import Any

from fakes.recording_server import Call, RecordingServer, Reply


class FakeSlack(RecordingServer):
    def __init__(self, token: str, team_id: str, bot_user_id: str = "UBOTDOCSAGE") -> None:
        super().__init__()
        self.token = token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self._ts = itertools.count(1)

    @property
    def api_url(self) -> str:
        return f"{self.origin}/api/"

    def posted(self, method: str = "chat.postMessage") -> list[dict[str, Any]]:
        return [c.body for c in self.matching(lambda c: c.path == f"/api/{method}")]

    def wait_posted(self, count: int = 1, method: str = "chat.postMessage", timeout: float = 60) -> list[Call]:
        return self.wait_for(lambda c: c.path == f"/api/{method}", count, timeout)

    def respond(self, call: Call) -> Reply:
        if call.headers.get("Authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        method = call.path.removeprefix("/api/")
        if method == "auth.test":
            return 200, {
                "ok": True,
                "url": "https://acme.slack.example/",
                "team": "Acme",
                "user": "docsage",
                "team_id": self.team_id,
                "user_id": self.bot_user_id,
                "bot_id": "BDOCSAGE",
            }
        ts = f"1700000100.{next(self._ts):06d}"
        if method == "chat.postMessage":
            if not call.body.get("channel") or not (call.body.get("text") or call.body.get("blocks")):
                return 200, {"ok": False, "error": "no_text"}
            return 200, {"ok": True, "channel": call.body["channel"], "ts": ts, "message": {"ts": ts, **call.body}}
        if method == "chat.postEphemeral":
            return 200, {"ok": True, "message_ts": ts}
        return 200, {"ok": False, "error": "unknown_method"}
