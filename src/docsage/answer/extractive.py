"""The offline answer provider: quotes and cites the parts of the retrieved passages that answer, no model needed."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from docsage.answer.base import AnswerRequest, Turn
from docsage.answer.events import MetadataEvent, TextDelta
from docsage.answer.passages import Block, BlockKind, clip, quote_block, split_blocks
from docsage.embed.base import Embedder
from docsage.errors import ProviderError
from docsage.index.lexical import analyze
from docsage.retrieval.types import Hit

LEAD = "Here is what the documentation says:"
NOT_FOUND = "I couldn't find this in the documentation."
NOT_DIRECT = "I couldn't find a passage that answers this directly."
CLOSEST = "The closest passage, from “{where}” {marker}:"
CLOSEST_PAGES = "The closest pages are:"
OTHER_PAGES = "Other pages that may help:"

MAX_ANSWER_CHARS = 1200
MAX_ITEMS = 4
MIN_ITEMS = 2
MAX_CLOSEST_ITEMS = 2
WHOLE_BLOCK_CHARS = 500  # lists and tables, and code a chosen sentence introduces, are quoted whole up to this
PASSAGES_READ = 5
CLOSEST_LISTED = 3
WORDS_PER_DELTA = 4
# Units holding this much less of the question's words than the best one are noise once MIN_ITEMS are chosen
# (neither rank, shape nor the embedder's similarity, high for any on-topic sentence, counts here).
RELATIVE_CUTOFF = 0.5
# Ties between equally matching units go to the better-ranked passage, but one extra matched question word
# always outweighs rank.
RANK_BONUS = 0.15
# Question words found only in a unit's heading path count for this share of their weight.
HEADING_WEIGHT = 0.3
# A unit of the shape the question asks for (a number for "how many", code for "how do I") gets this bonus.
SHAPE_BONUS = 0.1
# Matched weight is divided by (terms / LENGTH_NORM) ** LENGTH_ALPHA past LENGTH_NORM terms, as BM25 normalises
# length: a long code block or config dump matches many question words by chance.
LENGTH_NORM = 10
LENGTH_ALPHA = 0.5
# The embedder re-ranks only the best lexical candidates, each read up to EMBED_CHARS: ~3 ms a unit on a
# loaded two-core box. Measured on the click and alembic sets (eval/answers): evidence quoted 48 -> 54 of 94.
EMBED_UNITS = 8
EMBED_CHARS = 140
EMBED_WEIGHT = 1.0
# An uncovered question's closest passage is quoted only when one unit holds this share of its term weight.
CLOSEST_MIN_SHARE = 0.2
MIN_SENTENCE_WORDS = 4
SHORT_FOLLOW_UP_WORDS = 3

_WORD = re.compile(r"[a-z0-9]+")
_DEICTIC = frozenset({"it", "its", "this", "that", "they", "them", "those", "these", "there"})
_FOLLOW_UP_OPENER = re.compile(r"^\s*(?:and|what about|how about)\b", re.IGNORECASE)
_DELTA_PIECE = re.compile(r"\S+\s*|\s+")
# Words a question is phrased with rather than about.
_FILLER = frozenset(analyze("want need get like please way possible able anyone someone something thing etc"))
# Where a second question starts: "…? And how…", "…? Can I…", "…, and can…", "… and where…", "…, and then…".
_ASKING = r"(?:how|what|what's|where|when|why|which|who|can|could|does|do|is|are|should|will|would)\b"
_PART_BREAK = re.compile(
    rf"\?\s+(?=(?:and\s+|also\s+)?{_ASKING})|,\s+and then\s+|,?\s+(?:and|or|also|plus)\s+(?={_ASKING})",
    re.IGNORECASE,
)
_ASKS_VALUE = re.compile(
    r"\bhow (?:many|much|often|long|big|large|fast|frequently|soon)\b|\b(?:default|maximum|minimum|max|min|limit|"
    r"timeout|interval|size|number of)\b",
    re.IGNORECASE,
)
_ASKS_PROCEDURE = re.compile(
    r"\b(?:how (?:do|can|should|would) (?:i|we|you)|how to|is there a way|(?:what|which) (?:command|option|flag|"
    r"setting|parameter|function|method))\b",
    re.IGNORECASE,
)
# A sentence opening like this refers back to the one before it ("This is useful for multi-line input." after
# "Click launches editors through edit()."): quoted alone it leaves out what it is about.
_REFERS_BACK = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|such|in (?:this|that|which) case|however|otherwise|then|but|so|"
    r"here)\b",
    re.IGNORECASE,
)
_INLINE_CODE = re.compile(r"`[^`]+`")
_DIGIT = re.compile(r"\d")

Similarity = Callable[[str, list[str]], list[float]]


def terms(text: str) -> frozenset[str]:
    """Index terms of a text, identifiers split so that `show_default` matches "show default"."""
    return frozenset(analyze(text.replace("_", " ")))


@dataclass(frozen=True)
class _Unit:
    """What an answer may quote: a sentence, list item, table row or run of code lines of one passage."""

    rank: int
    block: int
    part: int
    terms: frozenset[str]
    shape: frozenset[str]  # "value" (states a number), "code" (code, or names an option or a command)
    text: str  # what the embedder reads


@dataclass(frozen=True)
class _Passage:
    hit: Hit
    blocks: list[Block]
    where: str  # the heading path, "Configuration › Rate limits"
    heading_terms: frozenset[str]


class _Candidate(NamedTuple):
    score: float  # what ranks it: lexical evidence, plus the embedding similarity once re-ranked
    evidence: float  # the share of the question's words it holds, which decides if it is quoted past MIN_ITEMS
    unit: _Unit


Ranking = list[_Candidate]
Chosen = dict[tuple[int, int], set[int]]  # (rank, block) -> the block's parts quoted


def _where(hit: Hit) -> str:
    """The heading path as a reader sees it: "Configuration › Rate limits" (the ingester starts it with the title)."""
    path = [part.strip() for part in hit.heading_path.split(">") if part.strip()]
    return " › ".join(path) or hit.title or hit.source_url


def _passages(hits: list[Hit]) -> list[_Passage]:
    return [
        _Passage(hit, split_blocks(hit.content), _where(hit), terms(f"{hit.title} {hit.heading_path}"))
        for hit in hits[:PASSAGES_READ]
    ]


def _units(passages: list[_Passage]) -> list[_Unit]:
    units: list[_Unit] = []
    for rank, passage in enumerate(passages):
        for b, block in enumerate(passage.blocks):
            is_code = block.kind is BlockKind.CODE
            for p, text in enumerate(block.parts):
                if block.kind is BlockKind.PROSE and len(text.split()) < MIN_SENTENCE_WORDS:
                    continue
                # Code is read with its lead: the sentence says what the code does in the user's words.
                read = f"{block.lead}\n{text}" if is_code else text
                shape = {"code"} if is_code or _INLINE_CODE.search(text) else set()
                shape |= {"value"} if _DIGIT.search(text) else set()
                units.append(_Unit(rank, b, p, terms(read), frozenset(shape), read[:EMBED_CHARS]))
    return units


def question_parts(question: str) -> list[str]:
    """The questions asked in one message ("How do I X, and how do I check Y?"), each with content words."""
    parts: list[str] = []
    for piece in _PART_BREAK.split(question):
        if parts and len(terms(piece) - _FILLER) < 2:
            parts[-1] = f"{parts[-1]} {piece}"  # too little to stand alone: part of the question before it
        elif piece.strip():
            parts.append(piece.strip())
    return parts or [question]


def closest_share(question: str, units: list[_Unit]) -> float:
    """The largest share of the question's term weight one unit holds, counting words no unit has as the
    rarest: "Does docsage support SAML?" holds little of its weight in a passage that only says "docsage"."""
    asked = terms(question) - _FILLER
    df = Counter(term for unit in units for term in unit.terms & asked)
    weights = {term: 1.0 + math.log(len(units) / max(df[term], 1)) for term in asked}
    total = sum(weights.values())
    return max((sum(weights[t] for t in unit.terms & asked) / total for unit in units), default=0.0) if total else 0.0


def _ranked(part: str, passages: list[_Passage], units: list[_Unit]) -> Ranking:
    """Units that share content words with this part of the question, best first, by lexical evidence."""
    asked = terms(part) - _FILLER
    df = Counter(term for unit in units for term in unit.terms & asked)
    # Words that occur in few of the retrieved units say more about which unit answers the question.
    weights = {term: 1.0 + math.log(len(units) / count) for term, count in df.items()}
    total = sum(weights.values())
    wanted = {"value"} if _ASKS_VALUE.search(part) else {"code"} if _ASKS_PROCEDURE.search(part) else set()
    scored: Ranking = []
    for unit in units:
        own = sum(weights.get(term, 0.0) for term in unit.terms)
        if not own:
            continue
        context = sum(weights.get(term, 0.0) for term in passages[unit.rank].heading_terms - unit.terms)
        length = max(1.0, len(unit.terms) / LENGTH_NORM) ** LENGTH_ALPHA
        evidence = (own + HEADING_WEIGHT * context) / total / length
        score = evidence + RANK_BONUS / (unit.rank + 1) + (SHAPE_BONUS if wanted & unit.shape else 0.0)
        scored.append(_Candidate(score, evidence, unit))
    return _ordered(scored)


def _ordered(scored: Ranking) -> Ranking:
    return sorted(scored, key=lambda c: (-c.score, c.unit.rank, c.unit.block, c.unit.part))


def _reranked(part: str, ranking: Ranking, similarity: Similarity, limit: int) -> Ranking:
    """The best lexical candidates re-scored with their embedding similarity to the question; paraphrases
    ("restrict to a fixed list of allowed values" for "a choice of a list of values") share few words."""
    top = ranking[:limit]
    sims = similarity(part, [c.unit.text for c in top])
    reranked = _ordered([c._replace(score=c.score + EMBED_WEIGHT * sim) for c, sim in zip(top, sims, strict=True)])
    return reranked + ranking[limit:]  # the rest, not embedded, only when the best do not fit


def _render(passages: list[_Passage], chosen: Chosen) -> list[str]:
    """The chosen parts as markdown blocks under their heading paths, in passage then reading order."""
    out: list[str] = []
    where = ""
    quoted: set[str] = set()  # sentences already quoted, not repeated as a block's lead
    for rank, b in sorted(chosen):
        passage = passages[rank]
        block = passage.blocks[b]
        marker = f"[{rank + 1}]"
        parts = chosen[(rank, b)]
        intro = ""
        if block.kind is BlockKind.PROSE:
            # A sentence that leads a quoted block is shown once, as that block's lead.
            leads = {passage.blocks[n].lead for n in (b + 1, b + 2) if (rank, n) in chosen}
            parts = {p for p in parts if block.parts[p] not in leads}
            if not parts:
                continue
            quoted.update(block.parts[p] for p in parts)
        elif block.lead and block.lead not in quoted:
            intro = f"{clip(block.lead)} {marker}"
        elif block.kind is not BlockKind.LIST:
            intro = f"From “{passage.where}” {marker}:"
        if passage.where != where:
            where = passage.where
            if not intro.startswith("From “"):
                out.append(f"*{where}*")
        rendered = [text for text in quote_block(block, parts, marker, intro) if text]
        if block.kind is BlockKind.PROSE and out and out[-1].startswith("- "):
            out[-1] += "\n" + rendered[0]
        else:
            out.extend(rendered)
    return out


def _with(chosen: Chosen, passages: list[_Passage], unit: _Unit) -> Chosen:
    """`chosen` plus this unit and what it needs to be read: a short list or table its other items or rows, a
    sentence the one after it (and the one before it when it refers back to it), or the block it introduces
    (ending in ':')."""
    grown = {key: set(parts) for key, parts in chosen.items()}
    grown.setdefault((unit.rank, unit.block), set()).add(unit.part)
    blocks = passages[unit.rank].blocks
    block = blocks[unit.block]
    if block.kind is not BlockKind.PROSE:
        if block.kind is not BlockKind.CODE and len("\n".join(block.parts)) <= WHOLE_BLOCK_CHARS:
            grown[(unit.rank, unit.block)].update(range(len(block.parts)))  # an item reads best in its list
        return grown
    if unit.part > 0 and _REFERS_BACK.match(block.parts[unit.part]):
        grown[(unit.rank, unit.block)].add(unit.part - 1)
    if unit.part + 1 < len(block.parts):
        # The answer often follows the sentence that words the question: "Sometimes you want X. Use Y."
        grown[(unit.rank, unit.block)].add(unit.part + 1)
    elif unit.block + 1 < len(blocks) and blocks[unit.block + 1].lead == block.parts[unit.part]:
        following = blocks[unit.block + 1]
        whole = len("\n".join(following.parts)) <= WHOLE_BLOCK_CHARS
        grown.setdefault((unit.rank, unit.block + 1), set()).update(range(len(following.parts)) if whole else {0})
    return grown


def _select(ranking: Ranking, passages: list[_Passage], max_items: int, budget: int, skip: Chosen) -> Chosen:
    """The best units, with what they bring along, while they fit the budget; none of those in `skip`."""
    chosen: Chosen = {}
    taken = 0
    best = max(c.evidence for c in ranking)
    for _, evidence, unit in ranking:
        if taken >= max_items:
            break
        if taken >= MIN_ITEMS and evidence < RELATIVE_CUTOFF * best:
            continue
        key = (unit.rank, unit.block)
        if unit.part in chosen.get(key, set()) | skip.get(key, set()):
            continue
        candidate = _with(chosen, passages, unit)
        if len("\n\n".join(_render(passages, candidate))) <= budget:
            chosen = candidate
            taken += 1
    return chosen


def _ask(part: str) -> str:
    """A part of the question as the heading over its quotes."""
    part = part[0].upper() + part[1:]
    return f"**{part if part.endswith('?') else part + '?'}**"


def _page_list(hits: list[Hit], skip: set[str], limit: int) -> str:
    lines: list[str] = []
    seen = set(skip)
    for number, hit in enumerate(hits, start=1):
        if hit.source_url in seen:
            continue
        seen.add(hit.source_url)
        lines.append(f"- {hit.title or hit.source_url} [{number}]")
        if len(lines) == limit:
            break
    return "\n".join(lines)


def _not_found(hits: list[Hit]) -> str:
    pages = _page_list(hits, set(), CLOSEST_LISTED)
    return f"{NOT_FOUND}\n\n{CLOSEST_PAGES}\n{pages}" if pages else NOT_FOUND


class _Draft:
    """An answer in two steps: its opening from lexical evidence alone, streamed at once, then the quotes,
    chosen after the (slower) embedder has re-ranked the candidates."""

    def __init__(self, question: str, hits: list[Hit], covered: bool, off_topic: bool = False) -> None:
        self.hits = hits
        self.covered = covered
        self.passages = _passages(hits)
        units = _units(self.passages)
        asked = question_parts(question) if covered else [question]
        self.parts = [(part, ranking) for part in asked if (ranking := _ranked(part, self.passages, units))]
        if not covered and (off_topic or closest_share(question, units) < CLOSEST_MIN_SHARE):
            self.parts = []  # nothing close enough to quote: the closest pages are listed instead
        if covered and not self.parts and units:
            # Retrieval judged the top passage relevant though no word matches (a paraphrase): quote its start.
            self.parts = [(question, [_Candidate(1.0, 1.0, unit) for unit in units if unit.rank == 0][:MIN_ITEMS])]
        self.used: set[int] = set()

    @property
    def opening(self) -> str:
        if not self.parts:
            return _not_found(self.hits)
        return LEAD if self.covered else NOT_DIRECT

    def rest(self, similarity: Similarity | None) -> str:
        """Everything after the opening; `used` then holds the ranks of the passages quoted."""
        if not self.parts:
            return ""
        if similarity:
            limit = max(EMBED_UNITS // len(self.parts), MIN_ITEMS)
            self.parts = [(part, _reranked(part, ranking, similarity, limit)) for part, ranking in self.parts]
        return self._answer() if self.covered else self._closest()

    def _answer(self) -> str:
        """Quotes for each part of the question in turn, each under its own words when there are several."""
        budget = (MAX_ANSWER_CHARS - len(LEAD)) // len(self.parts)
        items = max(MAX_ITEMS // len(self.parts), MIN_ITEMS)
        sections: list[str] = []
        shown: Chosen = {}
        for part, ranking in self.parts:
            chosen = _select(ranking, self.passages, items, budget, shown)
            if not chosen:
                continue
            for key, quoted in chosen.items():
                shown.setdefault(key, set()).update(quoted)
            sections += [_ask(part)] if len(self.parts) > 1 else []
            sections += _render(self.passages, chosen)
        self.used = {rank for rank, _ in shown}
        if not shown:  # every candidate is longer than an answer: point to the pages instead
            return f"\n\n{CLOSEST_PAGES}\n{_page_list(self.hits, set(), CLOSEST_LISTED)}"
        return "".join(f"\n\n{section}" for section in sections)

    def _closest(self) -> str:
        """Not judged covered: the closest passage, labelled as such, so the reader still sees what there is."""
        ranking = self.parts[0][1]
        best = ranking[0].unit.rank
        closest = [c for c in ranking if c.unit.rank == best]
        chosen = _select(closest, self.passages, MAX_CLOSEST_ITEMS, MAX_ANSWER_CHARS // 2, {})
        quotes = [text for text in _render(self.passages, chosen) if not text.startswith("*")]
        others = _page_list(self.hits, skip={self.hits[best].source_url}, limit=CLOSEST_LISTED - 1)
        self.used = {best}
        label = CLOSEST.format(where=self.passages[best].where, marker=f"[{best + 1}]")
        tail = [f"{OTHER_PAGES}\n{others}"] if others else []
        return f" {label}" + "".join(f"\n\n{text}" for text in [*quotes, *tail])


def _deltas(text: str) -> Iterator[str]:
    pieces = _DELTA_PIECE.findall(text)
    for start in range(0, len(pieces), WORDS_PER_DELTA):
        yield "".join(pieces[start : start + WORDS_PER_DELTA])


class ExtractiveProvider:
    """Answers by quoting the retrieved passages verbatim with [n] citations; offline and deterministic.

    Token usage is estimated with `count_tokens` so extractive answers appear in usage figures like model
    answers do. With an `embedder`, the best lexical candidates are re-ranked by their similarity to the
    question, after the answer's opening has been streamed.
    """

    def __init__(self, count_tokens: Callable[[list[str]], list[int]], embedder: Embedder | None = None) -> None:
        self._count_tokens = count_tokens
        self._embedder = embedder

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

    def _similarity(self, question: str, texts: list[str]) -> list[float]:
        assert self._embedder is not None
        if not texts:
            return []
        vectors = self._embedder.embed_documents(texts)
        return [float(s) for s in vectors @ self._embedder.embed_query(question)]  # unit vectors: cosines

    def generate(self, request: AnswerRequest) -> Iterator[TextDelta | MetadataEvent]:
        draft = _Draft(request.question, request.hits, request.covered, request.off_topic)
        answer = draft.opening
        for delta in _deltas(answer):
            yield TextDelta(delta)
        rest = draft.rest(self._similarity if self._embedder else None)
        for delta in _deltas(rest):
            yield TextDelta(delta)
        answer += rest
        prompt = [request.question, *(request.hits[rank].content for rank in sorted(draft.used))]
        yield MetadataEvent(
            is_uncertain=not (request.covered and draft.used),
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
