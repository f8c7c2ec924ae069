"""Calibrate the "docs do not cover this" threshold on answerable vs unanswerable questions.

For a BEIR set, every query is asked twice: once against the whole corpus (answerable: its relevant
pages are there) and once with its relevant pages held out (unanswerable: the docs no longer cover
it). Queries of a second, unrelated dataset are added as off-topic unanswerable questions. The
signal is what the answer engine uses: the best cosine similarity among the passages it would get.
The threshold reported maximises balanced accuracy (the mean of the answerable accuracy and the
unanswerable accuracy, the latter averaged over held-out and off-topic questions) among thresholds that
still answer at least 95% of the answerable questions: a wrong "I don't know" costs a user more than a
hedged answer that cites the closest pages.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from docsage.config import Settings
from docsage.evaluation.beir import load_beir
from docsage.evaluation.runner import corpus_items
from docsage.retrieval.types import Hit
from docsage.services import Services


@dataclass
class Calibration:
    threshold: float
    balanced_accuracy: float
    answerable_recall: float  # answerable questions judged covered
    unanswerable_recall: float  # unanswerable questions judged uncertain
    unconstrained_threshold: float  # the balanced-accuracy optimum without the answerable-recall floor
    unconstrained_balanced_accuracy: float
    held_out_recall: float  # held-out questions judged uncertain
    off_topic_recall: float  # off-topic questions judged uncertain
    answerable: int
    held_out: int
    off_topic: int
    rule_answerable_covered: float  # the configured rule (cosine or retriever agreement, and term coverage)
    rule_held_out_uncertain: float
    rule_off_topic_uncertain: float
    scores: dict[str, list[float]]


def best_threshold(
    positive: list[float], negative_groups: list[list[float]], min_positive_recall: float = 0.0
) -> tuple[float, float, float, float]:
    """(threshold, balanced accuracy, positive recall, negative recall) maximising balanced accuracy among
    thresholds that keep at least `min_positive_recall` of the answerable questions answered.

    Negative recall is the mean over the negative groups, so 200 easy off-topic questions do not outweigh
    100 hard held-out ones.
    """
    groups = [np.asarray(g) for g in negative_groups if g]
    pos = np.asarray(positive)
    best = (0.0, 0.0, 0.0, 0.0)
    for t in np.unique(np.concatenate([pos, *groups])):
        tpr = float((pos >= t).mean()) if len(pos) else 0.0
        tnr = float(np.mean([(g < t).mean() for g in groups])) if groups else 0.0
        if tpr >= min_positive_recall and (tpr + tnr) / 2 > best[1]:
            best = (float(t), (tpr + tnr) / 2, tpr, tnr)
    return best


def calibrate(
    dataset_path: str | Path,
    off_topic_path: str | Path | None,
    settings: Settings,
    top_k: int = 8,
    depth: int = 200,
    min_answerable_recall: float = 0.95,
) -> Calibration:
    dataset = load_beir(dataset_path)
    off_topic = load_beir(off_topic_path) if off_topic_path else None
    url_to_id = {d.url: d.id for d in dataset.corpus}
    scores: dict[str, list[float]] = {"answerable": [], "held_out": [], "off_topic": []}
    # Whether the configured rule (RetrievalService.covers) judges each question covered.
    covered: dict[str, list[bool]] = {"answerable": [], "held_out": [], "off_topic": []}

    def judge(group: str, query: str, hits: list[Hit]) -> None:
        scores[group].append(max((h.dense_score for h in hits), default=0.0))
        covered[group].append(services.retrieval.covers(project.id, query, hits))

    with tempfile.TemporaryDirectory() as tmp:
        services = Services(settings.model_copy(update={"home": Path(tmp), "database_url": ""}))
        project = services.projects.create_project("calibrate")
        source = services.projects.add_source(project.id, "upload", "beir://calibrate")
        services.ingest.ingest_items(source, corpus_items(dataset))
        for qid, text in dataset.queries.items():
            relevant = {d for d, r in dataset.qrels[qid].items() if r > 0}
            hits = services.retrieval.search(project.id, text, top_k=depth, candidates=depth)
            judge("answerable", text, hits[:top_k])
            judge(
                "held_out",
                text,
                held_out(hits, {h.source_url for h in hits if url_to_id.get(h.source_url) in relevant})[:top_k],
            )
        if off_topic is not None:
            for text in list(off_topic.queries.values())[:200]:
                judge("off_topic", text, services.retrieval.search(project.id, text, top_k=top_k))
        services.database.engine.dispose()
    negatives = [scores["held_out"], scores["off_topic"]]
    t, bacc, tpr, tnr = best_threshold(scores["answerable"], negatives, min_answerable_recall)
    best_t, best_bacc, *_ = best_threshold(scores["answerable"], negatives)

    def uncertain_share(xs: list[float]) -> float:
        return float(np.mean([x < t for x in xs])) if xs else 0.0

    def rule_share(group: str, value: bool) -> float:
        return float(np.mean([c == value for c in covered[group]])) if covered[group] else 0.0

    return Calibration(
        round(t, 3),
        bacc,
        tpr,
        tnr,
        round(best_t, 3),
        best_bacc,
        uncertain_share(scores["held_out"]),
        uncertain_share(scores["off_topic"]),
        len(scores["answerable"]),
        len(scores["held_out"]),
        len(scores["off_topic"]),
        rule_share("answerable", True),
        rule_share("held_out", False),
        rule_share("off_topic", False),
        scores,
    )


def held_out(hits: list[Hit], removed_urls: set[str]) -> list[Hit]:
    """The hits as a corpus without the removed pages would rank them (ranks renumbered per retriever)."""
    rest = [h for h in hits if h.source_url not in removed_urls]
    lex = {
        h.chunk_id: i
        for i, h in enumerate(sorted((h for h in rest if h.lexical_rank), key=lambda h: h.lexical_rank), 1)
    }
    den = {
        h.chunk_id: i for i, h in enumerate(sorted((h for h in rest if h.dense_rank), key=lambda h: h.dense_rank), 1)
    }
    return [replace(h, lexical_rank=lex.get(h.chunk_id, 0), dense_rank=den.get(h.chunk_id, 0)) for h in rest]
