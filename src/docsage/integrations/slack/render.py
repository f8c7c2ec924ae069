"""Answers as Slack messages: markdown turned into mrkdwn, the cited pages, and feedback buttons (Block Kit)."""

from __future__ import annotations

import re
from typing import Any

from docsage.integrations.service import ChatAppAnswer

FEEDBACK_ACTIONS = {"docsage_feedback_upvote": "upvote", "docsage_feedback_downvote": "downvote"}
SECTION_LIMIT = 3000  # characters of one section block's text
MAX_SECTIONS = 20  # a message holds 50 blocks; an answer longer than this is cut
MARKDOWN_LINK = re.compile(r"\[((?:\[[^\]]*\]|[^\[\]])*)\]\(([^()\s]+)\)")
FENCE = re.compile(r"^```[\w+-]*\s*$", re.MULTILINE)


def escape(text: str) -> str:
    """The three characters Slack reads as markup in any text it formats."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    return f"<{escape(url)}|{escape(label).replace('|', '¦')}>"


def _prose(text: str) -> str:
    """Markdown outside code blocks as mrkdwn: links, bold, headings."""
    links: list[str] = []

    def keep_link(m: re.Match[str]) -> str:
        links.append(link(m.group(2), m.group(1)))
        return f"\x00{len(links) - 1}\x00"

    text = MARKDOWN_LINK.sub(keep_link, text)
    text = escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"^#{1,6}\s+(.+?)\s*#*$", r"*\1*", text, flags=re.MULTILINE)
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], text)


def mrkdwn(markdown: str) -> str:
    """Slack's mrkdwn for an answer in markdown: `[[1]](url)` becomes `<url|[1]>`, **bold** becomes *bold*,
    headings bold lines; code blocks keep their text (escaped) and lose the language Slack would print."""
    parts = re.split(r"(```.*?```)", markdown, flags=re.DOTALL)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(escape(FENCE.sub("```", part, count=1)))
        else:
            out.append(_prose(part))
    return "".join(out)


def _sections(text: str) -> list[str]:
    """Cut text into pieces a section block takes, at paragraph or line ends where it can."""
    pieces = []
    while len(text) > SECTION_LIMIT:
        cut = max(text.rfind("\n\n", 0, SECTION_LIMIT), text.rfind("\n", 0, SECTION_LIMIT))
        cut = cut if cut > SECTION_LIMIT // 2 else SECTION_LIMIT
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text.strip() else pieces


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def sources_text(sources: list[dict[str, Any]]) -> str:
    lines = [f"{n}. {link(s['source_url'], s['title'] or s['source_url'])}" for n, s in enumerate(sources, 1)]
    return "*Sources*\n" + "\n".join(lines)


def answer_blocks(answer: ChatAppAnswer) -> list[dict[str, Any]]:
    """The answer (cited pages linked), its pages, and two buttons that rate it."""
    blocks = [section(piece) for piece in _sections(mrkdwn(answer.text))[:MAX_SECTIONS]]
    if answer.sources:
        blocks.append(section(sources_text(answer.sources)[:SECTION_LIMIT]))
    blocks.append(
        {
            "type": "actions",
            "block_id": "docsage_feedback",
            "elements": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "text": {"type": "plain_text", "text": label, "emoji": True},
                    "value": answer.question_answer_id,
                }
                for action_id, label in (
                    ("docsage_feedback_upvote", ":thumbsup: Helpful"),
                    ("docsage_feedback_downvote", ":thumbsdown: Not helpful"),
                )
            ],
        }
    )
    return blocks


def answer_text(answer: ChatAppAnswer) -> str:
    """The plain text Slack shows in notifications and where blocks cannot be shown."""
    return mrkdwn(answer.text)[:SECTION_LIMIT]
