"""The entry point of every hidden test cell: ``run_hidden_tests(assignment, exercise, globals())``.

This is the hidden tests' *in-notebook* path: Colab, ``nbgrader validate``, a
plain ``nbgrader autograde``.  It draws the exercise's cases, probes the
student's code and judges the observations in the kernel; a failure raises
``CheckFailed`` whose message names the failing case and the likely mistake.

The grading pipeline never runs these cells: its trusted process draws the
cases from a secret seed, has the kernel probe one case at a time and judges
outside (:mod:`autograder.execution`).  The in-notebook path is therefore
convenience, not security: code in the same kernel can change its outcome.
"""

from __future__ import annotations

import numpy as np

from autograder.exercises import ASSIGNMENTS
from autograder.exercises.base import judge_all, observe, seed_for, served_calls
from course.checks import CheckFailed
from course.notebook import judged_outside


def run_hidden_tests(assignment: str, exercise: str, namespace: dict) -> None:
    if judged_outside():  # the sandboxed grader runs the probes itself
        return
    spec = ASSIGNMENTS[assignment][exercise]
    cases = spec.cases(np.random.default_rng(seed_for(exercise)))
    observations = []
    for case in cases:
        observation = observe(spec, namespace, case)
        observation["served_calls"] = served_calls(case)
        observations.append(observation)
    verdict = judge_all(spec, cases, observations)
    if not verdict.ok:
        raise CheckFailed(verdict.message)
    print(verdict.message)
