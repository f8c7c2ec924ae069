"""The git connector against real repositories created with the git CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from docsage.config import Settings
from docsage.errors import ConnectorError, InvalidInputError
from docsage.ingest.connectors.git import GitConnector, browse_url
from docsage.ingest.connectors.registry import build_connector
from docsage.ingest.documents import ConnectorItem, FetchedDocument, FetchFailure

FILES: dict[str, bytes] = {
    "README.md": b"# Project\n\nRead me.\n",
    "docs/guide.rst": b"Guide\n=====\n\nSteps.\n",
    "docs/notes.txt": b"Plain notes.\n",
    "docs/broken.md": b"# Broken\x00\x01\x02",
    "docs/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
    "vendor/lib/README.md": b"# Vendored\n",
    "src/app.py": b"print('hi')\n",
}
INDEXED = ["README.md", "docs/guide.rst", "docs/notes.txt", "vendor/lib/README.md", "src/app.py"]


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        capture_output=True,
        check=True,
        text=True,
    )
    return result.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "untracked.md").write_text("# Not tracked\n")
    git(root, "add", *FILES)
    git(root, "commit", "--quiet", "-m", "docs")
    return root


def split(items: list[ConnectorItem]) -> tuple[dict[str, FetchedDocument], dict[str, FetchFailure]]:
    documents = {item.url: item for item in items if isinstance(item, FetchedDocument)}
    failures = {item.url: item for item in items if isinstance(item, FetchFailure)}
    return documents, failures


def test_local_repository_lists_tracked_documents(repo: Path) -> None:
    documents, failures = split(list(GitConnector(str(repo)).iter_documents()))
    assert sorted(documents) == sorted((repo / name).as_uri() for name in INDEXED)
    assert {doc.fmt for doc in documents.values()} == {"markdown", "rst", "text", "code:python"}
    assert documents[(repo / "docs/guide.rst").as_uri()].fmt == "rst"
    code = documents.pop((repo / "src/app.py").as_uri())
    assert code.title == "src/app.py (Python)", "code is titled with its path in the repository and its language"
    assert all(doc.title == "" for doc in documents.values())
    broken = failures[(repo / "docs/broken.md").as_uri()]
    assert broken.skipped and "binary" in broken.reason
    assert len(failures) == 1


def test_include_and_exclude_globs(repo: Path) -> None:
    excluded, _ = split(list(GitConnector(str(repo), exclude=["vendor/"]).iter_documents()))
    assert not any("vendor" in url for url in excluded)
    assert (repo / "README.md").as_uri() in excluded

    included, failures = split(list(GitConnector(str(repo), include=["docs/**"], exclude=["*.txt"]).iter_documents()))
    assert sorted(included) == [(repo / "docs/guide.rst").as_uri()]
    assert list(failures) == [(repo / "docs/broken.md").as_uri()]


def test_url_template_cites_ref_or_commit(repo: Path) -> None:
    template = "https://example.com/repo/blob/{ref}/{path}"
    commit = git(repo, "rev-parse", "HEAD")

    at_head, _ = split(list(GitConnector(str(repo), url_template=template, exclude=["vendor/"]).iter_documents()))
    assert f"https://example.com/repo/blob/{commit}/docs/guide.rst" in at_head

    on_main, _ = split(list(GitConnector(str(repo), ref="main", url_template=template).iter_documents()))
    assert "https://example.com/repo/blob/main/docs/guide.rst" in on_main
    assert "https://example.com/repo/blob/main/vendor/lib/README.md" in on_main


def test_working_tree_versus_ref(repo: Path) -> None:
    (repo / "README.md").write_bytes(b"# Project\n\nEdited, not committed.\n")
    working, _ = split(list(GitConnector(str(repo)).iter_documents()))
    assert b"Edited" in working[(repo / "README.md").as_uri()].raw

    committed, _ = split(list(GitConnector(str(repo), ref="main").iter_documents()))
    assert committed[(repo / "README.md").as_uri()].raw == FILES["README.md"]
    assert (repo / "untracked.md").as_uri() not in committed


def test_clone_from_file_url(repo: Path, tmp_path: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    workdir = tmp_path / "clones"
    items = list(GitConnector(repo.as_uri(), ref="main", workdir=workdir).iter_documents())
    documents, failures = split(items)
    base = f"{repo.as_uri()}/blob/{commit}"
    assert sorted(documents) == sorted(f"{base}/{name}" for name in INDEXED)
    assert documents[f"{base}/docs/notes.txt"].raw == FILES["docs/notes.txt"]
    assert list(failures) == [f"{base}/docs/broken.md"]
    assert list(workdir.iterdir()) == []


def test_clone_at_a_commit_sha(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    (repo / "later.md").write_text("# Later\n")
    git(repo, "add", "later.md")
    git(repo, "commit", "--quiet", "-m", "later")
    template = "https://example.com/r/{commit}/{path}"
    documents, _ = split(list(GitConnector(repo.as_uri(), ref=first, url_template=template).iter_documents()))
    assert f"https://example.com/r/{first}/README.md" in documents
    assert not any(url.endswith("later.md") for url in documents)


def test_missing_repository_and_failing_clone(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="not found"):
        list(GitConnector(str(tmp_path / "nope")).iter_documents())
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConnectorError, match="not a git repository"):
        list(GitConnector(str(tmp_path / "plain")).iter_documents())
    with pytest.raises(ConnectorError, match="git clone failed"):
        list(GitConnector((tmp_path / "missing.git").as_uri()).iter_documents())


def test_unknown_ref_and_bad_template(repo: Path) -> None:
    with pytest.raises(ConnectorError, match="rev-parse"):
        list(GitConnector(str(repo), ref="no-such-branch").iter_documents())
    with pytest.raises(InvalidInputError, match="url_template"):
        GitConnector(str(repo), url_template="https://x/{branch}/{path}")


@pytest.mark.parametrize(
    ("clone_url", "expected"),
    [
        ("https://github.com/acme/docs.git", "https://github.com/acme/docs"),
        ("https://user:token@git.example.com:8443/acme/docs.git", "https://git.example.com:8443/acme/docs"),
        ("git@github.com:acme/docs.git", "https://github.com/acme/docs"),
        ("ssh://git@github.com/acme/docs.git", "https://github.com/acme/docs"),
    ],
)
def test_browse_url(clone_url: str, expected: str) -> None:
    assert browse_url(clone_url) == expected


def test_registry_builds_the_git_connector(repo: Path) -> None:
    options = {"ref": "main", "include": "docs/**", "url_template": "https://example.com/{commit}/{path}"}
    connector = build_connector("git", str(repo), options, Settings())
    assert isinstance(connector, GitConnector)
    documents, _ = split(list(connector.iter_documents()))
    commit = git(repo, "rev-parse", "HEAD")
    assert sorted(documents) == [
        f"https://example.com/{commit}/docs/guide.rst",
        f"https://example.com/{commit}/docs/notes.txt",
    ]


CODE_FILES: dict[str, bytes] = {
    "README.md": b"# SDK\n",
    "sdk/client.py": b'"""Skyloom client."""\n\nMAX_PAYLOAD_BYTES = 5 * 1024 * 1024\n',
    "notebooks/tour.ipynb": b'{"cells": [], "metadata": {}, "nbformat": 4}',
    "node_modules/left-pad/README.md": b"# left-pad\n",
    "node_modules/left-pad/index.js": b"module.exports = 1;\n",
    "dist/client.py": b"x = 1\n",
    "dist/cli.js": b"x = 1;\n",
    "web/app.min.js": b"var a=1;\n",
    "web/app.js": b"var a=function(b,c){return b+c};" * 100,
    "sdk/gen.go": b"// Code generated by protoc-gen-go. DO NOT EDIT.\npackage sdk\n",
    "sdk/huge.py": b"x = 1\n" * 200_000,
    "package-lock.json": b'{"lockfileVersion": 3}\n',
}


@pytest.mark.parametrize("ref", [None, "main"], ids=["working-tree", "object-store"])
def test_code_in_a_repository_follows_the_folder_rules(tmp_path: Path, ref: str | None) -> None:
    root = tmp_path / "sdk"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    for name, data in CODE_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    git(root, "add", "--force", *CODE_FILES)
    git(root, "commit", "--quiet", "-m", "sdk")

    items = list(GitConnector(str(root), ref=ref).iter_documents())

    prefix = root.as_uri() + "/"
    documents = {i.url.removeprefix(prefix): (i.fmt, i.title) for i in items if isinstance(i, FetchedDocument)}
    assert documents == {
        "README.md": ("markdown", ""),
        "node_modules/left-pad/README.md": ("markdown", ""),  # documents in vendored directories, as before
        "notebooks/tour.ipynb": ("notebook", ""),
        "sdk/client.py": ("code:python", "sdk/client.py (Python)"),
    }
    skipped = {i.url.removeprefix(prefix): i.reason for i in items if isinstance(i, FetchFailure) and i.skipped}
    assert skipped == {
        "dist": "code under dist/ is vendored or built, not indexed (documents there are)",
        "node_modules": "code under node_modules/ is vendored or built, not indexed (documents there are)",
        "package-lock.json": "lock file, written by a package manager",
        "sdk/gen.go": "generated code (marked 'DO NOT EDIT' or @generated)",
        "sdk/huge.py": "file is 1200000 bytes, over the 1048576-byte limit",
        "web/app.js": "minified: 100% of it in lines over 500 characters, 6% spaces",
        "web/app.min.js": "minified or generated code (named *.min.js)",
    }
    assert len(items) == len(documents) + len(skipped), "each vendored directory is reported once"
