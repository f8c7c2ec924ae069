"""`docsage eval --answers` on a tiny QA set, through the installed executable; the scoring rules on hand-made
outcomes.

Verdicts are asserted only for clear-cut questions (the answer is spelled out on one page; an off-topic question):
the coverage judge is being re-tuned, and borderline questions may flip either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Cli, table_counts
from docsage.evaluation.answers import QuestionOutcome, Rate, SetQuestion, cited_pages, normalise, score

DOCS = {
    "backups.md": """\
# Backups

Run `vaultctl backup --target s3://my-bucket` to copy every vault to object storage.
Backups are encrypted with AES-256 before they leave the machine.

## Retention

Backups are kept for 30 days and then deleted automatically.
""",
    "install.md": """\
# Installing vaultctl

Install the command-line client with `pip install vaultctl`. It needs Python 3.11 or newer.
Check the installation with `vaultctl --version`.
""",
    "guides/tokens.md": """\
# Access tokens

Create a personal access token on the account page. Tokens expire after 90 days.
Pass the token to the client in the `VAULTCTL_TOKEN` environment variable.
""",
}
CLEAR_ANSWERABLE = "t-1"
CLEAR_OFF_TOPIC = "t-5"
QUESTIONS: list[dict[str, Any]] = [
    {
        "id": CLEAR_ANSWERABLE,
        "question": "How do I back up my vaults to object storage with vaultctl?",
        "style": "direct",
        "answerable": True,
        "pages": ["backups.md"],
        "evidence": ["vaultctl backup --target s3://my-bucket"],
    },
    {
        "id": "t-2",
        "question": "install vaultctl pip",
        "style": "short",
        "answerable": True,
        "pages": ["install.md"],
        "evidence": ["pip install vaultctl"],
    },
    {
        "id": "t-3",
        "question": "When does my personal access token stop working?",
        "style": "paraphrase",
        "answerable": True,
        "pages": ["guides/tokens.md"],
        "evidence": ["Tokens expire after 90 days"],
    },
    {
        "id": "t-4",
        "question": "how long do you hang on to old snapshots",
        "style": "vocabulary",
        "answerable": True,
        "pages": ["backups.md"],
        "evidence": ["kept for 30 days"],
    },
    {
        "id": CLEAR_OFF_TOPIC,
        "question": "What is the boiling point of mercury in kelvin?",
        "style": "unanswerable",
        "answerable": False,
        "pages": [],
        "evidence": [],
    },
    {
        "id": "t-6",
        "question": "Can vaultctl sync vaults to Google Drive?",
        "style": "unanswerable",
        "answerable": False,
        "pages": [],
        "evidence": [],
    },
]


def write_set(root: Path, lines: list[str] | None = None) -> Path:
    folder = root / "vault-set"
    for name, text in DOCS.items():
        (folder / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "docs" / name).write_text(text, encoding="utf-8")
    lines = lines if lines is not None else [json.dumps(q) for q in QUESTIONS]
    (folder / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("answers-home")


@pytest.fixture(scope="module")
def report(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One run of the real CLI over the tiny set, shared by the tests that read its JSON."""
    folder = write_set(tmp_path_factory.mktemp("sets"))
    result = Cli(home)("eval", "--answers", folder, "--json")
    assert result.returncode == 0, result.stderr
    [only] = json.loads(result.stdout)
    yield only


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in report["results"]}


def test_the_set_is_indexed_and_every_question_asked(report: dict[str, Any], home: Path) -> None:
    assert report["set"] == "vault-set"
    assert report["provider"] == "extractive"
    assert report["documents"] == len(DOCS)
    assert report["ingest_failures"] == []
    assert (report["questions"], report["answerable"], report["unanswerable"]) == (6, 4, 2)
    assert [r["id"] for r in report["results"]] == [q["id"] for q in QUESTIONS]
    assert set(report["by_style"]) == {"direct", "short", "paraphrase", "vocabulary", "unanswerable"}
    # The evaluation works in a throwaway home, not in the user's data directory.
    db = home / "docsage.db"
    assert not db.exists() or table_counts(db)["projects"] == 0


def test_a_clear_cut_answer_cites_its_page_by_path_and_quotes_the_evidence(report: dict[str, Any]) -> None:
    result = by_id(report)[CLEAR_ANSWERABLE]

    assert result["is_uncertain"] is False
    assert "backups.md" in result["cited"]
    assert result["right_page"] is True
    assert result["evidence_quoted"] is True
    assert CLEAR_ANSWERABLE not in {f["id"] for f in report["failures"]}
    # file:// citations come back as paths under docs/, whatever the page.
    pages = {c for r in report["results"] for c in r["cited"]}
    assert pages <= set(DOCS), pages


def test_an_off_topic_question_is_flagged_and_not_scored_as_answerable(report: dict[str, Any]) -> None:
    result = by_id(report)[CLEAR_OFF_TOPIC]

    assert result["is_uncertain"] is True
    assert result["right_page"] is None and result["evidence_quoted"] is None
    assert CLEAR_OFF_TOPIC not in {f["id"] for f in report["failures"]}


def expected_rates(results: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    answerable = [r for r in results if r["answerable"]]
    unanswerable = [r for r in results if not r["answerable"]]
    return {
        "answered": (sum(not r["is_uncertain"] for r in answerable), len(answerable)),
        "right_page_cited": (sum(r["right_page"] for r in answerable), len(answerable)),
        "evidence_quoted": (sum(r["evidence_quoted"] for r in answerable), len(answerable)),
        "flagged_unanswerable": (sum(r["is_uncertain"] and not r["error"] for r in unanswerable), len(unanswerable)),
    }


def test_the_figures_add_up_from_the_per_question_results(report: dict[str, Any]) -> None:
    groups = {"all": report["results"]} | {
        style: [r for r in report["results"] if r["style"] == style] for style in report["by_style"]
    }
    for group, results in groups.items():
        figures = report["metrics"] if group == "all" else report["by_style"][group]
        for metric, (count, total) in expected_rates(results).items():
            rate = figures[metric]
            assert (rate["count"], rate["of"]) == (count, total), (group, metric)
            assert rate["percent"] == (round(100 * count / total, 1) if total else None), (group, metric)
    assert report["metrics"]["answered"]["of"] == 4
    assert report["metrics"]["flagged_unanswerable"]["of"] == 2
    assert report["by_style"]["unanswerable"]["answered"]["percent"] is None


def test_failures_name_what_went_wrong_with_the_start_of_the_answer(report: dict[str, Any]) -> None:
    results = by_id(report)
    for failure in report["failures"]:
        assert failure["problems"], failure
        assert len(failure["answer"]) <= 200
        result = results[failure["id"]]
        if result["answerable"] and result["is_uncertain"]:
            assert "not answered (flagged uncertain)" in failure["problems"]
    refused = [r["id"] for r in report["results"] if r["answerable"] and r["is_uncertain"]]
    assert set(refused) <= {f["id"] for f in report["failures"]}


def test_text_output_is_a_table_per_set_and_verbose_lists_failures(run_cli: Cli, tmp_path: Path) -> None:
    # One answerable question whose listed page is not where the answer is: a failure whatever the verdict.
    evidence = "Create a personal access token on the account page"  # shares no word with the question
    wrong_page = {**QUESTIONS[0], "id": "w-1", "pages": ["guides/tokens.md"], "evidence": [evidence]}
    folder = write_set(tmp_path, [json.dumps(wrong_page), json.dumps(QUESTIONS[4])])

    result = run_cli("eval", "--answers", folder, "--verbose")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "vault-set" in out and "2 questions" in out
    for column in ("answered", "right page", "evidence", "flagged"):
        assert column in out
    assert "unanswerable" in out and "100.0% (1/1)" in out  # the off-topic question, flagged
    assert "w-1" in out and "no expected evidence quoted" in out


MALFORMED = [
    ('{"id": "t-9", "question": "broken', 3, "not valid JSON"),
    (json.dumps({k: v for k, v in QUESTIONS[0].items() if k != "evidence"} | {"id": "t-9"}), 3, "'evidence'"),
    (json.dumps(QUESTIONS[0] | {"id": "t-9", "style": "funny"}), 3, "'style'"),
    (json.dumps(QUESTIONS[0] | {"id": "t-9", "answerable": "yes"}), 3, "'answerable'"),
    (json.dumps(QUESTIONS[4] | {"id": "t-9", "answerable": True}), 3, "'answerable'"),
    (json.dumps(QUESTIONS[0] | {"id": "t-9", "pages": ["missing.md"]}), 3, "'pages'"),
    (json.dumps(QUESTIONS[0] | {"id": "t-9", "evidence": ["not on the page"]}), 3, "'evidence'"),
    (json.dumps(QUESTIONS[0]), 3, "'id'"),  # t-1 again
    (json.dumps(QUESTIONS[0] | {"id": "t-9", "source": "x"}), 3, "'source'"),
]


@pytest.mark.parametrize(("line", "number", "field"), MALFORMED)
def test_a_malformed_line_is_a_one_line_error_naming_line_and_field(
    run_cli: Cli, tmp_path: Path, line: str, number: int, field: str
) -> None:
    good = [json.dumps(q) for q in QUESTIONS[:2]]
    folder = write_set(tmp_path, [good[0], good[1], line, json.dumps(QUESTIONS[2])])

    result = run_cli("eval", "--answers", folder, "--json")

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert f"questions.jsonl:{number}:" in lines[0]
    assert field in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("layout", ["missing", "no-docs", "no-questions", "blank"])
def test_a_folder_that_is_not_a_set_is_a_one_line_error(run_cli: Cli, tmp_path: Path, layout: str) -> None:
    folder = write_set(tmp_path)
    if layout == "missing":
        folder = tmp_path / "nowhere"
    elif layout == "no-docs":
        for path in sorted((folder / "docs").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (folder / "docs").rmdir()
    elif layout == "no-questions":
        (folder / "questions.jsonl").unlink()
    else:
        (folder / "questions.jsonl").write_text("\n\n", encoding="utf-8")

    result = run_cli("eval", "--answers", folder)

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error:"), result.stderr


def test_answers_cannot_be_mixed_with_a_retrieval_dataset(run_cli: Cli, tmp_path: Path) -> None:
    result = run_cli("eval", "--answers", write_set(tmp_path), "--dataset", tmp_path)

    assert result.returncode == 2
    assert "--answers" in result.stderr


# --- the scoring rules, on outcomes built by hand ----------------------------------------------------------------


def question(answerable: bool = True, style: str = "direct") -> SetQuestion:
    pages, evidence = (("backups.md",), ("kept for 30 days",)) if answerable else ((), ())
    return SetQuestion("q", "How long are backups kept?", style, answerable, pages, evidence, line=1)


def test_normalise_drops_citations_markup_and_case() -> None:
    text = "- Backups are **kept** for `30 days`\n  and then [[1]](file:///d/backups.md) :func:`deleted` [2]"
    assert normalise(text) == "- backups are kept for 30 days and then deleted"


def test_cited_pages_map_file_links_under_docs_to_paths_and_keep_other_links() -> None:
    answer = (
        "See [[1]](file:///srv/set/docs/guides/a%20b.md), [[2]](https://example.com/p#part), "
        "[[3]](file:///elsewhere/c.md) and [[1]](file:///srv/set/docs/guides/a%20b.md) again."
    )
    assert cited_pages(answer, Path("/srv/set/docs")) == [
        "guides/a b.md",
        "https://example.com/p",
        "file:///elsewhere/c.md",
    ]


def test_evidence_counts_when_quoted_with_other_markup_and_line_breaks() -> None:
    answer = "Here is what the documentation says:\n\n- Backups are **kept\nfor** 30 days [[1]](file:///d/backups.md)"
    outcome = QuestionOutcome(question(), answer, False, ["backups.md"], 0.1)
    assert outcome.evidence_quoted and outcome.right_page and outcome.problems() == []

    elsewhere = QuestionOutcome(question(), "They are deleted. [[1]](file:///d/other.md)", True, ["other.md"], 0.1)
    assert not elsewhere.evidence_quoted and not elsewhere.right_page
    assert elsewhere.problems() == [
        "not answered (flagged uncertain)",
        "no expected page cited (backups.md; cited other.md)",
        "no expected evidence quoted",
    ]


def test_score_counts_answerable_and_unanswerable_questions_separately() -> None:
    quoted = "Backups are kept for 30 days [[1]](file:///d/backups.md)"
    outcomes = [
        QuestionOutcome(question(), quoted, False, ["backups.md"], 0.1),  # answered, right page, evidence
        QuestionOutcome(question(), quoted, True, ["backups.md"], 0.1),  # refused, but links the page and quotes
        QuestionOutcome(question(), "Something else.", False, ["install.md"], 0.1),  # answered wrongly
        QuestionOutcome(question(), "", True, [], 0.1, error="timeout"),  # the provider failed
        QuestionOutcome(question(False, "unanswerable"), "I couldn't find this.", True, [], 0.1),
        QuestionOutcome(question(False, "unanswerable"), "Backups are kept.", False, [], 0.1),
        QuestionOutcome(question(False, "unanswerable"), "", True, [], 0.1, error="timeout"),  # not a flag
    ]

    rates = score(outcomes)

    assert {name: (r.count, r.total) for name, r in rates.items()} == {
        "answered": (2, 4),
        "right_page_cited": (2, 4),
        "evidence_quoted": (2, 4),
        "flagged_unanswerable": (1, 3),
    }
    assert rates["answered"].percent == 50.0
    assert score([]) == dict.fromkeys(rates, Rate(0, 0))
    assert outcomes[3].problems() == ["provider error: timeout"]
    assert outcomes[5].problems() == ["answered, though the docs do not cover it"]
