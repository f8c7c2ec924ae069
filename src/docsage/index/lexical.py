"""Lexical side of the index: the analyzer (lower-case, stopwords, Snowball stems) whose terms BM25 scores.

BM25 itself is scored over in-memory postings (index/postings.py) instead of SQLite FTS5: at 100,000
chunks FTS5's bm25() took ~230 ms per query (it scores every matching row through the SQL VM), numpy
arrays take a few milliseconds. Postings are appended incrementally as chunks are written and dead rows
are masked, so a write never forces a full rebuild.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

from docsage.index.stopwords import STOPWORDS

TOKEN = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def analyze(text: str) -> list[str]:
    """Index terms of a text: lower-cased word tokens minus stopwords, Snowball-stemmed."""
    words = [w for w in TOKEN.findall(text.lower()) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return list(_stemmer().stemWords(words))
