"""Answers from any OpenAI-compatible chat endpoint, through the official SDK, grounded in the retrieved passages."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Literal, cast

import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionMessageParam

from docsage.answer.base import AnswerRequest, Turn
from docsage.answer.events import MetadataEvent, TextDelta
from docsage.errors import ProviderError
from docsage.retrieval.types import Hit

logger = logging.getLogger(__name__)

SENTINEL = "I don't know based on the documentation."
HISTORY_TURNS = 6
CONDENSE_TURNS = 3
CONDENSE_ANSWER_CHARS = 600

SYSTEM_PROMPT = f"""You answer questions about a product using only its documentation.

Rules:
- Answer ONLY from the numbered documentation passages in the user's message; do not use outside knowledge.
- Cite the passages you use inline as [n], right after the statement they support.
- Be concise: a short paragraph or a few bullet points.
- Copy code, commands, configuration keys and values exactly as they appear in the passages.
- If the passages do not contain the answer, reply with exactly "{SENTINEL}" and then, optionally, one \
sentence on what the passages do cover, with citations."""

OFF_TOPIC_NOTE = f"""Note: the search found nothing in the documentation even remotely about this question. Start \
your reply with exactly "{SENTINEL}" and do not guess; you may point to the closest passages by their [n]."""
CITATION = re.compile(r"\[\d+\]")

CONDENSE_PROMPT = """Rewrite the user's follow-up question as one standalone question that can be understood \
without the conversation. Keep product names and technical terms. Reply with the question only."""

Role = Literal["system", "user", "assistant"]


def format_passages(hits: list[Hit]) -> str:
    """The numbered context block: "[n] <title> — <heading path>", the URL, then the passage text."""
    if not hits:
        return "Documentation passages: none were found."
    blocks = []
    for number, hit in enumerate(hits, start=1):
        heading = f"{hit.title} — {hit.heading_path}" if hit.heading_path else hit.title
        blocks.append(f"[{number}] {heading}\n{hit.source_url}\n{hit.content}")
    return "Documentation passages:\n\n" + "\n\n".join(blocks)


def build_prompt(request: AnswerRequest) -> list[tuple[Role, str]]:
    """System rules, the recent history as chat turns, then one user message with the passages and question.

    Passages and question share one message because several local chat templates reject two user messages
    in a row.
    """
    # Only an off-topic question is settled before the model reads the passages: otherwise it decides, since
    # it reads paraphrases and the user's own words better than any retrieval score.
    system = f"{SYSTEM_PROMPT}\n\n{OFF_TOPIC_NOTE}" if request.off_topic else SYSTEM_PROMPT
    prompt: list[tuple[Role, str]] = [("system", system)]
    for turn in request.history[-HISTORY_TURNS:]:
        prompt += [("user", turn.question), ("assistant", turn.answer)]
    prompt.append(("user", f"{format_passages(request.hits)}\n\nQuestion: {request.question}"))
    return prompt


def says_unknown(answer: str) -> bool:
    """Whether the answer contains the sentinel, tolerating case, typographic apostrophes and the full stop."""
    normalised = answer.replace("\u2019", "'").lower()
    return SENTINEL.rstrip(".").lower() in normalised


def is_uncertain(answer: str, request: AnswerRequest | None) -> bool:
    """The model's own "I don't know", or retrieval's evidence against the answer: an off-topic question, or
    passages retrieval did not judge covering and an answer that cites none of them."""
    if not answer.strip() or says_unknown(answer):
        return True
    if request is None:
        return False  # a caller-written prompt: nothing to weigh it against
    return request.off_topic or (not request.covered and not CITATION.search(answer))


def _message(role: Role, content: str) -> ChatCompletionMessageParam:
    if role == "system":
        return {"role": "system", "content": content}
    if role == "assistant":
        return {"role": "assistant", "content": content}
    return {"role": "user", "content": content}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


class OpenAIProvider:
    """Streams a grounded, cited answer from an OpenAI-compatible chat API (OpenAI, Ollama, vLLM, llama.cpp).

    `count_tokens` estimates usage when the server does not report it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        timeout_s: float,
        count_tokens: Callable[[list[str]], list[int]],
        *,
        max_retries: int = 2,
    ) -> None:
        # Local servers ignore the key, but the SDK refuses to start without one.
        self._client = openai.OpenAI(
            base_url=base_url or None, api_key=api_key or "none", timeout=timeout_s, max_retries=max_retries
        )
        self._model = model
        self._timeout_s = timeout_s
        self._count_tokens = count_tokens

    @property
    def name(self) -> str:
        return f"openai/{self._model}"

    @property
    def follows_prompts(self) -> bool:
        return True

    def generate(self, request: AnswerRequest) -> Iterator[TextDelta | MetadataEvent]:
        yield from self._stream(build_prompt(request), request=request)

    def complete(
        self, messages: list[tuple[str, str]], *, json_mode: bool = False
    ) -> Iterator[TextDelta | MetadataEvent]:
        prompt = [(cast(Role, role), content) for role, content in messages]
        yield from self._stream(prompt, json_mode=json_mode)

    def _stream(
        self, prompt: list[tuple[Role, str]], *, request: AnswerRequest | None = None, json_mode: bool = False
    ) -> Iterator[TextDelta | MetadataEvent]:
        parts: list[str] = []
        usage: CompletionUsage | None = None
        try:
            stream = self._client.chat.completions.create(
                model=self._model,
                messages=[_message(role, content) for role, content in prompt],
                stream=True,
                stream_options={"include_usage": True},
                response_format={"type": "json_object"} if json_mode else openai.omit,
            )
            with stream:
                for chunk in stream:
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        if choice.index == 0 and choice.delta.content:
                            parts.append(choice.delta.content)
                            yield TextDelta(choice.delta.content)
        except openai.OpenAIError as exc:
            raise self._provider_error(exc) from exc
        except json.JSONDecodeError as exc:
            raise ProviderError(f"LLM endpoint {self._base_url} sent a malformed stream: {exc}") from exc

        answer = "".join(parts)
        if usage is not None:
            prompt_tokens, completion_tokens, source = usage.prompt_tokens, usage.completion_tokens, "reported"
        else:
            prompt_tokens = sum(self._count_tokens([content for _, content in prompt]))
            completion_tokens = sum(self._count_tokens([answer]))
            source = "estimated"
        yield MetadataEvent(
            is_uncertain=is_uncertain(answer, request),
            model=self._model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            extra={"token_usage": source},
        )

    def condense(self, question: str, history: list[Turn]) -> str:
        """Ask the model for a standalone version of the follow-up; the question as asked if that fails."""
        if not history:
            return question
        # The history goes in as a transcript, not as chat turns, so the model rewrites instead of answering.
        transcript = "\n".join(
            f"User: {turn.question}\nAssistant: {_clip(turn.answer, CONDENSE_ANSWER_CHARS)}"
            for turn in history[-CONDENSE_TURNS:]
        )
        prompt: list[tuple[Role, str]] = [
            ("system", CONDENSE_PROMPT),
            ("user", f"Conversation:\n{transcript}\n\nFollow-up question: {question}"),
        ]
        try:
            response = self._client.chat.completions.create(
                model=self._model, messages=[_message(role, content) for role, content in prompt]
            )
        except openai.OpenAIError as exc:
            logger.warning(
                "condensing a follow-up failed, retrieving with the question as asked: %s",
                self._provider_error(exc).message,
            )
            return question
        rewrite = (response.choices[0].message.content or "").strip().strip('"').strip() if response.choices else ""
        if not rewrite:
            logger.warning("LLM endpoint %s returned an empty rewrite; using the question as asked", self._base_url)
            return question
        return rewrite

    @property
    def _base_url(self) -> str:
        return str(self._client.base_url)

    def _provider_error(self, exc: openai.OpenAIError) -> ProviderError:
        where = f"LLM endpoint {self._base_url}"
        if isinstance(exc, openai.AuthenticationError):
            return ProviderError(f"{where} rejected the API key (HTTP 401); check DOCSAGE_LLM_API_KEY")
        if isinstance(exc, openai.APIStatusError):
            detail = exc.body.get("message") if isinstance(exc.body, dict) else None
            return ProviderError(f"{where} answered HTTP {exc.status_code}: {detail or exc.message}")
        if isinstance(exc, openai.APITimeoutError):
            return ProviderError(f"{where} did not answer within {self._timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(f"could not connect to {where}: {exc.__cause__ or exc}")
        return ProviderError(f"{where} failed: {exc}")
