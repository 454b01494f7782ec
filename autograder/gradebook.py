"""Which gradebook a course uses, and writing one graded submission into it.

SQLite (``<course>/gradebook.db``) is the default on one machine; any SQLAlchemy URL works, from
``--db`` or from nbgrader's own ``c.CourseDirectory.db_url`` in ``nbgrader_config.py`` -- PostgreSQL
for a class graded on a cluster, with several teaching assistants in formgrader at once.

Everything goes through nbgrader's :class:`~nbgrader.api.Gradebook`, so formgrader, ``nbgrader export``
and the feedback step read the same rows.  :func:`write_submission` writes what a Dask worker graded
(:mod:`autograder.cluster`) as *one* transaction per submission, and idempotently: the submission and
its notebooks, grades and comments are found or created (nbgrader's unique keys), then overwritten,
so a retried task or a rerun after an interruption never counts a submission twice.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from autograder import course_dir


class GradebookError(RuntimeError):
    """The gradebook asked for cannot be used as asked; the message says what to do."""


class MissingAssignment(GradebookError):
    """The assignment is in no gradebook the grader can take it from."""


def normalise(url: str) -> str:
    """``postgresql://`` means psycopg2 to SQLAlchemy; use psycopg 3 when that is the driver installed."""
    match = re.match(r"^(postgres|postgresql)://", url)
    if match and importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg"):
        return "postgresql+psycopg://" + url[match.end():]
    return url


def sqlite_url(course: Path) -> str:
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def _coursedir(course: Path):
    from nbgrader.coursedir import CourseDirectory
    return CourseDirectory(config=course_dir.load_config(Path(course)))


def url(course: Path, override: str | None = None) -> str:
    """The course's gradebook: ``override`` (``--db``), else nbgrader's ``CourseDirectory.db_url``."""
    if override:
        return normalise(override)
    config = course_dir.load_config(Path(course))
    if "db_url" in config.CourseDirectory:
        return normalise(str(config.CourseDirectory.db_url))
    return sqlite_url(course)


def course_id(course: Path) -> str:
    return _coursedir(course).course_id or "default_course"


def redacted(db_url: str) -> str:
    """The URL without its password, for printing."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", db_url)


@contextlib.contextmanager
def open_gradebook(db_url: str, course: str = "default_course"):
    """nbgrader's Gradebook, quiet about nbgrader's own harmless session warnings."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    course_dir.kernel_environment()  # nbgrader runs `alembic` on a new database: it must be on PATH
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        with Gradebook(db_url, course) as gb:
            yield gb


@contextlib.contextmanager
def one_transaction(gb):
    """Make nbgrader's many ``commit()`` calls inside the block flushes, and commit once at its end."""
    session = gb.db
    real_commit = session.commit
    session.commit = session.flush
    try:
        yield gb
    except BaseException:
        del session.commit
        session.rollback()
        raise
    else:
        del session.commit
        real_commit()


# ---------------------------------------------------------------------------------------------------------
# What a worker graded, as data.

@dataclass
class NotebookScores:
    """One submitted notebook's automatic results, as nbgrader's autograde left them."""

    auto_scores: dict[str, float | None] = field(default_factory=dict)    # grade or task cell -> auto_score
    auto_comments: dict[str, str | None] = field(default_factory=dict)    # solution or task cell -> comment
    late_submission_penalty: float | None = None


@dataclass
class SubmissionScores:
    student: str
    assignment: str
    timestamp: str | None = None                                          # ISO 8601, UTC, when known
    notebooks: dict[str, NotebookScores] = field(default_factory=dict)


def read_submission(gb, assignment: str, student: str) -> SubmissionScores | None:
    """What nbgrader stored for one submission (in a worker's private gradebook)."""
    from nbgrader.api import MissingEntry
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return None
    out = SubmissionScores(student, assignment,
                           timestamp=submission.timestamp.isoformat() if submission.timestamp else None)
    for notebook in submission.notebooks:
        scores = NotebookScores(late_submission_penalty=notebook.late_submission_penalty)
        for grade in notebook.grades:
            scores.auto_scores[grade.name] = grade.auto_score
        for comment in notebook.comments:
            scores.auto_comments[comment.name] = comment.auto_comment
        out.notebooks[notebook.name] = scores
    return out


def write_submission(gb, scores: SubmissionScores) -> None:
    """Write one graded submission into ``gb``, in one transaction, overwriting what a previous try wrote.

    As nbgrader's ``SaveAutoGrades`` does: the automatic score and comment of each cell are replaced, a
    teaching assistant's manual score is kept (and the cell then marked for review).
    """
    with one_transaction(gb):
        gb.update_or_create_student(scores.student)
        extra = {"timestamp": scores.timestamp} if scores.timestamp else {}
        gb.update_or_create_submission(scores.assignment, scores.student, **extra)
        for name, notebook in scores.notebooks.items():
            submitted = gb.find_submission_notebook(name, scores.assignment, scores.student)
            grades = {grade.name: grade for grade in submitted.grades}
            comments = {comment.name: comment for comment in submitted.comments}
            for cell, auto_score in notebook.auto_scores.items():
                grade = grades[cell]  # a cell the gradebook does not know: KeyError, and nothing is written
                grade.auto_score = auto_score
                grade.needs_manual_grade = grade.manual_score is not None or auto_score is None
            for cell, auto_comment in notebook.auto_comments.items():
                comments[cell].auto_comment = auto_comment
            submitted.late_submission_penalty = notebook.late_submission_penalty


def row_counts(gb, assignment: str) -> dict[str, int]:
    """How many rows one assignment's submissions hold, table by table (a double count shows here)."""
    from nbgrader.api import Assignment, Comment, Grade, SubmittedAssignment, SubmittedNotebook

    def count(model, *joins):
        query = gb.db.query(model)
        for join in joins:
            query = query.join(join)
        return query.filter(Assignment.name == assignment).count()

    return {"submissions": count(SubmittedAssignment, Assignment),
            "notebooks": count(SubmittedNotebook, SubmittedAssignment, Assignment),
            "grades": count(Grade, SubmittedNotebook, SubmittedAssignment, Assignment),
            "comments": count(Comment, SubmittedNotebook, SubmittedAssignment, Assignment)}


# ---------------------------------------------------------------------------------------------------------
# The assignment's definition (its notebooks and cells), which grading needs in the target gradebook.

def has_assignment(gb, assignment: str) -> bool:
    from nbgrader.api import MissingEntry
    try:
        gb.find_assignment(assignment)
        return True
    except MissingEntry:
        return False


def duedate(db_url: str, course_name: str, assignment: str) -> str | None:
    with open_gradebook(db_url, course_name) as gb:
        if not has_assignment(gb, assignment):
            return None
        due = gb.find_assignment(assignment).duedate
        return due.isoformat() if due else None


def copy_definition(source: str, target: str, course_name: str, assignment: str) -> None:
    """The assignment as ``nbgrader generate_assignment`` recorded it in ``source``, written into ``target``."""
    with open_gradebook(source, course_name) as src, open_gradebook(target, course_name) as dst:
        definition = src.find_assignment(assignment)
        with one_transaction(dst):
            dst.update_or_create_assignment(assignment, duedate=definition.duedate)
            for nb in definition.notebooks:
                dst.update_or_create_notebook(nb.name, assignment, kernelspec=nb.kernelspec)
                for cell in nb.grade_cells:
                    dst.update_or_create_grade_cell(cell.name, nb.name, assignment, max_score=cell.max_score,
                                                    cell_type=cell.cell_type)
                for cell in nb.solution_cells:
                    dst.update_or_create_solution_cell(cell.name, nb.name, assignment)
                for cell in nb.task_cells:
                    dst.update_or_create_task_cell(cell.name, nb.name, assignment, max_score=cell.max_score,
                                                   cell_type=cell.cell_type)
                for cell in nb.source_cells:
                    dst.update_or_create_source_cell(cell.name, nb.name, assignment, source=cell.source,
                                                     checksum=cell.checksum, cell_type=cell.cell_type,
                                                     locked=cell.locked)


def ensure_assignment(course: Path, assignment: str, db_url: str) -> None:
    """Make sure ``db_url`` knows ``assignment``: copy its definition from the course's SQLite gradebook
    (where ``python -m autograder build`` put it) when the target, a shared database, has not got it yet."""
    name = course_id(course)
    with open_gradebook(db_url, name) as gb:
        if has_assignment(gb, assignment):
            return
    local = sqlite_url(course)
    if db_url != local and (Path(course) / "gradebook.db").exists():
        with open_gradebook(local, name) as gb:
            found = has_assignment(gb, assignment)
        if found:
            copy_definition(local, db_url, name, assignment)
            return
    raise MissingAssignment(f"{assignment} is not in the gradebook {redacted(db_url)}: build it first "
                            f"(python -m autograder build {assignment})")
