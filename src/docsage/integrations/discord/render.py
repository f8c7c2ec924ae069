"""Answers as Discord messages: the question quoted, the cited answer, its pages, and feedback buttons."""

from __future__ import annotations

from typing import Any

from docsage.integrations.service import ChatAppAnswer

CONTENT_LIMIT = 2000  # characters of a message's content
EMBED_LIMIT = 4096  # characters of an embed's description
EPHEMERAL = 64  # message flag: only the user who acted sees it
FEEDBACK_PREFIX = "docsage:feedback:"  # custom_id of a button: prefix + reaction + ":" + question-answer id
BUTTON_STYLE = {"upvote": 3, "downvote": 4}  # success (green), danger (red)
NO_MENTIONS: dict[str, Any] = {"parse": []}  # a question or passage saying @everyone pings nobody


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 1)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


def feedback_buttons(question_answer_id: str) -> list[dict[str, Any]]:
    return [
        {
            "type": 1,  # action row
            "components": [
                {
                    "type": 2,  # button
                    "style": BUTTON_STYLE[reaction],
                    "label": label,
                    "emoji": {"name": emoji},
                    "custom_id": f"{FEEDBACK_PREFIX}{reaction}:{question_answer_id}",
                }
                for reaction, label, emoji in (("upvote", "Helpful", "👍"), ("downvote", "Not helpful", "👎"))
            ],
        }
    ]


def answer_message(question: str, answer: ChatAppAnswer) -> dict[str, Any]:
    """The follow-up that replaces "thinking…": Discord renders the answer's markdown and its [[n]](url) links."""
    quoted = "\n".join(f"> {line}" for line in question.splitlines() or [""])
    message: dict[str, Any] = {
        "content": _cut(f"{quoted}\n\n{answer.text}", CONTENT_LIMIT),
        "components": feedback_buttons(answer.question_answer_id),
        "allowed_mentions": NO_MENTIONS,
    }
    if answer.sources:
        lines = [f"{n}. [{s['title'] or s['source_url']}]({s['source_url']})" for n, s in enumerate(answer.sources, 1)]
        message["embeds"] = [{"title": "Sources", "description": _cut("\n".join(lines), EMBED_LIMIT)}]
    return message


def text_message(text: str, *, ephemeral: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {"content": _cut(text, CONTENT_LIMIT), "allowed_mentions": NO_MENTIONS}
    if ephemeral:
        message["flags"] = EPHEMERAL
    return message
