"""The course's public address, kept in one place (pyproject.toml), and what is generated from it.

Students meet the notebooks in three places: JupyterLab on a clone, Google Colab, or a download run
anywhere.  On Colab nothing of the repository is installed, so each notebook opens with a cell that
installs the ``course`` package from the repository's address; the README links every release notebook
to Colab.  Both are generated here from ``[project.urls] Repository`` in pyproject.toml: change the
address there (a fork, a new home) and ``python -m autograder build`` rewrites the cells and the links.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat

from autograder.notebooks import ROOT

BRANCH = "main"
COLAB_CELL_ID = "colab_setup"
README_START, README_END = "<!-- colab-links:start -->", "<!-- colab-links:end -->"


def repository(root: Path = ROOT) -> str:
    """``https://github.com/OWNER/NAME``, read from pyproject.toml."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return project["urls"]["Repository"].rstrip("/")


def package_spec(root: Path = ROOT) -> str:
    """What pip installs on Colab: the ``course`` package straight from the repository."""
    return f"course @ git+{repository(root)}@{BRANCH}"


def colab_url(notebook: Path, root: Path = ROOT) -> str:
    """The address that opens a committed notebook of the repository in Google Colab."""
    owner_and_name = repository(root).removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_and_name}/blob/{BRANCH}/" \
           f"{notebook.relative_to(root).as_posix()}"


def colab_cell_source(root: Path = ROOT) -> str:
    return f'''# Run this cell first. On Google Colab it installs the course's package (about half a minute);
# anywhere it switches JAX to float64 before JAX is imported, which the checks need.
import importlib.util
import os
import subprocess
import sys

os.environ["JAX_ENABLE_X64"] = "1"
COURSE_PACKAGE = os.environ.get("COURSE_PACKAGE", "{package_spec(root)}")
if "google.colab" in sys.modules and importlib.util.find_spec("course") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", COURSE_PACKAGE], check=True)
    importlib.invalidate_caches()  # let the next cell find the package just installed'''


def colab_cell(root: Path = ROOT):
    cell = nbformat.v4.new_code_cell(colab_cell_source(root))
    cell.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False, "locked": True,
                                 "task": False, "grade_id": COLAB_CELL_ID}
    cell["id"] = COLAB_CELL_ID.replace("_", "-")
    return cell


def refresh_notebook(path: Path, root: Path = ROOT) -> bool:
    """Make the notebook's first cell the current Colab cell; True if the file changed."""
    nb = nbformat.read(path, as_version=4)
    cell = colab_cell(root)
    first = nb.cells[0] if nb.cells else None
    is_colab_cell = first is not None and first.get("metadata", {}).get("nbgrader", {}).get("grade_id") == COLAB_CELL_ID
    if is_colab_cell and first.source == cell.source and first.metadata == cell.metadata:
        return False
    if is_colab_cell:
        nb.cells[0] = cell
    else:
        nb.cells.insert(0, cell)
    nbformat.write(nb, path)
    return True


def readme_block(root: Path = ROOT) -> str:
    """The README's table of release notebooks, each with its "Open in Colab" link."""
    lines = [README_START, "| notebook | open it in Colab |", "|---|---|"]
    for path in sorted((root / "release").glob("*/*.ipynb")):
        relative = path.relative_to(root).as_posix()
        lines.append(f"| [{relative}]({relative}) | [![Open In Colab]"
                     f"(https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path, root)}) |")
    lines.append(README_END)
    return "\n".join(lines)


def refresh_readme(root: Path = ROOT) -> bool:
    readme = root / "README.md"
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md needs the markers {README_START} ... {README_END} for the Colab links")
    new = pattern.sub(lambda _: readme_block(root), text)
    if new != text:
        readme.write_text(new)
    return new != text
