"""`docsage eval --answers`: ask a QA set's questions about its own docs in a throw-away home and score the answers.

The set format is specified in eval/answers/README.md. Questions go through the same path the HTTP APIs use
(ChatService, with the configured answer provider), so the figures are what a user of the APIs would get.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from docsage.chat.service import ChatRequest, ChatService, collect
from docsage.config import Settings
from docsage.errors import DocsageError, InvalidInputError
from docsage.ingest.service import IngestProgress, IngestSummary
from docsage.services import Services

STYLES = ("direct", "paraphrase", "short", "vocabulary", "multi", "unanswerable")
FIELDS: dict[str, str] = {
    "id": "a non-empty string",
    "question": "a non-empty string",
    "style": "one of " + ", ".join(STYLES),
    "answerable": "true or false",
    "pages": "a list of paths under docs/",
    "evidence": "a list of strings",
}
QUESTIONS_FILE = "questions.jsonl"
ANSWER_EXCERPT_CHARS = 200
# The four figures of README.md, in the order they are reported.
METRICS = ("answered", "right_page_cited", "evidence_quoted", "flagged_unanswerable")

_LINKED_CITATION = re.compile(r"\[\[\d+\]\]\(([^)\s]*)\)")
_PLAIN_CITATION = re.compile(r"\[\d{1,2}\]")
_RST_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:(?=`)")
_BLOCKQUOTE = re.compile(r"^[ \t]*>[ \t]?", re.MULTILINE)


class AnswerSetError(InvalidInputError):
    """A set folder or its questions.jsonl does not follow eval/answers/README.md."""

    code = "invalid_answer_set"


@dataclass(frozen=True)
class SetQuestion:
    id: str
    question: str
    style: str
    answerable: bool
    pages: tuple[str, ...]
    evidence: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class AnswerSet:
    name: str
    root: Path
    docs: Path
    questions: tuple[SetQuestion, ...]


def normalise(text: str) -> str:
    """Text as evidence is compared: citations dropped, markup stripped (backticks, `*`, rst roles, block
    quotes), whitespace collapsed, lower case — so a quote matches whether or not the answer kept the markup."""
    text = _LINKED_CITATION.sub(" ", text)
    text = _PLAIN_CITATION.sub(" ", text)
    text = _RST_ROLE.sub("", text)
    text = _BLOCKQUOTE.sub("", text)
    text = text.replace("`~", "").replace("`", "").replace("*", "")
    return " ".join(text.lower().split())


def load_answer_set(path: str | Path) -> AnswerSet:
    """Read and validate a set folder; AnswerSetError names the first problem (file, line, field)."""
    root = Path(path)
    if not root.is_dir():
        raise AnswerSetError(f"answer set not found: {path} is not a folder")
    docs = root / "docs"
    if not docs.is_dir():
        raise AnswerSetError(f"{root}: no docs/ folder (see eval/answers/README.md)")
    qfile = root / QUESTIONS_FILE
    if not qfile.is_file():
        raise AnswerSetError(f"{root}: no {QUESTIONS_FILE} (see eval/answers/README.md)")
    try:
        lines = qfile.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise AnswerSetError(f"{qfile}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    problems: list[str] = []
    questions: list[SetQuestion] = []
    first_line_of: dict[str, int] = {}
    page_text: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = _parse_line(raw, number, docs, page_text)
        except _LineProblem as exc:
            problems.append(f"{qfile}:{number}: {exc}")
            continue
        if item.id in first_line_of:
            problems.append(
                f"{qfile}:{number}: field 'id': {item.id!r} is already used on line {first_line_of[item.id]}"
            )
            continue
        first_line_of[item.id] = number
        questions.append(item)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s) in this file)" if len(problems) > 1 else ""
        raise AnswerSetError(problems[0] + more)
    if not questions:
        raise AnswerSetError(f"{qfile}: no questions")
    return AnswerSet(root.resolve().name, root, docs.resolve(), tuple(questions))


class _LineProblem(Exception):
    pass


def _string_list(obj: dict[str, Any], name: str) -> tuple[str, ...]:
    value = obj[name]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _LineProblem(f"field {name!r} must be {FIELDS[name]} (non-empty strings), not {json.dumps(value)}")
    return tuple(value)


def _parse_line(raw: str, number: int, docs: Path, page_text: dict[str, str]) -> SetQuestion:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _LineProblem(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise _LineProblem(f"expected a JSON object with fields {', '.join(FIELDS)}")
    missing = [name for name in FIELDS if name not in obj]
    if missing:
        raise _LineProblem(f"missing field {missing[0]!r} ({FIELDS[missing[0]]})")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise _LineProblem(f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
    for name in ("id", "question", "style"):
        if not isinstance(obj[name], str) or not obj[name].strip():
            raise _LineProblem(f"field {name!r} must be {FIELDS[name]}, not {json.dumps(obj[name])}")
    if obj["style"] not in STYLES:
        raise _LineProblem(f"field 'style' must be {FIELDS['style']}, not {obj['style']!r}")
    if not isinstance(obj["answerable"], bool):
        raise _LineProblem(f"field 'answerable' must be true or false, not {json.dumps(obj['answerable'])}")
    answerable: bool = obj["answerable"]
    if answerable == (obj["style"] == "unanswerable"):
        need = "false" if answerable else "true"
        raise _LineProblem(f"field 'answerable' must be {need} for style {obj['style']!r}")
    pages, evidence = _string_list(obj, "pages"), _string_list(obj, "evidence")
    for name, values in (("pages", pages), ("evidence", evidence)):
        if answerable and not values:
            raise _LineProblem(f"field {name!r} is empty; an answerable question needs at least one")
        if not answerable and values:
            raise _LineProblem(f"field {name!r} must be [] for an unanswerable question")
    texts = [_page_text(docs, page, page_text) for page in pages]
    for snippet in evidence:
        if not any(normalise(snippet) in text for text in texts):
            raise _LineProblem(f"field 'evidence': {snippet!r} is in none of the question's pages")
    return SetQuestion(obj["id"], obj["question"], obj["style"], answerable, pages, evidence, number)


def _page_text(docs: Path, page: str, cache: dict[str, str]) -> str:
    """A page's normalised text; the page must be a file under docs/ (no escaping it with '..')."""
    if page not in cache:
        path = (docs / page).resolve()
        if page.startswith("/") or not path.is_relative_to(docs.resolve()) or not path.is_file():
            raise _LineProblem(f"field 'pages': {page!r} is not a file under {docs}")
        cache[page] = normalise(path.read_text(encoding="utf-8", errors="replace"))
    return cache[page]


def page_path(url: str, docs: Path) -> str:
    """A document's page as questions.jsonl names it: the path relative to docs/ of a file:// URL into it, else
    the URL without its fragment."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        target = Path(unquote(parsed.path))
        if target.is_relative_to(docs):
            return target.relative_to(docs).as_posix()
    return url.split("#", 1)[0]


def cited_pages(answer: str, docs: Path) -> list[str]:
    """The pages an answer links to, in order: paths relative to docs/ for file:// links into it, else the URL."""
    return list(dict.fromkeys(page_path(url, docs) for url in _LINKED_CITATION.findall(answer)))


@dataclass
class QuestionOutcome:
    question: SetQuestion
    answer: str
    is_uncertain: bool
    cited: list[str]
    seconds: float
    error: str = ""

    @property
    def right_page(self) -> bool:
        return any(page in self.question.pages for page in self.cited)

    @property
    def evidence_quoted(self) -> bool:
        answer = normalise(self.answer)
        return any(normalise(snippet) in answer for snippet in self.question.evidence)

    def problems(self) -> list[str]:
        """What went wrong, in words; empty when the outcome is right on every count that applies."""
        if self.error:
            return [f"provider error: {self.error}"]
        if not self.question.answerable:
            return [] if self.is_uncertain else ["answered, though the docs do not cover it"]
        problems = ["not answered (flagged uncertain)"] if self.is_uncertain else []
        if not self.right_page:
            cited = ", ".join(self.cited) or "nothing"
            problems.append(f"no expected page cited ({', '.join(self.question.pages)}; cited {cited})")
        if not self.evidence_quoted:
            problems.append("no expected evidence quoted")
        return problems


@dataclass(frozen=True)
class Rate:
    count: int
    total: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.count / self.total if self.total else None

    def to_json(self) -> dict[str, Any]:
        pct = self.percent
        return {"count": self.count, "of": self.total, "percent": None if pct is None else round(pct, 1)}


def score(outcomes: Iterable[QuestionOutcome]) -> dict[str, Rate]:
    """The four figures: three over the answerable questions, one over the unanswerable ones.

    Each is computed on the answer as shown, whatever the verdict: a refusal that links the expected page among
    the closest ones counts as citing it, so "answered" and "right page" tell a judge problem from a retrieval one.
    A provider error counts against every figure: not answered, and not flagged either.
    """
    outcomes = list(outcomes)
    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    return {
        "answered": Rate(sum(not o.is_uncertain for o in answerable), len(answerable)),
        "right_page_cited": Rate(sum(o.right_page for o in answerable), len(answerable)),
        "evidence_quoted": Rate(sum(o.evidence_quoted for o in answerable), len(answerable)),
        "flagged_unanswerable": Rate(sum(o.is_uncertain and not o.error for o in unanswerable), len(unanswerable)),
    }


@dataclass
class AnswerEvalResult:
    answer_set: AnswerSet
    provider: str
    documents: int = 0
    chunks: int = 0
    ingest_seconds: float = 0.0
    answer_seconds: float = 0.0
    ingest_failures: list[dict[str, str]] = field(default_factory=list)
    outcomes: list[QuestionOutcome] = field(default_factory=list)

    def metrics(self) -> dict[str, Rate]:
        return score(self.outcomes)

    def by_style(self) -> dict[str, dict[str, Rate]]:
        """The figures per question style, in STYLES order, for the styles the set has."""
        return {
            style: score(o for o in self.outcomes if o.question.style == style)
            for style in STYLES
            if any(o.question.style == style for o in self.outcomes)
        }

    def style_counts(self) -> dict[str, int]:
        return {style: sum(o.question.style == style for o in self.outcomes) for style in self.by_style()}

    def failures(self) -> list[dict[str, Any]]:
        return [
            {
                "id": o.question.id,
                "style": o.question.style,
                "question": o.question.question,
                "problems": problems,
                "answer": o.answer[:ANSWER_EXCERPT_CHARS],
            }
            for o in self.outcomes
            if (problems := o.problems())
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "set": self.answer_set.name,
            "path": str(self.answer_set.root),
            "provider": self.provider,
            "documents": self.documents,
            "chunks": self.chunks,
            "questions": len(self.outcomes),
            "answerable": sum(o.question.answerable for o in self.outcomes),
            "unanswerable": sum(not o.question.answerable for o in self.outcomes),
            "ingest_seconds": round(self.ingest_seconds, 2),
            "answer_seconds": round(self.answer_seconds, 2),
            "ingest_failures": self.ingest_failures,
            "metrics": {name: rate.to_json() for name, rate in self.metrics().items()},
            "by_style": {
                style: {"questions": self.style_counts()[style], **{n: r.to_json() for n, r in rates.items()}}
                for style, rates in self.by_style().items()
            },
            "failures": self.failures(),
            "results": [
                {
                    "id": o.question.id,
                    "style": o.question.style,
                    "answerable": o.question.answerable,
                    "is_uncertain": o.is_uncertain,
                    "cited": o.cited,
                    "right_page": o.right_page if o.question.answerable else None,
                    "evidence_quoted": o.evidence_quoted if o.question.answerable else None,
                    "seconds": round(o.seconds, 3),
                    "error": o.error,
                }
                for o in self.outcomes
            ],
        }


def ask(chat: ChatService, project_id: str, question: SetQuestion, docs: Path) -> QuestionOutcome:
    """One question through the chat service; a provider failure is that question's outcome, not the run's end."""
    started = time.perf_counter()
    try:
        answer = collect(chat.stream(ChatRequest(project_id=project_id, query=question.question)))
    except DocsageError as exc:
        return QuestionOutcome(question, "", True, [], time.perf_counter() - started, error=exc.message)
    is_uncertain = answer.meta.is_uncertain if answer.meta else True
    return QuestionOutcome(
        question, answer.text, is_uncertain, cited_pages(answer.text, docs), time.perf_counter() - started
    )


@contextmanager
def indexed(
    answer_set: AnswerSet, settings: Settings, progress: IngestProgress | None = None, workdir: str | None = None
) -> Iterator[tuple[Services, str, IngestSummary]]:
    """(services, project id, ingest summary) of the set's docs indexed into a temporary home with the
    configured providers; the home is removed afterwards."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        services = Services(settings.model_copy(update={"home": Path(tmp), "database_url": ""}))
        try:
            project = services.projects.create_project(f"answers-{answer_set.name}")
            source = services.projects.add_source(project.id, "folder", str(answer_set.docs), name=answer_set.name)
            summary = services.ingest.run(source.id, progress)
            if summary.status != "succeeded":
                raise DocsageError(f"{answer_set.name}: indexing {answer_set.docs} failed: {summary.error}")
            yield services, project.id, summary
        finally:
            if "database" in services.__dict__:
                services.database.engine.dispose()


def run_answer_eval(
    answer_set: AnswerSet,
    settings: Settings,
    *,
    progress: IngestProgress | None = None,
    on_question: Callable[[int, int], None] | None = None,
    workdir: str | None = None,
) -> AnswerEvalResult:
    """Index the set's docs into a temporary home with the configured providers, then ask every question."""
    with indexed(answer_set, settings, progress, workdir) as (services, project_id, summary):
        result = AnswerEvalResult(
            answer_set,
            provider=settings.llm_provider,
            documents=summary.added + summary.updated + summary.unchanged,
            chunks=summary.chunks,
            ingest_seconds=summary.seconds,
            ingest_failures=summary.failures,
        )
        started = time.perf_counter()
        for i, question in enumerate(answer_set.questions, start=1):
            result.outcomes.append(ask(services.chat, project_id, question, answer_set.docs))
            if on_question:
                on_question(i, len(answer_set.questions))
        result.answer_seconds = time.perf_counter() - started
        return result
