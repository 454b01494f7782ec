"""The entry point of every hidden test cell: ``run_hidden_tests(assignment, exercise, globals())``.

It draws the exercise's cases from the run's seed and probes the student's
code.  In a notebook it then judges the observations itself: a failure
raises ``CheckFailed`` whose message names the failing case and the likely
mistake.  Under sandboxed grading (``COURSE_RECORD_DIR`` set) it only writes
the observations down; :mod:`autograder.judge` judges them outside.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from autograder import records
from autograder.exercises import ASSIGNMENTS
from autograder.exercises.base import judge_all, observe, seed_for
from course.checks import CheckFailed


RECORD_DIR = "COURSE_RECORD_DIR"


def run_hidden_tests(assignment: str, exercise: str, namespace: dict) -> None:
    spec = ASSIGNMENTS[assignment][exercise]
    cases = spec.cases(np.random.default_rng(seed_for(exercise)))
    observations = [observe(spec, namespace, case) for case in cases]
    if os.environ.get(RECORD_DIR):
        # Sandboxed grading: only record; the trusted grader judges outside this process.
        folder = Path(os.environ[RECORD_DIR])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{exercise}.json").write_text(records.dumps(observations))
        print(f"`{exercise}`: hidden tests recorded for grading.")
        return
    verdict = judge_all(spec, cases, observations)
    if not verdict.ok:
        raise CheckFailed(verdict.message)
    print(verdict.message)
