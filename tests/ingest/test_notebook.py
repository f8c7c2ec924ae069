"""Jupyter notebooks: markdown cells as markdown, code cells fenced, short text outputs only, bad JSON refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from docsage.errors import InvalidInputError
from docsage.ingest.parse import DocumentTooLargeError, ParseLimits, parse
from docsage.services import Services


def notebook(*cells: dict[str, Any], language: str = "python") -> bytes:
    meta = {"kernelspec": {"name": language, "language": language}, "language_info": {"name": language}}
    return json.dumps({"cells": list(cells), "metadata": meta, "nbformat": 4, "nbformat_minor": 5}).encode()


def markdown(source: str | list[str]) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def code(source: str | list[str], *outputs: dict[str, Any]) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": source, "outputs": list(outputs)}


def stdout(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40).decode()
THROUGHPUT = notebook(
    markdown(["# Measuring vault throughput\n", "\n", "Upload a batch and time the vault."]),
    code(["files = make_batch(100)\n", "upload_batch(files, concurrency=8)"], stdout("uploaded 100 files\n")),
    markdown("## Plot\n\nThroughput per concurrency level."),
    code(
        "plot(results)",
        {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure size 640x480>"}},
    ),
    code("print(results)", stdout("\n".join(f"row {i}" for i in range(200)))),
    code(
        "1 / 0",
        {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": ["..."]},
    ),
    {"cell_type": "raw", "metadata": {}, "source": "raw cells are not documentation"},
)


def test_cells_become_sections_with_fenced_code() -> None:
    doc = parse(THROUGHPUT, "notebook", "file:///repo/notebooks/throughput.ipynb")
    assert doc.title == "Measuring vault throughput"
    assert [s.heading_path for s in doc.sections] == [
        ("Measuring vault throughput",),
        ("Measuring vault throughput", "Plot"),
    ]
    first, plot = ([(b.is_code, b.text) for b in s.blocks] for s in doc.sections)
    assert first == [
        (False, "Upload a batch and time the vault."),
        (True, "```python\nfiles = make_batch(100)\nupload_batch(files, concurrency=8)\n```"),
        (True, "```text\nuploaded 100 files\n```"),
    ]
    # The figure's text stand-in is short text and kept; the image, the 200-row dump and the traceback are not.
    assert plot == [
        (False, "Throughput per concurrency level."),
        (True, "```python\nplot(results)\n```"),
        (True, "```text\n<Figure size 640x480>\n```"),
        (True, "```python\nprint(results)\n```"),
        (True, "```python\n1 / 0\n```"),
    ]
    assert "raw cells" not in doc.text and "ZeroDivisionError" not in doc.text


def test_title_falls_back_to_the_file_name_and_the_kernel_picks_the_fence() -> None:
    raw = notebook(markdown("Some notes.\n\n```r\nx <- 1\n```"), code("summary(cars)\n```"), language="R")
    doc = parse(raw, "notebook", "file:///repo/analysis%20notes.ipynb")
    assert doc.title == "analysis notes.ipynb (Jupyter notebook)"
    blocks = [(b.is_code, b.text) for s in doc.sections for b in s.blocks]
    assert blocks == [
        (False, "Some notes."),
        (True, "```r\nx <- 1\n```"),
        (True, "````r\nsummary(cars)\n```\n````"),  # a longer fence, so the cell's own ``` does not close it
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"cells": [', "invalid JSON"),
        (b"\xff\xfe not text", "invalid JSON"),
        (b"[1, 2]", "the JSON is not an object"),
        (b'{"worksheets": []}', "no list of cells"),
    ],
)
def test_what_is_not_a_notebook_is_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=f"not a Jupyter notebook: {reason}"):
        parse(raw, "notebook", "file:///repo/broken.ipynb")


def test_the_character_limit_counts_the_text_kept_not_the_outputs() -> None:
    limits = ParseLimits(max_chars=2_000)
    assert len(THROUGHPUT) > 5 * limits.max_chars, "mostly the image"
    assert parse(THROUGHPUT, "notebook", "file:///repo/t.ipynb", limits=limits).title == "Measuring vault throughput"
    with pytest.raises(DocumentTooLargeError, match="the limit is 2000"):
        parse(notebook(markdown("word " * 500)), "notebook", "file:///repo/long.ipynb", limits=limits)


def test_a_broken_notebook_fails_alone_in_an_ingest_run(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "throughput.ipynb").write_bytes(THROUGHPUT)
    (folder / "broken.ipynb").write_text('{"cells": [{"cell_type": "markdown", "source": "# Half')
    project = services.projects.create_project("Skyloom")
    source = services.projects.add_source(project.id, "folder", str(folder))

    summary = services.ingest.run(source.id)

    assert summary.status == "succeeded"
    assert (summary.added, summary.failed, summary.skipped) == (1, 1, 0)
    assert summary.failures[0]["url"] == (folder / "broken.ipynb").as_uri()
    assert summary.failures[0]["reason"].startswith("not a Jupyter notebook: invalid JSON")
    hits = services.retrieval.search(project.id, "upload_batch concurrency", top_k=1)
    assert hits[0].title == "Measuring vault throughput"
    assert "upload_batch(files, concurrency=8)" in hits[0].content
