"""What the sandbox sends back is judged exactly as the same data judged in the kernel.

In the pipeline, probes run in the sandbox and their observations travel to the trusted judge as JSON
(``autograder.records``): arrays as bytes, lists and dicts rebuilt.  A judge that relies on a Python type
the round trip does not keep (an empty list, a list of shapes) would fail correct answers in the
pipeline only -- plain nbgrader, which judges in the kernel, would never show it.  So for every assignment
the reference answers are probed in-process, the observations are sent through the round trip, and every
exercise must still pass.
"""

import nbformat
import numpy as np
import pytest

from autograder import notebooks, records
from autograder.exercises import ASSIGNMENTS
from autograder.exercises.base import judge_all, observe, seed_for, served_calls
from conftest import ROOT


def _reference_namespace(assignment: str) -> dict:
    """The source notebook's code, solutions included, run in-process (test and plot cells left out)."""
    namespace = {"__name__": "__main__"}
    for cell in nbformat.read(notebooks.notebook_path(assignment, "source", ROOT), as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")) \
                or "is_grading()" in cell.source:
            continue
        exec(compile(notebooks.strip_markers(cell.source), "cell", "exec"), namespace)
    return namespace


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_reference_answers_pass_after_the_sandbox_round_trip(assignment):
    namespace = _reference_namespace(assignment)
    failures = []
    for name, exercise in ASSIGNMENTS[assignment].items():
        cases = exercise.cases(np.random.default_rng(seed_for(name, 7)))
        observations = []
        for case in cases:
            observations.append({**observe(exercise, namespace, case), "served_calls": served_calls(case)})
        sent = records.dumps(observations)
        verdict = judge_all(exercise, cases, records.loads(sent))
        if not verdict.ok:
            failures.append(verdict.message)
    assert not failures, "\n\n".join(failures)


def test_an_empty_list_comes_back_as_a_list():
    """Not as an empty float array, whose truth value raises (the bug this file was written for)."""
    (back,) = records.loads(records.dumps([{"inverses_used": []}]))
    assert back == {"inverses_used": []} and isinstance(back["inverses_used"], list)
