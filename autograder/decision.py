"""From an executed run and its evidence to what nbgrader will score: one pure step, no sandbox in it.

:func:`decide` takes the notebook nbgrader restored (the instructor's cells
back in place), the source notebook, and what the trusted executor observed
(:class:`autograder.execution.Execution`), and writes into the notebook and
the submission's status everything the grade rests on: the student's cleaned
outputs, a verdict as each test cell's only output, the integrity flags.  It
touches no sandbox and no gradebook, so it is tested in-process on made-up
runs (``tests/test_decision.py``); the nbgrader preprocessor around it
(:mod:`autograder.pipeline`) only runs the sandbox and calls it.
"""

from __future__ import annotations

from autograder import integrity, judge, sanitize
from autograder.execution import CPU_LIMIT, DIED, WALL_LIMIT
from autograder.status import CRASHED, FLAGGED, GRADED, TIMED_OUT, SubmissionStatus

# The run's outcome, decided by the trusted executor, as the submission's status.
OUTCOME_STATUS = {CPU_LIMIT: TIMED_OUT, WALL_LIMIT: TIMED_OUT, DIED: CRASHED}


def decide(nb, source_nb, assignment: str, run, status: SubmissionStatus, *, forbid_ad=(), forbid_calls=None):
    """Fill ``nb`` for nbgrader and ``status`` for the instructor from the run's evidence; returns the verdicts."""
    status.seconds = round(run.seconds, 2)
    status.cpu_seconds = round(run.cpu_seconds, 2)
    status.sandbox_uid = run.uid
    if run.outcome in OUTCOME_STATUS:
        status.status = OUTCOME_STATUS[run.outcome]
        status.wall_limited = run.outcome == WALL_LIMIT
    status.reasons += run.reasons
    judge.fill_outputs(nb, run.cells)
    verdicts = {gid: judge.judge_exercise(assignment, exercise, run.cases.get(exercise), run.observations.get(exercise))
                for gid, (assignment, exercise) in judge.exercises_of(source_nb).items()}
    findings = integrity.check_notebook(nb, forbid_ad=set(forbid_ad), forbid_calls=forbid_calls or {},
                                        source_nb=source_nb)
    flags = integrity.flags_by_exercise(findings, integrity.solution_to_tests(source_nb))
    judge.apply_verdicts(nb, verdicts, flags, not_run="; ".join(run.reasons) or "This cell did not run.")
    sanitize.inert_notebook(nb, sanitize.student_cells(nb, source_nb))  # what formgrader and feedback show

    status.flags = flags
    if flags and status.status == GRADED:
        status.status = FLAGGED
    if flags:
        status.reasons.append("integrity: " + "; ".join(sorted({f.message for f in findings}))[:500])
    for gid, verdict in verdicts.items():
        if not verdict.ok:
            status.messages[gid] = verdict.message
            if verdict.diagnosis:
                status.diagnoses[gid] = verdict.diagnosis
    return verdicts
