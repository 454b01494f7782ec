"""Every source notebook runs end to end (solutions, visible and hidden tests) in a real kernel."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import notebooks
from conftest import ROOT


def _execute(nb, allow_errors=False):
    os.environ["PYTHONPATH"] = str(ROOT)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def _errors(nb):
    return {notebooks.grade_id(c) or f"cell {i}": o for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"}


@pytest.mark.parametrize("assignment", notebooks.assignments(ROOT))
def test_source_notebook_runs_without_errors_and_draws_its_plots(assignment):
    nb = _execute(nbformat.read(notebooks.notebook_path(assignment, "source", ROOT), as_version=4))
    assert not _errors(nb), {k: (v.ename, v.evalue) for k, v in _errors(nb).items()}
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook should draw its plots"


@pytest.mark.parametrize("assignment", notebooks.assignments(ROOT))
def test_blank_release_notebook_fails_every_check_with_a_message(assignment):
    nb = _execute(nbformat.read(notebooks.notebook_path(assignment, "release", ROOT), as_version=4),
                  allow_errors=True)
    errors = _errors(nb)
    test_cells = [notebooks.grade_id(c) for c in nb.cells
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert set(test_cells) <= set(errors), f"checks that passed on a blank notebook: {set(test_cells) - set(errors)}"
    # The setup cell never fails, and a blank answer says so plainly.
    assert "setup" not in errors
    assert any(e.ename == "NotImplementedError" for e in errors.values())
