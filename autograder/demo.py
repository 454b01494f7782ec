"""The bundled demo class: a deterministic class of more than 20 students for every assignment.

A realistic mix: correct answers (one that prints warnings, one handed in
late), every catalogued mistake, a blank notebook, and the submissions
that break naive graders -- an infinite loop, a crash, a cheat that patches
the assert helpers, one that calls ``jax.grad`` through an alias, a file
that is not JSON, and a notebook under the wrong name.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder import notebooks
from autograder.mistakes import catalogue

STUDENT_PROSE = ("(a) The forward difference needs d + 1 evaluations, so (d+1)T; the central one 2dT. "
                 "(b) A big step makes the Taylor (truncation) error large and a small step loses digits "
                 "to round-off when two close values are subtracted. (c) Reverse mode: a few T, exact.")
DUE = "2026-11-20 23:59:00 UTC"
CLASS_SIZE = 22  # submissions per assignment, at least
ON_TIME = "2026-11-20 18:00:00.000000 UTC"
LATE = "2026-11-22 09:30:00.000000 UTC"

# Submissions that misbehave rather than make a maths mistake, as {grade_id: code} added to a correct
# notebook; the first solution cell of the assignment receives the code.
MISBEHAVIOURS = {
    "loops_forever": "while True:\n    pass",
    "crashes_kernel": "import os\nos._exit(1)",
    "patches_asserts": "np.testing.assert_allclose = lambda *args, **kwargs: None\n"
                       "import course.checks\ncourse.checks.compare = lambda *a, **k: True",
}

# Per assignment: the solution cell in which one demo student calls jax.grad (or jax.vjp) through an alias,
# and the code.
ALIASES_JAX_GRAD = {
    "01_finite_differences": ("forward_difference", "import jax\nderivative = jax.grad\n\n"
                              "def forward_difference(f, w, eps):\n    return np.asarray(derivative(f)(w))"),
    "02_forward_mode": ("grad_forward", "import jax\nderivative = jax.grad\n\n"
                        "def grad_forward(f, w):\n    return np.asarray(derivative(f)(w))"),
    "03_reverse_mode": ("grad", "import jax\nderivative = jax.grad\n\n"
                        "def grad(f):\n    return lambda *args: np.asarray(derivative(f)(*args))"),
    # JAX is allowed in assignment 4, but the adjoint formula must not come from JAX's own VJP.
    "04_adjoints": ("solve_vjp", "import jax\nderivative = jax.vjp\n\n"
                    "def solve_vjp(A, b, x, g, lu=None):\n"
                    "    _, pullback = derivative(jnp.linalg.solve, A, b)\n    return pullback(g)"),
    # A JAX assignment: jax.grad is allowed; the cheat is the dense Hessian where it must be built from HVPs.
    "05_hvp": ("hessian_from_hvps", "import jax\nderivative = jax.hessian\n\n"
               "def hessian_from_hvps(f, x, hvp=None):\n    return np.asarray(derivative(f)(x))"),
}


def correct_answers(assignment: str, course: Path) -> dict[str, str]:
    """A correct student's answers: the model code, and prose in the student's own words."""
    answers = notebooks.solutions(assignment, course)
    for gid in notebooks.written_answers(assignment, course):
        answers[gid] = STUDENT_PROSE
    return answers


def demo_submissions(assignment: str, course: Path) -> dict[str, nbformat.NotebookNode]:
    """``student id -> submitted notebook``: one correct, one blank, one per catalogued mistake."""
    release = notebooks.notebook_path(assignment, "release", course)
    correct = correct_answers(assignment, course)
    students = {"correct": notebooks.fill(release, correct), "blank": nbformat.read(release, as_version=4)}
    for mistake in catalogue(assignment):
        students[mistake.name] = notebooks.fill(release, {**correct, **mistake.answers})
    return students


def demo_class(assignment: str, course: Path) -> dict[str, object]:
    """The whole demo class: ``student -> notebook`` (or raw bytes, for the unreadable file)."""
    students: dict[str, object] = dict(demo_submissions(assignment, course))
    release = notebooks.notebook_path(assignment, "release", course)
    correct = correct_answers(assignment, course)
    first = next(iter(notebooks.solutions(assignment, course)))
    students["late_but_correct"] = notebooks.fill(release, correct)
    students["warns_but_correct"] = notebooks.fill(release, {
        **correct, first: "import warnings\nwarnings.warn('a harmless warning')\n" + correct[first]})
    for name, code in MISBEHAVIOURS.items():
        students[name] = notebooks.fill(release, {**correct, first: code + "\n" + correct[first]})
    if assignment in ALIASES_JAX_GRAD:
        cell, code = ALIASES_JAX_GRAD[assignment]
        students["aliases_jax_grad"] = notebooks.fill(release, {**correct, cell: code})
    students["not_json"] = b'{"cells": [ this is not JSON'
    students["wrong_file_name"] = ("Copy of " + release.name, notebooks.fill(release, correct))
    # Most of a real class gets it right: fill up to CLASS_SIZE with more correct submissions.
    for number in range(1, CLASS_SIZE - len(students) + 1):
        students[f"correct_{number:02d}"] = notebooks.fill(release, correct)
    return students


def write_submissions(course: Path, assignment: str, submissions: dict) -> list[str]:
    """Put each submission where nbgrader expects it: submitted/<student>/<assignment>/<name>.ipynb.

    A value is a notebook, raw bytes, or a pair (file name, notebook or bytes) for a misnamed file.
    """
    name = notebooks.notebook_path(assignment, "release", course).name
    for student, nb in submissions.items():
        folder = Path(course) / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        file_name, nb = nb if isinstance(nb, tuple) else (name, nb)
        target = folder / file_name
        if isinstance(nb, bytes):
            target.write_bytes(nb)
        else:
            nbformat.write(nb, target)
        (folder / "timestamp.txt").write_text(LATE if student.startswith("late") else ON_TIME)
    return sorted(submissions)
