"""docsage: a self-hostable 'ask the docs' service."""

import os

# One BLAS thread: docsage makes many small matrix-vector products (one per query), where OpenBLAS's worker
# threads only spin-wait against the embedding model and the other requests on a small machine (the
# same 100k-chunk search measured 4 ms with one thread and 11 ms behind spinning threads). Set before
# numpy loads; an explicit OPENBLAS_NUM_THREADS in the environment still wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
