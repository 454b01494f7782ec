"""The grading policy: which exercises a finding takes automatic credit from.

The checker never decides a grade.  A finding means "a human should look",
and until one has, the exercises it concerns get no automatic credit.  Which
exercises those are is decided here, from the layout of the instructor's
notebook: each solution cell is followed by the test cells that judge it.
"""

from __future__ import annotations

from autograder.integrity.rules import LOCAL_RULES
from autograder.notebooks import grade_id, is_solution


def solution_to_tests(source_nb) -> dict[str, list[str]]:
    """``solution grade_id -> grade_ids of the test cells that judge it``, from the source notebook's layout.

    Each solution cell is followed by its test cell(s); a test cell belongs to the last solution cell above
    it.  A solution cell that is graded itself (a written answer, graded by hand) also maps to itself, so a
    finding in it withholds its own points.
    """
    mapping: dict[str, list[str]] = {}
    current = None
    for cell in source_nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if is_solution(cell):
            current = grade_id(cell)
            mapping[current] = [current] if meta.get("grade") else []
        elif current is not None and meta.get("grade") and cell.get("cell_type") == "code":
            mapping[current].append(grade_id(cell))
    return mapping


def flags_by_exercise(findings, solution_to_tests: dict[str, list[str]]) -> dict[str, list[str]]:
    """``test grade_id -> messages``: which test cells each finding invalidates.

    Only a forbidden AD library or call is local: found in solution cell S, it concerns S's tests only.  Anything
    else (a patched module, ``exec``, file or process access, a cell too complex to check, ...) may change
    the whole kernel, and so every check and every probe after it: it concerns every test, wherever it was
    written.  So does any finding in a cell the student added (or in a cell the mapping does not know).
    """
    every_test = list(dict.fromkeys(test for tests in solution_to_tests.values() for test in tests))
    flags: dict[str, dict[str, None]] = {}  # insertion-ordered sets: linear in the number of findings
    for finding in findings:
        local = finding.grade_id is not None and finding.rule in LOCAL_RULES
        tests = solution_to_tests.get(finding.grade_id) if local else None
        for test in every_test if tests is None else tests:
            flags.setdefault(test, {})[finding.message] = None
    return {test: list(messages) for test, messages in flags.items()}
