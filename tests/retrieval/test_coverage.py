"""The coverage verdicts the API tests rely on, with their margins: every one must hold on any CPU.

The int8 embedder rounds differently on AVX2-only and AVX-512 machines (cosines move by up to ~0.01), so a
verdict may only rest on the embedding where its margin is wide. These tests assert the margin itself: the
answerable questions of the Skyloom manual are covered by their words alone (term share well above the
strong threshold, a lexical figure that is the same on every CPU), and the unanswerable ones miss so many of
their words that no agreement or closeness can make them covered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import open_services
from docsage.retrieval.coverage import CoverageRule, Verdict
from docsage.services import Services

RULE = CoverageRule()
MARGIN = 0.08  # of term share, far above the last-bit differences of the IDF logarithms

# Questions the API, widget and dashboard tests expect to be answered.
ANSWERED = [
    "How do I verify webhook signatures?",
    "How many requests per minute does the API allow?",
    "How often does the daemon sync?",
    "How do I install Skyloom with pip?",
    "What happens when I exceed the rate limit?",
    "How do I set the data region?",
    "How long until access tokens expire?",
    "What does connection refused mean?",
    "How do I install the Skyloom CLI?",
    "How do I upgrade Skyloom?",
]
# ...and the ones they expect to be flagged.
FLAGGED = [
    "How do I export to CSV?",
    "How do I export my files to CSV?",
    "Does Skyloom support SAML single sign-on?",
]
OFF_TOPIC = ["What is the best pizza topping?", "what is the boiling point of tungsten?"]


@pytest.fixture(scope="module")
def manual(
    tmp_path_factory: pytest.TempPathFactory, make_docs: Callable[[Path], Path]
) -> Iterator[tuple[Services, str]]:
    root = tmp_path_factory.mktemp("coverage")
    with open_services(root / "home") as services:
        project = services.projects.create_project("Skyloom")
        source = services.projects.add_source(project.id, "folder", str(make_docs(root)))
        assert services.ingest.run(source.id).status == "succeeded"
        yield services, project.id


def judge(manual: tuple[Services, str], question: str):  # type: ignore[no-untyped-def]
    services, project_id = manual
    hits = services.retrieval.search(project_id, question, top_k=8)
    return services.retrieval.judge(project_id, question, hits)


@pytest.mark.parametrize("question", ANSWERED)
def test_answerable_questions_are_covered_by_their_words_alone(manual: tuple[Services, str], question: str) -> None:
    c = judge(manual, question)
    assert c.verdict is Verdict.COVERED
    assert c.term_share >= RULE.strong_share + MARGIN, c
    assert not c.vague


@pytest.mark.parametrize("question", FLAGGED)
def test_unanswerable_questions_miss_their_words_by_a_margin(manual: tuple[Services, str], question: str) -> None:
    c = judge(manual, question)
    assert c.verdict is not Verdict.COVERED
    # Whatever the embedding says (agreement, closeness), too few of the question's words are there.
    assert c.term_share <= RULE.strong_share - MARGIN, c
    assert c.term_share <= RULE.weak_share - 0.03 or (not c.agreement and c.best_cosine <= RULE.close_cosine - 0.1), c


def test_a_question_that_names_nothing_is_not_covered(manual: tuple[Services, str]) -> None:
    """ "How do I change it?" out of context: every word it has is in the docs, yet it asks about nothing."""
    c = judge(manual, "How do I change it?")
    assert c.vague and c.term_share == 1.0
    assert c.verdict is Verdict.UNCERTAIN
    assert not judge(manual, "What does Skyloom run on?").vague


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_are_off_topic_by_a_margin(manual: tuple[Services, str], question: str) -> None:
    c = judge(manual, question)
    assert c.verdict is Verdict.OFF_TOPIC
    assert c.term_share <= RULE.weak_share - MARGIN, c
    assert c.best_cosine <= RULE.off_topic_cosine - 0.05, c
