"""The extractive provider quotes and cites the parts of the passages that answer, labels the closest passage
when the verdict is uncertain, answers multi-part questions part by part, and condenses follow-ups offline."""

from __future__ import annotations

import re
from dataclasses import replace

from docsage.answer.base import AnswerRequest, Turn
from docsage.answer.events import MetadataEvent, TextDelta
from docsage.answer.extractive import ExtractiveProvider
from docsage.answer.registry import get_answer_provider
from docsage.config import Settings
from docsage.embed.base import Embedder
from docsage.retrieval.types import Hit

FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CITED_LINE = re.compile(r"^(?:- )?(?P<quote>.+?) \[(?P<n>\d+)\]:?$", re.MULTILINE)


def count_words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def run(
    question: str,
    hits: list[Hit],
    covered: bool = True,
    *,
    off_topic: bool = False,
    embedder: Embedder | None = None,
) -> tuple[list[str], MetadataEvent]:
    provider = ExtractiveProvider(count_words, embedder)
    events = list(provider.generate(AnswerRequest(question, hits, [], covered, off_topic)))
    assert isinstance(events[-1], MetadataEvent)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return [e.text for e in events[:-1] if isinstance(e, TextDelta)], events[-1]


def squash(text: str) -> str:
    return " ".join(text.split())


def page(number: int, title: str, heading: str, content: str) -> Hit:
    return Hit(
        chunk_id=f"chunk-{number}",
        document_id=f"doc-{number}",
        source_id="source-docs",
        source_url=f"https://docs.example.com/{title.lower().replace(' ', '-')}",
        title=title,
        heading_path=heading,
        content=content,
        score=1.0 / (60 + number),
    )


def test_covered_answer_quotes_the_passages_it_cites(doc_hits: list[Hit]) -> None:
    deltas, meta = run("How do I configure the rate limit for chat?", doc_hits)
    answer = "".join(deltas)

    assert answer.startswith("Here is what the documentation says:")
    assert len(answer) < 1200
    cited = CITED_LINE.findall(answer)
    assert 2 <= len(cited) <= 4
    for quote, number in cited:
        passage = doc_hits[int(number) - 1].content
        assert squash(quote).removesuffix("…") in squash(passage), (quote, number)
    assert "[1]" in answer
    assert "chat_per_minute = 40" in answer
    assert meta.is_uncertain is False
    assert meta.model == "extractive"


def test_quotes_sit_under_their_heading_path(doc_hits: list[Hit]) -> None:
    deltas, _ = run("How do I configure the rate limit for chat?", doc_hits)
    answer = "".join(deltas)

    heading = answer.index("*Configuration › Rate limits*")
    assert heading < answer.index("chat_per_minute = 40")
    assert answer.count("*Configuration › Rate limits*") == 1


def test_deltas_rebuild_the_answer_and_usage_is_counted(doc_hits: list[Hit]) -> None:
    question = "How do I configure the rate limit for chat?"
    deltas, meta = run(question, doc_hits)
    answer = "".join(deltas)

    assert len(deltas) > 3
    assert all(deltas)
    assert meta.completion_tokens == len(answer.split())
    assert meta.prompt_tokens >= len(question.split()) + len(doc_hits[0].content.split())


def test_code_block_is_quoted_whole_with_its_lead(doc_hits: list[Hit]) -> None:
    install = doc_hits[2]
    deltas, _ = run("How can I install the CLI?", [install, doc_hits[0]])
    answer = "".join(deltas)

    blocks = FENCED.findall(answer)
    assert blocks == FENCED.findall(install.content)
    assert "pip install docsage" in blocks[0]
    assert "Install it with pip inside a virtual environment: [1]" in answer


def test_inflected_words_still_find_the_sentence(doc_hits: list[Hit]) -> None:
    deltas, _ = run("What happens when clients exceed the limits?", doc_hits)
    answer = "".join(deltas)

    assert "When a client exceeds its limit, the API answers 429" in answer


def test_uncovered_question_says_so_and_lists_closest_pages(doc_hits: list[Hit]) -> None:
    deltas, meta = run("Does docsage support SAML single sign-on?", doc_hits, covered=False)
    answer = "".join(deltas)

    assert "I couldn't find this in the documentation." in answer
    assert "The closest pages are:" in answer
    for number, hit in enumerate(doc_hits, start=1):
        assert f"{hit.title} [{number}]" in answer
    assert "chat_per_minute" not in answer
    assert meta.is_uncertain is True


def test_no_hits_is_uncertain_even_when_called_covered() -> None:
    deltas, meta = run("How do I rotate API keys?", [], covered=True)

    assert "".join(deltas) == "I couldn't find this in the documentation."
    assert meta.is_uncertain is True


def test_covered_but_nothing_quotable_admits_it(doc_hits: list[Hit]) -> None:
    headings_only = replace(doc_hits[0], content="## Rate limits\n\n### Per team")
    deltas, meta = run("How do I configure the rate limit for chat?", [headings_only])

    assert "".join(deltas).startswith("I couldn't find this in the documentation.")
    assert meta.is_uncertain is True


def test_condense_joins_a_dependent_follow_up_with_the_previous_question() -> None:
    provider = ExtractiveProvider(count_words)
    history = [Turn("How do I configure rate limits?", "Set the `rate_limit` section [1].")]

    condensed = provider.condense("Can it be set per project?", history)
    assert "configure rate limits" in condensed
    assert "set per project" in condensed
    assert "rate limits" in provider.condense("What about retrieval?", history)


def test_condense_leaves_independent_questions_alone() -> None:
    provider = ExtractiveProvider(count_words)
    history = [Turn("How do I configure rate limits?", "Set the `rate_limit` section [1].")]
    question = "How do I install the CLI on Windows?"

    assert provider.condense(question, history) == question
    assert provider.condense("Can it be set per project?", []) == "Can it be set per project?"


def test_registry_builds_the_extractive_provider_by_default() -> None:
    provider = get_answer_provider(Settings(llm_provider="extractive"), count_words)

    assert provider.name == "extractive"


# --- choosing what answers ------------------------------------------------------------------------------------

TOKENS = """\
Access tokens are created in the dashboard when a project is created. Access tokens are shown once.

Each access token belongs to one project and carries the scopes chosen for it.

Tokens rotate every 30 days; the previous token keeps working for one hour."""

SIGNALS = """\
The daemon runs in the background and syncs on a schedule.

The daemon reloads its configuration when it receives one of these signals:

- `SIGHUP` reloads `skyloom.toml` and keeps the current sync running
- `SIGUSR1` reopens the log files, for log rotation
- `SIGTERM` stops the daemon after the current sync"""

SETTINGS_TABLE = "\n".join(
    [
        "Every setting of `skyloom.toml` with its default:",
        "",
        "| Setting | Default | Meaning |",
        "|---|---|---|",
        *(f"| `cache_{n}` | {n} MB | size of cache tier {n} kept on disk between runs |" for n in range(1, 9)),
        "| `sync_interval_seconds` | 30 | how often the daemon syncs |",
        "| `log_level` | info | how much the daemon logs |",
    ]
)

BACKUP_CONFIG = "\n".join(
    [
        "A complete configuration file:",
        "",
        "```toml",
        *(f"option_{n} = {n}" for n in range(1, 16)),
        "",
        "[backups]",
        "retention_days = 30",
        'schedule = "daily"',
        "",
        *(f"other_{n} = {n}" for n in range(1, 16)),
        "```",
    ]
)


def test_how_often_question_quotes_the_sentence_that_states_the_period() -> None:
    tokens = page(1, "Access tokens", "Security > Access tokens", TOKENS)
    deltas, meta = run("How often are access tokens replaced?", [tokens])
    answer = "".join(deltas)

    assert "Tokens rotate every 30 days; the previous token keeps working for one hour. [1]" in answer
    assert meta.is_uncertain is False


EDITOR = """\
Skyloom can open your editor through `skyloom.edit()`. This is the way to write long release notes without \
leaving the terminal. The editor is taken from `$EDITOR`."""


def test_a_sentence_that_refers_back_is_quoted_with_the_sentence_it_refers_to() -> None:
    editor = page(1, "Utilities", "Utilities > Editors", EDITOR)
    deltas, _ = run("How do I write long release notes without leaving the terminal?", [editor])
    answer = "".join(deltas)

    # "This is the way…" matches the question; what "this" is comes from the sentence before it.
    assert "This is the way to write long release notes without leaving the terminal." in answer
    assert "Skyloom can open your editor through `skyloom.edit()`." in answer
    assert answer.index("skyloom.edit()") < answer.index("This is the way")


def test_list_introduced_by_a_matching_sentence_is_quoted_whole_under_it() -> None:
    daemon = page(1, "Daemon", "Running > Daemon", SIGNALS)
    deltas, _ = run("Which signals make the daemon reload its configuration?", [daemon])
    answer = "".join(deltas)

    lead = "The daemon reloads its configuration when it receives one of these signals: [1]"
    items = [
        "- `SIGHUP` reloads `skyloom.toml` and keeps the current sync running",
        "- `SIGUSR1` reopens the log files, for log rotation",
        "- `SIGTERM` stops the daemon after the current sync",
    ]
    assert f"{lead}\n\n" + "\n".join(items) in answer
    assert answer.count(lead.removesuffix(" [1]")) == 1


def test_table_row_is_quoted_with_the_table_header() -> None:
    settings = page(1, "Settings", "Configuration > Settings", SETTINGS_TABLE)
    deltas, _ = run("What is the default sync interval?", [settings])
    answer = "".join(deltas)

    table = (
        "| Setting | Default | Meaning |\n|---|---|---|\n| `sync_interval_seconds` | 30 | how often the daemon syncs |"
    )
    assert table in answer
    assert "Every setting of `skyloom.toml` with its default: [1]" in answer
    assert "cache_5" not in answer  # a long table is quoted by the rows that answer


def test_long_code_block_is_quoted_by_the_lines_that_answer_with_the_cut_marked() -> None:
    config = page(1, "Backups", "Operations > Backups", BACKUP_CONFIG)
    deltas, _ = run("How do I set how many days backups are kept (retention days)?", [config])
    answer = "".join(deltas)

    blocks = FENCED.findall(answer)
    assert len(blocks) == 1
    assert blocks[0].startswith("```toml\n…\n")
    assert '[backups]\nretention_days = 30\nschedule = "daily"' in blocks[0]
    assert "option_1 =" not in blocks[0]


def test_multi_part_question_is_answered_part_by_part(doc_hits: list[Hit]) -> None:
    deltas, meta = run("How do I install the CLI with pip, and how do I change the chat rate limit?", doc_hits)
    answer = "".join(deltas)

    first = answer.index("**How do I install the CLI with pip?**")
    second = answer.index("**How do I change the chat rate limit?**")
    assert first < answer.index("pip install docsage") < second
    assert second < answer.index("chat_per_minute = 40")
    assert meta.is_uncertain is False


# --- an uncertain verdict ------------------------------------------------------------------------------------


def test_uncertain_verdict_quotes_the_closest_passage_under_a_clear_label(doc_hits: list[Hit]) -> None:
    deltas, meta = run("Can I raise the chat limit for one busy team?", doc_hits, covered=False)
    answer = "".join(deltas)

    label = (
        "I couldn't find a passage that answers this directly. "
        "The closest passage, from “Configuration › Rate limits” [1]:"
    )
    assert answer.startswith(label)
    quotes = CITED_LINE.findall(answer.removeprefix(label).split("Other pages that may help:")[0])
    assert quotes
    for quote, number in quotes:
        assert number == "1"
        assert squash(quote).removesuffix("…") in squash(doc_hits[0].content)
    assert "Other pages that may help:\n- Environment variables [2]\n- Installing the CLI [3]" in answer
    assert meta.is_uncertain is True


def test_off_topic_question_quotes_nothing(doc_hits: list[Hit]) -> None:
    deltas, meta = run("What is the chat limit of the moon landing?", doc_hits, covered=False, off_topic=True)
    answer = "".join(deltas)

    assert answer.startswith("I couldn't find this in the documentation.\n\nThe closest pages are:")
    assert "chat_per_minute" not in answer
    assert "requests per minute" not in answer
    assert meta.is_uncertain is True


# --- the embedder re-ranks near ties ---------------------------------------------------------------------------

COPY_TOKEN = "Copy the access token from the dashboard into your CI secrets."
TOKEN_EXPIRY = "An access token expires 90 days after it is issued."
STOP_WORKING = "When does an access token stop working?"


def token_pages() -> list[Hit]:
    return [page(1, "Tokens", "Tokens > Using tokens", COPY_TOKEN), page(2, "Expiry", "Tokens > Expiry", TOKEN_EXPIRY)]


def test_embedder_prefers_the_sentence_that_means_the_question(minilm: Embedder) -> None:
    # Both passages hold "access token"; only the meaning tells them apart, by a clear margin.
    question, copy, expiry = minilm.embed_query(STOP_WORKING), *minilm.embed_documents([COPY_TOKEN, TOKEN_EXPIRY])
    assert float(expiry @ question) - float(copy @ question) > 0.15

    lexical, _ = run(STOP_WORKING, token_pages(), covered=False)
    reranked, meta = run(STOP_WORKING, token_pages(), covered=False, embedder=minilm)

    assert "The closest passage, from “Tokens › Using tokens” [1]:" in "".join(lexical)
    assert "The closest passage, from “Tokens › Expiry” [2]:" in "".join(reranked)
    assert f"- {TOKEN_EXPIRY} [2]" in "".join(reranked)
    assert meta.is_uncertain is True


def test_answer_opening_streams_before_the_quotes_are_chosen(doc_hits: list[Hit], minilm: Embedder) -> None:
    stream = ExtractiveProvider(count_words, minilm).generate(
        AnswerRequest("How do I configure the rate limit for chat?", doc_hits, [], True)
    )
    opening = []
    for event in stream:
        assert isinstance(event, TextDelta)
        opening.append(event.text)
        if "".join(opening).rstrip() == "Here is what the documentation says:":
            break
    rest = "".join(e.text for e in stream if isinstance(e, TextDelta))
    assert rest.startswith("\n\n*Configuration › Rate limits*")


def test_registry_reranks_with_the_local_embedder_but_never_calls_a_remote_one() -> None:
    request = AnswerRequest(STOP_WORKING, token_pages(), [], False)
    local = get_answer_provider(Settings(llm_provider="extractive", embedding_provider="local"), count_words)
    # Nothing listens on port 9: a remote embedder called per answer would fail this answer.
    remote_settings = Settings(
        llm_provider="extractive", embedding_provider="openai", embedding_base_url="http://127.0.0.1:9/v1"
    )
    remote = get_answer_provider(remote_settings, count_words)

    local_answer = "".join(e.text for e in local.generate(request) if isinstance(e, TextDelta))
    remote_answer = "".join(e.text for e in remote.generate(request) if isinstance(e, TextDelta))
    assert "from “Tokens › Expiry” [2]:" in local_answer
    assert "from “Tokens › Using tokens” [1]:" in remote_answer


def test_a_sentence_sharing_only_the_product_name_is_not_quoted(doc_hits: list[Hit], minilm: Embedder) -> None:
    # Passages [1] and [2] mention docsage (docsage.toml, DOCSAGE_*) but say nothing about installing it; the
    # embedder finds any sentence about docsage similar, so only the question's words decide past two quotes.
    deltas, _ = run("How do I install docsage?", doc_hits, embedder=minilm)
    answer = "".join(deltas)

    assert "pip install docsage" in answer
    assert set(re.findall(r"\[(\d+)\]", answer)) == {"3"}
