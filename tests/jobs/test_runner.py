"""`docsage worker` processes run the jobs `docsage serve` queues, and take over a job whose worker was killed.

The server here runs no jobs itself (DOCSAGE_JOB_WORKERS=0), as in a deployment with dedicated workers; uploads
through its API are the jobs.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import DOCSAGE_EXE, Cli, LiveServer, cli_env, serve

REFUND = b"# Refund policy\n\nRefunds are available within 14 days of purchase, paid back within 5 business days.\n"
STALE_AFTER_S = "2"


def _runbook(sections: int) -> bytes:
    return b"# Runbook\n\n" + b"".join(
        f"## Step {n}\n\nRotate relay key r{n}x on node {n % 97}; if ledger l{n * 7} disagrees, open ticket "
        f"t{n} and page shard {n % 31}.\n\n".encode()
        for n in range(1, sections + 1)
    )


class Api:
    def __init__(self, server: LiveServer, secret: str) -> None:
        self.client = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=60)

    def upload(self, filename: str, data: bytes) -> dict[str, Any]:
        resp = self.client.post(
            "/api/v1/documents", params={"wait": 0}, files={"file": (filename, data, "text/markdown")}
        )
        assert resp.status_code == 202, resp.text
        return dict(resp.json()["document"])

    def document(self, document_id: str) -> dict[str, Any]:
        resp = self.client.get(f"/api/v1/documents/{document_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json()["document"])

    def wait_for(self, document_id: str, statuses: set[str], timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while (doc := self.document(document_id))["status"] not in statuses:
            assert time.monotonic() < deadline, f"still {doc['status']} after {timeout_s} s: {doc}"
            time.sleep(0.1)
        return doc


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Cli, Api]]:
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(home)
    project = cli.json("project", "create", "--name", "Workers")["id"]
    key = cli.json("key", "create", "--project", project, "--scheme", "bearer")["key"]
    env = {"DOCSAGE_JOB_WORKERS": "0", "DOCSAGE_JOB_STALE_AFTER_S": STALE_AFTER_S}
    with serve(home, env) as server:
        api = Api(server, key)
        try:
            yield cli, api
        finally:
            api.client.close()


@contextmanager
def worker(cli: Cli) -> Iterator[subprocess.Popen[bytes]]:
    env = {**cli_env(cli.home), "DOCSAGE_JOB_STALE_AFTER_S": STALE_AFTER_S}
    proc = subprocess.Popen([str(DOCSAGE_EXE), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_upload_waits_queued_until_a_worker_runs_it(setup: tuple[Cli, Api]) -> None:
    cli, api = setup
    doc = api.upload("refund.md", REFUND)
    time.sleep(1.5)  # the server runs no jobs: nothing happens to it
    assert api.document(doc["id"])["status"] == "queued"
    ran = cli("worker", "--once")
    assert ran.returncode == 0 and "ran 1 job" in ran.stdout, ran
    done = api.document(doc["id"])
    assert (done["status"], done["error"]) == ("ready", None) and done["chunks"] >= 1, done


def test_job_of_a_killed_worker_is_finished_by_another(setup: tuple[Cli, Api]) -> None:
    cli, api = setup
    data = _runbook(600)
    with worker(cli) as first:
        doc = api.upload("runbook.md", data)
        api.wait_for(doc["id"], {"processing"}, timeout_s=30)
        first.kill()  # SIGKILL: no chance to hand the job back
    time.sleep(0.5)
    assert api.document(doc["id"])["status"] == "processing", "nobody noticed yet: its run is still open"
    with worker(cli):
        done = api.wait_for(doc["id"], {"ready", "failed"}, timeout_s=90)
    assert (done["status"], done["error"]) == ("ready", None), done
    with closing(cli.connect()) as conn:
        chunks = [r[0] for r in conn.execute("SELECT text FROM chunks WHERE document_id = ?", (doc["id"],))]
        runs = [r[0] for r in conn.execute("SELECT status FROM ingest_runs ORDER BY started_at")]
        (attempts,) = conn.execute("SELECT attempts FROM jobs WHERE id = ?", (doc["job_id"],)).fetchone()
    assert len(chunks) == done["chunks"] == len(set(chunks)) > 0
    assert any("open ticket t1 and" in t for t in chunks) and any("open ticket t600 and" in t for t in chunks)
    assert "running" not in runs and runs[-1] == "succeeded", runs
    assert attempts == 2
