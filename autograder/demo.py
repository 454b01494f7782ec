"""The bundled demo class: deterministic submissions that cover what a real class hands in."""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder import notebooks
from autograder.mistakes import catalogue


STUDENT_PROSE = ("(a) The forward difference needs d + 1 evaluations, so (d+1)T; the central one 2dT. "
                 "(b) A big step makes the Taylor (truncation) error large and a small step loses digits "
                 "to round-off when two close values are subtracted. (c) Reverse mode: a few T, exact.")


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


def write_submissions(course: Path, assignment: str, submissions: dict) -> list[str]:
    """Put each notebook where nbgrader expects it: submitted/<student>/<assignment>/<name>.ipynb."""
    name = notebooks.notebook_path(assignment, "release", course).name
    for student, nb in submissions.items():
        folder = Path(course) / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / name)
    return sorted(submissions)
