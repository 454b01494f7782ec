"""Grades do not depend on the machine's load.

The same submissions of assignment 05 (whose Newton-CG probe has the tightest
time limit) are graded twice: on a quiet machine, and with the CPU
oversubscribed four times over by busy processes this test starts and stops.
Time limits are charged in CPU seconds of each sandbox and each sandbox has a
fair CPU share, so every student's score must be identical.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder import course_dir, demo, grading, notebooks, pipeline, sandbox
from autograder.mistakes import catalogue

pytestmark = [pytest.mark.skipif(bool(sandbox.missing_tools()) or os.geteuid() != 0,
                                 reason="sandboxed grading needs bubblewrap and root (see README)"),
              pytest.mark.slow, pytest.mark.xdist_group("sandbox")]

A = "05_hvp"


def _scores(course):
    return {student: {gid: cell.score for gid, cell in result.cells.items()}
            for student, result in grading.results(course, A).items()}


def test_scores_are_identical_on_a_quiet_and_an_oversubscribed_machine(tmp_path):
    course = course_dir.make_copy(tmp_path / "course")
    from autograder import build
    build.build(course, A)
    everyone = demo.demo_submissions(A, course)
    newton = [m.name for m in catalogue(A) if "test_newton_cg" in m.loses][:2]
    chosen = ["correct", "blank", *newton, *[m.name for m in catalogue(A) if m.name not in newton][:2]]
    students = demo.write_submissions(course, A, {s: everyone[s] for s in chosen})

    pipeline.grade(course, A, students, jobs=2)
    quiet = _scores(course)
    assert all(score == cell_max for score, cell_max in
               ((c.score, c.max_score) for gid, c in grading.results(course, A)["correct"].cells.items()
                if gid not in notebooks.written_answers(A, course)))

    stress = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4 * os.cpu_count())]
    try:
        pipeline.grade(course, A, students, jobs=2, force=True)
    finally:
        for process in stress:
            process.kill()
            process.wait()
    loaded = _scores(course)
    assert loaded == quiet
