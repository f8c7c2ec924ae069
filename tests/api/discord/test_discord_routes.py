"""The Discord interactions endpoint against a real `docsage serve`: requests signed with a real Ed25519 key
pair (as Discord signs them), deferred answers received by a stand-in for Discord's interaction webhooks on
loopback (the one thing that cannot run here), and what was stored read back through the Kapa API."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import Cli, LiveServer, serve, write_docs
from fakes.discord_server import FakeDiscord

APPLICATION = "1180000000000000001"
GUILD = "1180000000000000100"
GENERAL = "1180000000000000200"  # answered through the server's integration
HELP = "1180000000000000300"  # a channel with a DISCORD_CHANNEL integration of its own
_ids = itertools.count(1)


@dataclass
class DiscordSetup:
    docs: Path
    project: str
    key: str
    server_integration: str
    channel_integration: str
    signing_key: Ed25519PrivateKey
    discord: FakeDiscord
    server: LiveServer

    def kapa(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, headers={"X-API-KEY": self.key}, timeout=60)

    def url(self, name: str) -> str:
        return (self.docs / name).resolve().as_uri()

    def post(self, payload: dict[str, Any], **sign: Any) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **signed(self.signing_key, body, **sign)}
        return httpx.post(f"{self.server.base_url}/discord/interactions", content=body, headers=headers, timeout=30)


def signed(key: Ed25519PrivateKey, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Signature-Ed25519": key.sign(ts.encode() + body).hex(), "X-Signature-Timestamp": ts}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiscordSetup]:
    root = tmp_path_factory.mktemp("discord")
    home = root / "home"
    home.mkdir()
    docs = write_docs(root)
    cli = Cli(home)
    project = cli.json("project", "create", "--name", "Skyloom")["id"]
    key = cli.json("key", "create", "--project", project)["key"]
    cli.json("source", "add", "--project", project, "--type", "folder", "--path", docs, "--name", "skyloom-docs")
    assert cli("ingest", "--project", project).returncode == 0
    create = ("integration", "create", "--project", project)
    server_integration = cli.json(*create, "--type", "DISCORD_SERVER", "--name", "Skyloom", "--external-id", GUILD)
    channel_integration = cli.json(*create, "--type", "DISCORD_CHANNEL", "--name", "#help", "--external-id", HELP)
    signing_key = Ed25519PrivateKey.generate()
    public = signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    with FakeDiscord(APPLICATION) as discord:
        env = {
            "DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0",
            "DOCSAGE_DISCORD_PUBLIC_KEY": public,
            "DOCSAGE_DISCORD_API_URL": discord.api_url,
        }
        with serve(home, env) as server:
            yield DiscordSetup(
                docs, project, key, server_integration["id"], channel_integration["id"], signing_key, discord, server
            )


def interaction(kind: int, data: dict[str, Any], channel: str = GENERAL, guild: str | None = GUILD) -> dict[str, Any]:
    n = next(_ids)
    user = {"id": "1180000000000009001", "username": "alice", "global_name": "Alice"}
    payload: dict[str, Any] = {
        "id": f"11900000000000{n:05d}",
        "application_id": APPLICATION,
        "type": kind,
        "token": f"aW50ZXJhY3Rpb246MTE5MDAwMDAwMDAwMDAwMDAwMDpUb2tlbg-{n}",
        "version": 1,
        "channel_id": channel,
        "channel": {"id": channel, "type": 0},
        "data": data,
        "locale": "en-US",
    }
    if guild:
        payload |= {"guild_id": guild, "member": {"user": user, "roles": [], "permissions": "0"}}
    else:
        payload["user"] = user
    return payload


def ask(question: str, channel: str = GENERAL, guild: str | None = GUILD) -> dict[str, Any]:
    data = {"id": "1180000000000000900", "name": "ask", "type": 1,
            "options": [{"name": "question", "type": 3, "value": question}]}  # fmt: skip
    return interaction(2, data, channel, guild)


def press(message: dict[str, Any], reaction: str, channel: str = GENERAL) -> dict[str, Any]:
    [custom_id] = [
        b["custom_id"] for row in message["components"] for b in row["components"] if reaction in b["custom_id"]
    ]
    return interaction(3, {"custom_id": custom_id, "component_type": 2}, channel)


def thread_with(setup: DiscordSetup, question: str) -> dict[str, Any]:
    with setup.kapa() as kapa:
        threads = kapa.get(f"/query/v1/projects/{setup.project}/threads/").json()["results"]
    [thread] = [t for t in threads if t["question_answers"][0]["question"] == question]
    return thread


def test_ping_is_answered_with_pong(setup: DiscordSetup) -> None:
    response = setup.post({"id": "1", "application_id": APPLICATION, "type": 1, "token": "t", "version": 1})
    assert response.status_code == 200
    assert response.json() == {"type": 1}


def test_ask_is_deferred_then_answered_with_cited_pages_and_feedback_buttons(setup: DiscordSetup) -> None:
    payload = ask("How do I install the Skyloom command-line client?")
    started = time.monotonic()
    response = setup.post(payload)
    assert response.status_code == 200 and response.json() == {"type": 5}  # "thinking…"
    assert time.monotonic() - started < 3.0

    edit = setup.discord.wait_edit(payload["token"]).body
    install = setup.url("install.md")
    assert edit["content"].startswith("> How do I install the Skyloom command-line client?\n\n")
    assert f"[[1]]({install})" in edit["content"] and "pip install skyloom-cli" in edit["content"]
    assert len(edit["content"]) <= 2000
    assert edit["embeds"][0]["title"] == "Sources"
    assert edit["embeds"][0]["description"].startswith(f"1. [Installing Skyloom]({install})")
    assert edit["allowed_mentions"] == {"parse": []}
    buttons = [b for row in edit["components"] for b in row["components"]]
    assert [b["label"] for b in buttons] == ["Helpful", "Not helpful"]

    thread = thread_with(setup, "How do I install the Skyloom command-line client?")
    assert thread["integration"]["id"] == setup.server_integration
    assert thread["integration"]["integration_type"] == "DISCORD_SERVER"
    qa_id = thread["question_answers"][0]["id"]
    assert all(b["custom_id"].endswith(qa_id) for b in buttons)


def test_feedback_buttons_store_feedback(setup: DiscordSetup) -> None:
    payload = ask("Where is the Skyloom daemon log file?")
    setup.post(payload)
    message = setup.discord.wait_edit(payload["token"]).body

    response = setup.post(press(message, "upvote"))
    assert response.status_code == 200
    assert response.json()["type"] == 4
    assert response.json()["data"]["flags"] == 64  # only the user who pressed it sees the thanks
    thread = thread_with(setup, "Where is the Skyloom daemon log file?")
    assert [f["reaction"] for f in thread["question_answers"][0]["feedback"]] == ["upvote"]

    setup.post(press(message, "downvote"))  # the same user changing their mind: one record, updated
    thread = thread_with(setup, "Where is the Skyloom daemon log file?")
    assert [f["reaction"] for f in thread["question_answers"][0]["feedback"]] == ["downvote"]


def test_a_channel_with_its_own_integration_gets_its_own_analytics(setup: DiscordSetup) -> None:
    payload = ask("How do I verify Skyloom webhook signatures?", channel=HELP)
    setup.post(payload)
    setup.discord.wait_edit(payload["token"])
    thread = thread_with(setup, "How do I verify Skyloom webhook signatures?")
    assert thread["integration"]["id"] == setup.channel_integration
    with setup.kapa() as kapa:
        stats = kapa.get(
            f"/query/v1/projects/{setup.project}/activity/",
            params={"aggregation_period": "DAY", "integration_filter": setup.channel_integration},
        ).json()["aggregate_statistics"]
    assert stats["total_questions"] == 1


def test_bad_signatures_stale_timestamps_and_replays_are_refused(setup: DiscordSetup) -> None:
    url = f"{setup.server.base_url}/discord/interactions"
    payload = ask("How many requests per minute does the Skyloom API allow?")
    body = json.dumps(payload).encode()
    other_key = Ed25519PrivateKey.generate()
    refused = [
        httpx.post(url, content=body),  # unsigned
        httpx.post(url, content=body, headers=signed(other_key, body)),  # signed by someone else
        httpx.post(url, content=body.replace(b"minute", b"second"), headers=signed(setup.signing_key, body)),
        httpx.post(url, content=body, headers={**signed(setup.signing_key, body), "X-Signature-Ed25519": "zz"}),
        # Correctly signed ten minutes ago: a captured request sent again.
        httpx.post(url, content=body, headers=signed(setup.signing_key, body, timestamp=int(time.time()) - 600)),
    ]
    assert [r.status_code for r in refused] == [401] * 5
    assert setup.post({"type": 1}, timestamp=int(time.time()) - 600).status_code == 401  # even a PING

    # Signed and fresh, it is answered; the very same request again (a replay within the window) is not.
    assert setup.post(payload).status_code == 200
    replay = setup.post(payload)
    assert replay.status_code == 401
    setup.discord.wait_edit(payload["token"])
    time.sleep(1.0)
    assert len(setup.discord.edits(payload["token"])) == 1


def test_an_unconnected_server_is_told_how_to_connect(setup: DiscordSetup) -> None:
    response = setup.post(ask("How do I install Skyloom?", channel="1180000000000000999", guild="1180000000000000888"))
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == 4 and body["data"]["flags"] == 64
    assert "--external-id 1180000000000000888" in body["data"]["content"]


def test_slack_is_off_without_its_secret(setup: DiscordSetup) -> None:
    assert httpx.post(f"{setup.server.base_url}/slack/events", content=b"{}").status_code == 404
