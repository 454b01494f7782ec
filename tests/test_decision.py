"""The trusted half, tested without root or a sandbox: made-up runs in, scored notebooks out.

:func:`autograder.decision.decide` is the whole step from evidence to what
nbgrader scores; here it gets runs built by hand (what a sandbox would have
observed), and the notebook nbgrader would score is checked cell by cell.
"""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest

from autograder import decision, execution, judge, records, status as status_mod
from autograder.exercises import ASSIGNMENTS
from autograder.exercises.base import seed_for
from autograder.notebooks import ROOT, grade_id, notebook_path

A = "01_finite_differences"


def _source():
    return nbformat.read(notebook_path(A, "source", ROOT), as_version=4)


def _release_with_outputs():
    """The release notebook as nbgrader hands it over, every code cell carrying a hostile output."""
    nb = nbformat.read(notebook_path(A, "release", ROOT), as_version=4)
    runs = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            runs[index] = execution.CellRun(outcome=execution.OK, execution_count=index, outputs=[
                nbformat.v4.new_output("execute_result", data={"text/plain": "3.0", "text/html": "<script>x</script>"},
                                       execution_count=index),
                nbformat.v4.new_output("stream", name="stderr", text="a warning\n")])
    return nb, runs


def _observe(exercise, correct: bool):
    """Cases drawn as the grader draws them, and observations of a right (or wrong) answer."""
    from course import oracle
    spec = ASSIGNMENTS[A][exercise]
    cases = spec.cases(np.random.default_rng(seed_for(exercise, 11)))
    observations = []
    for case in cases:
        gradient = oracle.gradient(case["f"].fn, case["w"]) if correct else -np.ones(len(case["w"]))
        observations.append({"gradient": gradient, "w_after": case["w"].copy(),
                             "served_calls": {"f": len(case["w"]) + 1}})
    return cases, observations


def _run(**correct):
    nb, cells = _release_with_outputs()
    run = execution.Execution(cells=cells)
    for exercise, ok in correct.items():
        run.cases[exercise], run.observations[exercise] = _observe(exercise, ok)
    return nb, run


def _test_cell(nb, gid):
    return next(c for c in nb.cells if grade_id(c) == gid)


def test_a_graded_cell_holds_exactly_the_verdict():
    nb, run = _run(forward_difference=True)
    state = status_mod.SubmissionStatus("s", A)
    verdicts = decision.decide(nb, _source(), A, run, state, forbid_ad=())
    assert verdicts["test_forward_difference"].ok
    (passed,) = _test_cell(nb, "test_forward_difference").outputs
    assert passed.output_type == "stream" and "all 3 hidden tests passed" in passed.text
    # Exercises with no observations did not run: each test cell holds one error, nothing of the kernel's.
    for gid in ("test_lecture_gradient", "test_central_difference", "test_best_steps"):
        (failed,) = _test_cell(nb, gid).outputs
        assert failed.output_type == "error" and "did not run to the end" in failed.evalue
    assert state.status == status_mod.GRADED and set(state.messages) >= {"test_lecture_gradient"}


def test_a_wrong_answer_fails_and_its_message_is_kept():
    nb, run = _run(forward_difference=False)
    state = status_mod.SubmissionStatus("s", A)
    decision.decide(nb, _source(), A, run, state)
    (failed,) = _test_cell(nb, "test_forward_difference").outputs
    assert failed.output_type == "error" and failed.ename == "HiddenTestFailed"
    assert "Hidden test 1 of 3" in state.messages["test_forward_difference"]


def test_served_counts_are_the_graders_not_the_probes():
    nb, run = _run(forward_difference=True)
    for observation in run.observations["forward_difference"]:
        observation["calls"] = observation["served_calls"]["f"]  # what a probe might claim
        observation["served_calls"] = {"f": 2 * len(observation["w_after"])}  # what the grader counted
    state = status_mod.SubmissionStatus("s", A)
    decision.decide(nb, _source(), A, run, state)
    assert "called f 6 times for d = 3" in state.messages["test_forward_difference"]


def test_the_students_outputs_are_cleaned_in_other_cells():
    nb, run = _run()
    decision.decide(nb, _source(), A, run, status_mod.SubmissionStatus("s", A))
    for cell in nb.cells:
        if cell.cell_type == "code" and not judge.is_test_cell(cell):
            assert [list(o.get("data", {})) for o in cell.outputs] == [["text/plain"]]  # no html, no stderr


def test_a_limit_becomes_the_status_and_its_reason():
    nb, run = _run(forward_difference=True)
    run.outcome, run.reasons = execution.CPU_LIMIT, ["cell time limit (60 CPU s) hit in: lecture_gradient"]
    state = status_mod.SubmissionStatus("s", A)
    decision.decide(nb, _source(), A, run, state)
    assert state.status == status_mod.TIMED_OUT and state.reasons[0].startswith("cell time limit")
    assert not state.wall_limited


def test_flagged_code_gets_no_automatic_credit():
    nb, run = _run(forward_difference=True)
    cell = next(c for c in nb.cells if grade_id(c) == "forward_difference")
    cell.source = "import jax\n" + cell.source
    state = status_mod.SubmissionStatus("s", A)
    decision.decide(nb, _source(), A, run, state, forbid_ad={"forward_difference"})
    (flagged,) = _test_cell(nb, "test_forward_difference").outputs
    assert flagged.ename == "FlaggedForReview" and state.status == status_mod.FLAGGED


# ---------------------------------------------------------------------------------------------------------
# What comes back from the sandbox is refused unless it is plain data of bounded size.

@pytest.mark.parametrize("data, why", [
    ({"array": "AAAA", "dtype": "object", "shape": [1]}, "malformed array"),
    ({"array": "AAAA", "dtype": "float64", "shape": [-1]}, "malformed array"),
    ({"array": "AAAA", "dtype": "float64", "shape": [10**7]}, "too large"),
    ({"array": "AAAA", "dtype": "float64", "shape": [5]}, "malformed array"),
    ({"value": {"nested": 1}}, "malformed"),
    ({"a": 1, "b": 2, "c": 3, "d": 4}, "malformed record"),
    ("not a dict", "malformed record"),
    ({"unreadable": "a module"}, "a module"),
])
def test_records_refuse_what_is_not_plain_data(data, why):
    value = records.decode(data)
    assert isinstance(value, records.Unreadable) and why in value.description


def test_records_refuse_deep_nesting_and_huge_texts():
    deep = {"value": 1}
    for _ in range(30):
        deep = {"list": [deep]}
    value = records.decode(deep)
    while isinstance(value, list):
        value = value[0]
    assert isinstance(value, records.Unreadable)
    with pytest.raises(ValueError, match="too large"):
        records.loads(" " * (records.MAX_RECORD_BYTES + 1))
    with pytest.raises(ValueError, match="not a list"):
        records.loads(json.dumps({"dict": {}}))


def test_arrays_survive_the_round_trip_bit_for_bit():
    rng = np.random.default_rng(3)
    sent = [rng.standard_normal((3, 4)), rng.standard_normal(5) + 1j * rng.standard_normal(5), np.arange(4)]
    back = records.loads(records.dumps(sent))
    for a, b in zip(sent, back):
        assert a.dtype == b.dtype and np.array_equal(a, b)


# ---------------------------------------------------------------------------------------------------------
# Status files written by another version of the grader still load.

def test_a_status_file_with_unknown_or_missing_fields_loads():
    state = status_mod.from_json(json.dumps({"student": "s", "assignment": A, "status": "graded",
                                             "a_field_from_the_future": 1}))
    assert state is not None and state.student == "s" and state.cpu_seconds == 0.0
    assert status_mod.from_json("{ not json") is None
    assert status_mod.from_json(json.dumps({"assignment": A})) is None  # the student is required
