"""The offline answer provider: quotes and cites the most relevant retrieved sentences, no model needed."""

from __future__ import annotations

import math
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from docsage.answer.base import AnswerRequest, Turn
from docsage.answer.events import MetadataEvent, TextDelta
from docsage.errors import ProviderError
from docsage.retrieval.types import Hit

LEAD = "Here is what the documentation says:"
NOT_FOUND = "I couldn't find this in the documentation."
CLOSEST_PAGES = "The closest pages are:"

MAX_ANSWER_CHARS = 1200
MAX_ITEMS = 4
MIN_ITEMS = 2
MAX_QUOTE_CHARS = 400
PASSAGES_READ = 5
CLOSEST_LISTED = 3
WORDS_PER_DELTA = 4
# Sentences this far below the best one are noise once the minimum number of items is reached.
RELATIVE_CUTOFF = 0.5
# Ties between equally matching sentences go to the better-ranked passage, but one extra matched question
# word always outweighs rank.
RANK_BONUS = 0.15
HEADING_BONUS = 0.1
MIN_SENTENCE_WORDS = 4
SHORT_FOLLOW_UP_WORDS = 3

# A word list reads better as one block of text than as a 140-line literal.
_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below
    between both but by can could did do does doing done down during each either else etc few for from
    further get gets got had has have having he her here hers him his how i if in into is it its itself
    just let like may me might more most much must my need no nor not now of off on once only or other
    our ours out over own please same shall she should so some such than that the their theirs them then
    there these they this those through to too under until up us very via want was way we were what when
    where which while who whom why will with within would you your yours""".split()  # noqa: SIM905
)
_DEICTIC = frozenset({"it", "its", "this", "that", "they", "them", "those", "these", "there"})
_FOLLOW_UP_OPENER = re.compile(r"^\s*(?:and|what about|how about)\b", re.IGNORECASE)
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ed", "es", "s")
_KEEP_ENDINGS = {"s": ("ss", "us", "is"), "ed": ("eed",)}  # class, status, basis, need are not plurals
# Suffix rules alone miss pairs such as authenticate/authentication; a six-letter cap merges them, and the
# rare collisions it causes only nudge a ranking.
_STEM_CAP = 6
_WORD = re.compile(r"[a-z0-9]+")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_TABLE_RULE = re.compile(r"^[\s|:-]+$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(\[*_])")
_DELTA_PIECE = re.compile(r"\S+\s*|\s+")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if not word.endswith(suffix) or len(word) - len(suffix) < 2 or word.endswith(_KEEP_ENDINGS.get(suffix, ())):
            continue
        if suffix == "ies":
            word = word[:-3] + "y"
        else:
            word = word[: -len(suffix)]
            if suffix in ("ing", "ings", "ed") and len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # setting -> set, stopped -> stop
        break
    if len(word) > 2 and word.endswith("e"):
        word = word[:-1]
    return word[:_STEM_CAP]


def content_stems(text: str) -> frozenset[str]:
    """Stems of the words that carry meaning: lower-cased, stopwords dropped."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS)


@dataclass(frozen=True)
class _Unit:
    """One quotable piece of a passage: a sentence, list item, table row or a whole fenced code block."""

    rank: int
    position: int
    text: str
    is_code: bool
    stems: frozenset[str]
    lead: str = ""  # for code: the sentence just before it, quoted with it since it says what the code does


def _table_row(line: str) -> str:
    return " | ".join(cell.strip() for cell in line.strip().strip("|").split("|") if cell.strip())


def _pieces(content: str) -> list[tuple[str, bool]]:
    """Split markdown into (text, is_code) pieces in reading order; headings are dropped."""
    pieces: list[tuple[str, bool]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            pieces.extend((s, False) for s in _SENTENCE_END.split(" ".join(paragraph)) if s)
            paragraph.clear()

    lines = content.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        fence = _FENCE.match(line)
        if fence:
            flush()
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(fence.group(1)):
                end += 1
            block = lines[i : end + 1]
            if end >= len(lines):
                block.append(fence.group(1))  # the chunker cut the block; close it so the markdown stays valid
            pieces.append((textwrap.dedent("\n".join(block)), True))
            i = end + 1
            continue
        if not stripped or _HEADING.match(line):
            flush()
        elif stripped.startswith("|"):
            flush()
            if not _TABLE_RULE.match(stripped):
                pieces.append((_table_row(stripped), False))
        elif _LIST_ITEM.match(line):
            flush()
            paragraph.append(_LIST_ITEM.sub("", line, count=1).strip())
        else:
            paragraph.append(stripped)
        i += 1
    flush()
    return pieces


def _units(hits: list[Hit]) -> list[_Unit]:
    units: list[_Unit] = []
    for rank, hit in enumerate(hits[:PASSAGES_READ]):
        previous = ""
        for position, (text, is_code) in enumerate(_pieces(hit.content)):
            lead = previous if is_code else ""
            units.append(_Unit(rank, position, text, is_code, content_stems(f"{lead}\n{text}"), lead))
            previous = "" if is_code else text
    return units


def _clip(text: str) -> str:
    if len(text) <= MAX_QUOTE_CHARS:
        return text
    return text[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + "…"


def _render_item(unit: _Unit, hits: list[Hit]) -> str:
    marker = f"[{unit.rank + 1}]"
    if not unit.is_code:
        return f"- {_clip(unit.text)} {marker}"
    hit = hits[unit.rank]
    intro = f"{_clip(unit.lead)} {marker}" if unit.lead else f"From “{hit.title or hit.source_url}” {marker}:"
    return f"{intro}\n\n{unit.text}"


def _length(units: list[_Unit], hits: list[Hit]) -> int:
    return len(LEAD) + sum(len(_render_item(u, hits)) + 2 for u in units)


def _scored(question: str, hits: list[Hit], units: list[_Unit]) -> list[tuple[float, _Unit]]:
    """Units that share content words with the question, best first."""
    question_stems = content_stems(question)
    df = Counter(stem for unit in units for stem in unit.stems & question_stems)
    # Words that occur in few of the retrieved sentences say more about which sentence answers the question.
    weights = {stem: 1.0 + math.log(len(units) / count) for stem, count in df.items()}
    total = sum(weights.values())
    if not total:
        return []
    heading_match = [
        sum(weights.get(s, 0.0) for s in content_stems(f"{h.title} {h.heading_path}")) / total for h in hits
    ]
    scored: list[tuple[float, _Unit]] = []
    for unit in units:
        overlap = sum(weights.get(s, 0.0) for s in unit.stems)
        if not overlap or (not unit.is_code and len(unit.text.split()) < MIN_SENTENCE_WORDS):
            continue
        score = overlap / total + RANK_BONUS / (unit.rank + 1) + HEADING_BONUS * heading_match[unit.rank]
        scored.append((score, unit))
    scored.sort(key=lambda pair: (-pair[0], pair[1].rank, pair[1].position))
    return scored


def _select(question: str, hits: list[Hit]) -> list[_Unit]:
    """The units to quote, in passage then reading order."""
    units = _units(hits)
    scored = _scored(question, hits, units)
    if not scored:
        # Retrieval judged the top passage relevant even though no word matches (a paraphrase): quote its start.
        opening = [u for u in units if u.rank == 0 and (u.is_code or len(u.text.split()) >= MIN_SENTENCE_WORDS)]
        scored = [(1.0, u) for u in opening[:MIN_ITEMS]]
    best = scored[0][0] if scored else 0.0
    chosen: list[_Unit] = []
    for score, unit in scored:
        if len(chosen) >= MAX_ITEMS or (len(chosen) >= MIN_ITEMS and score < RELATIVE_CUTOFF * best):
            break
        if any(unit.text in (c.text, c.lead) for c in chosen):
            continue
        # A sentence already chosen on its own becomes this block's lead rather than being quoted twice.
        candidate = [c for c in chosen if not (unit.is_code and c.text == unit.lead)] + [unit]
        if _length(candidate, hits) > MAX_ANSWER_CHARS:
            continue  # sentences are clipped, so only an oversized code block is ever skipped outright
        chosen = candidate
    return sorted(chosen, key=lambda u: (u.rank, u.position))


def _compose(question: str, hits: list[Hit]) -> tuple[str, list[int]]:
    """The covered answer and the ranks of the passages it quotes; no ranks when nothing was quotable."""
    chosen = _select(question, hits)
    if not chosen:
        return "", []
    blocks = [LEAD]
    bullets: list[str] = []
    for unit in chosen:
        item = _render_item(unit, hits)
        if unit.is_code:
            if bullets:
                blocks.append("\n".join(bullets))
                bullets = []
            blocks.append(item)
        else:
            bullets.append(item)
    if bullets:
        blocks.append("\n".join(bullets))
    return "\n\n".join(blocks), sorted({unit.rank for unit in chosen})


def _not_found(hits: list[Hit]) -> str:
    lines: list[str] = []
    seen: set[str] = set()
    for number, hit in enumerate(hits, start=1):
        if hit.source_url in seen:
            continue
        seen.add(hit.source_url)
        lines.append(f"- {hit.title or hit.source_url} [{number}]")
        if len(lines) == CLOSEST_LISTED:
            break
    if not lines:
        return NOT_FOUND
    return f"{NOT_FOUND}\n\n{CLOSEST_PAGES}\n" + "\n".join(lines)


def _deltas(text: str) -> Iterator[str]:
    pieces = _DELTA_PIECE.findall(text)
    for start in range(0, len(pieces), WORDS_PER_DELTA):
        yield "".join(pieces[start : start + WORDS_PER_DELTA])


class ExtractiveProvider:
    """Answers by quoting the retrieved passages verbatim with [n] citations; offline and deterministic.

    Token usage is estimated with `count_tokens` so extractive answers appear in usage figures like model
    answers do.
    """

    def __init__(self, count_tokens: Callable[[list[str]], list[int]]) -> None:
        self._count_tokens = count_tokens

    @property
    def name(self) -> str:
        return "extractive"

    @property
    def follows_prompts(self) -> bool:
        return False  # no language model: caller-written prompts cannot be followed

    def complete(
        self, messages: list[tuple[str, str]], *, json_mode: bool = False
    ) -> Iterator[TextDelta | MetadataEvent]:
        raise ProviderError("the extractive provider cannot run custom prompts; configure DOCSAGE_LLM_PROVIDER=openai")

    def generate(self, request: AnswerRequest) -> Iterator[TextDelta | MetadataEvent]:
        answer, used = _compose(request.question, request.hits) if request.covered else ("", [])
        covered = bool(used)
        if not covered:
            answer = _not_found(request.hits)
        for delta in _deltas(answer):
            yield TextDelta(delta)
        prompt = [request.question, *(request.hits[rank].content for rank in used)]
        yield MetadataEvent(
            is_uncertain=not covered,
            model="extractive",
            prompt_tokens=sum(self._count_tokens(prompt)),
            completion_tokens=sum(self._count_tokens([answer])),
        )

    def condense(self, question: str, history: list[Turn]) -> str:
        """Prefix a follow-up that leans on the previous turn with that turn's question; no model involved."""
        if not history:
            return question
        words = set(_WORD.findall(question.lower()))
        dependent = (
            len(question.split()) <= SHORT_FOLLOW_UP_WORDS
            or bool(words & _DEICTIC)
            or bool(_FOLLOW_UP_OPENER.match(question))
        )
        if not dependent:
            return question
        return f"{history[-1].question.strip()} {question.strip()}"
