"""Grading with real nbgrader and its SQLite gradebook, and reading the results back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import course_dir


@dataclass
class CellResult:
    grade_id: str
    score: float | None
    max_score: float
    needs_manual_grade: bool
    message: str = ""


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    score: float
    max_score: float
    cells: dict[str, CellResult] = field(default_factory=dict)
    late: bool = False
    timestamp: str | None = None


def build(course: Path, assignment: str) -> None:
    """``nbgrader generate_assignment``: release/ from source/, and the gradebook's copy of the tests."""
    result = course_dir.api(course).generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"building {assignment} failed:\n{result.get('error') or result.get('log')}")


def generate_solution(course: Path, assignment: str) -> Path:
    """``nbgrader generate_solution``: the executed solution key, for instructors who publish one.

    nbgrader needs the assignment in the gradebook first, so it is built (release/ regenerated) if missing.
    The hidden tests are cleared by the preprocessors set in nbgrader_config.py.
    """
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import GenerateSolution

    config = course_dir.load_config(course)
    coursedir = course_dir.api(course, config).coursedir
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            build(course, assignment)
    converter = GenerateSolution(coursedir=coursedir, config=config)
    converter.force = True
    coursedir.assignment_id = assignment
    converter.start()
    return Path(coursedir.solution_directory if Path(coursedir.solution_directory).is_absolute()
                else Path(course) / coursedir.solution_directory) / assignment


def generate_feedback(course: Path, assignment: str) -> None:
    result = course_dir.api(course).generate_feedback(assignment, force=True)
    if not result["success"]:
        raise RuntimeError(f"feedback for {assignment} failed:\n{result.get('error') or result.get('log')}")


def failure_messages(notebook: Path) -> dict[str, str]:
    """``grade_id -> error message`` for every graded cell of an autograded notebook that failed."""
    nb = nbformat.read(notebook, as_version=4)
    messages = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if not gid or cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                messages[gid] = f"{output.get('ename')}: {output.get('evalue')}"
    return messages


def results(course: Path, assignment: str, students: list[str] | None = None,
            db_url: str | None = None) -> dict[str, SubmissionResult]:
    """The graded submissions of ``assignment`` (all, or those of ``students``), read from the gradebook.

    The gradebook is ``db_url`` (``--db``), else the course's (nbgrader's ``CourseDirectory.db_url``,
    SQLite in the course directory by default): :func:`autograder.gradebook.url`.
    """
    from autograder import gradebook

    course = Path(course)
    out = {}
    target = gradebook.url(course, db_url)
    with gradebook.open_gradebook(target, gradebook.course_id(course)) as gb:
        for submission in gb.assignment_submissions(assignment):
            student = submission.student.id
            if students is not None and student not in students:
                continue
            result = SubmissionResult(student, assignment, submission.score, submission.max_score,
                                      late=bool(submission.total_seconds_late > 0),
                                      timestamp=submission.timestamp.isoformat() if submission.timestamp else None)
            for notebook in submission.notebooks:
                path = course / "autograded" / student / assignment / f"{notebook.name}.ipynb"
                messages = failure_messages(path) if path.exists() else {}
                for grade in notebook.grades:
                    result.cells[grade.name] = CellResult(grade.name, grade.score, grade.max_score,
                                                          grade.needs_manual_grade, messages.get(grade.name, ""))
            out[student] = result
    return out
