"""`docsage eval` on a tiny BEIR-format dataset, through the installed executable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Cli, table_counts

CORPUS = {
    "d1": ("Photosynthesis", "Plants turn sunlight, water and carbon dioxide into glucose and oxygen in chloroplasts."),
    "d2": ("Volcanoes", "A volcano erupts when molten magma rises through the crust and escapes as lava and ash."),
    "d3": (
        "Sourdough bread",
        "Sourdough is leavened by a starter of wild yeast and lactobacilli instead of baker's yeast.",
    ),
    "d4": ("Chess openings", "The Sicilian Defence answers 1.e4 with 1...c5 and leads to sharp, unbalanced positions."),
    "d5": ("Marathon training", "Marathon plans build weekly mileage slowly and include one long run each week."),
    "d6": ("Honeybees", "Worker honeybees perform a waggle dance to tell the hive where nectar-rich flowers are."),
    "d7": ("Black holes", "A black hole's event horizon is the boundary beyond which not even light can escape."),
    "d8": ("Coffee roasting", "Roasting coffee beans triggers the Maillard reaction and first crack near 196 degrees."),
    "d9": ("Tidal energy", "Tidal power stations generate electricity from the rise and fall of ocean tides."),
    "d10": ("Origami", "Origami is the Japanese art of folding a single square sheet of paper into figures."),
}
QUERIES = {
    "q1": ("How do plants make glucose from sunlight?", "d1"),
    "q2": ("Why does a volcano erupt lava?", "d2"),
    "q3": ("What leavens sourdough bread?", "d3"),
    "q4": ("How do honeybees tell the hive where flowers are?", "d6"),
    "q5": ("What is the event horizon of a black hole?", "d7"),
}


def write_beir(root: Path) -> Path:
    dataset = root / "toy"
    (dataset / "qrels").mkdir(parents=True)
    with (dataset / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, (title, text) in CORPUS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (dataset / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, (text, _) in QUERIES.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
        fh.write(json.dumps({"_id": "q-unjudged", "text": "What is origami?"}) + "\n")  # not in qrels: ignored
    lines = ["query-id\tcorpus-id\tscore", *(f"{qid}\t{doc}\t1" for qid, (_, doc) in QUERIES.items())]
    (dataset / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dataset


def test_eval_reports_three_modes_and_scores_the_toy_queries(run_cli: Cli, tmp_path: Path) -> None:
    dataset = write_beir(tmp_path)

    result = run_cli("eval", "--dataset", dataset, "--json")

    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["dataset"] == "toy"
    assert report["documents"] == len(CORPUS)
    assert report["queries"] == len(QUERIES)
    assert report["chunks"] >= len(CORPUS)
    assert set(report["results"]) == {"lexical", "dense", "hybrid-rrf", "hybrid-passages", "hybrid"}
    for mode, figures in report["results"].items():
        for metric in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
            assert 0.0 <= figures[metric] <= 1.0, (mode, metric, figures[metric])
        assert figures["p50_ms"] >= 0
        assert figures["p95_ms"] >= figures["p50_ms"]
    hybrid = report["results"]["hybrid"]
    assert hybrid["ndcg@10"] > 0.8, hybrid
    assert hybrid["recall@10"] == 1.0, hybrid
    # The evaluation works in a throwaway database, not in the user's data directory.
    db = run_cli.db_path
    assert not db.exists() or table_counts(db)["projects"] == 0


@pytest.mark.parametrize("folder", ["empty", "missing"])
def test_eval_of_a_folder_that_is_not_beir_is_a_one_line_error(run_cli: Cli, tmp_path: Path, folder: str) -> None:
    (tmp_path / "empty").mkdir()

    result = run_cli("eval", "--dataset", tmp_path / folder, "--json")

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error:")
