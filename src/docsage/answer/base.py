"""The answer-provider interface: passages in, a stream of text deltas and one metadata event out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from docsage.answer.events import MetadataEvent, TextDelta
from docsage.retrieval.types import Hit


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a thread."""

    question: str
    answer: str


@dataclass(frozen=True)
class AnswerRequest:
    """Everything a provider needs: the question, the retrieved passages ([1] = hits[0]), the history.

    `covered` is the retrieval layer's verdict on whether the passages cover the question (retrieval/coverage.py);
    `off_topic` that nothing in the docs is even remotely about it. A provider with a language model reads the
    passages and decides for itself unless the question is off topic; one without (extractive) quotes only
    what is covered, and labels the closest passage as such otherwise.
    """

    question: str
    hits: list[Hit]
    history: list[Turn]
    covered: bool
    off_topic: bool = False


class AnswerProvider(Protocol):
    """Yields TextDelta events, then exactly one MetadataEvent (is_uncertain, model, token usage).

    `follows_prompts` declares whether the provider can run caller-written prompts (`complete`); a provider
    without a language model (extractive) cannot, and callers fall back to `generate`.
    """

    @property
    def name(self) -> str: ...

    @property
    def follows_prompts(self) -> bool: ...

    def complete(
        self, messages: list[tuple[str, str]], *, json_mode: bool = False
    ) -> Iterator[TextDelta | MetadataEvent]:
        """Run the given chat messages (role, content) as they are; only when `follows_prompts`."""
        ...

    def generate(self, request: AnswerRequest) -> Iterator[TextDelta | MetadataEvent]: ...

    def condense(self, question: str, history: list[Turn]) -> str:
        """A standalone version of a follow-up question, for retrieval."""
        ...
