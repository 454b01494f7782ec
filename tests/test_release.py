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
    source = {notebooks.grade_id(c): c.source for c in
              nbformat.read(notebooks.notebook_path(assignment, "source", ROOT), as_version=4).cells}
    for cell in release.cells:
        gid = notebooks.grade_id(cell)
        if notebooks.is_solution(cell):
            # Only what lies outside the solution regions (signature, docstring, scaffolding) may survive.
            assert "NotImplementedError" in cell.source or "YOUR ANSWER HERE" in cell.source, gid
            inside, outside = _solution_regions(source[gid]) if "BEGIN SOLUTION" in source[gid] else (
                [line for line in source_answers[gid].splitlines() if not line.lstrip().startswith(("def ", '"""'))],
                [])
            leaked = [line for line in inside if line.strip() and line not in outside
                      and line in cell.source.splitlines()]
            assert not leaked, gid


@pytest.mark.parametrize("step", ["source", "release"])
def test_committed_notebooks_carry_no_outputs(step):
    for path in sorted((ROOT / step).glob("*/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path


def _solution_regions(text: str) -> tuple[list[str], list[str]]:
    """The lines inside ``### BEGIN/END SOLUTION`` regions, and those outside them."""
    inside, outside, in_region = [], [], False
    for line in text.splitlines():
        if "### BEGIN SOLUTION" in line or "### END SOLUTION" in line:
            in_region = "BEGIN" in line
            continue
        (inside if in_region else outside).append(line)
    return inside, outside


@pytest.mark.slow
@pytest.mark.xdist_group("solution-key")
def test_solution_key_is_executed_with_the_answers_and_without_hidden_tests(tmp_path):
    """`python -m autograder solutions`: what an instructor may publish for self-study."""
    from autograder import course_dir, grading
    assignment = "01_finite_differences"
    course = course_dir.make_copy(tmp_path / "course")
    folder = grading.generate_solution(course, assignment)
    (path,) = folder.glob("*.ipynb")
    key = nbformat.read(path, as_version=4)
    text = "\n".join(cell.source for cell in key.cells)
    assert "run_hidden_tests" not in text and "HIDDEN TESTS" not in text
    for gid, answer in notebooks.solutions(assignment, ROOT).items():
        assert notebooks.strip_markers(answer).strip().splitlines()[0] in text, gid
    code = [cell for cell in key.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "the key is executed"
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
