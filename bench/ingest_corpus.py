"""The ingestion bench's documentation corpus: docs shipped in PyPI source distributions, built into a folder.

`build_corpus(DIR)` downloads the pinned sdists with pip (the docs are in the sdists, not the wheels), copies
their documentation pages into DIR/pages/<project>/..., adds this repository's eval/answers/*/docs, and writes
DIR/beir/ (corpus.jsonl, one row per page: the page's file text, titled by its path; a few queries and qrels)
so that the LlamaIndex peer reads exactly the same pages. Nothing here is committed; DIR is reused when present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SdistDocs:
    requirement: str  # name==version, fetched as an sdist
    folders: tuple[str, ...]  # documentation folders inside the sdist (relative to its top directory)
    suffixes: tuple[str, ...]  # page files; Django's reStructuredText pages are named .txt


SDISTS = (
    SdistDocs("Django==5.1.4", ("docs/topics", "docs/howto", "docs/intro", "docs/faq"), (".txt",)),
    SdistDocs("SQLAlchemy==2.0.36", ("doc/build/orm", "doc/build/tutorial", "doc/build/faq"), (".rst",)),
)
# Questions for the peer's (untimed) retrieval pass: it needs queries and qrels; ingestion is what is compared.
QUERIES = (
    ("q1", "How do I define a many-to-many relationship?", "sqlalchemy/orm/basic_relationships.rst"),
    ("q2", "How do I write a custom management command?", "django/howto/custom-management-commands.rst"),
    ("q3", "How can I cache a view?", "django/topics/cache.rst"),
    ("q4", "How do I use a session to add objects?", "sqlalchemy/orm/session_basics.rst"),
)


def _fetch(requirement: str, into: Path) -> Path:
    name = requirement.split("==", maxsplit=1)[0]
    # --no-binary for this one project only: its build dependencies may still come as wheels, so pip does
    # not compile Cython to read the sdist's metadata.
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", name, "-d", str(into)]
    subprocess.run([*cmd, requirement], check=True)
    wanted = name.lower().replace("-", "_")
    return next(p for p in into.glob("*.tar.gz") if p.name.lower().replace("-", "_").startswith(wanted))


def _copy_sdist_docs(sdist: Path, spec: SdistDocs, pages: Path) -> int:
    project = spec.requirement.split("==")[0].lower()
    copied = 0
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            _, _, rel = member.name.partition("/")
            folder = next((f for f in spec.folders if rel.startswith(f + "/")), None)
            if not member.isfile() or folder is None or not rel.endswith(spec.suffixes):
                continue
            # Keep the path below the docs root (docs/ or doc/build/); reStructuredText gets its own suffix.
            root = folder.rsplit("/", 1)[0]
            target = pages / project / Path(rel[len(root) + 1 :]).with_suffix(".rst")
            target.parent.mkdir(parents=True, exist_ok=True)
            data = tar.extractfile(member)
            if data is not None:
                target.write_bytes(data.read())
                copied += 1
    return copied


def build_corpus(directory: Path, log: object = print) -> Path:
    """DIR/pages (the folder docsage ingests) and DIR/beir (the same pages for the peer); returns DIR/pages."""
    pages = directory / "pages"
    done = directory / ".complete"
    if done.exists():
        return pages
    if pages.exists():
        shutil.rmtree(pages)
    pages.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in SDISTS:
            sdist = _fetch(spec.requirement, Path(tmp))
            n = _copy_sdist_docs(sdist, spec, pages)
            log(f"corpus: {n} pages from {sdist.name}")  # type: ignore[operator]
    for docs in sorted((ROOT / "eval" / "answers").glob("*/docs")):
        shutil.copytree(docs, pages / f"eval-{docs.parent.name}")
    write_beir(pages, directory / "beir")
    done.write_text("ok\n")
    return pages


def write_beir(pages: Path, beir: Path) -> None:
    """One corpus row per page file, as a LlamaIndex user's SimpleDirectoryReader would read it."""
    beir.mkdir(parents=True, exist_ok=True)
    (beir / "qrels").mkdir(exist_ok=True)
    with open(beir / "corpus.jsonl", "w", encoding="utf-8") as out:
        for path in sorted(p for p in pages.rglob("*") if p.is_file()):
            rel = path.relative_to(pages).as_posix()
            text = path.read_text(encoding="utf-8", errors="replace")
            out.write(json.dumps({"_id": rel, "title": path.stem, "text": text}) + "\n")
    with open(beir / "queries.jsonl", "w", encoding="utf-8") as out:
        for qid, question, _ in QUERIES:
            out.write(json.dumps({"_id": qid, "text": question}) + "\n")
    with open(beir / "qrels" / "test.tsv", "w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for qid, _, page in QUERIES:
            out.write(f"{qid}\t{page}\t1\n")


def corpus_stats(pages: Path) -> tuple[int, int]:
    """(pages, characters) of the document files under `pages`."""
    files = [p for p in pages.rglob("*") if p.is_file()]
    return len(files), sum(len(p.read_text(encoding="utf-8", errors="replace")) for p in files)
