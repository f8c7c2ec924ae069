"""Snippets of the widget's search: a bounded window of a passage around the query's words, as plain text."""

from __future__ import annotations

from docsage.retrieval.pages import SNIPPET_CHARS, plain, snippet

FILLER = " ".join(f"word{n}" for n in range(200))


def test_a_short_passage_is_shown_whole_as_plain_text() -> None:
    text = "## Install\n\nRun `pip install skyloom-cli`, then see [the guide](https://x.example/guide) **now**.\n"
    assert snippet(text, "install") == "Install Run pip install skyloom-cli, then see the guide now."
    assert plain("| `SKYLOOM_REGION` | The data region |\n| --- | --- |") == "SKYLOOM_REGION The data region"
    assert plain("```bash\nskyloom --version\n```") == "skyloom --version"


def test_a_long_passage_is_cut_around_the_first_word_of_the_query_by_stem() -> None:
    text = f"{FILLER} Installing the daemon takes a minute. {FILLER}"
    cut = snippet(text, "how do I install it")
    assert cut.startswith("…") and cut.endswith("…")
    assert len(cut) <= SNIPPET_CHARS + 2
    assert "Installing the daemon takes a minute." in cut
    assert cut.index("Installing") < SNIPPET_CHARS // 2  # some context before, most of it after
    assert not cut.strip("…").startswith(" ") and " word" in cut  # cut at word boundaries


def test_without_a_match_the_passage_starts_at_its_beginning() -> None:
    cut = snippet(FILLER, "kubernetes")
    assert cut.startswith("word0 word1") and cut.endswith("…") and len(cut) <= SNIPPET_CHARS + 1
