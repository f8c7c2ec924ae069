"""The bundled int8 model gives the same vectors whatever the CPU's instruction set.

ONNX Runtime picks its int8 matrix kernels by instruction set. Without AVX-512 VNNI, the u8 x s8 kernels add pairs
of products in saturating 16-bit registers (vpmaddubsw), so full-range int8 weights overflow there and the vectors
move: with the earlier build, cosine 0.992 on average (0.987 at worst) between an AVX2-only CPU and this one, as
far as int8 is from fp32. The bundled build keeps its weights to 7 bits (reduce_range), which cannot overflow,
and the vectors agree across instruction sets (docs/ingestion.md). An AVX2-only machine (no AVX-512, no VNNI) is
emulated here with qemu-user (`-cpu Haswell`), which `make test` installs. On these texts the earlier build gave
cosine 0.9885-0.9921 there, the bundled one 1.000000. (~1 minute: qemu emulates every AVX2 instruction.)
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys

import numpy as np
import pytest

from docsage.embed.local import MiniLMEmbedder

TEXTS = [
    "How do I set the data region?",
    "How can I see how far behind my consumers are?",
    "autogenerate keeps trying to drop tables that belong to another app",
    "Use the --count option to repeat the greeting; it defaults to 1.",
    "Install the command-line client from PyPI with pip install skyloom-cli, then run skyloom login.",
    "Environment variables take precedence over the configuration file in ~/.skyloom/config.toml.",
]
EMBED = (
    "import json, sys\n"
    "from docsage.embed.local import MiniLMEmbedder\n"
    "texts = json.loads(sys.stdin.read())\n"
    "print(json.dumps(MiniLMEmbedder(threads=1).embed_documents(texts).tolist()))\n"
)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the instruction sets compared are x86-64's")
def test_vectors_are_the_same_on_an_avx2_only_cpu() -> None:
    qemu = shutil.which("qemu-x86_64")
    assert qemu, "qemu-user is missing: `make test` installs it (apt-get install qemu-user)"
    native = MiniLMEmbedder(threads=1).embed_documents(TEXTS)
    run = subprocess.run(
        [qemu, "-cpu", "Haswell", sys.executable, "-c", EMBED],
        input=json.dumps(TEXTS),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    emulated = np.asarray(json.loads(run.stdout), dtype=np.float32)
    cosines = (native * emulated).sum(axis=1)
    # Measured: 1.000000 for every text with the bundled build, 0.9885-0.9921 with full-range int8 weights.
    assert cosines.min() >= 0.9999, cosines.round(6).tolist()
