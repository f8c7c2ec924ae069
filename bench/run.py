"""Run every docsage benchmark and print each figure beside its same-run baseline (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"


def main() -> int:
    docsage = Path(sys.executable).with_name("docsage")
    commands = [
        [
            str(docsage),
            "bench",
            "--chunks",
            "100000",
            "--pages",
            str(SHARED / "anthropic_docs" / "pages"),
            "--queries",
            str(SHARED / "anthropic_docs" / "queries.jsonl"),
        ],
        [str(docsage), "eval", "--dataset", str(SHARED / "scifact"), "--dataset", str(SHARED / "anthropic_docs")],
        [sys.executable, "-m", "bench.pages"],
        [sys.executable, "-m", "bench.api"],
        [sys.executable, "-m", "bench.agents"],
        [sys.executable, "-m", "bench.sse"],
        [sys.executable, "-m", "bench.widget"],
    ]
    for cmd in commands:
        print("$", " ".join(cmd[1:]), flush=True)
        code = subprocess.call(cmd, cwd=ROOT)
        if code:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
