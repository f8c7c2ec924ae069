"""Dashboard analytics: daily activity, votes, unique users, coverage gaps and usage by model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from docsage.analytics.clusters import group_by_meaning
from docsage.db.conversations import FeedbackRepository, QuestionAnswerRepository, UsageRepository
from docsage.db.engine import Database
from docsage.embed.base import Vectors


def coverage_gaps(
    questions: list[tuple[str, str]], embed: Callable[[list[str]], Vectors], limit: int = 10
) -> list[dict[str, Any]]:
    """Group uncertain questions (id, text) by meaning; biggest groups first — where the docs fall short."""
    groups = group_by_meaning(questions, lambda q: q[1], embed)
    return [
        {
            "label": g.label,
            "questions": [{"id": qa_id, "question": text} for qa_id, text in g.members],
            "count": len(g.members),
        }
        for g in groups[:limit]
    ]


def dashboard_data(
    database: Database, project_id: str, days: int, embed: Callable[[list[str]], Vectors]
) -> dict[str, Any]:
    end = datetime.now(UTC)
    start = (end - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    with database.session() as session:
        qas = QuestionAnswerRepository(session).in_range(project_id, start, end, None)
        feedback = FeedbackRepository(session).for_question_answers([qa.id for qa in qas])
        by_model = UsageRepository(session).by_model(project_id, None, start, None)
    labels = [(start + timedelta(days=i)).date().isoformat() for i in range(days)]
    index = {d: i for i, d in enumerate(labels)}
    series = {k: [0] * days for k in ("questions", "uncertain", "upvotes", "downvotes", "users")}
    users: list[set[str]] = [set() for _ in range(days)]
    for qa in qas:
        i = index.get(qa.created_at.astimezone(UTC).date().isoformat())
        if i is None:
            continue
        series["questions"][i] += 1
        series["uncertain"][i] += int(qa.is_uncertain)
        for fb in feedback.get(qa.id, []):
            series["upvotes" if fb.reaction == "upvote" else "downvotes"][i] += 1
        if qa.end_user_id:
            users[i].add(qa.end_user_id)
    series["users"] = [len(u) for u in users]
    total = len(qas)
    uncertain = [qa for qa in qas if qa.is_uncertain]
    return {
        "labels": labels,
        "series": series,
        "uncertain_rate": [
            round(100 * u / q, 1) if q else None for q, u in zip(series["questions"], series["uncertain"], strict=True)
        ],
        "totals": {
            "questions": total,
            "uncertain": len(uncertain),
            "uncertain_rate": round(100 * len(uncertain) / total, 1) if total else 0.0,
            "upvotes": sum(series["upvotes"]),
            "downvotes": sum(series["downvotes"]),
            "unique_users": len({qa.end_user_id for qa in qas if qa.end_user_id}),
        },
        "gaps": coverage_gaps([(qa.id, qa.question) for qa in uncertain], embed),
        "models": [
            {"model": m or "(none)", "requests": n, "input_tokens": i, "output_tokens": o, "cost": round(c, 6)}
            for m, n, i, o, c in by_model
        ],
    }
