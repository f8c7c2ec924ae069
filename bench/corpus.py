"""A synthetic documentation corpus of any size for bench/postgres.py: distinct vectors distributed like real
MiniLM embeddings of documentation chunks, each with text recombined from the real chunks of its topic.

Why not copies of the real chunks with noise (what the bench used first): 78 noisy copies of 1,279 chunks
put a few hundred near-ties around every query (median gap between the 10th and 11th score 0.0006), which
no real corpus has; HNSW recall@10 on it was 0.76. Why not embed a million texts for real: MiniLM embeds
13-25 chunks/s on the two shared cores here, 11-20 hours. So:

1. the real corpus (anthropic_docs pages, 1,279 chunks) is ingested and embedded;
2. a few thousand new chunks are made from it the way another chunking would make them (the second half
   of one chunk with the first half of the next on its page, or halves of two chunks of one page) and
   embedded for real;
3. a Gaussian mixture is fitted to those real embeddings (one component at each, with the covariance of its
   nearest neighbours: `Mixture`) and the corpus's vectors are drawn from it, normalised;
4. each vector's text is recombined from the real chunk it was drawn around and one of that chunk's
   neighbours, so BM25 sees documentation text (real vocabulary, lengths and term frequencies) on the
   same topic as the vector.

`neighbour_stats` checks step 3 with the mixture fitted to one half of the real embeddings, against the
other half at the same size: the best cosine of the 100 real questions (and of held-out chunks), the
gap between their 10th and 11th neighbours (ties make ANN recall hard) and the local intrinsic
dimensionality of their 20 nearest neighbours (Amsaleg et al.'s MLE; it predicts how hard a query is for
graph indexes, Aumüller & Ceccarello 2021). The noisy copies fail it by far (LID ~110-120 against ~15 for
real questions and ~6 for real chunks, gap 0.0005 against 0.004); the mixture errs slightly on the hard
side (LID ~18 and ~7). At a million chunks no real reference exists; the bench prints the statistics of
the corpus it built beside the real ones.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import text

from docsage.benchmarks import load_pages
from docsage.config import Settings
from docsage.services import Services

Matrix = npt.NDArray[np.float32]
SENTENCES = re.compile(r"(?<=[.!?:])\s+|\n+")
# Chosen on a held-out half of the seed embeddings (bench/postgres.py prints the comparison): with 16
# neighbours and half their spread the draws' neighbour statistics are closest to the real ones while
# erring on the hard side (higher LID); a full spread or 32 neighbours drifted further.
NEIGHBOURS = 16
WIDTH = 0.5


@dataclass
class Seed:
    """Real chunks (ingested, or recombined and embedded) with their embeddings, row for row."""

    titles: list[str]
    pages: list[str]
    headings: list[str]
    texts: list[str]
    token_counts: list[int]
    vectors: Matrix

    def save(self, path: Path) -> None:
        meta = {k: getattr(self, k) for k in ("titles", "pages", "headings", "texts", "token_counts")}
        path.with_suffix(".json").write_text(json.dumps(meta))
        np.save(path.with_suffix(".npy"), self.vectors)

    @classmethod
    def load(cls, path: Path) -> Seed | None:
        if not path.with_suffix(".json").exists() or not path.with_suffix(".npy").exists():
            return None
        return cls(**json.loads(path.with_suffix(".json").read_text()), vectors=np.load(path.with_suffix(".npy")))

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: npt.NDArray[np.int64]) -> Seed:
        pick = rows.tolist()
        return Seed(
            [self.titles[i] for i in pick],
            [self.pages[i] for i in pick],
            [self.headings[i] for i in pick],
            [self.texts[i] for i in pick],
            [self.token_counts[i] for i in pick],
            self.vectors[rows],
        )

    def __add__(self, other: Seed) -> Seed:
        return Seed(
            self.titles + other.titles,
            self.pages + other.pages,
            self.headings + other.headings,
            self.texts + other.texts,
            self.token_counts + other.token_counts,
            np.concatenate([self.vectors, other.vectors]),
        )


def real_seed(settings: Settings, pages: Path, cache: Path, log: Callable[[str], None]) -> Seed:
    """The real corpus, chunked and embedded by an ordinary ingest in a scratch SQLite home."""
    path = cache / "real"
    if (seed := Seed.load(path)) is not None:
        return seed
    services = Services(settings.model_copy(update={"home": cache / "real-home", "database_url": ""}))
    project = services.projects.create_project("bench-real")
    source = services.projects.add_source(project.id, "upload", "bench://real")
    summary = services.ingest.ingest_items(source, iter(load_pages(pages)), complete_listing=True)
    log(f"real corpus: {summary.chunks:,} chunks embedded in {summary.seconds:.0f} s")
    with services.database.session() as session:
        rows = session.execute(
            text(
                "SELECT d.title, d.url, c.heading_path, c.text, c.token_count, c.embedding FROM chunks c "
                "JOIN documents d ON d.id = c.document_id WHERE c.project_id = :p ORDER BY c.pk"
            ),
            {"p": project.id},
        ).all()
    services.database.dispose()
    vectors = np.frombuffer(b"".join(r[5] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    seed = Seed([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                [r[4] for r in rows], vectors.copy())  # fmt: skip
    seed.save(path)
    return seed


def _sentences(chunk: str) -> list[str]:
    return [s for s in SENTENCES.split(chunk) if s.strip()]


def _join(first: str, second: str, rng: random.Random) -> str:
    """The head of one text's sentences and the tail of the other's, about one chunk long together."""
    a, b = _sentences(first), _sentences(second)
    if len(a) < 2 or len(b) < 2:
        words_a, words_b = first.split(), second.split()
        return " ".join(words_a[: max(1, len(words_a) // 2)] + words_b[len(words_b) // 2 :])
    cut_a, cut_b = rng.randint(1, len(a) - 1), rng.randint(1, len(b) - 1)
    return " ".join(a[cut_a:] + b[:cut_b]) if rng.random() < 0.5 else " ".join(a[:cut_a] + b[cut_b:])


def recombined_seed(
    real: Seed, n: int, settings: Settings, cache: Path, log: Callable[[str], None], batch: int = 256
) -> Seed:
    """`n` new chunks another chunking could have made (windows across two chunks of one page), embedded."""
    path = cache / f"recombined-{n}"
    if (seed := Seed.load(path)) is not None:
        return seed
    rng = random.Random(11)
    by_page: dict[str, list[int]] = {}
    for i, page in enumerate(real.pages):
        by_page.setdefault(page, []).append(i)
    rows: list[tuple[int, str]] = []
    while len(rows) < n:
        i = rng.randrange(len(real))
        same_page = by_page[real.pages[i]]
        if len(same_page) < 2:
            continue
        pos = same_page.index(i)
        # Mostly the next chunk (a shifted window), sometimes any other chunk of the page.
        j = same_page[pos + 1] if pos + 1 < len(same_page) and rng.random() < 0.7 else rng.choice(same_page)
        if j != i:
            rows.append((i, _join(real.texts[i], real.texts[j], rng)))
    embedder = Services(settings.model_copy(update={"home": cache / "real-home", "database_url": ""})).embedder
    vectors = np.zeros((n, real.vectors.shape[1]), dtype=np.float32)
    for start in range(0, n, batch):
        part = rows[start : start + batch]
        embed = [f"{real.headings[i]}\n{body}" if real.headings[i] else body for i, body in part]
        vectors[start : start + len(part)] = embedder.embed_documents(embed)
        log(f"  recombined chunks embedded: {start + len(part):,}/{n:,}")
    seed = Seed(
        [real.titles[i] for i, _ in rows],
        [real.pages[i] for i, _ in rows],
        [real.headings[i] for i, _ in rows],
        [body for _, body in rows],
        [real.token_counts[i] for i, _ in rows],
        vectors,
    )
    seed.save(path)
    return seed


@dataclass
class Mixture:
    """Manifold Parzen windows (Vincent & Bengio, 2003): one Gaussian at each seed embedding, its covariance
    that of the embedding's nearest seeds scaled by WIDTH^2, so draws spread along the directions real
    neighbours differ in (a local tangent space of ~15 dimensions) instead of into all 384 (isotropic noise,
    which made the noisy copies a 100+-dimensional cloud around each chunk)."""

    centres: Matrix
    neighbours: npt.NDArray[np.int64]  # row i: the NEIGHBOURS seeds nearest to seed i, itself included
    width: float

    def sample(self, n: int, rng: np.random.Generator) -> tuple[npt.NDArray[np.int64], Matrix]:
        """The seed each draw centres on, and the draws, L2-normalised."""
        comps = rng.integers(0, len(self.centres), n)
        out = np.empty((n, self.centres.shape[1]), dtype=np.float32)
        order = np.argsort(comps, kind="stable")
        for rows in np.split(order, np.flatnonzero(np.diff(comps[order])) + 1):
            c = int(comps[rows[0]])
            near = self.centres[self.neighbours[c]]
            dev = near - near.mean(axis=0)
            z = rng.standard_normal((len(rows), len(dev))).astype(np.float32)
            out[rows] = self.centres[c] + np.float32(self.width / np.sqrt(len(dev) - 1)) * (z @ dev)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return comps, out


def fit_mixture(vectors: Matrix, neighbours: int = NEIGHBOURS, width: float = WIDTH) -> Mixture:
    sims = vectors @ vectors.T
    nearest = np.argpartition(-sims, neighbours - 1, axis=1)[:, :neighbours]
    return Mixture(vectors, nearest.astype(np.int64), width)


def neighbour_stats(corpus: Matrix, queries: Matrix, k: int = 20) -> dict[str, float]:
    """Medians over the queries: best cosine, gap between the 10th and 11th cosine, LID of the k nearest."""
    sims = queries @ corpus.T
    top = -np.sort(-np.partition(sims, -(k + 1), axis=1)[:, -(k + 1) :], axis=1)
    dist = np.sqrt(np.maximum(2.0 - 2.0 * top[:, :k], 1e-12))  # euclidean, between unit vectors
    lid = -1.0 / np.mean(np.log(dist / dist[:, -1:]), axis=1)
    return {
        "best cosine": float(np.median(top[:, 0])),
        "10th-11th gap": float(np.median(top[:, 9] - top[:, 10])),
        "LID@20": float(np.median(lid)),
    }


@dataclass(frozen=True)
class SyntheticChunk:
    title: str
    heading_path: str
    text: str
    token_count: int


def synthetic_texts(
    seed: Seed, mixture: Mixture, comps: npt.NDArray[np.int64], rng_seed: int
) -> Iterator[SyntheticChunk]:
    """One chunk per draw: the seed chunk it was drawn around recombined with one of that chunk's neighbours,
    under the first one's title and headings."""
    rng = random.Random(rng_seed)
    for c in comps.tolist():
        other = int(mixture.neighbours[c][rng.randrange(len(mixture.neighbours[c]))])
        yield SyntheticChunk(seed.titles[c], seed.headings[c], _join(seed.texts[c], seed.texts[other], rng),
                             (seed.token_counts[c] + seed.token_counts[other]) // 2)  # fmt: skip


def synthetic_batches(
    seed: Seed, mixture: Mixture, n: int, batch: int, rng_seed: int = 7
) -> Iterator[tuple[list[SyntheticChunk], Matrix]]:
    """The corpus in batches (texts and vectors), the same for the same arguments, never all in memory."""
    for number, start in enumerate(range(0, n, batch)):
        comps, vectors = mixture.sample(min(batch, n - start), np.random.default_rng([rng_seed, number]))
        yield list(synthetic_texts(seed, mixture, comps, rng_seed * 1_000_003 + number)), vectors


class ExactTop:
    """The exact k best corpus rows of each query by inner product, accumulated batch by batch."""

    def __init__(self, queries: Matrix, k: int = 21) -> None:
        self.queries, self.k = queries, k
        self.rows = np.zeros((len(queries), 0), dtype=np.int64)
        self.scores = np.zeros((len(queries), 0), dtype=np.float32)
        self.seen = 0

    def add(self, vectors: Matrix) -> None:
        scores = np.concatenate([self.scores, self.queries @ vectors.T], axis=1)
        rows = np.concatenate(
            [
                self.rows,
                np.broadcast_to(np.arange(self.seen, self.seen + len(vectors)), (len(self.queries), len(vectors))),
            ],
            axis=1,
        )
        best = np.argsort(-scores, axis=1, kind="stable")[:, : self.k]
        self.scores, self.rows = np.take_along_axis(scores, best, 1), np.take_along_axis(rows, best, 1)
        self.seen += len(vectors)

    def stats(self) -> dict[str, float]:
        """neighbour_stats of the questions over the whole corpus, from the kept scores."""
        top = self.scores.astype(np.float64)
        dist = np.sqrt(np.maximum(2.0 - 2.0 * top[:, : self.k - 1], 1e-12))
        lid = -1.0 / np.mean(np.log(dist / dist[:, -1:]), axis=1)
        return {
            "best cosine": float(np.median(top[:, 0])),
            "10th-11th gap": float(np.median(top[:, 9] - top[:, 10])),
            "LID@20": float(np.median(lid)),
        }
