"""The ways students meet the course work on the first try: Colab, self-study anywhere, and the links to them.

The Colab path is simulated for real: the ``course`` wheel is built, a fresh virtual environment gets the
course's dependencies but neither the package nor anything of the repository, and each release notebook
runs there in a real kernel that believes it is on Colab (``google.colab`` is imported at start-up).  Its
first cell must then install the package itself, as it would from the repository on Colab (here from the
wheel, through the ``COURSE_PACKAGE`` override), and every visible check must pass with the reference
answers filled in, and fail with a message (never crash the set-up) on the blank notebook.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import links, notebooks
from conftest import ROOT, error_outputs

RELEASES = sorted((ROOT / "release").glob("*/*.ipynb"))
SOURCES = sorted((ROOT / "source").glob("*/*.ipynb"))


# --- the repository's address, in one place ---------------------------------------------------------------


@pytest.mark.parametrize("path", SOURCES + RELEASES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_notebook_opens_with_the_generated_colab_cell(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.source == links.colab_cell_source(), f"{path}: run `python -m autograder build` to refresh it"
    assert links.repository() in first.source
    assert first.metadata["nbgrader"]["locked"], "students must not edit the set-up cell"


def test_readme_links_every_release_notebook_to_colab():
    readme = (ROOT / "README.md").read_text()
    assert links.readme_block() in readme, "run `python -m autograder build` to refresh the README's links"
    targets = re.findall(r"https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/main/([^)\s]+)", readme)
    assert sorted(targets) == sorted(p.relative_to(ROOT).as_posix() for p in RELEASES)
    for target in targets:
        assert (ROOT / target).is_file(), target
    local = re.findall(r"\]\((release/[^)]+\.ipynb)\)", readme)
    assert local and all((ROOT / target).is_file() for target in local)


def test_the_address_comes_from_pyproject_only():
    """No other file spells out the repository's address (the generated cells and links aside)."""
    address = links.repository()
    owners = {p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".yml", ".toml", ".cfg"}
              and ".venv" not in p.parts and ".cache" not in p.parts and address in p.read_text(errors="ignore")}
    assert owners == {ROOT / "pyproject.toml"}


# --- the Colab simulation ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """A fresh environment with the course's dependencies and a kernel that thinks it runs on Colab."""
    tmp = tmp_path_factory.mktemp("colab")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist"), str(ROOT)], check=True)
    (wheel,) = (tmp / "dist").glob("course-*.whl")
    env_dir = tmp / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    dependencies = [d for d in _project()["dependencies"]] + ["ipykernel"]
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *dependencies],
                   check=True)
    fake = tmp / "colab-runtime"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab\'s own module."""\n')
    (fake / "google" / "colab" / "output.py").write_text('"""Colab\'s output helpers (JAX imports them on Colab)."""\n')
    (fake / "sitecustomize.py").write_text("import google.colab  # Colab imports it before any cell runs\n")
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(env_dir), "--name", "colab-sim"],
                   check=True, capture_output=True)
    spec_file = env_dir / "share" / "jupyter" / "kernels" / "colab-sim" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec["env"] = {"PYTHONPATH": str(fake), "COURSE_PACKAGE": str(wheel), "JAX_PLATFORMS": "cpu"}
    spec_file.write_text(json.dumps(spec))
    return {"python": python, "jupyter_path": str(env_dir / "share" / "jupyter"), "tmp": tmp}


def _project():
    import tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _run_in_colab(colab, nb, workdir: Path, monkeypatch):
    workdir.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("JUPYTER_PATH", colab["jupyter_path"])
    client = NotebookClient(nb, timeout=300, kernel_name="colab-sim", allow_errors=True,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return nb


@pytest.mark.slow
@pytest.mark.xdist_group("colab")
def test_colab_with_the_reference_answers_every_visible_check_passes(colab, tmp_path, monkeypatch):
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert subprocess.run([str(colab["python"]), "-c", "import course"], capture_output=True, env=clean,
                          cwd=colab["tmp"]).returncode != 0, \
        "the fresh environment must start without the course package: its first cell installs it"
    for release in RELEASES:
        assignment = release.parent.name
        nb = notebooks.fill(release, notebooks.solutions(assignment))
        _run_in_colab(colab, nb, tmp_path / assignment, monkeypatch)
        errors = error_outputs(nb)
        assert not errors, f"{assignment}: " + "; ".join(
            f"cell {i}: {o.ename}: {o.evalue[:300]}" for i, o in errors)
        shown = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert "course ready" in shown, f"{assignment}: the set-up cell did not prepare the course"
        images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
        assert images >= 1, f"{assignment}: no plot was drawn"


@pytest.mark.slow
@pytest.mark.xdist_group("colab")
def test_colab_with_a_blank_notebook_the_checks_fail_with_messages(colab, tmp_path, monkeypatch):
    for release in RELEASES:
        assignment = release.parent.name
        nb = nbformat.read(release, as_version=4)
        _run_in_colab(colab, nb, tmp_path / assignment, monkeypatch)
        errors = error_outputs(nb)
        setup_cells = {i for i, cell in enumerate(nb.cells)
                       if notebooks.grade_id(cell) in {links.COLAB_CELL_ID, "setup"}}
        assert not [i for i, _ in errors if i in setup_cells], f"{assignment}: a set-up cell crashed"
        tests = [i for i, cell in enumerate(nb.cells) if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
                 and cell.cell_type == "code"]
        failing = {i for i, _ in errors}
        assert set(tests) <= failing, f"{assignment}: a check passed on a blank notebook"
        for i, output in errors:
            assert output.ename in {"NotImplementedError", "CheckFailed", "AssertionError", "NameError",
                                    "TypeError"}, f"{assignment} cell {i}: {output.ename}: {output.evalue}"


# --- self-study: a hint after every exercise --------------------------------------------------------------

HINT_START = "<details><summary><b>Hint</b>"


@pytest.mark.parametrize("path", SOURCES + RELEASES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_exercise_is_followed_by_a_hint_that_unfolds(path):
    cells = nbformat.read(path, as_version=4).cells
    graded = [i for i, cell in enumerate(cells) if cell.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert graded
    for i in graded:
        hint = cells[i + 1] if i + 1 < len(cells) else None
        assert hint is not None and hint.cell_type == "markdown" and hint.source.startswith(HINT_START), \
            f"{path.name}: no hint after {notebooks.grade_id(cells[i])}"
        assert hint.source.rstrip().endswith("</details>") and len(hint.source) > len(HINT_START) + 80
