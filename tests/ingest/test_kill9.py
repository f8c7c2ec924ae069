"""`docsage ingest` killed with SIGKILL mid-run leaves a consistent index, and the next run completes it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from contextlib import closing
from pathlib import Path

from conftest import DOCSAGE_EXE, Cli, cli_env
from databases import TestConnection

DOCS = 150
SECTIONS = 4  # each section becomes its own chunk, so a run holds several embed-and-commit batches
WORDS_PER_SECTION = 60
# fmt: off
VOCABULARY = [
    "vault", "sync", "daemon", "token", "region", "cache", "block", "upload", "download", "retry", "quota",
    "webhook", "signature", "archive", "folder", "share", "member", "team", "policy", "audit", "export",
    "import", "bridge", "client", "server", "request", "response", "latency", "bandwidth", "throttle",
    "schedule", "snapshot", "restore", "version", "conflict", "merge", "replica", "mirror", "encryption", "key",
    "rotation", "certificate", "proxy", "gateway", "endpoint", "payload", "header", "session", "timeout",
    "backoff", "checksum", "manifest",
]
# fmt: on


def write_corpus(folder: Path) -> None:
    rng = random.Random(9)
    folder.mkdir()
    for n in range(DOCS):
        parts = [f"# Skyloom guide {n:03d}\n"]
        for s in range(SECTIONS):
            words = " ".join(rng.choice(VOCABULARY) for _ in range(WORDS_PER_SECTION))
            parts.append(f"## Topic {n:03d}.{s}\n\nGuide {n} section {s}: {words}.\n")
        (folder / f"guide-{n:03d}.md").write_text("\n".join(parts), encoding="utf-8")


def assert_consistent(conn: TestConnection) -> None:
    def scalar(sql: str) -> object:
        return conn.execute(sql).fetchone()[0]

    if not conn.is_postgresql:  # a check of the SQLite file; PostgreSQL replays its WAL after a crash
        assert scalar("PRAGMA integrity_check") == "ok"
    mismatched = conn.execute(
        "SELECT url, chunk_count, n FROM (SELECT d.url, d.chunk_count, "
        "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id) AS n FROM documents d) AS counted "
        "WHERE chunk_count != n"
    ).fetchall()
    assert not mismatched, f"documents whose chunk_count disagrees with their chunks: {mismatched[:5]}"
    assert scalar("SELECT count(*) FROM chunks c WHERE c.document_id NOT IN (SELECT id FROM documents)") == 0
    dimensions = "vector_dims(embedding)" if conn.is_postgresql else "length(embedding) / 4"
    assert scalar(f"SELECT count(*) FROM chunks WHERE embedding IS NULL OR {dimensions} != 384") == 0
    # the lexical terms are stored on each chunk row, in the same transaction as its text and vector
    assert scalar("SELECT count(*) FROM chunks WHERE lex IS NULL OR (lex = '' AND length(text) > 40)") == 0


def test_kill_9_mid_ingest_leaves_a_consistent_index_that_the_next_run_completes(run_cli: Cli, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    cli = run_cli
    project = cli.json("project", "create", "--name", "kill9")
    cli.json("source", "add", "--project", project["id"], "--type", "folder", "--path", corpus)

    proc = subprocess.Popen(
        [str(DOCSAGE_EXE), "ingest", "--project", project["id"]],
        env=cli_env(cli.home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    committed = 0
    deadline = time.monotonic() + 120
    try:
        with closing(cli.connect()) as conn:
            while committed == 0 and proc.poll() is None and time.monotonic() < deadline:
                committed = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
                if committed == 0:
                    time.sleep(0.01)
        assert proc.poll() is None, "ingest finished before it could be killed; make the corpus bigger"
        assert committed > 0, "no document was committed within the deadline"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with closing(cli.connect()) as conn:
        assert_consistent(conn)
        survivors = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        [(killed_run, status)] = conn.execute("SELECT id, status FROM ingest_runs").fetchall()
        conn.commit()
    assert 0 < survivors < DOCS, f"the kill should land mid-run ({survivors} of {DOCS} documents committed)"
    assert status == "running"

    resumed = cli("ingest", "--project", project["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    [summary] = json.loads(resumed.stdout)
    assert summary["status"] == "succeeded"
    assert summary["unchanged"] == survivors, "documents committed before the kill must not be re-embedded"
    assert summary["added"] == DOCS - survivors
    assert (summary["updated"], summary["deleted"], summary["failed"]) == (0, 0, 0)

    with closing(cli.connect()) as conn:
        assert_consistent(conn)
        urls = [r[0] for r in conn.execute("SELECT url FROM documents")]
        runs = dict(conn.execute("SELECT id, status FROM ingest_runs").fetchall())
        conn.commit()
    assert len(urls) == len(set(urls)) == DOCS
    assert {Path(u).name for u in urls} == {f"guide-{n:03d}.md" for n in range(DOCS)}
    assert runs.pop(killed_run) == "interrupted"
    assert list(runs.values()) == ["succeeded"]
