"""The entry point of every hidden test cell: ``run_hidden_tests(assignment, exercise, globals())``.

It draws the exercise's cases from the run's seed, probes the student's code
and judges the observations; a failure raises ``CheckFailed`` whose message
names the failing case and the likely mistake.
"""

from __future__ import annotations

import numpy as np

from autograder.exercises import ASSIGNMENTS
from autograder.exercises.base import judge_all, observe, seed_for
from course.checks import CheckFailed


def run_hidden_tests(assignment: str, exercise: str, namespace: dict) -> None:
    spec = ASSIGNMENTS[assignment][exercise]
    cases = spec.cases(np.random.default_rng(seed_for(exercise)))
    observations = [observe(spec, namespace, case) for case in cases]
    verdict = judge_all(spec, cases, observations)
    if not verdict.ok:
        raise CheckFailed(verdict.message)
    print(verdict.message)
