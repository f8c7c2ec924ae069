"""Page-level retrieval on the answer sets: for each retriever, how often the page that answers a question comes
first, or among the first three pages, with the set's docs indexed as a folder exactly as `docsage eval --answers`
indexes them. The retrieval counterpart of the answer figures, on documentation the BEIR sets do not cover."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from docsage.config import Settings
from docsage.evaluation.answers import AnswerSet, indexed, page_path
from docsage.evaluation.metrics import Qrels, Run, dedupe, evaluate, success_at_k
from docsage.evaluation.runner import VARIANTS

DEPTH = 300  # chunks per question and candidates per retriever, as `docsage eval --dataset` retrieves
METRICS = ("top1", "top3", "ndcg@10", "mrr@10")


@dataclass
class PageRetrievalResult:
    """Figures per retriever variant (lexical, dense, hybrid-rrf, hybrid-passages, hybrid) over the answerable
    questions of the set."""

    answer_set: str
    documents: int
    chunks: int
    questions: int
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "set": self.answer_set,
            "documents": self.documents,
            "chunks": self.chunks,
            "questions": self.questions,
            "results": {name: {m: round(v, 4) for m, v in figures.items()} for name, figures in self.results.items()},
        }


def page_metrics(qrels: Qrels, run: Run) -> dict[str, float]:
    """Right page first, right page in the top 3 (shares of the questions), nDCG@10 and MRR@10 over pages."""
    figures = evaluate(qrels, run)
    n = len(qrels) or 1
    return {
        "top1": sum(success_at_k(run.get(q, []), rels, 1) for q, rels in qrels.items()) / n,
        "top3": sum(success_at_k(run.get(q, []), rels, 3) for q, rels in qrels.items()) / n,
        "ndcg@10": figures["ndcg@10"],
        "mrr@10": figures["mrr@10"],
    }


def run_page_eval(
    answer_set: AnswerSet,
    settings: Settings,
    *,
    depth: int = DEPTH,
    on_question: Callable[[int, int], None] | None = None,
    workdir: str | None = None,
) -> PageRetrievalResult:
    """Index the set's docs into a temporary home, then rank pages for every answerable question, per variant."""
    questions = [q for q in answer_set.questions if q.answerable]
    qrels: Qrels = {q.id: dict.fromkeys(q.pages, 1) for q in questions}
    with indexed(answer_set, settings, None, workdir) as (services, project_id, summary):
        result = PageRetrievalResult(
            answer_set.name, summary.added + summary.updated + summary.unchanged, summary.chunks, len(questions)
        )
        done, total = 0, len(questions) * len(VARIANTS)
        for name, mode, fusion in VARIANTS:
            run: Run = {}
            for q in questions:
                hits = services.retrieval.search(
                    project_id, q.question, top_k=depth, candidates=depth, mode=mode, fusion=fusion
                )
                run[q.id] = dedupe([page_path(h.source_url, answer_set.docs) for h in hits])
                done += 1
                if on_question:
                    on_question(done, total)
            result.runs[name] = run
            result.results[name] = page_metrics(qrels, run)
        return result
