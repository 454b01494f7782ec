"""A course directory (the repository root, or a copy of it) and nbgrader configured for it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from autograder.notebooks import ROOT

# What a course copy needs from the repository: the notebooks and nbgrader's configuration.
COURSE_FILES = ("nbgrader_config.py", "source", "release")


def kernel_environment() -> None:
    """Environment inherited by every grading kernel.

    The hidden test cells import ``autograder.hidden`` (so the repository
    root must be importable), and JAX must not print its GPU warning on
    stderr.
    """
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    # nbgrader runs `alembic` as a subprocess: it must be found next to this Python.
    bin_dir = str(Path(os.sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def make_copy(destination: Path) -> Path:
    """A fresh course directory at ``destination`` with this course's notebooks and configuration."""
    destination = Path(destination)
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for name in COURSE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, destination / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            shutil.copy2(src, destination / name)
    return destination


def load_config(course: Path):
    """The course's nbgrader_config.py, with the course directory as its root."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(Path(course).resolve())
    return config


def api(course: Path, config=None):
    """An ``NbGraderAPI`` for ``course``, configured by its nbgrader_config.py (or by ``config``)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    kernel_environment()
    config = config if config is not None else load_config(course)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
