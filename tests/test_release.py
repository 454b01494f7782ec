"""release/ is exactly what nbgrader makes from source/, and gives nothing away."""

import json

import nbformat
import pytest

from autograder import course_dir, grading, notebooks
from conftest import ROOT

ASSIGNMENTS = notebooks.assignments(ROOT)


def _cells(path):
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, c.get("metadata", {}).get("nbgrader")) for c in nb.cells]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_regenerated_identically(assignment, tmp_path):
    course = course_dir.make_copy(tmp_path / "course")
    grading.build(course, assignment)
    fresh = notebooks.notebook_path(assignment, "release", course)
    committed = notebooks.notebook_path(assignment, "release", ROOT)
    assert _cells(fresh) == _cells(committed), (
        f"release/{assignment} is out of date: run `python -m autograder build {assignment}` and commit")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solutions_or_hidden_tests(assignment):
    release = nbformat.read(notebooks.notebook_path(assignment, "release", ROOT), as_version=4)
    source_answers = notebooks.solutions(assignment, ROOT)
    text = "\n".join(c.source for c in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "run_hidden_tests",
                   "Model answer", "Mark scheme"):
        assert marker not in text
    for cell in release.cells:
        gid = notebooks.grade_id(cell)
        if notebooks.is_solution(cell):
            # Only the signature and docstring may survive from the model answer.
            assert "NotImplementedError" in cell.source or "YOUR ANSWER HERE" in cell.source, gid
            body = [line for line in source_answers[gid].splitlines()
                    if line.strip() and not line.lstrip().startswith(("def ", '"""'))]
            assert not [line for line in body if line in cell.source.splitlines()], gid


@pytest.mark.parametrize("step", ["source", "release"])
def test_committed_notebooks_carry_no_outputs(step):
    for path in sorted((ROOT / step).glob("*/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path
