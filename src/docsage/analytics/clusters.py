"""Questions grouped by meaning: the one clustering behind the dashboard's coverage gaps and the Kapa-compatible
coverage-gap and top-question APIs, so that both show the same groups for the same questions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from docsage.embed.base import Vectors

T = TypeVar("T")

SIMILARITY = 0.75  # a question at least this similar (cosine) to a group's first question joins that group


@dataclass
class Group(Generic[T]):
    """Items asking the same thing; `label` is the text of the first one, which every other was compared with."""

    label: str
    members: list[T] = field(default_factory=list)


def group_by_meaning(
    items: Sequence[T],
    text: Callable[[T], str],
    embed: Callable[[list[str]], Vectors],
    similarity: float = SIMILARITY,
) -> list[Group[T]]:
    """Greedy, in the order given: each item joins the group whose first item it is most similar to, if at least
    `similarity`, or starts a group of its own. Biggest groups first; equal sizes keep the order of their first
    items, so the same items in the same order always give the same groups."""
    if not items:
        return []
    vectors = embed([text(item) for item in items])
    groups: list[Group[T]] = []
    seeds: list[Vectors] = []
    for item, vec in zip(items, vectors, strict=True):
        if seeds:
            sims = np.stack(seeds) @ vec
            best = int(np.argmax(sims))
            if sims[best] >= similarity:
                groups[best].members.append(item)
                continue
        seeds.append(vec)
        groups.append(Group(text(item), [item]))
    groups.sort(key=lambda g: -len(g.members))
    return groups
