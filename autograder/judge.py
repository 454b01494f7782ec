"""The trusted half of grading: judge the evidence, and make the notebook nbgrader scores say so.

Runs in the grader's own process, never in the student's.  The cases were
drawn here (:mod:`autograder.execution`); what came from the sandbox is only
what the student's code returned, and the counts were taken here.

nbgrader scores a test cell from its outputs (the first error, stderr or
``execute_result`` decides).  So every graded test cell's outputs are
replaced, *whole*, by the verdict: one stdout line when it passed, one error
when it did not.  Nothing the student's kernel produced survives in a graded
cell; the student's own outputs remain in the other cells, made inert.
"""

from __future__ import annotations

import re

import nbformat

from autograder import sanitize
from autograder.exercises import ASSIGNMENTS
from autograder.exercises.base import judge_all
from autograder.notebooks import grade_id
from course.checks import Comparison

HIDDEN_CALL = re.compile(r"run_hidden_tests\(\s*[\"']([\w-]+)[\"']\s*,\s*[\"']([\w-]+)[\"']")


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def exercises_of(source_nb) -> dict[str, tuple[str, str]]:
    """``test cell grade_id -> (assignment, exercise)``, read from the instructor's source notebook."""
    out = {}
    for cell in source_nb.cells:
        if is_test_cell(cell):
            match = HIDDEN_CALL.search(cell.source)
            if match:
                out[_nbgrader(cell)["grade_id"]] = (match.group(1), match.group(2))
    return out


def judge_exercise(assignment: str, exercise: str, cases: list | None, observations: list | None) -> Comparison:
    """Judge one exercise from the observations of its cases (``None``: the hidden tests did not finish)."""
    if observations is None or cases is None:
        return Comparison(False, f"The hidden tests of `{exercise}` did not run to the end (a time or "
                          "memory limit was hit, or the kernel died, before they finished).")
    if len(observations) != len(cases):
        return Comparison(False, f"The hidden tests of `{exercise}` are incomplete.")
    return judge_all(ASSIGNMENTS[assignment][exercise], cases, observations)


def error_output(ename: str, message: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def clean_outputs(outputs: list) -> list:
    """What of the student's outputs may be shown: no stderr (warnings and logs), nothing active."""
    kept = [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    return sanitize.inert_outputs(kept)


def fill_outputs(nb, cell_runs: dict) -> None:
    """Put the student's (cleaned) outputs into the cells that are not graded test cells."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        run = cell_runs.get(index)
        if is_test_cell(cell) or run is None:
            cell.outputs, cell.execution_count = [], None
            continue
        cell.outputs = clean_outputs(list(run.outputs))
        cell.execution_count = run.execution_count


def apply_verdicts(nb, verdicts: dict[str, Comparison], flags: dict[str, list[str]], not_run: str = "") -> None:
    """Make every graded test cell's outputs *exactly* the trusted verdict.

    A cell keeps its points only if the hidden tests, judged here, pass and no
    integrity flag concerns it.  A test cell without a verdict (no hidden tests
    the grader knows) scores 0: nothing else could vouch for it.
    """
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        gid = grade_id(cell)
        verdict = verdicts.get(gid)
        if gid in flags:
            cell.outputs = [error_output("FlaggedForReview", "No automatic credit: this exercise was flagged "
                                         "for an instructor to review:\n- " + "\n- ".join(flags[gid]))]
        elif verdict is None:
            cell.outputs = [error_output("NotJudged", not_run or "The grader has no hidden tests for this cell.")]
        elif verdict.ok:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=verdict.message + "\n")]
        else:
            cell.outputs = [error_output("HiddenTestFailed", verdict.message)]
        cell.execution_count = None
