"""The trusted half of grading: judge the probes' records and write the verdicts into the notebook.

Runs in the grader's own process, never in the student's.  The inputs of
every hidden test are regenerated here from the run's seed; the only thing
taken from the sandbox is what the student's code returned (see
:mod:`autograder.records`).  A patched ``assert``, a no-op
``np.testing.assert_allclose`` or a rewritten ``course.checks`` in the
student's kernel therefore changes nothing: the comparison happens here.
"""

from __future__ import annotations

import re

import nbformat
import numpy as np

from autograder import records, sanitize
from autograder.exercises import ASSIGNMENTS
from autograder.exercises.base import judge_all, seed_for
from course.checks import Comparison

HIDDEN_CALL = re.compile(r"run_hidden_tests\(\s*[\"']([\w-]+)[\"']\s*,\s*[\"']([\w-]+)[\"']")
# Outputs that could run code in a browser (formgrader, feedback pages) are not kept.
UNSAFE_MIME = ("text/html", "application/javascript", "image/svg+xml", "text/javascript")


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises_of(source_nb) -> dict[str, tuple[str, str]]:
    """``test cell grade_id -> (assignment, exercise)``, read from the instructor's source notebook."""
    out = {}
    for cell in source_nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            match = HIDDEN_CALL.search(cell.source)
            if match:
                out[meta["grade_id"]] = (match.group(1), match.group(2))
    return out


def judge_record(assignment: str, exercise: str, raw: str | None, seed: int) -> Comparison:
    """Judge one exercise from the raw JSON its probe wrote (``None``: the probe never finished)."""
    if raw is None:
        return Comparison(False, f"The hidden tests of `{exercise}` did not run to the end (the kernel "
                          "crashed, timed out or was interrupted before this cell finished).")
    spec = ASSIGNMENTS[assignment][exercise]
    cases = spec.cases(np.random.default_rng(seed_for(exercise, seed)))
    try:
        observations = records.loads(raw)
    except Exception as exc:
        return Comparison(False, f"The hidden tests' record of `{exercise}` could not be read ({exc}).")
    if len(observations) != len(cases) or not all(isinstance(o, dict) for o in observations):
        return Comparison(False, f"The hidden tests' record of `{exercise}` is incomplete or altered.")
    return judge_all(spec, cases, observations)


def error_output(ename: str, message: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def clean_outputs(outputs: list) -> list:
    """Drop what must not decide a grade or reach a browser: stderr text and active content."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            continue  # warnings and logs: a correct answer that warns keeps its points
        if "data" in output:
            for mime in UNSAFE_MIME:
                output["data"].pop(mime, None)
            if not output["data"]:
                continue
        kept.append(output)
    return sanitize.inert_outputs(kept)  # an allowlist: what is left can only be text or a PNG


def merge_outputs(trusted_nb, executed_nb) -> None:
    """Copy outputs from the executed notebook into the trusted one, cell by cell.

    Sources and metadata stay the trusted ones (restored by nbgrader from the
    gradebook): whatever the student's code wrote into the executed file,
    only outputs come back, and only for cells that still match.
    """
    executed_cells = executed_nb.cells if executed_nb is not None else []
    for index, cell in enumerate(trusted_nb.cells):
        if cell.cell_type != "code":
            continue
        twin = executed_cells[index] if index < len(executed_cells) else None
        if twin is not None and twin.get("cell_type") == "code" and twin.get("source") == cell.source:
            cell.outputs = clean_outputs(list(twin.get("outputs", [])))
            if _nbgrader(cell).get("grade"):
                # A traceback quotes the lines around the failing one -- in a test cell, the hidden tests.
                for output in cell.outputs:
                    if output.get("output_type") == "error":
                        output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
            cell.execution_count = twin.get("execution_count")
        else:
            cell.outputs, cell.execution_count = [], None


def apply_verdicts(nb, verdicts: dict[str, Comparison], flags: dict[str, list[str]], not_run: str = "") -> None:
    """Make every graded code cell's outputs say what the trusted grader decided.

    nbgrader then scores as usual: a cell with an error output gets 0.  A
    cell keeps its points only if (a) the hidden tests' verdict, judged here,
    passes, (b) no integrity flag concerns it, and (c) it ran in the kernel
    without an error of its own.
    """
    for cell in nb.cells:
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        if gid in flags:
            cell.outputs = [error_output("FlaggedForReview", "No automatic credit: this exercise was flagged "
                                         "for an instructor to review:\n- " + "\n- ".join(flags[gid]))]
            continue
        verdict = verdicts.get(gid)
        if verdict is not None and not verdict.ok:
            cell.outputs.append(error_output("HiddenTestFailed", verdict.message))
        elif cell.execution_count is None:
            cell.outputs.append(error_output("NotRun", not_run or "This cell did not run."))
