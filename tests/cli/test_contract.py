"""The CLI contract, through the installed `docsage` executable: commands, JSON keys and the error rule."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import DOCSAGE_EXE, Cli, cli_env, table_counts
from docsage.config import Settings
from docsage.services import Services

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
INTEGRATION_TYPES = (
    "API",
    "WIDGET",
    "SLACK_CHANNEL",
    "SLACK_WORKSPACE",
    "DISCORD_CHANNEL",
    "DISCORD_SERVER",
    "SUPPORT_FORM_DEFLECTOR",
    "DASHBOARD_CHAT",
)
SUMMARY_FIELDS = ("added", "updated", "unchanged", "deleted", "failed")


@dataclass(frozen=True)
class World:
    """One data directory with a project whose folder source (the Skyloom manual) is already ingested."""

    cli: Cli
    root: Path
    docs: Path
    project: dict[str, object]
    source: dict[str, object]
    ingest: subprocess.CompletedProcess[str]

    @property
    def project_id(self) -> str:
        return str(self.project["id"])

    @property
    def source_id(self) -> str:
        return str(self.source["id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, make_docs: Callable[[Path], Path]) -> World:
    root = tmp_path_factory.mktemp("contract")
    cli = Cli(root / "home")
    docs = make_docs(root)
    project = cli.json("project", "create", "--name", "Skyloom docs")
    source = cli.json(
        "source", "add", "--project", project["id"], "--type", "folder", "--path", docs, "--name", "manual"
    )
    ingest = cli("ingest", "--project", project["id"])
    assert ingest.returncode == 0, ingest.stderr
    return World(cli, root, docs, project, source, ingest)


def flat(text: str) -> str:
    """Output with all whitespace runs collapsed, for checks that do not depend on line layout."""
    return " ".join(text.split())


# projects ---------------------------------------------------------------------------------------------------


def test_project_create_json_has_id_name_and_team(world: World) -> None:
    assert {"id", "project_name", "team"} <= world.project.keys()
    assert world.project["project_name"] == "Skyloom docs"
    assert isinstance(world.project["team"], str)
    assert world.project["team"]

    second = world.cli.json("project", "create", "--name", "Second project")
    assert second["project_name"] == "Second project"
    assert second["id"] != world.project_id
    assert second["team"] == world.project["team"]  # both land in the default team


def test_project_list_json_lists_every_project(world: World) -> None:
    listed = {p["id"]: p for p in world.cli.json("project", "list")}
    assert world.project_id in listed
    assert listed[world.project_id]["project_name"] == "Skyloom docs"
    assert {"id", "project_name", "team"} <= listed[world.project_id].keys()

    table = world.cli("project", "list")
    assert table.returncode == 0, table.stderr
    assert "Skyloom docs" in table.stdout


def test_cli_and_in_process_services_share_docsage_home(run_cli: Cli, docsage_home: Path) -> None:
    created = run_cli.json("project", "create", "--name", "Shared home")
    services = Services(Settings())  # reads DOCSAGE_HOME from the environment, like the CLI does
    try:
        assert services.settings.resolved_home() == docsage_home
        assert created["id"] in [p.id for p in services.projects.list_projects()]
    finally:
        services.database.engine.dispose()
    assert (docsage_home / "docsage.db").is_file()


# API keys ---------------------------------------------------------------------------------------------------


def test_key_create_shows_the_secret_once_and_stores_only_a_hash(world: World) -> None:
    created = world.cli.json("key", "create", "--project", world.project_id)
    assert {"key", "id"} <= created.keys()
    secret = created["key"]
    assert isinstance(secret, str)
    assert len(secret) >= 20

    with closing(world.cli.connect()) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(api_keys)")]
        rows = conn.execute("SELECT * FROM api_keys").fetchall()
        key_hash = conn.execute("SELECT key_hash FROM api_keys WHERE id = ?", (created["id"],)).fetchone()[0]
    assert rows
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            assert secret not in str(value), f"api_keys.{column} holds the secret in clear text"
    assert re.fullmatch(r"[0-9a-f]{64}", key_hash)
    # Not in the database file nor its write-ahead log, in any column of any table.
    for path in world.cli.home.glob("docsage.db*"):
        assert secret.encode() not in path.read_bytes(), f"{path.name} contains the key secret"

    listed = world.cli("key", "list", "--project", world.project_id, "--json")
    assert listed.returncode == 0, listed.stderr
    assert created["id"] in listed.stdout
    assert secret not in listed.stdout


def test_bearer_key_keeps_its_allowed_origins(world: World) -> None:
    created = world.cli.json(
        "key",
        "create",
        "--project",
        world.project_id,
        "--scheme",
        "bearer",
        "--allowed-origin",
        "https://docs.skyloom.dev",
        "--allowed-origin",
        "http://localhost:3000",
    )
    assert {"key", "id"} <= created.keys()
    with closing(world.cli.connect()) as conn:
        scheme, origins = conn.execute(
            "SELECT scheme, allowed_origins FROM api_keys WHERE id = ?", (created["id"],)
        ).fetchone()
    assert scheme == "bearer"
    assert "https://docs.skyloom.dev" in origins
    assert "http://localhost:3000" in origins


def test_key_revoke_marks_only_that_key_revoked(world: World) -> None:
    kept = world.cli.json("key", "create", "--project", world.project_id)
    revoked = world.cli.json("key", "create", "--project", world.project_id)

    result = world.cli("key", "revoke", revoked["id"])
    assert result.returncode == 0, result.stderr

    with closing(world.cli.connect()) as conn:
        state = dict(
            conn.execute("SELECT id, revoked_at FROM api_keys WHERE id IN (?, ?)", (kept["id"], revoked["id"]))
        )
    assert state[revoked["id"]] is not None
    assert state[kept["id"]] is None
    listed = {k["id"]: k for k in world.cli.json("key", "list", "--project", world.project_id)}
    assert listed[revoked["id"]]["revoked_at"]
    assert not listed[kept["id"]]["revoked_at"]


# integrations -----------------------------------------------------------------------------------------------


def test_integration_create_accepts_every_type_and_list_shows_them(world: World) -> None:
    project = world.cli.json("project", "create", "--name", "Integrations")
    created = {}
    for kind in INTEGRATION_TYPES:
        integration = world.cli.json(
            "integration", "create", "--project", project["id"], "--type", kind, "--name", f"{kind} one"
        )
        assert "id" in integration
        created[integration["id"]] = kind

    listed = world.cli.json("integration", "list", "--project", project["id"])
    assert {i["id"]: i["integration_type"] for i in listed} == created


# sources, ingest, search, ask -------------------------------------------------------------------------------


def test_source_add_json_and_source_list(world: World) -> None:
    assert "id" in world.source
    listed = world.cli.json("source", "list", "--project", world.project_id)
    assert [s["id"] for s in listed] == [world.source_id]
    assert listed[0]["type"] == "folder"
    assert listed[0]["location"] == str(world.docs.resolve())


def test_ingest_prints_one_summary_line_per_source(world: World) -> None:
    lines = [line for line in world.ingest.stdout.splitlines() if line.startswith("manual")]
    assert len(lines) == 1, f"expected one summary line for the source, got:\n{world.ingest.stdout}"
    line = lines[0]
    assert re.search(r"\badded 5\b", line), line
    for field in ("updated", "unchanged", "deleted", "failed"):
        assert re.search(rf"\b{field} 0\b", line), line
    assert re.search(r"\d+(\.\d+)? ?s\b", line), f"no duration in seconds: {line}"


def test_second_ingest_reports_every_document_unchanged(world: World) -> None:
    result = world.cli("ingest", "--project", world.project_id)
    assert result.returncode == 0, result.stderr
    out = flat(result.stdout)
    assert "unchanged 5" in out, out
    for field in ("added", "updated", "deleted", "failed"):
        assert f"{field} 0" in out, out


def test_ingest_of_one_source(world: World) -> None:
    result = world.cli("ingest", "--project", world.project_id, "--source", world.source_id)
    assert result.returncode == 0, result.stderr
    assert "unchanged 5" in flat(result.stdout)


def test_search_json_returns_the_page_that_answers(world: World) -> None:
    hits = world.cli.json("search", "--project", world.project_id, "Which environment variable selects the region?")
    assert hits
    for hit in hits:
        assert {"source_url", "title", "content"} <= hit.keys()
        assert hit["source_url"].startswith("file://")
    assert hits[0]["source_url"].endswith("/configuration.md")
    assert "SKYLOOM_REGION" in hits[0]["content"]

    two = world.cli.json("search", "--project", world.project_id, "rate limit", "--top-k", "2")
    assert 1 <= len(two) <= 2


def _numbered_sources(stdout: str) -> tuple[str, list[str]]:
    lines = stdout.splitlines()
    assert "Sources" in [line.strip() for line in lines], stdout
    at = [line.strip() for line in lines].index("Sources")
    return "\n".join(lines[:at]), [line for line in lines[at + 1 :] if line.strip()]


def test_ask_prints_an_answer_and_numbered_sources(world: World) -> None:
    result = world.cli("ask", "--project", world.project_id, "How do I verify the signature of a webhook?")
    assert result.returncode == 0, result.stderr
    answer, source_lines = _numbered_sources(result.stdout)
    assert answer.strip()
    numbers = [int(m.group(1)) for line in source_lines if (m := re.match(r"\[(\d+)\] ", line))]
    assert numbers, result.stdout
    assert numbers == sorted(set(numbers))
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    assert cited <= set(numbers), f"answer cites {cited}, sources list {numbers}"
    assert "webhooks.html" in result.stdout


def test_ask_source_lines_carry_complete_urls(world: World) -> None:
    result = world.cli("ask", "--project", world.project_id, "How do I verify the signature of a webhook?")
    assert result.returncode == 0, result.stderr
    _, source_lines = _numbered_sources(result.stdout)
    for line in source_lines:
        m = re.fullmatch(r"\[\d+\] .+ — (file://\S+)", line)
        assert m, f"a source line is not '[n] title — url': {line!r}\n{result.stdout}"
        assert Path(unquote(urlparse(m.group(1)).path)).is_file(), f"cut-off citation URL: {m.group(1)}"


def test_source_remove_purges_documents_chunks_and_lexical_rows(world: World, tmp_path: Path) -> None:
    cli = world.cli
    project = cli.json("project", "create", "--name", "Purge")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "quasar.md").write_text(
        "# Migrating from Quasar Bridge\n\nThe Quasar bridge is retired. Export your quasar vault with "
        "`quasar export --all`, then import the archive into Skyloom.\n",
        encoding="utf-8",
    )
    keep = cli.json("source", "add", "--project", project["id"], "--type", "folder", "--path", world.docs)
    gone = cli.json("source", "add", "--project", project["id"], "--type", "folder", "--path", legacy)
    assert cli("ingest", "--project", project["id"]).returncode == 0

    question = "How do I export my Quasar bridge vault?"
    before = cli.json("search", "--project", project["id"], question)
    assert any(h["source_url"].endswith("/quasar.md") for h in before)
    with closing(cli.connect()) as conn:
        pks = [r[0] for r in conn.execute("SELECT pk FROM chunks WHERE source_id = ?", (gone["id"],))]
    assert pks

    removed = cli("source", "remove", gone["id"])
    assert removed.returncode == 0, removed.stderr

    for mode in ("hybrid", "lexical", "dense"):
        after = cli.json("search", "--project", project["id"], question, "--mode", mode)
        assert not [h for h in after if "/legacy/" in h["source_url"]], f"{mode} search still finds the source"
    assert cli.json("search", "--project", project["id"], question), "the remaining source should be searchable"
    marks = ",".join("?" * len(pks))
    with closing(cli.connect()) as conn:

        def count(sql: str, *params: object) -> int:
            return int(conn.execute(sql, params).fetchone()[0])

        assert count("SELECT count(*) FROM sources WHERE id = ?", gone["id"]) == 0
        assert count("SELECT count(*) FROM documents WHERE source_id = ?", gone["id"]) == 0
        assert count("SELECT count(*) FROM chunks WHERE source_id = ?", gone["id"]) == 0
        assert count(f"SELECT count(*) FROM chunks WHERE pk IN ({marks})", *pks) == 0
        assert count("SELECT count(*) FROM chunks WHERE source_id = ?", keep["id"]) > 0
    assert [s["id"] for s in cli.json("source", "list", "--project", project["id"])] == [keep["id"]]


# the error contract -----------------------------------------------------------------------------------------

ErrorArgs = Callable[[World], list[str]]
ERROR_CASES: dict[str, ErrorArgs] = {
    "project-create-empty-name": lambda w: ["project", "create", "--name", "  "],
    "key-create-unknown-project": lambda w: ["key", "create", "--project", UNKNOWN_ID],
    "key-list-unknown-project": lambda w: ["key", "list", "--project", UNKNOWN_ID],
    "integration-create-unknown-project": lambda w: [
        "integration", "create", "--project", UNKNOWN_ID, "--type", "API", "--name", "n",
    ],
    "integration-list-unknown-project": lambda w: ["integration", "list", "--project", UNKNOWN_ID],
    "source-add-unknown-project": lambda w: [
        "source", "add", "--project", UNKNOWN_ID, "--type", "folder", "--path", str(w.docs),
    ],
    "source-list-unknown-project": lambda w: ["source", "list", "--project", UNKNOWN_ID],
    "ingest-unknown-project": lambda w: ["ingest", "--project", UNKNOWN_ID],
    "search-unknown-project": lambda w: ["search", "--project", UNKNOWN_ID, "rate limits"],
    "ask-unknown-project": lambda w: ["ask", "--project", UNKNOWN_ID, "What are the rate limits?"],
    "ingest-unknown-source": lambda w: ["ingest", "--project", w.project_id, "--source", UNKNOWN_ID],
    "source-add-missing-path": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "folder", "--path", str(w.root / "no-such-folder"),
    ],
    "source-add-git-missing-path": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "git", "--path", str(w.root / "no-such-repo"),
    ],
    "source-add-openapi-missing-path": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "openapi", "--path", str(w.root / "no-such.yaml"),
    ],
    "source-add-path-is-a-file": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "folder", "--path", str(w.docs / "install.md"),
    ],
    "source-add-path-and-url": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "folder", "--path", str(w.docs),
        "--url", "https://docs.skyloom.dev/",
    ],
    "source-add-neither-path-nor-url": lambda w: ["source", "add", "--project", w.project_id, "--type", "folder"],
    "source-add-bad-type": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "ftp", "--path", str(w.docs),
    ],
    # The CLI contract's source types are folder|web|git|openapi; "upload" is an API-only type with no connector,
    # so a CLI-added upload source can never be ingested.
    "source-add-upload-type": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "upload", "--path", str(w.docs),
    ],
    "key-create-bad-scheme": lambda w: ["key", "create", "--project", w.project_id, "--scheme", "basic"],
    "integration-create-bad-type": lambda w: [
        "integration", "create", "--project", w.project_id, "--type", "CHATBOT", "--name", "n",
    ],
    "source-remove-unknown-source": lambda w: ["source", "remove", UNKNOWN_ID],
    "source-add-bad-refresh": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "folder", "--path", str(w.docs), "--refresh", "weekly",
    ],
    "source-update-unknown-source": lambda w: ["source", "update", UNKNOWN_ID, "--refresh", "1h"],
    "source-update-bad-refresh": lambda w: ["source", "update", w.source_id, "--refresh", "1y"],
    "key-revoke-unknown-key": lambda w: ["key", "revoke", UNKNOWN_ID],
    "search-bad-mode": lambda w: ["search", "--project", w.project_id, "rate limits", "--mode", "fuzzy"],
    "unknown-flag": lambda w: ["project", "list", "--no-such-flag"],
    "unknown-flag-on-source-add": lambda w: [
        "source", "add", "--project", w.project_id, "--type", "folder", "--path", str(w.docs), "--recursive",
    ],
}  # fmt: skip


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_is_one_line_exit_2_and_changes_nothing(world: World, case: str) -> None:
    before = table_counts(world.cli.db_path)
    result = world.cli(*ERROR_CASES[case](world))
    assert result.returncode == 2, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"stderr should be one line:\n{result.stderr}"
    assert lines[0].startswith("error:"), lines[0]
    assert table_counts(world.cli.db_path) == before


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DOCSAGE_CHUNK_TOKENS", "10", "or at least 64"),
        ("DOCSAGE_FUSION_ALPHA", "half", "valid number"),
        ("DOCSAGE_RETRIEVAL_TOP_K", "", "valid integer"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(world: World, variable: str, value: str, reason: str) -> None:
    before = table_counts(world.cli.db_path)
    env = {**cli_env(world.cli.home), variable: value}
    result = subprocess.run(
        [str(DOCSAGE_EXE), "ingest", "--project", world.project_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, f"exit {result.returncode}\nstderr: {result.stderr}"
    assert result.stderr.startswith(f"error: {variable}={value!r}: ") and reason in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert table_counts(world.cli.db_path) == before
