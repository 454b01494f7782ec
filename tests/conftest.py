import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # autograder/ is not installed: it is the instructor's side
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# JAX's compilations on disk, shared by the test processes and the kernels they start (see course.oracle).
os.environ.setdefault("COURSE_JAX_CACHE", str(ROOT / ".cache" / "jax"))

# Parallel test workers may both grade in the sandbox at once: give each its own sandbox user ids.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
os.environ.setdefault("COURSE_SANDBOX_UID_OFFSET", str(16 * int(_WORKER.removeprefix("gw") or 0)))


def error_outputs(nb) -> list:
    """``(cell index, error output)`` for every code cell of an executed notebook that raised."""
    return [(index, output) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.output_type == "error"]
