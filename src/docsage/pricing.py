"""Cost of an answer from a per-model price table (USD per million tokens); local models cost nothing."""

from __future__ import annotations

# Published list prices, USD per 1M tokens (input, output). Override or extend with DOCSAGE_PRICES.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
FREE_MODELS = ("extractive",)


def price_of(model: str, prices: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """The model's (input, output) price; the longest matching prefix wins (gpt-4o-mini-2024-07-18 → gpt-4o-mini)."""
    if model in FREE_MODELS or not model:
        return 0.0, 0.0
    table = {**DEFAULT_PRICES, **prices}
    matches = [name for name in table if model == name or model.startswith(name + "-")]
    return table[max(matches, key=len)] if matches else (0.0, 0.0)


def cost(model: str, prompt_tokens: int, completion_tokens: int, prices: dict[str, tuple[float, float]]) -> float:
    inp, out = price_of(model, prices)
    return round((prompt_tokens * inp + completion_tokens * out) / 1_000_000, 8)
