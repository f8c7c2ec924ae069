"""Log dumps and notebook output in code blocks: long runs of lines that differ only in numbers are collapsed.

A training log, a progress bar redrawn 5,000 times or a 2,000-row numeric table printed by a notebook is one
line's worth of meaning repeated. Chunked as-is it becomes hundreds of chunks (a 494 kB rendered notebook
page gave 779), each embedded, each a near-duplicate search hit. Collapsed, a run keeps its first lines and
its last line and says how many lines like them were left out: its words are still in the index (a search
for them finds the page), the document's stored text keeps every line, and lines that differ in words (an
error in the middle of a log) break the run and are kept.
"""

from __future__ import annotations

import re

MIN_RUN = 20  # lines; shorter runs (a short listing, a small table) are kept whole
KEEP_HEAD = 5  # repetitions kept from the start of a run (each a cycle of 1-4 lines)
MAX_PERIOD = 4  # a log's repeating unit may span a few lines ("Epoch 3/10" + a progress line)
_NUMBER = re.compile(r"[0-9a-fA-F]{8,}|\d+(?:[.,:]\d+)*(?:e[-+]?\d+)?")
_BAR = re.compile(r"[=>#.█▉▊▋▌▍▎▏░▒▓■□\-]{2,}")
_SPACE = re.compile(r"\s+")


def line_shape(line: str) -> str:
    """The line with numbers, hashes, progress-bar runs and spacing masked: equal shapes are 'the same line'."""
    return _SPACE.sub(" ", _BAR.sub("=", _NUMBER.sub("0", line))).strip()


def _run_length(shapes: list[str], start: int, period: int) -> int:
    """Lines from `start` whose shape repeats the line `period` lines earlier (the first period counts too)."""
    end = start + period
    while end < len(shapes) and shapes[end] == shapes[end - period] and shapes[end]:
        end += 1
    return end - start


def collapse_repeated_lines(text: str, min_run: int = MIN_RUN, keep: int = KEEP_HEAD) -> str:
    """`text` with every run of at least `min_run` same-shaped lines (or 2-4-line cycles) shortened to its
    first `keep` repetitions, a `[… N similar lines omitted …]` line and its last repetition."""
    lines = text.split("\n")
    if len(lines) < min_run:
        return text
    shapes = [line_shape(line) for line in lines]
    out: list[str] = []
    i = 0
    while i < len(lines):
        best_period, best_len = 0, 0
        if shapes[i]:
            for period in range(1, MAX_PERIOD + 1):
                n = _run_length(shapes, i, period)
                # a longer period must repeat at least as many whole lines to win (a 1-line run is also a 2-cycle)
                if n >= min_run and n >= period * (keep + 2) and n > best_len + period:
                    best_period, best_len = period, n
        if not best_period:
            out.append(lines[i])
            i += 1
            continue
        whole = best_len - best_len % best_period  # whole cycles only; a trailing partial cycle stays as text
        head = keep * best_period
        tail = best_period
        omitted = whole - head - tail
        out.extend(lines[i : i + head])
        out.append(f"[… {omitted:,} similar lines omitted …]")
        out.extend(lines[i + whole - tail : i + whole])
        i += whole
    return "\n".join(out)
