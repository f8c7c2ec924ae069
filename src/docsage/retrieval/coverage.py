"""Do the docs cover a question? Judged from the passages retrieval found for it, before any generation.

The judgement rests on lexical evidence first, because it is what held across documentation sets nobody
tuned for (figures in docs/answers.md): absolute cosine similarities of a small embedder move with the
corpus, the phrasing and even the CPU's instruction set, while "one passage holds most of the question's
distinctive words" does not.

- term share: the largest share of the question's IDF weight that one passage (title and headings included)
  holds. A question on a topic the docs discuss but whose specific subject they lack (Kubernetes, MongoDB,
  a CSV export) misses its rarest words everywhere;
- agreement: BM25 and the embedding both rank the same passage first — paraphrases and questions in the
  user's own words ("how far behind" for "lag") still land on the right passage in both;
- closeness: the best passage's cosine similarity, for questions so close to a passage that the words
  hardly matter.

A question must also say enough to be answered at all: "How do I change it?" asked out of context names
nothing but "change" and a pronoun for something unsaid; no passage answers it, whatever it shares with
them. (Weighing its words instead — IDF against an unseen word's — could not tell it from "What does
Skyloom run on?" in a small manual: 0.49 vs 0.50.)

Covered: a specific question of which a passage holds `strong_share` of the term weight, or `weak_share` of
it while the retrievers agree on their best passage or one is `close_cosine` close. Off topic: not covered,
no passage even `off_topic_cosine` close and under `weak_share` of the words — nothing in the docs is
remotely about it. Everything else is uncertain: the answer may be there, worded differently. Shares are
rounded to six places before they are compared, so that a share of exactly 1/4 is 1/4 whatever the CPU's
last bit of a logarithm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from docsage.index.lexical import analyze
from docsage.retrieval.types import Hit

SHARE_PLACES = 6


class Verdict(StrEnum):
    COVERED = "covered"
    UNCERTAIN = "uncertain"
    OFF_TOPIC = "off_topic"


@dataclass(frozen=True)
class CoverageRule:
    strong_share: float = 0.4
    weak_share: float = 0.25
    close_cosine: float = 0.7
    off_topic_cosine: float = 0.3
    agreement_rank: int = 1  # both retrievers rank the passage this high or higher


@dataclass(frozen=True)
class Coverage:
    """The verdict with the evidence it rests on (shown in eval output, logged with each answer)."""

    verdict: Verdict
    term_share: float
    best_cosine: float
    agreement: bool
    vague: bool = False

    @property
    def covered(self) -> bool:
        return self.verdict is Verdict.COVERED

    @property
    def off_topic(self) -> bool:
        return self.verdict is Verdict.OFF_TOPIC


NOT_COVERED = Coverage(Verdict.OFF_TOPIC, 0.0, 0.0, False)
POINTERS = frozenset({"it", "its", "this", "that", "these", "those", "they", "them"})
WORD = re.compile(r"[a-z']+")


def is_vague(question: str, terms: int) -> bool:
    """A question of at most one indexed word that points at something it does not name ("change it")."""
    return terms <= 1 and bool(POINTERS & set(WORD.findall(question.lower())))


def best_term_share(hits: list[Hit], term_weights: dict[str, float]) -> float:
    """The largest share of the query's term weight found in one passage (title and headings included)."""
    total = sum(term_weights.values())
    if total <= 0:
        return 1.0  # nothing to weigh (a query of stopwords only): this signal abstains
    best = 0.0
    for hit in hits:
        terms = set(analyze(f"{hit.title} {hit.heading_path} {hit.content}"))
        best = max(best, sum(w for t, w in term_weights.items() if t in terms) / total)
    return best


def agreement(hits: list[Hit], rank: int) -> bool:
    """Whether BM25 and the embedding both rank one of these passages within `rank`."""
    return any(0 < h.lexical_rank <= rank and 0 < h.dense_rank <= rank for h in hits)


def judge(
    hits: list[Hit], term_weights: dict[str, float], rule: CoverageRule | None = None, question: str = ""
) -> Coverage:
    """The verdict on passages found for `question`, whose index terms weigh `term_weights` (BM25 IDF)."""
    if not hits:
        return NOT_COVERED
    rule = rule or CoverageRule()
    share = round(best_term_share(hits, term_weights), SHARE_PLACES)
    cosine = max(h.dense_score for h in hits)
    vague = is_vague(question, len(term_weights))
    return decide(share, cosine, agreement(hits, rule.agreement_rank), rule, vague)


def decide(share: float, cosine: float, agree: bool, rule: CoverageRule, vague: bool = False) -> Coverage:
    """The rule itself, on the signals (calibration replays it over stored signals)."""
    if not vague and (
        share >= rule.strong_share or (share >= rule.weak_share and (agree or cosine >= rule.close_cosine))
    ):
        verdict = Verdict.COVERED
    elif cosine < rule.off_topic_cosine and share < rule.weak_share:
        verdict = Verdict.OFF_TOPIC
    else:
        verdict = Verdict.UNCERTAIN
    return Coverage(verdict, share, cosine, agree, vague)
