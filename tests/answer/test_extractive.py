"""The extractive provider quotes and cites retrieved passages, admits gaps, and condenses follow-ups offline."""

from __future__ import annotations

import re
from dataclasses import replace

from docsage.answer.base import AnswerRequest, Turn
from docsage.answer.events import MetadataEvent, TextDelta
from docsage.answer.extractive import ExtractiveProvider
from docsage.answer.registry import get_answer_provider
from docsage.config import Settings
from docsage.retrieval.types import Hit

FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CITED_LINE = re.compile(r"^(?:- )?(?P<quote>.+?) \[(?P<n>\d+)\]:?$", re.MULTILINE)


def count_words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def run(question: str, hits: list[Hit], covered: bool = True) -> tuple[list[str], MetadataEvent]:
    events = list(ExtractiveProvider(count_words).generate(AnswerRequest(question, hits, [], covered)))
    assert isinstance(events[-1], MetadataEvent)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return [e.text for e in events[:-1] if isinstance(e, TextDelta)], events[-1]


def squash(text: str) -> str:
    return " ".join(text.split())


def test_covered_answer_quotes_the_passages_it_cites(doc_hits: list[Hit]) -> None:
    deltas, meta = run("How do I configure the rate limit for chat?", doc_hits)
    answer = "".join(deltas)

    assert answer.startswith("Here is what the documentation says:")
    assert len(answer) < 1200
    cited = CITED_LINE.findall(answer)
    assert 2 <= len(cited) <= 4
    for quote, number in cited:
        passage = doc_hits[int(number) - 1].content
        assert squash(quote).removesuffix("…") in squash(passage), (quote, number)
    assert "[1]" in answer
    assert "chat_per_minute = 40" in answer
    assert meta.is_uncertain is False
    assert meta.model == "extractive"


def test_deltas_rebuild_the_answer_and_usage_is_counted(doc_hits: list[Hit]) -> None:
    question = "How do I configure the rate limit for chat?"
    deltas, meta = run(question, doc_hits)
    answer = "".join(deltas)

    assert len(deltas) > 3
    assert all(deltas)
    assert meta.completion_tokens == len(answer.split())
    assert meta.prompt_tokens >= len(question.split()) + len(doc_hits[0].content.split())


def test_code_block_is_quoted_whole_with_its_lead(doc_hits: list[Hit]) -> None:
    install = doc_hits[2]
    deltas, _ = run("How can I install the CLI?", [install, doc_hits[0]])
    answer = "".join(deltas)

    blocks = FENCED.findall(answer)
    assert blocks == FENCED.findall(install.content)
    assert "pip install docsage" in blocks[0]
    assert "Install it with pip inside a virtual environment: [1]" in answer


def test_inflected_words_still_find_the_sentence(doc_hits: list[Hit]) -> None:
    deltas, _ = run("What happens when clients exceed the limits?", doc_hits)
    answer = "".join(deltas)

    assert "When a client exceeds its limit, the API answers 429" in answer


def test_uncovered_question_says_so_and_lists_closest_pages(doc_hits: list[Hit]) -> None:
    deltas, meta = run("Does docsage support SAML single sign-on?", doc_hits, covered=False)
    answer = "".join(deltas)

    assert "I couldn't find this in the documentation." in answer
    assert "The closest pages are:" in answer
    for number, hit in enumerate(doc_hits, start=1):
        assert f"{hit.title} [{number}]" in answer
    assert "chat_per_minute" not in answer
    assert meta.is_uncertain is True


def test_no_hits_is_uncertain_even_when_called_covered() -> None:
    deltas, meta = run("How do I rotate API keys?", [], covered=True)

    assert "".join(deltas) == "I couldn't find this in the documentation."
    assert meta.is_uncertain is True


def test_covered_but_nothing_quotable_admits_it(doc_hits: list[Hit]) -> None:
    headings_only = replace(doc_hits[0], content="## Rate limits\n\n### Per team")
    deltas, meta = run("How do I configure the rate limit for chat?", [headings_only])

    assert "".join(deltas).startswith("I couldn't find this in the documentation.")
    assert meta.is_uncertain is True


def test_condense_joins_a_dependent_follow_up_with_the_previous_question() -> None:
    provider = ExtractiveProvider(count_words)
    history = [Turn("How do I configure rate limits?", "Set the `rate_limit` section [1].")]

    condensed = provider.condense("Can it be set per project?", history)
    assert "configure rate limits" in condensed
    assert "set per project" in condensed
    assert "rate limits" in provider.condense("What about retrieval?", history)


def test_condense_leaves_independent_questions_alone() -> None:
    provider = ExtractiveProvider(count_words)
    history = [Turn("How do I configure rate limits?", "Set the `rate_limit` section [1].")]
    question = "How do I install the CLI on Windows?"

    assert provider.condense(question, history) == question
    assert provider.condense("Can it be set per project?", []) == "Can it be set per project?"


def test_registry_builds_the_extractive_provider_by_default() -> None:
    provider = get_answer_provider(Settings(llm_provider="extractive"), count_words)

    assert provider.name == "extractive"
