"""Ingestion per corpus: docsage vs the LlamaIndex peer on the same pages, and each ingest lever as a ratio.

    python -m bench.ingest [--corpus DIR] [--max-chars 1200000] [--peer-venv PATH] [--compare DIR] [--sample 768]

The corpus is bench/ingest_corpus.py's (Django and SQLAlchemy docs from their sdists + eval/answers docs), cut
to every k-th page until about --max-chars characters so a run takes minutes on two cores; both sides read the
same pages (the peer a BEIR corpus.jsonl of them). One run measures:

- peer: `llamaindex_baseline.py` ingest seconds and chunks (SentenceSplitter 1,024/200 tokens, torch MiniLM,
  which embeds only the first 256 word pieces of each chunk);
- docsage: a real folder-source ingest (parse, chunk to 256 tokens, embed every chunk, write the index);
- levers, on a sample of docsage's own chunks (alternating sides, best of two, so foreign load on the shared
  cores does not land on one side only): graph layout (`--compare DIR`: another build of the model,
  `scripts/build_minilm_onnx.py DIR --keep-fp32 [--plain]`, timed against the shipped one, and the cosine of
  each to the fp32 reference), length-bucketed batches vs arrival order,
  repeated chunk texts embedded once, log/notebook-output collapsing (on the corpus, and on a rendered notebook
  page with a 5,000-line training log), two one-thread worker processes vs one two-thread process; chunk
  overlap is reported from the chunk counts (docsage's chunks do not overlap).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.ingest_corpus import build_corpus, corpus_stats, write_beir
from docsage.benchmarks import load_pages
from docsage.config import Settings
from docsage.embed.local import MiniLMEmbedder
from docsage.ingest.chunk import Chunker
from docsage.ingest.parse import parse
from docsage.services import Services

PEER = Path("/work/shared/peer/llamaindex_baseline.py")
BATCH = 32


def subset(pages: Path, into: Path, max_chars: int) -> Path:
    """Every k-th page (sorted by path) so the subset holds about `max_chars`; written with its BEIR copy."""
    files = sorted(p for p in pages.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    step = max(1, round(total / max_chars))
    out = into / "pages"
    if out.exists():
        shutil.rmtree(out)
    for path in files[::step]:
        target = out / path.relative_to(pages)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    write_beir(out, into / "beir")
    return out


def run_peer(venv: Path, beir: Path) -> dict[str, Any]:
    cmd = [str(venv / "bin" / "python"), str(PEER), "--dataset", str(beir), "--json", "--warmup", "0"]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_docsage(pages: Path) -> tuple[float, int]:
    """(seconds, chunks) of a first ingest of `pages` as a folder source, shipped model, fresh home."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), database_url="", embedding_provider="local", llm_provider="extractive")
        services = Services(settings)
        services.embedder.embed_documents(["warm up"])
        project = services.projects.create_project("bench-ingest")
        source = services.projects.add_source(project.id, "folder", str(pages.resolve()))
        run = services.ingest.run(source.id)
        services.database.engine.dispose()
    assert run.status == "succeeded", run
    return run.seconds, run.chunks


def best_of(rounds: int, *sides: Any) -> list[float]:
    """Each side's best wall time over `rounds`, the sides alternating within a round."""
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(rounds):
        for i, side in enumerate(sides):
            start = time.perf_counter()
            side()
            times[i].append(time.perf_counter() - start)
    return [min(t) for t in times]


def arrival_order(embedder: MiniLMEmbedder, texts: list[str]) -> None:
    """Batches of 32 in document order (no length sorting): what embedding without bucketing costs."""
    for start in range(0, len(texts), BATCH):
        embedder._run(texts[start : start + BATCH])


_WORKER: dict[str, MiniLMEmbedder] = {}  # the worker process's one-thread embedder


def _init_worker(model: str) -> None:
    _WORKER["embedder"] = MiniLMEmbedder(threads=1, model_path=model)
    _WORKER["embedder"].embed_documents(["warm up"])


def _embed_part(texts: list[str]) -> int:
    return len(_WORKER["embedder"].embed_documents(texts))


def rendered_notebook(lines: int = 5000) -> bytes:
    """A notebook page as a docs site renders it: prose, a code cell, and its training log in a <pre>."""
    log = "\n".join(
        f"Epoch {i + 1}/{lines} - 0s 2ms/step - loss: {1 / (i + 2):.4f} - val_accuracy: 0.9{i % 89}"
        for i in range(lines)
    )
    return (
        "<html><body><main><h1>Training the Skyloom classifier</h1>"
        "<p>Fit the classifier for many epochs and watch the validation accuracy.</p>"
        "<pre><code class='language-python'>model.fit(x, y, epochs=5000)</code></pre>"
        f"<pre>{log}</pre><p>The accuracy plateaus after a few hundred epochs.</p></main></body></html>"
    ).encode()


def cosines(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    cos = (a * b).sum(axis=1)
    return float(cos.mean()), float(cos.min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "docsage-ingest-corpus")
    parser.add_argument("--max-chars", type=int, default=1_200_000)
    parser.add_argument("--peer-venv", type=Path, default=Path(os.environ.get("PEER_VENV", ".peer-venv")))
    parser.add_argument(
        "--compare", type=Path, help="a scripts/build_minilm_onnx.py --keep-fp32 output dir (--plain: unfused)"
    )
    parser.add_argument("--sample", type=int, default=768, help="chunks the embedding levers are timed on")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()
    out: dict[str, Any] = {"loadavg_before": os.getloadavg()[0], "cpus": os.cpu_count()}

    pages = subset(build_corpus(args.corpus), args.corpus / "subset", args.max_chars)
    n_pages, n_chars = corpus_stats(pages)
    out["corpus"] = {"pages": n_pages, "chars": n_chars}
    print(f"corpus: {n_pages} pages, {n_chars:,} characters")

    # 1. the same pages, both pipelines, one after the other
    if not args.skip_peer:
        peer = run_peer(args.peer_venv, args.corpus / "subset" / "beir")
        out["peer"] = {"seconds": peer["ingest"]["total_s"], "chunks": peer["n_chunks"]}
        print(f"peer: {peer['ingest']['total_s']:.1f} s, {peer['n_chunks']:,} chunks")
    seconds, chunks = run_docsage(pages)
    out["docsage"] = {"seconds": round(seconds, 2), "chunks": chunks}
    print(f"docsage: {seconds:.1f} s, {chunks:,} chunks ({chunks / seconds:.1f} chunks/s)")
    if "peer" in out:
        ratio = seconds / out["peer"]["seconds"]
        out["docsage_over_peer_seconds"] = round(ratio, 3)
        print(f"docsage / peer seconds: {ratio:.3f}")

    # 2. levers, on docsage's own chunks
    embedder = MiniLMEmbedder()
    chunker = Chunker(embedder.count_tokens, embedder.chunk_tokens)  # the size ingestion uses by default
    plain_chunker = Chunker(embedder.count_tokens, embedder.chunk_tokens, collapse_repeats=False)
    docs = [parse(d.raw, d.fmt, d.url) for d in load_pages(pages)]
    texts = [c.embed_text for d in docs for c in chunker.chunk(d)]
    uncollapsed = sum(len(plain_chunker.chunk(d)) for d in docs)
    tokens = embedder.count_tokens(texts)
    out["chunks"] = {"count": len(texts), "mean_tokens": round(float(np.mean(tokens)), 1)}
    distinct = len(set(texts))
    out["dedupe"] = {"chunks": len(texts), "distinct": distinct, "embed_work_ratio": round(distinct / len(texts), 4)}
    print(
        f"repeated chunk texts embedded once: {len(texts):,} -> {distinct:,} embeddings ({distinct / len(texts):.4f})"
    )
    out["collapse_corpus"] = {"without": uncollapsed, "with": len(texts)}
    print(f"log/output collapsing on the corpus: {uncollapsed:,} -> {len(texts):,} chunks")
    nb = parse(rendered_notebook(), "html", "https://docs.example/train.html")
    nb_with, nb_without = len(chunker.chunk(nb)), len(plain_chunker.chunk(nb))
    out["collapse_notebook"] = {"without": nb_without, "with": nb_with}
    print(f"rendered notebook, 5,000-line log: {nb_without:,} -> {nb_with} chunks")
    if "peer" in out:
        # The peer's 200-token overlap re-reads text; docsage's chunks do not overlap (0 repeated tokens).
        out["overlap"] = {"peer_chunk_tokens": 1024, "peer_overlap_tokens": 200, "docsage_overlap_tokens": 0}

    step = max(1, len(texts) // args.sample)
    sample = texts[::step][: args.sample]
    embedder.embed_documents(sample[:64])
    sorted_s, arrival_s = best_of(2, lambda: embedder.embed_documents(sample), lambda: arrival_order(embedder, sample))
    out["bucketing"] = {
        "sorted_s": round(sorted_s, 2),
        "arrival_s": round(arrival_s, 2),
        "speedup": arrival_s / sorted_s,
    }
    print(f"length-bucketed batches: {arrival_s:.1f} s -> {sorted_s:.1f} s ({arrival_s / sorted_s:.3f}x)")

    if args.compare:
        fused = MiniLMEmbedder(model_path=str(args.compare / "model.onnx"))
        fused.embed_documents(sample[:64])
        shipped_s, fused_s = best_of(2, lambda: embedder.embed_documents(sample), lambda: fused.embed_documents(sample))
        reference = MiniLMEmbedder(model_path=str(args.compare / "reference_fp32.onnx")).embed_documents(sample)
        ship_cos = cosines(embedder.embed_documents(sample), reference)
        fused_cos = cosines(fused.embed_documents(sample), reference)
        out["model_build"] = {
            "shipped_s": round(shipped_s, 2),
            "other_s": round(fused_s, 2),
            "shipped_speedup": fused_s / shipped_s,
            "shipped_cos_mean_min": ship_cos,
            "other_cos_mean_min": fused_cos,
        }
        print(
            f"model build {args.compare}: {fused_s:.1f} s, shipped {shipped_s:.1f} s "
            f"(shipped {fused_s / shipped_s:.3f}x as fast); cosine to fp32 mean/min "
            f"shipped {ship_cos[0]:.4f}/{ship_cos[1]:.4f}, "
            f"other {fused_cos[0]:.4f}/{fused_cos[1]:.4f}"
        )

    halves = [sample[0::2], sample[1::2]]
    with mp.get_context("spawn").Pool(2, initializer=_init_worker, initargs=("",)) as pool:
        pool.map(_embed_part, [["warm up"], ["warm up"]])
        one_s, two_s = best_of(2, lambda: embedder.embed_documents(sample), lambda: pool.map(_embed_part, halves))
    out["workers"] = {"one_process_2_threads_s": round(one_s, 2), "two_processes_1_thread_s": round(two_s, 2)}
    print(f"two 1-thread workers vs one 2-thread process: {one_s:.1f} s -> {two_s:.1f} s ({one_s / two_s:.3f}x)")
    out["loadavg_after"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
