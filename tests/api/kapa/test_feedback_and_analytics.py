"""Feedback, ticket deflection and the analytics a docs team reads: activity, threads, question-answers, users.

The analytics project is built once for the module with a known history (five questions from three users,
one uncertain answer, one upvote, one downvote, one filed and one deflected support ticket), so every number
the API reports can be checked exactly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from .conftest import MainSetup, Project, create_integration, create_project
from .helpers import assert_json_error

# --- feedback ------------------------------------------------------------------------------------------------


def ask(client: httpx.Client, project: Project, query: str, **extra: Any) -> dict[str, Any]:
    resp = client.post(f"/query/v1/projects/{project.id}/chat/", json={"query": query, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_feedback_upsert_creates_then_updates_one_record(kapa: MainSetup) -> None:
    with kapa.home.client(kapa.a) as client:
        qa = ask(client, kapa.a, "How do I verify webhook signatures?")["question_answer_id"]
        first = client.post(
            "/query/v1/feedback/upsert/", json={"question_answer": qa, "user_identifier": "fp-1", "reaction": "upvote"}
        )
        assert first.status_code == 201, first.text
        body = first.json()
        assert set(body) == {
            "id",
            "comment",
            "created_at",
            "updated_at",
            "user_identifier",
            "reaction",
            "question_answer",
        }
        assert isinstance(body["id"], int)
        assert (body["reaction"], body["user_identifier"], body["question_answer"]) == ("upvote", "fp-1", qa)
        assert body["comment"] is None
        datetime.fromisoformat(body["created_at"])

        comment = {
            "issue": "The example is in Python only",
            "incorrect": False,
            "irrelevant": False,
            "unaddressed": True,
        }
        second = client.post(
            "/query/v1/feedback/upsert/",
            json={"question_answer": qa, "user_identifier": "fp-1", "reaction": "downvote", "comment": comment},
        )
        assert second.status_code == 201, second.text
        updated = second.json()
        assert updated["id"] == body["id"]
        assert updated["reaction"] == "downvote"
        assert updated["comment"] == comment
        assert updated["created_at"] == body["created_at"]
        assert datetime.fromisoformat(updated["updated_at"]) >= datetime.fromisoformat(body["updated_at"])

        # Another user's vote is a separate record.
        other = client.post(
            "/query/v1/feedback/upsert/", json={"question_answer": qa, "user_identifier": "fp-2", "reaction": "upvote"}
        )
        assert other.status_code == 201 and other.json()["id"] != body["id"]

        # The answer shows one feedback per user, each with its latest reaction.
        listing = client.get(f"/query/v1/projects/{kapa.a.id}/question-answers/", params={"page_size": 500}).json()
        stored = next(q for q in listing["results"] if q["id"] == qa)
    reactions = sorted((f["reaction"], f["comment"], f["unaddressed"]) for f in stored["feedback"])
    assert reactions == [("downvote", "The example is in Python only", True), ("upvote", None, False)]


def test_feedback_on_another_projects_answer_is_404(kapa: MainSetup) -> None:
    with kapa.home.client(kapa.b) as other:
        b_qa = ask(other, kapa.b, "How do I verify webhook signatures?")["question_answer_id"]
    with kapa.home.client(kapa.a) as client:
        for qa in (b_qa, str(uuid.uuid4())):
            resp = client.post(
                "/query/v1/feedback/upsert/",
                json={"question_answer": qa, "user_identifier": "fp", "reaction": "upvote"},
            )
            assert_json_error(resp, 404)


@pytest.mark.parametrize(
    "change",
    [
        {"reaction": "meh"},
        {"reaction": None},
        {"user_identifier": ""},
        {"user_identifier": "u" * 201},
        {"question_answer": "not-a-uuid"},
        {"comment": "plain text"},
    ],
)
def test_feedback_rejects_bad_input(kapa: MainSetup, change: dict[str, Any]) -> None:
    body = {"question_answer": str(uuid.uuid4()), "user_identifier": "fp", "reaction": "upvote", **change}
    with kapa.home.client(kapa.a) as client:
        assert_json_error(client.post("/query/v1/feedback/upsert/", json=body), 422)


def test_ticket_outcome_needs_a_support_form_integration(kapa: MainSetup) -> None:
    with kapa.home.client(kapa.a) as client:
        via_api = ask(client, kapa.a, "How do I verify webhook signatures?", integration_id=kapa.a_api_integration)
        resp = client.post(
            f"/query/v1/projects/{kapa.a.id}/ticket_outcomes/",
            json={"question_answer": via_api["question_answer_id"], "ticket_filed": False},
        )
        assert_json_error(resp, (400, 422))
        resp = client.post(
            f"/query/v1/projects/{kapa.a.id}/ticket_outcomes/",
            json={
                "question_answer": via_api["question_answer_id"],
                "ticket_filed": False,
                "integration_id": kapa.a_api_integration,
            },
        )
        assert_json_error(resp, (400, 422))


def test_ticket_outcome_for_an_answer_outside_any_support_form_is_refused(kapa: MainSetup) -> None:
    """An answer no support form showed (asked without an integration) has no ticket to deflect: recording one
    would count a filed or deflected support ticket in the activity statistics that never existed."""
    with kapa.home.client(kapa.a) as client:
        plain = ask(client, kapa.a, "How do I verify webhook signatures?")
        resp = client.post(
            f"/query/v1/projects/{kapa.a.id}/ticket_outcomes/",
            json={"question_answer": plain["question_answer_id"], "ticket_filed": True},
        )
        assert_json_error(resp, (400, 422))


# --- the analytics project -----------------------------------------------------------------------------------


@dataclass
class History:
    project: Project
    support: str  # SUPPORT_FORM_DEFLECTOR integration
    api: str  # API integration
    start: datetime
    end: datetime
    qas: list[dict[str, Any]] = field(default_factory=list)  # chat responses, oldest first
    base_url: str = ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-KEY": self.project.key}, timeout=60)


@pytest.fixture(scope="module")
def history(kapa: MainSetup) -> History:
    cli = kapa.home.cli
    project = create_project(cli, "Analytics", [("skyloom-docs", kapa.home.docs)])
    support = create_integration(cli, project, "SUPPORT_FORM_DEFLECTOR", "support form")
    api = create_integration(cli, project, "API", "mobile app")
    h = History(project, support, api, start=datetime.now(UTC), end=datetime.now(UTC), base_url=kapa.home.base_url)
    alice = {"email": "alice@example.com"}
    plan = [
        ("How do I verify webhook signatures?", support, alice, False),
        ("How many requests per minute does the API allow?", support, {"unique_client_id": "client-bob"}, False),
        ("what is the boiling point of tungsten?", api, alice, True),
        ("How often does the daemon sync?", api, {"email": "carol@example.com"}, False),
        ("How do I install Skyloom with pip?", None, None, False),
    ]
    with h.client() as client:
        for query, integration, user, uncertain in plan:
            extra: dict[str, Any] = {}
            if integration:
                extra["integration_id"] = integration
            if user:
                extra["user"] = user
            body = ask(client, project, query, **extra)
            assert body["is_uncertain"] is uncertain, (query, body["answer"][:200])
            h.qas.append(body)
        outcomes = [(h.qas[0], True), (h.qas[1], False)]  # Alice still filed a ticket; Bob's was deflected
        for qa, filed in outcomes:
            resp = client.post(
                f"/query/v1/projects/{project.id}/ticket_outcomes/",
                json={"question_answer": qa["question_answer_id"], "ticket_filed": filed, "integration_id": support},
            )
            assert resp.status_code == 201, resp.text
            assert resp.json()["deflected"] is (not filed)
        votes = [(h.qas[3], "carol", "downvote"), (h.qas[4], "anon-fp", "upvote")]
        for qa, who, reaction in votes:
            resp = client.post(
                "/query/v1/feedback/upsert/",
                json={"question_answer": qa["question_answer_id"], "user_identifier": who, "reaction": reaction},
            )
            assert resp.status_code == 201, resp.text
    h.end = datetime.now(UTC)
    return h


def activity(h: History, **params: Any) -> httpx.Response:
    with h.client() as client:
        return client.get(f"/query/v1/projects/{h.project.id}/activity/", params=params)


def window(h: History, before: timedelta, after: timedelta) -> dict[str, str]:
    return {"start_date_time": (h.start - before).isoformat(), "end_date_time": (h.end + after).isoformat()}


def test_activity_aggregate_statistics_match_what_happened(history: History) -> None:
    resp = activity(history, aggregation_period="DAY", **window(history, timedelta(days=2), timedelta(hours=1)))
    assert resp.status_code == 200, resp.text
    assert resp.json()["aggregate_statistics"] == {
        "total_questions": 5,
        "total_upvotes": 1,
        "total_downvotes": 1,
        "total_questions_uncertain": 1,
        "total_questions_uncertain_or_downvoted": 2,
        "total_unique_users": 3,
        "total_support_tickets_deflected": 1,
        "total_support_tickets_not_deflected": 1,
    }


def floor(value: datetime, period: str) -> datetime:
    value = value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if period == "DAY" else value


@pytest.mark.parametrize(
    ("period", "before", "after"),
    [("DAY", timedelta(days=3), timedelta(days=1)), ("HOUR", timedelta(hours=5), timedelta(hours=2))],
)
def test_activity_time_series_covers_the_range(
    history: History, period: str, before: timedelta, after: timedelta
) -> None:
    params = window(history, before, after)
    resp = activity(history, aggregation_period=period, **params)
    assert resp.status_code == 200, resp.text
    series = resp.json()["time_series"]
    step = timedelta(days=1) if period == "DAY" else timedelta(hours=1)
    periods = [datetime.fromisoformat(p["period"].replace("Z", "+00:00")) for p in series]
    first = floor(datetime.fromisoformat(params["start_date_time"]), period)
    last = floor(datetime.fromisoformat(params["end_date_time"]), period)
    assert periods == [first + i * step for i in range(int((last - first) / step) + 1)]
    assert sum(p["total_count"] for p in series) == 5
    assert sum(p["total_uncertain_count"] for p in series) == 1
    busy = [p for p in series if p["total_count"]]
    assert all(floor(history.start, period) <= datetime.fromisoformat(p["period"].replace("Z", "+00:00")) for p in busy)
    by_integration: dict[str, int] = {}
    types = {}
    for point in series:
        assert sum(c["count"] for c in point["count_by_integration"]) == point["total_count"]
        for c in point["count_by_integration"]:
            by_integration[c["id"]] = by_integration.get(c["id"], 0) + c["count"]
            types[c["id"]] = c["integration_type"]
    assert by_integration[history.support] == 2 and types[history.support] == "SUPPORT_FORM_DEFLECTOR"
    assert by_integration[history.api] == 2 and types[history.api] == "API"
    assert sum(by_integration.values()) == 5


def test_activity_integration_filter_narrows_everything(history: History) -> None:
    params = window(history, timedelta(days=1), timedelta(hours=1))
    support = activity(history, aggregation_period="DAY", integration_filter=history.support, **params).json()
    assert support["aggregate_statistics"] == {
        "total_questions": 2,
        "total_upvotes": 0,
        "total_downvotes": 0,
        "total_questions_uncertain": 0,
        "total_questions_uncertain_or_downvoted": 0,
        "total_unique_users": 2,
        "total_support_tickets_deflected": 1,
        "total_support_tickets_not_deflected": 1,
    }
    api = activity(history, aggregation_period="DAY", integration_filter=history.api, **params).json()
    assert api["aggregate_statistics"] == {
        "total_questions": 2,
        "total_upvotes": 0,
        "total_downvotes": 1,
        "total_questions_uncertain": 1,
        "total_questions_uncertain_or_downvoted": 2,
        "total_unique_users": 2,
        "total_support_tickets_deflected": 0,
        "total_support_tickets_not_deflected": 0,
    }
    for point in api["time_series"]:
        assert {c["id"] for c in point["count_by_integration"]} <= {history.api}


def test_activity_outside_the_range_is_empty(history: History) -> None:
    resp = activity(
        history, aggregation_period="DAY", start_date_time="2020-01-01T00:00:00Z", end_date_time="2020-01-03T23:59:59Z"
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [p["period"] for p in body["time_series"]] == [f"2020-01-0{d}T00:00:00Z" for d in (1, 2, 3)]
    assert set(body["aggregate_statistics"].values()) == {0}


def test_activity_needs_an_aggregation_period(history: History) -> None:
    assert_json_error(activity(history, **window(history, timedelta(days=1), timedelta(hours=1))), 422)
    assert_json_error(
        activity(history, aggregation_period="DECADE", **window(history, timedelta(days=1), timedelta(0))), 422
    )


def test_activity_dates_are_optional(history: History) -> None:
    """Seed 002: only aggregation_period is required; start and end date-times are optional filters."""
    resp = activity(history, aggregation_period="DAY")
    assert resp.status_code == 200, resp.text
    assert resp.json()["aggregate_statistics"]["total_questions"] == 5


# --- threads, question-answers, end users --------------------------------------------------------------------


def test_threads_cursor_pagination_walks_every_thread_once(history: History) -> None:
    seen: list[str] = []
    cursor = None
    with history.client() as client:
        for _ in range(20):
            params: dict[str, Any] = {"page_size": 1}
            if cursor:
                params["cursor"] = cursor
            resp = client.get(f"/query/v1/projects/{history.project.id}/threads/", params=params)
            assert resp.status_code == 200, resp.text
            page = resp.json()
            assert set(page) >= {"results", "next_cursor"}
            assert len(page["results"]) == 1
            seen.append(page["results"][0]["id"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        everything = client.get(f"/query/v1/projects/{history.project.id}/threads/", params={"page_size": 500}).json()
    expected = [qa["thread_id"] for qa in reversed(history.qas)]  # newest first
    assert seen == expected
    assert [t["id"] for t in everything["results"]] == expected
    assert everything["next_cursor"] is None
    first = everything["results"][-1]
    assert first["integration"]["id"] == history.support
    assert [qa["question"] for qa in first["question_answers"]] == ["How do I verify webhook signatures?"]


@pytest.mark.parametrize("params", [{"page_size": 501}, {"page_size": 0}, {"cursor": "not a cursor"}])
def test_threads_bad_paging_is_422(history: History, params: dict[str, Any]) -> None:
    with history.client() as client:
        assert_json_error(client.get(f"/query/v1/projects/{history.project.id}/threads/", params=params), 422)


def test_question_answers_pages_and_ordering(history: History) -> None:
    ids = [qa["question_answer_id"] for qa in history.qas]
    with history.client() as client:
        url = f"/query/v1/projects/{history.project.id}/question-answers/"
        pages = []
        for page in (1, 2, 3):
            resp = client.get(url, params={"page": page, "page_size": 2, "ordering": "created_at"})
            assert resp.status_code == 200, resp.text
            pages.append(resp.json())
        newest_first = client.get(url, params={"ordering": "-created_at"}).json()
        assert_json_error(client.get(url, params={"page_size": 501}), 422)
        # Unknown ordering fields are ignored, as Django REST framework's OrderingFilter does.
        assert client.get(url, params={"ordering": "question"}).json() == newest_first
    assert [p["count"] for p in pages] == [5, 5, 5]
    assert [len(p["results"]) for p in pages] == [2, 2, 1]
    assert [qa["id"] for p in pages for qa in p["results"]] == ids
    assert pages[0]["next"] and pages[2]["next"] is None
    assert [qa["id"] for qa in newest_first["results"]] == ids[::-1]
    downvoted = next(qa for qa in newest_first["results"] if qa["id"] == ids[3])
    assert [f["reaction"] for f in downvoted["feedback"]] == ["downvote"]
    uncertain = next(qa for qa in newest_first["results"] if qa["id"] == ids[2])
    assert uncertain["is_uncertain"] is True


@pytest.mark.parametrize("path", ["end_users", "end-users"])
def test_end_users_list_filter_and_order(history: History, path: str) -> None:
    url = f"/query/v1/projects/{history.project.id}/{path}/"
    with history.client() as client:

        def users(**params: Any) -> list[dict[str, Any]]:
            resp = client.get(url, params=params)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["count"] == len(body["results"])
            return body["results"]

        everyone = users()
        with_email = users(has_email="true")
        without_email = users(has_email="false")
        carol = users(search="carol")
        bob = users(search="client-bob")
        by_questions = users(ordering="-question_answer_count")
        assert users(ordering="shoe_size") == users()  # unknown fields are ignored (the default order)
    assert len(everyone) == 3
    assert sorted(u["email"] for u in with_email) == ["alice@example.com", "carol@example.com"]
    assert [u["unique_client_id"] for u in without_email] == ["client-bob"]
    assert [u["email"] for u in carol] == ["carol@example.com"]
    assert [u["unique_client_id"] for u in bob] == ["client-bob"]
    alice = by_questions[0]
    assert alice["email"] == "alice@example.com"
    assert alice["question_answer_count"] == 2
    assert alice["latest_thread_id"] == history.qas[2]["thread_id"]
    assert alice["latest_thread_first_question"] == "what is the boiling point of tungsten?"
    assert datetime.fromisoformat(alice["first_activity_at"]) <= datetime.fromisoformat(alice["latest_activity_at"])
    for user in everyone:
        assert set(user) == {
            "id", "display_id", "email", "unique_client_id", "question_answer_count", "latest_thread_id",
            "latest_thread_first_question", "latest_activity_at", "first_activity_at", "company_name",
        }  # fmt: skip
