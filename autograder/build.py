"""Build the student version of an assignment: check the source notebook, then nbgrader generate_assignment."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from autograder import gradebook, grading, notebooks

GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class SourceNotebookError(ValueError):
    """The source notebook's nbgrader metadata is inconsistent; the message says which cell and why."""


def validate(assignment: str, course: Path) -> None:
    """Refuse duplicate, missing or malformed grade ids and graded cells without points, cell by cell."""
    path = notebooks.notebook_path(assignment, "source", course)
    nb = nbformat.read(path, as_version=4)
    seen: dict[str, int] = {}
    problems = []
    for index, cell in enumerate(nb.cells, start=1):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta:
            continue
        needs_id = meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task")
        gid = meta.get("grade_id")
        where = f"cell {index} ({cell.cell_type})"
        if needs_id and not gid:
            problems.append(f"{where} is graded, a solution or locked but has no grade_id")
            continue
        if gid and not GRADE_ID.match(gid):
            problems.append(f"{where}: grade_id {gid!r} may only use letters, digits, '_' and '-'")
        if gid in seen:
            problems.append(f"{where}: grade_id {gid!r} is already used by cell {seen[gid]}")
        if gid:
            seen[gid] = index
        if meta.get("grade") and not (isinstance(meta.get("points"), (int, float)) and meta["points"] > 0):
            problems.append(f"{where} ({gid}) is graded but has no positive points")
        if meta.get("grade") and cell.cell_type == "markdown" and not meta.get("solution"):
            problems.append(f"{where} ({gid}) is a graded markdown cell that is not a solution cell")
    if problems:
        raise SourceNotebookError(f"{path.relative_to(course)}:\n  " + "\n  ".join(problems))


def build(course: Path, assignment: str, duedate: str | None = None) -> None:
    """Validate, then generate release/<assignment>; optionally set the due date in the gradebook.

    The source notebook's first cell (the Colab set-up, with the repository's address) is refreshed
    from pyproject.toml first, so the address lives in one place.
    """
    from autograder import links
    if (Path(course) / "pyproject.toml").exists():
        links.refresh_notebook(notebooks.notebook_path(assignment, "source", course), Path(course))
    validate(assignment, Path(course))
    grading.build(course, assignment)
    if duedate:
        from nbgrader.api import Gradebook
        with Gradebook(gradebook.url(course)) as gb:
            gb.update_or_create_assignment(assignment, duedate=duedate)
