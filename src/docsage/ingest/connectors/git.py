"""Git connector: documentation and code files tracked in a local repository or a shallow clone of a remote one."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pathspec

from docsage.errors import ConnectorError, InvalidInputError
from docsage.ingest.connectors.folder import (
    check_document,
    check_url_template,
    is_code,
    max_bytes,
    name_skip_reason,
    quote_path,
    read_document,
    source_format,
    vendored_dir,
    vendored_reason,
)
from docsage.ingest.documents import ConnectorItem, FetchFailure

REMOTE_PREFIXES = ("https://", "http://", "ssh://", "git://", "git@", "file://")
SCP_LIKE = re.compile(r"^[\w.-]+@([\w.-]+):(?!//)(.+)$")
FULL_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
GIT_TIMEOUT_S = 600
# No credential prompts (a crawl runs unattended) and C-locale messages so errors read the same everywhere.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}

CiteFn = Callable[[str], str]


def is_remote(location: str) -> bool:
    return location.startswith(REMOTE_PREFIXES) or location.rstrip("/").endswith(".git")


def run_git(args: Sequence[str], *, cwd: Path | None = None) -> bytes:
    """Run git and return its stdout; a failure becomes a ConnectorError carrying git's last stderr line."""
    # ext:: runs arbitrary commands; a source location must never be able to do that.
    command = ["git", "-c", "protocol.ext.allow=never", *args]
    try:
        proc = subprocess.run(
            command, cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT_S, env={**os.environ, **GIT_ENV}, check=False
        )
    except FileNotFoundError as exc:
        if cwd is not None and not cwd.is_dir():
            raise ConnectorError(f"not a directory: {cwd}") from None
        raise ConnectorError(f"git is not installed or not on PATH: {exc}") from None
    except NotADirectoryError:
        raise ConnectorError(f"not a directory: {cwd}") from None
    except subprocess.TimeoutExpired:
        raise ConnectorError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConnectorError(f"git {args[0]} failed: {lines[-1] if lines else f'exit status {proc.returncode}'}")
    return proc.stdout


def browse_url(clone_url: str) -> str:
    """Where a clone URL's files can be browsed: no credentials, no `.git`, ssh and scp-style made https."""
    if match := SCP_LIKE.match(clone_url):
        base = f"https://{match[1]}/{match[2]}"
    elif "://" not in clone_url:
        base = Path(clone_url).expanduser().resolve().as_uri()
    else:
        parts = urlsplit(clone_url)
        host = parts.hostname or ""
        if parts.scheme in ("ssh", "git"):
            base = urlunsplit(("https", host, parts.path, "", ""))
        else:
            netloc = f"{host}:{parts.port}" if parts.port else host
            base = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    base = base.rstrip("/")
    return base.removesuffix(".git")


class GitConnector:
    """Lists tracked files matching include/exclude globs; citations follow `url_template` when given."""

    def __init__(
        self,
        location: str,
        *,
        ref: str | None = None,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        url_template: str | None = None,
        workdir: str | Path | None = None,
    ) -> None:
        if location.startswith("-") or (ref or "").startswith("-"):
            raise InvalidInputError("a git location or ref cannot start with '-'")
        self.location = location
        self.ref = ref or None
        # "gitignore" is pathspec's name for gitwildmatch syntax; the old name is deprecated in pathspec 1.x.
        self.include = pathspec.PathSpec.from_lines("gitignore", include) if include else None
        self.exclude = pathspec.PathSpec.from_lines("gitignore", exclude or [])
        self.url_template = check_url_template(url_template, "path", "ref", "commit")
        self.workdir = Path(workdir).expanduser() if workdir else None

    def iter_documents(self) -> Iterator[ConnectorItem]:
        if is_remote(self.location):
            yield from self._iter_clone()
        else:
            yield from self._iter_local()

    def _iter_clone(self) -> Iterator[ConnectorItem]:
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="docsage-git-", dir=self.workdir) as tmp:
            repo = Path(tmp) / "repo"
            if self.ref and FULL_SHA.fullmatch(self.ref):
                # --branch only takes branch and tag names; a commit needs the history that contains it.
                run_git(["clone", "--quiet", "--no-checkout", "--", self.location, str(repo)])
            else:
                branch = ["--branch", self.ref] if self.ref else []
                run_git(["clone", "--quiet", "--depth", "1", "--no-checkout", *branch, "--", self.location, str(repo)])
            commit = self._commit(repo, self.ref or "HEAD")
            base = browse_url(self.location)
            yield from self._iter_tree(repo, commit, lambda path: f"{base}/blob/{commit}/{quote_path(path)}")

    def _iter_local(self) -> Iterator[ConnectorItem]:
        root = Path(self.location).expanduser().resolve()
        if not root.exists():
            raise ConnectorError(f"git repository not found: {root}")
        top = Path(os.fsdecode(run_git(["rev-parse", "--show-toplevel"], cwd=root).rstrip(b"\n")))

        def file_uri(path: str) -> str:
            return (top / path).as_uri()

        if self.ref:
            yield from self._iter_tree(root, self._commit(root, self.ref), file_uri)
            return
        try:
            commit = self._commit(root, "HEAD")
        except ConnectorError:
            commit = ""  # a repository without commits still has a readable index
        listing = run_git(["ls-files", "-z", "--full-name", "--cached"], cwd=root)
        reported: set[str] = set()
        for path in sorted({os.fsdecode(entry) for entry in listing.split(b"\0") if entry}):
            fmt = self._format(path)
            if fmt is None:
                continue
            if (skips := self._skip_vendored(path, fmt, commit, file_uri, reported)) is not None:
                yield from skips
                continue
            url = self._cite(path, commit, file_uri)
            file = top / path
            if file.is_symlink():
                yield FetchFailure(url, "symbolic link", skipped=True)
            elif file.is_file():
                item = read_document(file, url, path)
                if item is not None:
                    yield item

    def _iter_tree(self, repo: Path, commit: str, default_cite: CiteFn) -> Iterator[ConnectorItem]:
        """The committed files of `commit`, read from git's object store so nothing has to be checked out."""
        listing = run_git(["ls-tree", "-r", "-z", "-l", "--full-name", commit], cwd=repo)
        # Failures and blobs to read, kept in path order so the output order does not depend on file kind.
        plan: list[FetchFailure | tuple[str, str, str, bytes]] = []
        reported: set[str] = set()
        for record in listing.split(b"\0"):
            meta, _, raw_path = record.partition(b"\t")
            fields = meta.split()
            path = os.fsdecode(raw_path)
            fmt = self._format(path) if len(fields) == 4 and fields[1] == b"blob" else None
            if fmt is None:
                continue
            if (skips := self._skip_vendored(path, fmt, commit, default_cite, reported)) is not None:
                plan.extend(skips)
                continue
            url = self._cite(path, commit, default_cite)
            if fields[0] == b"120000":
                plan.append(FetchFailure(url, "symbolic link", skipped=True))
            elif reason := name_skip_reason(path, fmt):
                plan.append(FetchFailure(url, reason, skipped=True))
            elif int(fields[3]) > max_bytes(fmt):
                limit = max_bytes(fmt)
                plan.append(FetchFailure(url, f"file is {int(fields[3])} bytes, over the {limit}-byte limit", True))
            else:
                plan.append((url, fmt, path, fields[2]))
        if not plan:
            return
        # One long-lived `cat-file --batch` instead of a process per file; request/response in lockstep
        # keeps both pipes from filling up.
        with subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **GIT_ENV},
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            for step in plan:
                if isinstance(step, FetchFailure):
                    yield step
                    continue
                url, fmt, path, sha = step
                proc.stdin.write(sha + b"\n")
                proc.stdin.flush()
                header = proc.stdout.readline().split()
                if len(header) != 3:
                    raise ConnectorError(f"git cat-file returned an unexpected header for {url}: {header!r}")
                data = proc.stdout.read(int(header[2]))
                proc.stdout.read(1)
                yield check_document(data, fmt, url, path)
            proc.stdin.close()

    def _skip_vendored(
        self, path: str, fmt: str, commit: str, cite: CiteFn, reported: set[str]
    ) -> list[FetchFailure] | None:
        """None for a file to index; for code in a vendored directory, that directory's skip the first time."""
        directory = vendored_dir(path) if is_code(fmt) else None
        if directory is None:
            return None
        if directory in reported:
            return []
        reported.add(directory)
        return [FetchFailure(self._cite(directory, commit, cite), vendored_reason(directory), skipped=True)]

    def _format(self, path: str) -> str | None:
        """The parser format for a repo-relative path, or None when it is not a file we were asked for."""
        fmt = source_format(path)
        if fmt is None or (self.include is not None and not self.include.match_file(path)):
            return None
        return None if self.exclude.match_file(path) else fmt

    def _commit(self, repo: Path, ref: str) -> str:
        return run_git(["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"], cwd=repo).decode().strip()

    def _cite(self, path: str, commit: str, default: CiteFn) -> str:
        if self.url_template is None:
            return default(path)
        return self.url_template.format(path=quote_path(path), ref=self.ref or commit, commit=commit)
