"""BEIR-format datasets: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from docsage.errors import InvalidInputError
from docsage.evaluation.metrics import Qrels


@dataclass
class BeirDoc:
    id: str
    title: str
    text: str
    url: str


@dataclass
class BeirDataset:
    name: str
    corpus: list[BeirDoc]
    queries: dict[str, str]
    qrels: Qrels


def load_beir(path: str | Path, split: str = "test") -> BeirDataset:
    root = Path(path).expanduser()
    corpus_file, queries_file, qrels_file = (
        root / "corpus.jsonl",
        root / "queries.jsonl",
        root / "qrels" / f"{split}.tsv",
    )
    for f in (corpus_file, queries_file, qrels_file):
        if not f.is_file():
            raise InvalidInputError(f"not a BEIR dataset folder: {f} is missing")
    corpus: list[BeirDoc] = []
    with corpus_file.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                corpus.append(
                    BeirDoc(
                        str(row["_id"]),
                        row.get("title", ""),
                        row.get("text", ""),
                        row.get("url") or f"beir://{root.name}/{row['_id']}",
                    )
                )
    qrels: Qrels = {}
    with qrels_file.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries: dict[str, str] = {}
    with queries_file.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if str(row["_id"]) in qrels:
                    queries[str(row["_id"])] = row["text"]
    return BeirDataset(root.name, corpus, queries, qrels)
