"""docsage scaled out as in docker-compose.yml: two API replicas that run no jobs and two `docsage worker`
processes, on one PostgreSQL (pgvector) and one Redis. Together they behave as one service: a write through one
replica is read through the other, rate limits count both, a key revoked anywhere is refused everywhere within a
second, and a worker killed with `kill -9` mid-ingest leaves a consistent index while its job finishes elsewhere.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field

import httpx
import pytest

from conftest import DOCSAGE_EXE, Cli, LiveServer, RedisServer, cli_env, serve

pytestmark = pytest.mark.postgresql_only

STALE_AFTER_S = "2"
REFUND = b"# Refund policy\n\nRefunds are available within 14 days of purchase, paid back within 5 business days.\n"


def runbook(sections: int) -> bytes:
    return b"# Runbook\n\n" + b"".join(
        f"## Step {n}\n\nRotate relay key r{n}x on node {n % 97}; if ledger l{n * 7} disagrees, open ticket "
        f"t{n} and page shard {n % 31}.\n\n".encode()
        for n in range(1, sections + 1)
    )


@dataclass
class Cluster:
    cli: Cli
    project: str
    bearer: str
    kapa: str
    kapa_id: str
    replicas: list[LiveServer]
    redis_url: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def api(self, replica: int) -> httpx.Client:
        return httpx.Client(
            base_url=self.replicas[replica].base_url, headers={"Authorization": f"Bearer {self.bearer}"}, timeout=60
        )

    def retrieve(self, replica: int, query: str) -> httpx.Response:
        return httpx.post(
            f"{self.replicas[replica].base_url}/query/v1/projects/{self.project}/retrieval/",
            headers={"X-API-KEY": self.kapa},
            json={"query": query},
            timeout=60,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Cluster]:
    redis_server.flush()
    cli = Cli(tmp_path_factory.mktemp("scale-out"))
    project = cli.json("project", "create", "--name", "Ops")["id"]
    bearer = cli.json("key", "create", "--project", project, "--scheme", "bearer")["key"]
    kapa = cli.json("key", "create", "--project", project)
    env = {
        "DOCSAGE_REDIS_URL": redis_server.url,
        "DOCSAGE_JOB_WORKERS": "0",
        "DOCSAGE_JOB_STALE_AFTER_S": STALE_AFTER_S,
        "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "4",
        "DOCSAGE_RATE_LIMIT_UPLOADS_PER_MIN": "0",
    }
    with ExitStack() as stack:
        replicas = [stack.enter_context(serve(cli.home, env)) for _ in range(2)]
        c = Cluster(cli, project, bearer, kapa["key"], kapa["id"], replicas, redis_server.url)
        worker_env = {**cli_env(cli.home), **env}
        for _ in range(2):
            c.workers.append(
                subprocess.Popen(
                    [str(DOCSAGE_EXE), "worker"], env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        try:
            yield c
        finally:
            for proc in c.workers:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()


def wait_for(client: httpx.Client, document_id: str, statuses: set[str], timeout_s: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = client.get(f"/api/v1/documents/{document_id}")
        assert resp.status_code == 200, resp.text
        doc = dict(resp.json()["document"])
        if doc["status"] in statuses:
            return doc
        assert time.monotonic() < deadline, f"still {doc['status']} after {timeout_s} s"
        time.sleep(0.1)


def test_an_upload_through_one_replica_is_indexed_by_a_worker_and_found_through_the_other(cluster: Cluster) -> None:
    with cluster.api(0) as one, cluster.api(1) as two:
        resp = one.post("/api/v1/documents", params={"wait": 0}, files={"file": ("refund.md", REFUND, "text/markdown")})
        assert resp.status_code == 202, resp.text
        doc = wait_for(two, resp.json()["document"]["id"], {"ready", "failed"}, timeout_s=60)
        assert doc["status"] == "ready", doc
        answer = two.post("/api/v1/chat", json={"message": "How many days do I have to ask for a refund?"})
    assert answer.status_code == 200, answer.text
    assert "14 days" in answer.json()["answer"]
    assert "upload://refund.md" in [s["url"] for s in answer.json()["sources"]]


def test_a_worker_killed_mid_ingest_leaves_a_consistent_index_and_the_other_finishes(cluster: Cluster) -> None:
    with cluster.api(1) as api:
        resp = api.post(
            "/api/v1/documents", params={"wait": 0}, files={"file": ("runbook.md", runbook(600), "text/markdown")}
        )
        assert resp.status_code == 202, resp.text
        doc_id, job_id = resp.json()["document"]["id"], resp.json()["document"]["job_id"]
        wait_for(api, doc_id, {"processing"}, timeout_s=60)
        with closing(cluster.cli.connect()) as conn:
            (worker,) = conn.execute("SELECT worker FROM jobs WHERE id = ?", (job_id,)).fetchone()
        pid = int(str(worker).rsplit(":", 2)[1])
        victim = next(p for p in cluster.workers if p.pid == pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        done = wait_for(api, doc_id, {"ready", "failed"}, timeout_s=120)
    assert done["status"] == "ready", done
    with closing(cluster.cli.connect()) as conn:
        chunks = [r[0] for r in conn.execute("SELECT text FROM chunks WHERE document_id = ?", (doc_id,))]
        runs = [r[0] for r in conn.execute("SELECT status FROM ingest_runs WHERE job_id = ?", (job_id,))]
        (attempts, finished_by) = conn.execute("SELECT attempts, worker FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert len(chunks) == done["chunks"] == len(set(chunks)) > 0
    assert any("open ticket t1 and" in t for t in chunks) and any("open ticket t600 and" in t for t in chunks)
    assert "running" not in runs and "succeeded" in runs, runs
    assert attempts == 2 and str(finished_by) != str(worker)


def test_rate_limits_count_both_replicas_and_a_revoked_key_is_refused_by_both(cluster: Cluster) -> None:
    statuses = [cluster.retrieve(i % 2, "refund policy").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 200]
    assert {cluster.retrieve(0, "refund").status_code, cluster.retrieve(1, "refund").status_code} == {429}

    # From a third process, like an operator's shell configured like the replicas.
    revoked = subprocess.run(
        [str(DOCSAGE_EXE), "key", "revoke", cluster.kapa_id],
        env={**cli_env(cluster.cli.home), "DOCSAGE_REDIS_URL": cluster.redis_url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 1.0
    refused: set[int] = set()
    while refused != {0, 1}:
        assert time.monotonic() < deadline, f"replicas {set(range(2)) - refused} still accept the revoked key"
        refused |= {i for i in range(2) if cluster.retrieve(i, "refund").status_code == 401}
        time.sleep(0.05)


def test_both_replicas_are_healthy_on_postgresql_and_redis(cluster: Cluster) -> None:
    for replica in cluster.replicas:
        health = httpx.get(f"{replica.base_url}/healthz", timeout=30).json()
        assert health["database"] == "postgresql" and health["redis"] == "ok", health
