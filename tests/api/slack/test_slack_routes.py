"""The Slack app against a real `docsage serve`: Events API requests signed with slack_sdk's own signing code,
answers posted to a stand-in Slack Web API on loopback (the one thing that cannot run here), and what was
stored read back through the Kapa API."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from conftest import Cli, LiveServer, serve, write_docs
from fakes.openai_server import FakeOpenAI
from fakes.slack_server import FakeSlack

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
TEAM = "T0ACME001"
SUPPORT = "C0SUPPORT1"  # a channel with a SLACK_CHANNEL integration of its own
GENERAL = "C0GENERAL1"  # answered through the workspace's integration
BOT = "UBOTDOCSAGE"
UNLIMITED = {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0"}
_ts = itertools.count(1)


def new_ts() -> str:
    return f"1700000000.{next(_ts):06d}"


@dataclass
class SlackSetup:
    cli: Cli
    docs: Path
    project: str
    key: str
    workspace: str  # SLACK_WORKSPACE integration id
    channel: str  # SLACK_CHANNEL integration id
    slack: FakeSlack
    server: LiveServer

    def kapa(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, headers={"X-API-KEY": self.key}, timeout=60)

    def url(self, name: str) -> str:
        return (self.docs / name).resolve().as_uri()


def setup_home(root: Path) -> tuple[Cli, Path, str, str, str, str]:
    home = root / "home"
    home.mkdir()
    docs = write_docs(root)
    cli = Cli(home)
    project = cli.json("project", "create", "--name", "Skyloom")["id"]
    key = cli.json("key", "create", "--project", project)["key"]
    cli.json("source", "add", "--project", project, "--type", "folder", "--path", docs, "--name", "skyloom-docs")
    assert cli("ingest", "--project", project).returncode == 0
    create = ("integration", "create", "--project", project)
    workspace = cli.json(*create, "--type", "SLACK_WORKSPACE", "--name", "Acme", "--external-id", TEAM)["id"]
    channel = cli.json(*create, "--type", "SLACK_CHANNEL", "--name", "#support", "--external-id", SUPPORT)["id"]
    return cli, docs, project, key, workspace, channel


def slack_env(slack: FakeSlack) -> dict[str, str]:
    return {
        "DOCSAGE_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DOCSAGE_SLACK_BOT_TOKEN": BOT_TOKEN,
        "DOCSAGE_SLACK_API_URL": slack.api_url,
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, Path, str, str, str, str]:
    return setup_home(tmp_path_factory.mktemp("slack"))


@pytest.fixture(scope="module")
def setup(home: tuple[Cli, Path, str, str, str, str]) -> Iterator[SlackSetup]:
    cli, docs, project, key, workspace, channel = home
    with FakeSlack(BOT_TOKEN, TEAM, BOT) as slack, serve(cli.home, {**UNLIMITED, **slack_env(slack)}) as server:
        yield SlackSetup(cli, docs, project, key, workspace, channel, slack, server)


# --- what Slack sends -----------------------------------------------------------------------------------


def signed_headers(body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def envelope(event: dict[str, Any], team: str = TEAM) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "api_app_id": "A0DOCSAGE",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{next(_ts):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team, "user_id": BOT, "is_bot": True}],
    }


def mention(text: str, channel: str = GENERAL, thread_ts: str | None = None, team: str = TEAM) -> dict[str, Any]:
    ts = new_ts()
    event = {
        "type": "app_mention",
        "user": "U0ALICE01",
        "text": f"<@{BOT}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": team,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return envelope(event, team)


def send_event(base_url: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(payload).encode()
    sent = {"Content-Type": "application/json", **signed_headers(body), **(headers or {})}
    return httpx.post(f"{base_url}/slack/events", content=body, headers=sent, timeout=30)


def click(base_url: str, answer: dict[str, Any], action_id: str, user: str = "U0ALICE01") -> httpx.Response:
    """A block_actions payload as Slack posts it when someone clicks a button under the answer."""
    button = next(
        e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id
    )
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM, "username": "alice"},
        "api_app_id": "A0DOCSAGE",
        "token": "legacy-verification-token",
        "trigger_id": "1234.5678.abcd",
        "team": {"id": TEAM, "domain": "acme"},
        "container": {"type": "message", "message_ts": "1700000100.000001", "channel_id": answer["channel"]},
        "channel": {"id": answer["channel"], "name": "general"},
        "message": {"type": "message", "ts": "1700000100.000001", "thread_ts": answer["thread_ts"], "text": "…"},
        "response_url": "https://hooks.slack.example/actions/T0ACME001/1/abc",
        "actions": [{**button, "block_id": "docsage_feedback", "action_ts": str(time.time())}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body)}
    return httpx.post(f"{base_url}/slack/events", content=body, headers=headers, timeout=30)


def answer_in(slack: FakeSlack, thread_ts: str, count: int = 1) -> list[dict[str, Any]]:
    calls = slack.wait_for(
        lambda c: c.path == "/api/chat.postMessage" and c.body.get("thread_ts") == thread_ts, count, timeout=60
    )
    return [c.body for c in calls]


def threads_of(setup: SlackSetup, integration: str) -> list[dict[str, Any]]:
    with setup.kapa() as kapa:
        page = kapa.get(f"/query/v1/projects/{setup.project}/threads/").json()["results"]
    return [t for t in page if (t["integration"] or {}).get("id") == integration]


def text_of(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


# --- tests ----------------------------------------------------------------------------------------------


def test_a_mention_is_answered_in_its_thread_with_cited_pages_and_feedback_buttons(setup: SlackSetup) -> None:
    payload = mention("How do I install the Skyloom command-line client?")
    ts = payload["event"]["ts"]
    response = send_event(setup.server.base_url, payload)
    assert response.status_code == 200

    [answer] = answer_in(setup.slack, ts)
    assert answer["channel"] == GENERAL and answer["thread_ts"] == ts
    assert answer["unfurl_links"] is False
    install = setup.url("install.md")
    text = text_of(answer["blocks"])
    assert f"<{install}|[1]>" in text, text  # the cited page, as a mrkdwn link
    assert "pip install skyloom-cli" in text
    assert f"*Sources*\n1. <{install}|Installing Skyloom>" in text
    [actions] = [b for b in answer["blocks"] if b["type"] == "actions"]
    buttons = {e["action_id"]: e["value"] for e in actions["elements"]}
    assert set(buttons) == {"docsage_feedback_upvote", "docsage_feedback_downvote"}
    assert answer["text"]  # the notification text Slack shows outside the app

    [thread] = [
        t
        for t in threads_of(setup, setup.workspace)
        if t["question_answers"][0]["id"] == buttons["docsage_feedback_upvote"]
    ]
    assert thread["integration"]["integration_type"] == "SLACK_WORKSPACE"
    [qa] = thread["question_answers"]
    assert qa["question"] == "How do I install the Skyloom command-line client?"  # the mention is not part of it
    assert install in qa["answer"]
    # The Slack web API was called with the bot token (FakeSlack refuses any other).
    assert setup.slack.matching(lambda c: c.path == "/api/auth.test")


def test_a_reply_in_the_thread_continues_the_docsage_thread(setup: SlackSetup) -> None:
    first = mention("Which environment variable holds the Skyloom API token?")
    root = first["event"]["ts"]
    send_event(setup.server.base_url, first)
    [answer] = answer_in(setup.slack, root)
    qa_id = next(b for b in answer["blocks"] if b["type"] == "actions")["elements"][0]["value"]

    follow_up = mention("And which one sets the data region?", thread_ts=root)
    assert send_event(setup.server.base_url, follow_up).status_code == 200
    answers = answer_in(setup.slack, root, count=2)
    assert "SKYLOOM_REGION" in text_of(answers[1]["blocks"])

    [thread] = [t for t in threads_of(setup, setup.workspace) if any(q["id"] == qa_id for q in t["question_answers"])]
    questions = [q["question"] for q in sorted(thread["question_answers"], key=lambda q: q["created_at"])]
    assert questions == [
        "Which environment variable holds the Skyloom API token?",
        "And which one sets the data region?",
    ]


def test_a_direct_message_is_answered_in_its_thread_and_the_bots_own_messages_are_not(setup: SlackSetup) -> None:
    ts = new_ts()
    dm = {"type": "message", "channel_type": "im", "channel": "D0ALICE01", "user": "U0ALICE01", "ts": ts,
          "text": "How many requests per minute does the Skyloom API allow?", "event_ts": ts, "team": TEAM}  # fmt: skip
    assert send_event(setup.server.base_url, envelope(dm)).status_code == 200
    [answer] = answer_in(setup.slack, ts)
    assert answer["channel"] == "D0ALICE01"
    assert "600 requests per minute" in text_of(answer["blocks"])

    # Slack echoes the bot's own reply as a message event: it must not be answered (nor any other bot's).
    own = {**dm, "ts": new_ts(), "user": BOT, "bot_id": "BDOCSAGE", "text": "600 requests per minute [1]"}
    other_bot = {**dm, "ts": new_ts(), "user": "U0OTHERBOT", "bot_id": "B0OTHER", "text": "How do I install?"}
    for event in (own, other_bot):
        assert send_event(setup.server.base_url, envelope(event)).status_code == 200
    time.sleep(1.5)
    assert not setup.slack.matching(lambda c: c.body.get("thread_ts") in (own["ts"], other_bot["ts"]))


def test_feedback_buttons_land_in_the_feedback_store(setup: SlackSetup) -> None:
    payload = mention("What does HTTP status 429 mean for Skyloom clients?")
    ts = payload["event"]["ts"]
    send_event(setup.server.base_url, payload)
    [answer] = answer_in(setup.slack, ts)
    qa_id = next(b for b in answer["blocks"] if b["type"] == "actions")["elements"][0]["value"]

    assert click(setup.server.base_url, answer, "docsage_feedback_upvote").status_code == 200
    [thanks] = setup.slack.wait_posted(1, "chat.postEphemeral")
    assert thanks.body["user"] == "U0ALICE01" and thanks.body["channel"] == GENERAL
    assert thanks.body["thread_ts"] == ts

    def reactions() -> list[str]:
        [thread] = [t for t in threads_of(setup, setup.workspace) if t["question_answers"][0]["id"] == qa_id]
        return [f["reaction"] for f in thread["question_answers"][0]["feedback"]]

    assert reactions() == ["upvote"]
    # The same user changing their mind updates their one record; another user adds theirs.
    click(setup.server.base_url, answer, "docsage_feedback_downvote")
    click(setup.server.base_url, answer, "docsage_feedback_upvote", user="U0BOB0001")
    setup.slack.wait_posted(3, "chat.postEphemeral")
    assert sorted(reactions()) == ["downvote", "upvote"]


def test_a_channel_with_its_own_integration_gets_its_own_analytics(setup: SlackSetup) -> None:
    payload = mention("How do I verify webhook signatures?", channel=SUPPORT)
    send_event(setup.server.base_url, payload)
    [answer] = answer_in(setup.slack, payload["event"]["ts"])
    assert answer["channel"] == SUPPORT

    with setup.kapa() as kapa:
        stats = {
            integration: kapa.get(
                f"/query/v1/projects/{setup.project}/activity/",
                params={"aggregation_period": "DAY", "integration_filter": integration},
            ).json()["aggregate_statistics"]["total_questions"]
            for integration in (setup.channel, setup.workspace)
        }
    assert stats[setup.channel] == 1
    assert [t["integration"]["integration_type"] for t in threads_of(setup, setup.channel)] == ["SLACK_CHANNEL"]
    assert all(
        qa["question"] != "How do I verify webhook signatures?"
        for t in threads_of(setup, setup.workspace)
        for qa in t["question_answers"]
    )


def test_bad_signatures_and_replays_are_refused(setup: SlackSetup) -> None:
    url = f"{setup.server.base_url}/slack/events"
    payload = mention("How do I install the Skyloom CLI?")
    body = json.dumps(payload).encode()
    json_type = {"Content-Type": "application/json"}
    refused = [
        httpx.post(url, content=body, headers=json_type),  # unsigned
        httpx.post(url, content=body, headers={**json_type, **signed_headers(body, secret="not-the-secret")}),
        httpx.post(url, content=body.replace(b"install", b"uninstall"), headers={**json_type, **signed_headers(body)}),
        # Correctly signed, ten minutes ago: a captured request sent again.
        httpx.post(url, content=body, headers={**json_type, **signed_headers(body, timestamp=int(time.time()) - 600)}),
    ]
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    time.sleep(1.0)
    assert not setup.slack.matching(lambda c: c.body.get("thread_ts") == payload["event"]["ts"])


def test_slack_retries_are_not_answered_twice(setup: SlackSetup) -> None:
    payload = mention("Where is the Skyloom daemon log file?")
    ts = payload["event"]["ts"]
    assert send_event(setup.server.base_url, payload).status_code == 200
    # Slack redelivers an event it thinks was not acknowledged in time: same event id, a retry number.
    for attempt in (1, 2):
        retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
        assert send_event(setup.server.base_url, payload, retry).status_code == 200
    answer_in(setup.slack, ts)
    time.sleep(2.0)
    assert len(setup.slack.matching(lambda c: c.body.get("thread_ts") == ts)) == 1


def test_the_request_url_check_is_answered(setup: SlackSetup) -> None:
    """Slack checks the Request URL when it is saved: a signed url_verification with a challenge to echo."""
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = {"token": "legacy-verification-token", "challenge": challenge, "type": "url_verification"}
    response = send_event(setup.server.base_url, body)
    assert response.status_code == 200
    assert response.json()["challenge"] == body["challenge"]


def test_an_unconnected_workspace_is_told_how_to_connect(setup: SlackSetup) -> None:
    payload = mention("How do I install the Skyloom CLI?", channel="C0ELSEWHERE", team="T0OTHER01")
    send_event(setup.server.base_url, payload)
    [reply] = answer_in(setup.slack, payload["event"]["ts"])
    assert "--external-id T0OTHER01" in reply["text"] and "--external-id C0ELSEWHERE" in reply["text"]
    assert "blocks" not in reply


def test_events_are_acknowledged_at_once_while_the_answer_is_slow(
    home: tuple[Cli, Path, str, str, str, str],
) -> None:
    """Slack wants the HTTP reply within 3 s and retries otherwise: the answer (here a model taking ~4 s)
    is posted after the acknowledgement, never inside it."""
    cli = home[0]
    with (
        FakeOpenAI("Install it with pip install skyloom-cli [1].", chunk_delay=0.5) as llm,
        FakeSlack(BOT_TOKEN, TEAM, BOT) as slack,
    ):
        env = {
            **UNLIMITED,
            **slack_env(slack),
            "DOCSAGE_LLM_PROVIDER": "openai",
            "DOCSAGE_LLM_BASE_URL": llm.base_url,
            "DOCSAGE_LLM_API_KEY": "sk-test",
        }
        with serve(cli.home, env) as server:
            # The first event also has Bolt check the bot token (auth.test): that counts in the 3 s too.
            payload = mention("How do I install the Skyloom command-line client?")
            started = time.monotonic()
            response = send_event(server.base_url, payload)
            acknowledged = time.monotonic()
            assert response.status_code == 200
            assert acknowledged - started < 3.0, f"acknowledged after {acknowledged - started:.2f} s"

            [posted] = slack.wait_for(lambda c: c.path == "/api/chat.postMessage", 1, timeout=60)
            assert posted.at - started > 3.0, "the slow answer cannot have been ready before 3 s"
            assert posted.body["thread_ts"] == payload["event"]["ts"]
            assert "pip install skyloom-cli" in text_of(posted.body["blocks"])
            # Discord is not set up on this server: its endpoint is off.
            assert httpx.post(f"{server.base_url}/discord/interactions", content=b"{}").status_code == 404
