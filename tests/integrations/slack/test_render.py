"""Answers rendered for Slack: mrkdwn links for citations, escaping, code blocks, long answers, the buttons."""

from __future__ import annotations

from docsage.integrations.service import ChatAppAnswer
from docsage.integrations.slack.render import SECTION_LIMIT, answer_blocks, mrkdwn


def answer(text: str, sources: list[dict[str, str]] | None = None) -> ChatAppAnswer:
    return ChatAppAnswer(text, list(sources or []), "qa-1", "thread-1", False)


def test_citations_and_links_become_mrkdwn_links() -> None:
    text = "Install with **pip** [[1]](https://docs.example.com/i?lang=en&v=2) or see [the guide](https://g.example)."
    assert mrkdwn(text) == (
        "Install with *pip* <https://docs.example.com/i?lang=en&amp;v=2|[1]> or see <https://g.example|the guide>."
    )


def test_markup_characters_are_escaped_and_headings_are_bold() -> None:
    assert mrkdwn("## Limits\nUse a < b & c > d, not <!channel>.") == (
        "*Limits*\nUse a &lt; b &amp; c &gt; d, not &lt;!channel&gt;."
    )


def test_code_blocks_keep_their_text_without_the_language() -> None:
    text = "Run:\n```bash\npip install x && echo [ok](done) **not bold**\n```\nthen [[2]](https://d.example/b)"
    assert mrkdwn(text) == (
        "Run:\n```\npip install x &amp;&amp; echo [ok](done) **not bold**\n```\nthen <https://d.example/b|[2]>"
    )


def test_a_long_answer_is_cut_into_sections_slack_accepts() -> None:
    paragraphs = "\n\n".join(f"Paragraph {i}: " + "word " * 150 for i in range(20))
    blocks = answer_blocks(answer(paragraphs))
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) > 1 and all(len(s) <= SECTION_LIMIT for s in sections)
    assert "".join(sections).replace("\n", "") == paragraphs.replace("\n", "")


def test_the_pages_and_the_feedback_buttons_follow_the_answer() -> None:
    sources = [
        {"source_url": "https://d.example/a", "title": "A | B"},
        {"source_url": "https://d.example/b", "title": ""},
    ]
    blocks = answer_blocks(answer("See [[1]](https://d.example/a).", sources))
    assert (
        blocks[1]["text"]["text"]
        == "*Sources*\n1. <https://d.example/a|A ¦ B>\n2. <https://d.example/b|https://d.example/b>"
    )
    assert [(e["action_id"], e["value"]) for e in blocks[2]["elements"]] == [
        ("docsage_feedback_upvote", "qa-1"),
        ("docsage_feedback_downvote", "qa-1"),
    ]
