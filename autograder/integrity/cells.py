"""Which cells of a submission are the student's, and what role each one plays.

What is checked: the solution cells, and every code cell the student added or
edited.  Cells nbgrader restores from the gradebook (locked cells, test cells)
need no checking, and neither does instructor code left as it was; they are
still read, because what they import (the setup cell's ``np``, ``course``) is
what a solution can reach.

A cell's role comes from the instructor's notebook (``source_nb``) when there
is one: a student can edit a cell's metadata, so an added cell relabelled
"locked" must not escape the check, and a restored cell is checked as what
nbgrader puts back, not as what the file says.  Without ``source_nb`` the
metadata is all there is, and an instructor cell without nbgrader metadata
(the plot cells) counts as the student's.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from autograder.notebooks import grade_id, is_solution


@dataclass
class Cell:
    """One code cell of the submission."""

    index: int  # position in the notebook
    grade_id: str | None  # the solution cell's grade_id; None for any other cell
    checked: bool  # the student's code: solution cells, added or edited cells
    source: str  # what runs: for a restored cell, the instructor's version


def read_cells(nb, source_nb=None) -> list[Cell]:
    """The notebook's code cells, in order, each with its role decided (markdown and raw cells do not run)."""
    roles = _roles(source_nb) if source_nb is not None else None
    instructor_code, restored = set(), {}
    if source_nb is not None:
        for cell in source_nb.cells:
            if cell.get("cell_type") == "code" and not is_solution(cell):
                instructor_code.add(text(cell.get("source", "")).strip())
                if roles.get(grade_id(cell)) == "restored":
                    restored[grade_id(cell)] = text(cell.get("source", ""))
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        gid = grade_id(cell)
        role = (roles.get(gid, "student") if gid else "student") if roles is not None else role_of(cell)
        source = text(cell.get("source", ""))
        if role == "restored":
            source = restored.get(gid, source)  # what nbgrader puts back is what runs
            checked = False
        else:
            checked = role == "solution" or source.strip() not in instructor_code
        cells.append(Cell(index, gid if role == "solution" else None, checked, source))
    return cells


def answer_names(cells: list[Cell], source_nb) -> set[str]:
    """The names the exercises ask for: what the source's solution cells define, and the solution grade_ids.

    A solution may call another exercise's answer (``step_size_errors`` calls ``forward_difference``):
    that is the notebook's design, and AD inside that answer is flagged in its own cell, not again where
    it is called.
    """
    answers = {cell.grade_id for cell in cells if cell.grade_id}
    for cell in source_nb.cells if source_nb is not None else []:
        if not (is_solution(cell) and cell.get("cell_type") == "code"):
            continue
        try:  # the instructor's own code: parsed as plain Python, and a cell that is not simply is skipped
            body = ast.parse(text(cell.get("source", ""))).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                answers.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                answers.update(t.id for t in targets if isinstance(t, ast.Name))
    return answers


def role_of(cell) -> str:
    """"solution", "restored" (nbgrader restores it from the gradebook) or "student" (anything else)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if not meta.get("grade_id"):
        return "student"
    if meta.get("solution"):
        return "solution"
    if meta.get("grade") or meta.get("locked"):  # nbgrader treats test cells as locked
        return "restored"
    return "student"


def _roles(source_nb) -> dict[str, str]:
    return {grade_id(cell): role_of(cell) for cell in source_nb.cells if grade_id(cell)}


def text(source) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    return "".join(source) if isinstance(source, list) else str(source)
