"""Citation markers become links to the cited page, also when a marker is split across stream deltas."""

from __future__ import annotations

from docsage.answer.citations import link_citations
from docsage.answer.events import TextDelta
from docsage.retrieval.types import Hit


def hits(n: int) -> list[Hit]:
    return [
        Hit(f"c{i}", f"d{i}", "s", f"https://docs.example.com/page-{i}", f"Page {i}", "", "text", 1.0) for i in range(n)
    ]


def run(parts: list[str], n: int = 3) -> str:
    return "".join(d.text for d in link_citations(iter(TextDelta(p) for p in parts), hits(n)))


def test_markers_link_to_the_cited_pages() -> None:
    assert run(["Use the flag [1] or the env var [2]."]) == (
        "Use the flag [[1]](https://docs.example.com/page-0) or the env var [[2]](https://docs.example.com/page-1)."
    )


def test_a_marker_split_across_deltas_is_linked_once() -> None:
    assert run(["See [", "1", "]", " and [2", "]"]) == (
        "See [[1]](https://docs.example.com/page-0) and [[2]](https://docs.example.com/page-1)"
    )


def test_existing_links_out_of_range_numbers_and_plain_brackets_are_left_alone() -> None:
    text = "A [link](https://x.org), item [9], array[0] and [text]."
    assert run([text]) == text
    assert run(["[1]", "(https://already.linked)"]) == "[1](https://already.linked)"


def test_nothing_is_lost_when_the_stream_ends_mid_marker() -> None:
    assert run(["Ends with [", "2"]) == "Ends with [2"
