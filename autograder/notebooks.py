"""Reading and writing the course's notebooks: assignments, solution cells, student submissions."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def assignments(course: Path = ROOT) -> list[str]:
    """The assignments in ``source/``, in course order (their names start with a number)."""
    return sorted(p.name for p in (course / "source").iterdir() if p.is_dir() and not p.name.startswith("."))


def notebook_path(assignment: str, step: str = "source", course: Path = ROOT) -> Path:
    """The (single) notebook of an assignment in ``source/`` or ``release/``."""
    (path,) = sorted((course / step / assignment).glob("*.ipynb"))
    return path


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_solution(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def strip_markers(source: str) -> str:
    """A solution cell's code as a student would write it: the BEGIN/END lines removed."""
    return "\n".join(line for line in source.splitlines() if not MARKER.match(line))


def solutions(assignment: str, course: Path = ROOT) -> dict[str, str]:
    """``grade_id -> answer`` for every solution cell of the source notebook (the model answers)."""
    nb = nbformat.read(notebook_path(assignment, "source", course), as_version=4)
    return {grade_id(c): strip_markers(c.source) for c in nb.cells if is_solution(c)}


def written_answers(assignment: str, course: Path = ROOT) -> list[str]:
    """grade_ids of the answers written in prose (markdown solution cells, graded by hand)."""
    nb = nbformat.read(notebook_path(assignment, "source", course), as_version=4)
    return [grade_id(c) for c in nb.cells if is_solution(c) and c.cell_type == "markdown"]


def fill(release_notebook: Path, answers: dict[str, str]):
    """The release notebook with some solution cells replaced by ``answers`` (grade_id -> source)."""
    nb = nbformat.read(release_notebook, as_version=4)
    unknown = set(answers) - {grade_id(c) for c in nb.cells if is_solution(c)}
    if unknown:
        raise KeyError(f"no solution cell with grade_id {sorted(unknown)} in {release_notebook}")
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb
