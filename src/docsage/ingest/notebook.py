"""Jupyter notebooks into sections: markdown cells as markdown, code cells fenced, only short text outputs kept."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote, urlparse

from docsage.errors import InvalidInputError
from docsage.ingest.parse import ATX, DocumentTooLargeError, ParsedDocument, parse_markdown

MAX_OUTPUT_CHARS = 500  # longer outputs are data dumps, not explanations
MAX_OUTPUT_LINES = 10


def _text(value: object) -> str:
    """nbformat stores multi-line strings as a list of lines or as one string."""
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return value if isinstance(value, str) else ""


def _fence(text: str, info: str) -> str:
    runs = [len(m.group(1)) for m in re.finditer(r"^\s*(`{3,})", text, re.MULTILINE)]
    marker = "`" * max([3, *(n + 1 for n in runs)])
    return f"{marker}{info}\n{text.strip(chr(10))}\n{marker}"


def _short_output(outputs: object) -> str:
    """The cell's printed text and results, when short enough to explain the code."""
    texts: list[str] = []
    for output in outputs if isinstance(outputs, list) else []:
        if not isinstance(output, dict):
            continue
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            texts.append(_text(output.get("text")))
        elif output.get("output_type") in ("execute_result", "display_data"):
            data = output.get("data")
            texts.append(_text(data.get("text/plain")) if isinstance(data, dict) else "")
    text = "\n".join(t.strip("\n") for t in texts if t.strip())
    return text if len(text) <= MAX_OUTPUT_CHARS and text.count("\n") < MAX_OUTPUT_LINES else ""


def _kernel_language(metadata: object) -> str:
    if not isinstance(metadata, dict):
        return "python"
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(key)
        if isinstance(section, dict) and isinstance(section.get(field), str) and section[field].strip():
            return str(section[field]).strip().lower()
    return "python"


def notebook_markdown(notebook: dict[str, Any]) -> tuple[str, bool]:
    """(the notebook as one markdown text, whether a markdown cell has a level-1 heading)."""
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise InvalidInputError("not a Jupyter notebook: no list of cells (nbformat 4 is supported)")
    fence = _kernel_language(notebook.get("metadata"))
    parts: list[str] = []
    has_h1 = False
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = _text(cell.get("source"))
        if not source.strip():
            continue
        if cell.get("cell_type") == "markdown":
            parts.append(source.strip("\n"))
            has_h1 = has_h1 or any((m := ATX.match(line)) and len(m.group(1)) == 1 for line in source.split("\n"))
        elif cell.get("cell_type") == "code":
            parts.append(_fence(source, fence))
            if output := _short_output(cell.get("outputs")):
                parts.append(_fence(output, "text"))
    return "\n\n".join(parts), has_h1


def parse_notebook(raw: bytes, url: str = "", title_hint: str = "", max_chars: int = 10_000_000) -> ParsedDocument:
    """A `.ipynb` file; invalid JSON fails this document with the reason. Titled by its first level-1 heading,
    else `name.ipynb (Jupyter notebook)`. The character limit applies to the text kept, not to the file, whose
    size is mostly outputs (images) that are dropped."""
    try:
        notebook = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"not a Jupyter notebook: invalid JSON ({exc})") from None
    except RecursionError:
        raise InvalidInputError("not a Jupyter notebook: JSON nested too deeply") from None
    if not isinstance(notebook, dict):
        raise InvalidInputError("not a Jupyter notebook: the JSON is not an object")
    markdown, has_h1 = notebook_markdown(notebook)
    if len(markdown) > max_chars:
        raise DocumentTooLargeError(f"notebook has {len(markdown)} characters of text; the limit is {max_chars}")
    name = unquote(urlparse(url).path).rstrip("/").rsplit("/", 1)[-1] or url
    doc = parse_markdown(markdown, url, title_hint)
    if not title_hint and not has_h1:
        doc.title = f"{name} (Jupyter notebook)"
    return doc
