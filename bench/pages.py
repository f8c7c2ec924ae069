"""Page-level retrieval on the answer sets (eval/answers): the right page first and in the top 3, per retriever,
with the docs indexed as a folder. Hybrid is printed beside the better single retriever measured in the same run.

The sets marked "tune" in eval/answers/sets.json may be used to choose ranking settings; the "heldout" ones only
to report (docs/retrieval.md).

Usage: python -m bench.pages [--set eval/answers/click ...] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from docsage.config import Settings
from docsage.evaluation.answers import load_answer_set
from docsage.evaluation.page_retrieval import run_page_eval

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "eval" / "answers"


def role_of(name: str) -> str:
    roles = json.loads((SETS / "sets.json").read_text(encoding="utf-8"))
    return next((role for role, names in roles.items() if name in names), "unlisted")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", action="append", help="answer set folder (repeatable; default: every set in sets.json)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    roles = json.loads((SETS / "sets.json").read_text(encoding="utf-8"))
    folders = args.set or [str(SETS / name) for names in roles.values() for name in names]
    settings = Settings()
    out = []
    for folder in folders:
        result = run_page_eval(load_answer_set(folder), settings)
        role = role_of(result.answer_set)
        out.append({**result.to_json(), "role": role})
        if args.json:
            continue
        print(f"{result.answer_set} ({role}): {result.documents} pages, {result.chunks} chunks, ", end="")
        print(f"{result.questions} questions")
        for name, figures in result.results.items():
            print(
                f"  {name:10s}  right page first {figures['top1']:6.1%}  in top 3 {figures['top3']:6.1%}  "
                f"nDCG@10 {figures['ndcg@10']:.4f}  MRR@10 {figures['mrr@10']:.4f}"
            )
        best = max(("lexical", "dense"), key=lambda n: result.results[n]["ndcg@10"])
        hybrid, single = result.results["hybrid"]["ndcg@10"], result.results[best]["ndcg@10"]
        print(f"  hybrid nDCG@10 {hybrid:.4f}  |  baseline ({best}, same run): {single:.4f}  |  ", end="")
        print(f"ratio {hybrid / single:.3f}")
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
