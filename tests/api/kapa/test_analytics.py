"""Coverage gaps and top questions (Kapa's newer analytics) through a real `docsage serve`.

The module builds its own home: the Skyloom manual, and questions asked through /query/v1 by several users —
paraphrases the manual cannot answer (CSV export, Kubernetes), one it has nothing on (pizza), answerable ones
(two paraphrases about webhook signatures) and a thread whose follow-up is uncertain. Periods are calendar
weeks, months and quarters that are over, so the test then moves each conversation into a past week, as time
would: the database rows' timestamps are set to last week or three weeks ago (two weeks ago stays empty). One
uncertain question is left in the running week.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from conftest import Cli, LiveServer, serve, write_docs

from .conftest import Project, create_project
from .helpers import assert_json_error

UNLIMITED = {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0", "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0"}
CSV = ("How do I export to CSV?", "How do I export my files to CSV?", "How can I export files to a CSV?")
KUBERNETES = ("How do I deploy Skyloom on Kubernetes?", "Can Skyloom run in a Kubernetes cluster?")
PIZZA = "What is the best pizza topping?"
WEBHOOKS = ("How do I verify webhook signatures?", "How can I check that a webhook signature is valid?")
INSTALL = "How do I install the Skyloom CLI?"
FOLLOW_UP = "And how do I export my files to CSV?"  # after INSTALL, in the same thread

# (question, user, weeks ago, answerable): three weeks ago, last week, and this week (never listed as complete).
HISTORY = [
    (CSV[0], "ana@example.com", 3, False),
    (KUBERNETES[0], "ben@example.com", 3, False),
    (WEBHOOKS[0], "ana@example.com", 3, True),
    (CSV[1], "cem@example.com", 1, False),
    (CSV[2], "dee@example.com", 1, False),
    (KUBERNETES[1], "eli@example.com", 1, False),
    (PIZZA, "fay@example.com", 1, False),
    (WEBHOOKS[0], "gus@example.com", 1, True),
    (WEBHOOKS[1], "hal@example.com", 1, True),
    (CSV[0], "ivy@example.com", 0, False),
]


@dataclass
class Chat:
    question: str
    user: str
    weeks_ago: int
    thread_id: str
    qa_id: str
    answer: str
    uncertain: bool


@dataclass
class Setup:
    cli: Cli
    server: LiveServer
    project: Project
    other: Project
    monday: date  # of the running week (UTC)
    chats: list[Chat] = field(default_factory=list)

    def client(self, project: Project | None = None) -> httpx.Client:
        key = (project or self.project).key
        return httpx.Client(base_url=self.server.base_url, headers={"X-API-KEY": key}, timeout=60)

    def week(self, weeks_ago: int) -> date:
        return self.monday - timedelta(weeks=weeks_ago)

    def threads(self, weeks_ago: int, *, uncertain: bool | None = None) -> set[str]:
        return {
            c.thread_id
            for c in self.chats
            if c.weeks_ago == weeks_ago and (uncertain is None or c.uncertain is uncertain)
        }

    def thread_of(self, question: str, weeks_ago: int) -> str:
        return next(c.thread_id for c in self.chats if c.question == question and c.weeks_ago == weeks_ago)


def _chat(client: httpx.Client, path: str, question: str, user: str) -> dict[str, Any]:
    resp = client.post(path, json={"query": question, "user": {"email": user}})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _move(cli: Cli, chats: list[Chat], monday: date) -> None:
    """Date each chat's question-answer and thread to a Wednesday `weeks_ago` weeks back, a minute apart in the
    order they were asked (the rows of the running week stay as they are)."""
    with closing(cli.connect()) as conn:
        for n, chat in enumerate(chats):
            if not chat.weeks_ago:
                continue
            when = datetime.combine(monday - timedelta(weeks=chat.weeks_ago, days=-2), time(10, n))
            stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
            conn.execute("UPDATE question_answers SET created_at = ? WHERE id = ?", (stamp, chat.qa_id))
            conn.execute(
                "UPDATE threads SET created_at = CASE WHEN ? < created_at THEN ? ELSE created_at END WHERE id = ?",
                (stamp, stamp, chat.thread_id),
            )
        conn.commit()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("kapa-analytics")
    home = root / "home"
    home.mkdir()
    cli = Cli(home)
    project = create_project(cli, "Skyloom", [("skyloom-docs", write_docs(root))])
    other = create_project(cli, "Other")
    today = datetime.now(UTC).date()
    with serve(home, UNLIMITED) as server:
        s = Setup(cli, server, project, other, today - timedelta(days=today.weekday()))
        with s.client() as client:
            for question, user, weeks_ago, answerable in HISTORY:
                body = _chat(client, f"/query/v1/projects/{project.id}/chat/", question, user)
                assert body["is_uncertain"] is (not answerable), f"precondition: {question!r} → {body}"
                s.chats.append(
                    Chat(question, user, weeks_ago, body["thread_id"], body["question_answer_id"],
                         body["answer"], body["is_uncertain"])
                )  # fmt: skip
            first = _chat(client, f"/query/v1/projects/{project.id}/chat/", INSTALL, "jo@example.com")
            assert not first["is_uncertain"], first
            follow = _chat(client, f"/query/v1/threads/{first['thread_id']}/chat/", FOLLOW_UP, "jo@example.com")
            assert follow["is_uncertain"], f"precondition: the follow-up is uncertain → {follow}"
            for body, question in ((first, INSTALL), (follow, FOLLOW_UP)):
                s.chats.append(
                    Chat(question, "jo@example.com", 1, body["thread_id"], body["question_answer_id"],
                         body["answer"], body["is_uncertain"])
                )  # fmt: skip
        _move(cli, s.chats, s.monday)
        yield s


def periods(client: httpx.Client, url: str, **params: Any) -> dict[str, Any]:
    resp = client.get(url, params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"periods", "next_cursor"}, body
    return body


def period_url(s: Setup, kind: str) -> str:
    return f"/query/v1/projects/{s.project.id}/{kind}/periods/"


def clusters(client: httpx.Client, kind: str, period_id: str, **params: Any) -> dict[str, Any]:
    resp = client.get(f"/query/v1/{kind}/periods/{period_id}/", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def week_id(s: Setup, client: httpx.Client, kind: str, weeks_ago: int) -> str:
    listed = periods(client, period_url(s, kind), interval="weekly", include_current="true")["periods"]
    return next(p["id"] for p in listed if p["start_date"] == s.week(weeks_ago).isoformat())


# --- periods ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["coverage-gaps", "top-questions"])
def test_completed_weeks_are_listed_newest_first_with_their_conversations(setup: Setup, kind: str) -> None:
    with setup.client() as client:
        body = periods(client, period_url(setup, kind), interval="weekly")
    listed = body["periods"]
    assert body["next_cursor"] is None
    # From last week back to the week of the first question; two weeks ago is listed although nothing happened.
    assert [p["start_date"] for p in listed] == [setup.week(n).isoformat() for n in (1, 2, 3)]
    for p in listed:
        assert set(p) == {"id", "interval", "start_date", "end_date", "total_conversations", "is_complete"}, p
        assert uuid.UUID(p["id"]).version == 5
        assert p["interval"] == "weekly" and p["is_complete"] is True
        start = date.fromisoformat(p["start_date"])
        assert start.weekday() == 0 and date.fromisoformat(p["end_date"]) == start + timedelta(days=6)
    uncertain = None if kind == "top-questions" else True
    counts = [p["total_conversations"] for p in listed]
    assert counts == [len(setup.threads(n, uncertain=uncertain)) for n in (1, 2, 3)]
    assert counts[1] == 0 and all(counts[i] > 0 for i in (0, 2))


def test_the_running_week_is_listed_only_on_request(setup: Setup) -> None:
    with setup.client() as client:
        body = periods(client, period_url(setup, "coverage-gaps"), interval="weekly", include_current="true")
        running = body["periods"][0]
        assert running["start_date"] == setup.monday.isoformat() and running["is_complete"] is False
        assert running["total_conversations"] == len(setup.threads(0)) == 1
        assert [p["start_date"] for p in body["periods"][1:]] == [setup.week(n).isoformat() for n in (1, 2, 3)]
        gaps = clusters(client, "coverage-gaps", running["id"])
        assert [c["title"] for c in gaps["clusters"]] == [CSV[0]]
        assert gaps["period"] == running


def test_period_ids_are_stable_and_differ_per_analysis(setup: Setup) -> None:
    with setup.client() as client:
        first = [p["id"] for p in periods(client, period_url(setup, "coverage-gaps"))["periods"]]
        again = [p["id"] for p in periods(client, period_url(setup, "coverage-gaps"))["periods"]]
        top = [p["id"] for p in periods(client, period_url(setup, "top-questions"))["periods"]]
        monthly = [p["id"] for p in periods(client, period_url(setup, "coverage-gaps"), interval="monthly")["periods"]]
    assert first == again
    assert not set(first) & set(top) and not set(first) & set(monthly)


@pytest.mark.parametrize("interval", ["monthly", "quarterly"])
def test_months_and_quarters_that_are_over(setup: Setup, interval: str) -> None:
    """Whatever today is: every month (quarter) from the first question's to the last one that is over."""
    months = 1 if interval == "monthly" else 3

    def start_of(d: date) -> date:
        return d.replace(month=(d.month - 1) // months * months + 1, day=1)

    def shift(d: date, n: int) -> date:
        m = d.month - 1 + n * months
        return d.replace(year=d.year + m // 12, month=m % 12 + 1)

    first = start_of(setup.week(3) + timedelta(days=2))
    expected, cursor = [], shift(start_of(datetime.now(UTC).date()), -1)
    while cursor >= first:
        expected.append(cursor)
        cursor = shift(cursor, -1)
    with setup.client() as client:
        listed = periods(client, period_url(setup, "top-questions"), interval=interval)["periods"]
        running = periods(client, period_url(setup, "top-questions"), interval=interval, include_current="true")
    assert [p["start_date"] for p in listed] == [d.isoformat() for d in expected]
    for p in listed:
        assert p["interval"] == interval
        assert date.fromisoformat(p["end_date"]) == shift(date.fromisoformat(p["start_date"]), 1) - timedelta(days=1)
    assert running["periods"][0]["is_complete"] is False
    assert sum(p["total_conversations"] for p in running["periods"]) == len({c.thread_id for c in setup.chats})


# --- clusters ---------------------------------------------------------------------------------------------------


def test_coverage_gaps_group_the_paraphrased_uncertain_questions(setup: Setup) -> None:
    with setup.client() as client:
        body = clusters(client, "coverage-gaps", week_id(setup, client, "coverage-gaps", 1))
    assert set(body) == {"clusters", "next_cursor", "period"} and body["next_cursor"] is None
    assert body["period"]["start_date"] == setup.week(1).isoformat()
    gaps = {c["title"]: c for c in body["clusters"]}
    for c in body["clusters"]:
        assert set(c) == {"id", "title", "summary", "suggestion", "thread_count", "num_unique_users", "threads"}
        assert uuid.UUID(c["id"]).version == 5
        for t in c["threads"]:
            assert set(t) == {"id", "created_at", "initial_question", "question"}, t
    # The two CSV paraphrases of last week and the CSV follow-up form one gap, the most asked, first.
    csv = body["clusters"][0]
    assert csv["title"] == CSV[1]
    assert {t["question"] for t in csv["threads"]} == {CSV[1], CSV[2], FOLLOW_UP}
    assert {t["id"] for t in csv["threads"]} == {
        setup.thread_of(CSV[1], 1),
        setup.thread_of(CSV[2], 1),
        setup.thread_of(FOLLOW_UP, 1),
    }
    assert csv["thread_count"] == 3 and csv["num_unique_users"] == 3
    follow = next(t for t in csv["threads"] if t["question"] == FOLLOW_UP)
    assert follow["initial_question"] == INSTALL  # the conversation's first question, as Kapa names it
    created = [t["created_at"] for t in csv["threads"]]
    assert created == sorted(created, reverse=True), "threads newest first"
    assert "3 questions" in csv["summary"] and "3 users" in csv["summary"] and CSV[2] in csv["summary"]
    assert re.search(r"(?i)csv", csv["suggestion"]) and "export" in csv["suggestion"]
    # Other topics are gaps of their own; answered questions are none.
    assert set(gaps) == {CSV[1], KUBERNETES[1], PIZZA}
    assert gaps[KUBERNETES[1]]["thread_count"] == gaps[PIZZA]["thread_count"] == 1
    assert "Nothing in the docs is about this" in gaps[PIZZA]["suggestion"]
    assert not {WEBHOOKS[0], WEBHOOKS[1], INSTALL} & {t["question"] for c in body["clusters"] for t in c["threads"]}


def test_top_questions_group_every_conversation_by_its_first_question(setup: Setup) -> None:
    with setup.client() as client:
        body = clusters(client, "top-questions", week_id(setup, client, "top-questions", 1))
    assert body["next_cursor"] is None
    top = {c["title"]: c for c in body["clusters"]}
    for c in body["clusters"]:
        assert set(c) == {"id", "title", "summary", "thread_count", "num_unique_users", "threads"}
        for t in c["threads"]:
            assert set(t) == {"id", "created_at", "initial_question", "initial_answer"}, t
    webhooks = top[WEBHOOKS[0]]
    assert webhooks["thread_count"] == 2 and webhooks["num_unique_users"] == 2
    answers = {c.thread_id: c.answer for c in setup.chats}
    assert {t["initial_question"] for t in webhooks["threads"]} == set(WEBHOOKS)
    assert all(t["initial_answer"] == answers[t["id"]] for t in webhooks["threads"])
    assert webhooks["summary"] == "Asked in 2 conversations by 2 users; answered from the docs each time."
    assert top[CSV[1]]["thread_count"] == 2  # the follow-up's thread opened with INSTALL, a cluster of its own
    assert top[INSTALL]["thread_count"] == 1
    # Most conversations first; every conversation of the week is in exactly one cluster.
    counts = [c["thread_count"] for c in body["clusters"]]
    assert counts == sorted(counts, reverse=True)
    listed = [t["id"] for c in body["clusters"] for t in c["threads"]]
    assert sorted(listed) == sorted(setup.threads(1))


def test_a_week_without_questions_has_no_clusters(setup: Setup) -> None:
    with setup.client() as client:
        for kind in ("coverage-gaps", "top-questions"):
            body = clusters(client, kind, week_id(setup, client, kind, 2))
            assert body["clusters"] == [] and body["next_cursor"] is None
            assert body["period"]["total_conversations"] == 0


# --- pagination -------------------------------------------------------------------------------------------------


def test_periods_and_clusters_page_with_cursors(setup: Setup) -> None:
    with setup.client() as client:
        whole = periods(client, period_url(setup, "top-questions"))["periods"]
        walked, cursor, pages = [], None, 0
        while True:
            params: dict[str, Any] = {"page_size": 1} | ({"cursor": cursor} if cursor else {})
            page = periods(client, period_url(setup, "top-questions"), **params)
            walked += page["periods"]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == whole and pages == len(whole) == 3

        period_id = week_id(setup, client, "coverage-gaps", 1)
        all_clusters = clusters(client, "coverage-gaps", period_id)["clusters"]
        first = clusters(client, "coverage-gaps", period_id, page_size=2)
        assert first["clusters"] == all_clusters[:2] and first["next_cursor"]
        rest = clusters(client, "coverage-gaps", period_id, page_size=2, cursor=first["next_cursor"])
        assert rest["clusters"] == all_clusters[2:] and rest["next_cursor"] is None

        # A cursor is bound to what it pages through.
        other_period = week_id(setup, client, "coverage-gaps", 3)
        wrong = client.get(f"/query/v1/coverage-gaps/periods/{other_period}/", params={"cursor": first["next_cursor"]})
        assert_json_error(wrong, 422)
        monthly = client.get(period_url(setup, "top-questions"), params={"interval": "monthly", "cursor": "d2Vla2x5"})
        assert_json_error(monthly, 422)
        for bad in ("not-a-cursor!", "", "////"):
            resp = client.get(period_url(setup, "coverage-gaps"), params={"cursor": bad})
            assert resp.status_code in (200, 422), resp.text  # "" is no cursor at all
            if bad:
                assert_json_error(resp, 422)
        for size in (0, 501):
            assert_json_error(client.get(period_url(setup, "coverage-gaps"), params={"page_size": size}), 422)
        assert_json_error(client.get(period_url(setup, "coverage-gaps"), params={"interval": "daily"}), 422)


# --- auth -------------------------------------------------------------------------------------------------------


def test_keys_and_projects(setup: Setup) -> None:
    base = setup.server.base_url
    url = period_url(setup, "coverage-gaps")
    assert_json_error(httpx.get(base + url, timeout=30), 401)
    assert_json_error(httpx.get(base + url, headers={"X-API-KEY": "nope"}, timeout=30), 401)
    with setup.client() as client:
        period_id = week_id(setup, client, "coverage-gaps", 1)
        # Another project's listing through this key: 403, as every /query/v1 route.
        assert_json_error(client.get(f"/query/v1/projects/{setup.other.id}/top-questions/periods/"), 403)
        assert_json_error(client.get(f"/query/v1/coverage-gaps/periods/{uuid.uuid4()}/"), 404)
        assert_json_error(client.get("/query/v1/top-questions/periods/not-a-uuid/"), 404)
        # A coverage-gaps period is not a top-questions period.
        assert_json_error(client.get(f"/query/v1/top-questions/periods/{period_id}/"), 404)
    with setup.client(setup.other) as other:
        # The other project's key cannot read this project's periods, by listing or by id.
        assert_json_error(other.get(url), 403)
        assert_json_error(other.get(f"/query/v1/coverage-gaps/periods/{period_id}/"), 404)
        assert other.get(f"/query/v1/projects/{setup.other.id}/coverage-gaps/periods/").json() == {
            "periods": [],
            "next_cursor": None,
        }
    bearer = setup.cli.json(
        "key", "create", "--project", setup.project.id, "--scheme", "bearer", "--allowed-origin", "https://a.example"
    )
    assert_json_error(httpx.get(base + url, headers={"X-API-KEY": bearer["key"]}, timeout=30), 401)
