"""Scheduled re-sync with real processes: sources re-ingested on their interval by whichever runner sees them due
first, and each due refresh queued once however many servers share the database."""

from __future__ import annotations

import time
from contextlib import ExitStack, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import Cli, serve
from docsage.db.models import Job, Source, utcnow
from docsage.errors import InvalidInputError
from docsage.ingest.refresh import RefreshScheduler, format_interval, parse_interval
from docsage.jobs import JobRunner
from docsage.services import Services

FAST_TICKS = {"DOCSAGE_REFRESH_CHECK_S": "0.2"}
NEW_PHRASE = "Skyloom keeps 45 nightly vault snapshots"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("1h", 3600), ("7d", 604800), ("2w", 1209600), ("1h30m", 5400), ("90s", 90), (" 2S ", 2)],
)
def test_parse_interval(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["off", "OFF", "never", "none", "0"])
def test_parse_interval_off(text: str) -> None:
    assert parse_interval(text) is None


@pytest.mark.parametrize("text", ["", "1", "1y", "h", "-1h", "1h junk", "0s", "1.5h"])
def test_parse_interval_refuses(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_interval(text)


@pytest.mark.parametrize(("seconds", "text"), [(None, "off"), (604800, "7d"), (5400, "1h30m"), (2, "2s")])
def test_format_interval(seconds: int | None, text: str) -> None:
    assert format_interval(seconds) == text
    assert parse_interval(text) == seconds


def _documents(cli: Cli, project: str) -> dict[str, Any]:
    return {s["name"]: s for s in cli.json("source", "list", "--project", project)}


def test_web_sources_refresh_weekly_by_default_others_never(run_cli: Cli, tmp_path: Path) -> None:
    project = run_cli.json("project", "create", "--name", "Defaults")["id"]
    add = ("source", "add", "--project", project)
    web = run_cli.json(*add, "--type", "web", "--url", "https://docs.skyloom.example/")
    folder = run_cli.json(*add, "--type", "folder", "--path", tmp_path)
    quiet_web = run_cli.json(*add, "--type", "web", "--url", "https://blog.skyloom.example/", "--refresh", "off")
    assert web["refresh_interval_s"] == 7 * 24 * 3600
    due = datetime.fromisoformat(web["next_refresh_at"]) - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < due <= timedelta(days=7)
    assert (folder["refresh_interval_s"], folder["next_refresh_at"]) == (None, None)
    assert (quiet_web["refresh_interval_s"], quiet_web["next_refresh_at"]) == (None, None)

    updated = run_cli.json("source", "update", folder["id"], "--refresh", "30m")
    assert updated["refresh_interval_s"] == 1800
    table = run_cli("source", "list", "--project", project)
    assert table.returncode == 0, table.stderr
    assert "7d" in table.stdout and "30m" in table.stdout and "off" in table.stdout
    assert run_cli.json("source", "update", folder["id"], "--refresh", "off")["next_refresh_at"] is None


def test_a_new_file_is_picked_up_without_anyone_calling_ingest(run_cli: Cli, tmp_path: Path) -> None:
    """A folder source on a 2 s schedule: the server indexes it, then finds a file added later, on its own."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "install.md").write_text("# Installing Skyloom\n\nRun `pip install skyloom-cli`.\n", encoding="utf-8")
    project = run_cli.json("project", "create", "--name", "Scheduled")["id"]
    source = run_cli.json(
        "source", "add", "--project", project, "--type", "folder", "--path", docs, "--name", "manual",
        "--refresh", "2s",
    )  # fmt: skip
    with serve(run_cli.home, FAST_TICKS):
        _wait_for(lambda: _documents(run_cli, project)["manual"]["documents"] == 1, 60, "first scheduled ingest")
        (docs / "snapshots.md").write_text(f"# Vault snapshots\n\n{NEW_PHRASE} in the archive tier.\n", "utf-8")
        _wait_for(lambda: _documents(run_cli, project)["manual"]["documents"] == 2, 60, "the new file")
    hits = run_cli.json("search", "--project", project, "How many nightly vault snapshots are kept?")
    assert NEW_PHRASE in hits[0]["content"]
    with closing(run_cli.connect()) as conn:
        runs = conn.execute("SELECT count(*) FROM ingest_runs WHERE source_id = ?", (source["id"],)).fetchone()[0]
    assert runs >= 2


def test_a_runner_that_saw_a_refresh_due_too_late_does_not_queue_it_again(services: Services, tmp_path: Path) -> None:
    """Runner B reads the due sources, runner A queues the refresh and it runs to completion, then B goes on with
    what it read: B's conditional UPDATE no longer matches, so the source is refreshed once, not twice (a queued
    or running job would have been reused anyway; a finished one would not)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "page.md").write_text("# Relays\n\nRelay keys rotate every 7 days.\n", encoding="utf-8")
    project = services.projects.create_project("Race")
    source = services.projects.add_source(project.id, "folder", str(docs), refresh=3600)
    with services.database.session() as session:
        stored = session.get(Source, source.id)
        assert stored is not None
        stored.next_refresh_at = utcnow() - timedelta(minutes=1)
    runner_a, runner_b = (RefreshScheduler(services.database, services.jobs) for _ in range(2))
    now = utcnow()
    seen_by_b = runner_b.due(now)
    assert [s.id for s in seen_by_b] == [source.id]

    assert runner_a.tick() == 1
    assert JobRunner(services.jobs).run_pending() == 1
    assert [runner_b.queue(s, now) for s in seen_by_b] == [False]
    assert runner_b.tick() == runner_a.tick() == 0

    with services.database.session() as session:
        jobs = session.query(Job).filter(Job.source_id == source.id).all()
        stored = session.get(Source, source.id)
        assert stored is not None and stored.ingested_at is not None and stored.next_refresh_at is not None
        # The refresh ran: the next one is an interval after it.
        assert stored.next_refresh_at - stored.ingested_at == timedelta(hours=1)
    assert [(j.kind, j.status) for j in jobs] == [("ingest_source", "succeeded")]


SOURCES = 12
SA_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores datetimes in SQLite


def test_two_servers_on_one_home_queue_each_due_refresh_once(run_cli: Cli, tmp_path: Path) -> None:
    """Twelve sources fall due at the same instant under two servers that both run jobs and both look for due
    refreshes five times a second: each source gets one refresh job, not two."""
    project = run_cli.json("project", "create", "--name", "Replicas")["id"]
    ids = []
    for n in range(SOURCES):
        folder = tmp_path / f"docs-{n}"
        folder.mkdir()
        (folder / "page.md").write_text(f"# Page {n}\n\nRelay {n} rotates its key every {n + 2} days.\n", "utf-8")
        ids.append(
            run_cli.json(
                "source", "add", "--project", project, "--type", "folder", "--path", folder, "--refresh", "1h",
            )["id"]
        )  # fmt: skip
    with ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(serve(run_cli.home, FAST_TICKS))
        due = (datetime.now(UTC) - timedelta(minutes=5)).strftime(SA_FORMAT)
        with closing(run_cli.connect()) as conn:
            conn.execute("UPDATE sources SET next_refresh_at = ?", (due,))
            conn.commit()

        def all_ingested() -> bool:
            return all(s["last_status"] == "succeeded" for s in _documents_by_id(run_cli, project).values())

        _wait_for(all_ingested, 90, "every due source ingested")
        time.sleep(2)  # ten more ticks of each server: nothing more may be queued
        with closing(run_cli.connect()) as conn:
            jobs = dict(
                conn.execute("SELECT source_id, count(*) FROM jobs WHERE kind = 'ingest_source' GROUP BY source_id")
            )
    assert jobs == dict.fromkeys(ids, 1)
    for source in _documents_by_id(run_cli, project).values():
        next_at = datetime.fromisoformat(source["next_refresh_at"]) - datetime.now(UTC)
        assert timedelta(minutes=55) < next_at <= timedelta(hours=1)


def _documents_by_id(cli: Cli, project: str) -> dict[str, Any]:
    return {s["id"]: s for s in cli.json("source", "list", "--project", project)}


def _wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.3)
