"""Execute every source notebook (solutions and all tests) in a fresh kernel and print the time.

    python benchmarks/notebook_times.py [--repeat N]

The budget is 60 s per notebook on the 2-core reference machine.  The
first row, an empty notebook, is the baseline: kernel start and shutdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = str(ROOT)
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def execute(nb) -> float:
    start = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    baseline = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    rows = [("(empty notebook: kernel start/stop)", baseline)]
    rows += [(str(p.relative_to(ROOT)), nbformat.read(p, as_version=4)) for p in sorted((ROOT / "source").glob("*/*.ipynb"))]
    base = None
    print(f"{'notebook':<58} {'median s':>9} {'x empty':>8}  budget 60 s")
    for name, nb in rows:
        times = [execute(nbformat.from_dict(nb)) for _ in range(args.repeat)]
        median = statistics.median(times)
        base = base or median
        print(f"{name:<58} {median:>9.2f} {median / base:>8.1f}  {'ok' if median < 60 else 'OVER'}")


if __name__ == "__main__":
    main()
