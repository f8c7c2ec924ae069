"""Answer provider registry: builds the configured provider, importing only the one in use."""

from __future__ import annotations

from collections.abc import Callable

from docsage.answer.base import AnswerProvider
from docsage.config import Settings
from docsage.errors import InvalidInputError

CountTokens = Callable[[list[str]], list[int]]
Factory = Callable[[Settings, CountTokens], AnswerProvider]


def _extractive(settings: Settings, count_tokens: CountTokens) -> AnswerProvider:
    from docsage.answer.extractive import ExtractiveProvider

    if settings.embedding_provider != "local":
        # A remote embedder would add a network round trip to every answer; quotes are then chosen lexically.
        return ExtractiveProvider(count_tokens)
    from docsage.embed.registry import get_embedder

    return ExtractiveProvider(count_tokens, get_embedder(settings))  # the process-wide instance retrieval uses


def _openai(settings: Settings, count_tokens: CountTokens) -> AnswerProvider:
    if not settings.llm_base_url and not settings.llm_api_key:
        raise InvalidInputError(
            "the openai LLM provider talks to api.openai.com unless DOCSAGE_LLM_BASE_URL is set, and that needs "
            "DOCSAGE_LLM_API_KEY; set the key, or point DOCSAGE_LLM_BASE_URL at an OpenAI-compatible server"
        )
    from docsage.answer.openai_llm import OpenAIProvider

    return OpenAIProvider(
        settings.llm_base_url, settings.llm_api_key, settings.llm_model, settings.llm_timeout_s, count_tokens
    )


PROVIDERS: dict[str, Factory] = {"extractive": _extractive, "openai": _openai}


def get_answer_provider(settings: Settings, count_tokens: CountTokens) -> AnswerProvider:
    """The provider named by DOCSAGE_LLM_PROVIDER; `count_tokens` estimates usage where no server reports it."""
    try:
        factory = PROVIDERS[settings.llm_provider]
    except KeyError:
        raise InvalidInputError(
            f"unknown LLM provider {settings.llm_provider!r}; choose one of {sorted(PROVIDERS)}"
        ) from None
    return factory(settings, count_tokens)
