"""A stand-in for Discord's interaction webhooks on loopback: the deferred answer edits the original response."""

from __future__ import annotations

import itertools
import re

from fakes.recording_server import Call, RecordingServer, Reply

ORIGINAL = re.compile(r"^/api/v10/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/@original$")


class FakeDiscord(RecordingServer):
    def __init__(self, application_id: str) -> None:
        super().__init__()
        self.application_id = application_id
        self._ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        return f"{self.origin}/api/v10"

    def edits(self, token: str | None = None) -> list[Call]:
        return self.matching(lambda c: _is_edit(c, token))

    def wait_edit(self, token: str, timeout: float = 60) -> Call:
        return self.wait_for(lambda c: _is_edit(c, token), 1, timeout)[0]

    def respond(self, call: Call) -> Reply:
        m = ORIGINAL.match(call.path)
        if call.method != "PATCH" or m is None:
            return 404, {"message": "404: Not Found", "code": 0}
        if m["app"] != self.application_id:
            return 401, {"message": "Invalid Webhook Token", "code": 50027}
        return 200, {"id": str(900 + next(self._ids)), "type": 20, "application_id": m["app"], **call.body}


def _is_edit(call: Call, token: str | None) -> bool:
    m = ORIGINAL.match(call.path)
    return call.method == "PATCH" and m is not None and (token is None or m["token"] == token)
