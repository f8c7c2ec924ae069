"""Calibrate the coverage rule on answer sets: which questions do the docs cover, judged before answering?

Every question of every set is retrieved for as the answer engine would, and the three signals the rule
weighs (retrieval/coverage.py) are kept. The rule's parameters are then searched on a grid for the ones whose
*worst* set does best, scoring a set by the lower of its two rates (answerable questions judged covered,
unanswerable ones judged not covered): a rule must hold on every set, not on their average, and must not buy
one rate with the other. Use the sets marked "tune" in eval/answers/sets.json, then check the result on the
held-out ones with `docsage eval --answers`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from docsage.config import Settings
from docsage.evaluation.answers import AnswerSet, indexed
from docsage.ingest.service import IngestProgress
from docsage.retrieval.coverage import CoverageRule, decide

STRONG = np.round(np.arange(0.40, 0.91, 0.05), 2)
WEAK = np.round(np.arange(0.10, 0.51, 0.05), 2)
CLOSE = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 2.0)  # 2.0: closeness alone never suffices
AGREEMENT_RANKS = (1, 2, 3)


@dataclass(frozen=True)
class Signals:
    answerable: bool
    share: float
    cosine: float
    agreement_rank: int  # the best rank both retrievers give one passage (0: they share none in the top list)
    vague: bool


@dataclass(frozen=True)
class SetRates:
    name: str
    answered: float  # answerable questions judged covered
    flagged: float  # unanswerable questions judged not covered
    answerable: int
    unanswerable: int


@dataclass(frozen=True)
class Calibration:
    best: CoverageRule
    best_rates: list[SetRates]
    configured: CoverageRule
    configured_rates: list[SetRates]


def signals(answer_set: AnswerSet, settings: Settings, progress: IngestProgress | None = None) -> list[Signals]:
    """The rule's three signals for every question of a set, as the answer engine computes them."""
    out = []
    with indexed(answer_set, settings, progress) as (services, project_id, _):
        for q in answer_set.questions:
            hits = services.retrieval.search(project_id, q.question, top_k=settings.retrieval_top_k)
            c = services.retrieval.judge(project_id, q.question, hits)
            both = [max(h.lexical_rank, h.dense_rank) for h in hits if h.lexical_rank > 0 and h.dense_rank > 0]
            out.append(Signals(q.answerable, c.term_share, c.best_cosine, min(both, default=0), c.vague))
    return out


def rates(name: str, rows: list[Signals], rule: CoverageRule) -> SetRates:
    covered = [
        decide(r.share, r.cosine, 0 < r.agreement_rank <= rule.agreement_rank, rule, r.vague).covered for r in rows
    ]
    yes = [c for c, r in zip(covered, rows, strict=True) if r.answerable]
    no = [not c for c, r in zip(covered, rows, strict=True) if not r.answerable]
    return SetRates(name, float(np.mean(yes)) if yes else 1.0, float(np.mean(no)) if no else 1.0, len(yes), len(no))


def _worst(rows: dict[str, list[Signals]], rule: CoverageRule) -> tuple[float, float]:
    per_set = [rates(n, r, rule) for n, r in rows.items()]
    # Ties (the grid is coarse and the sets small) go to the rule with the better mean, then the first found.
    return min(min(s.answered, s.flagged) for s in per_set), float(np.mean([s.answered + s.flagged for s in per_set]))


def calibrate(rows: dict[str, list[Signals]], configured: CoverageRule) -> Calibration:
    best = max(
        (
            CoverageRule(float(s), float(w), float(c), configured.off_topic_cosine, rank)
            for s, w, c, rank in itertools.product(STRONG, WEAK, CLOSE, AGREEMENT_RANKS)
            if w <= s
        ),
        key=lambda rule: _worst(rows, rule),
    )
    return Calibration(
        best,
        [rates(n, r, best) for n, r in rows.items()],
        configured,
        [rates(n, r, configured) for n, r in rows.items()],
    )
