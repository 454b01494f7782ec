"""nbgrader's exchange, for a course on a shared machine (a JupyterHub): release, collect, return feedback.

    release(course, "01_finite_differences")            release/<a>/ -> <exchange>/<course id>/outbound/<a>/
    collect(course, "01_finite_differences")            <exchange>/<course id>/inbound/ -> submitted/<student>/<a>/
    release_feedback(course, "01_finite_differences")   feedback/<student>/<a>/ -> <exchange>/<course id>/feedback/

These are nbgrader's own exchange steps (``nbgrader release_assignment``, ``collect``, ``release_feedback``),
run with the course's nbgrader_config.py over the machine's nbgrader configuration -- the files nbgrader
itself reads (``/etc/jupyter/nbgrader_config.py``, ``~/.jupyter/``, the folders of ``JUPYTER_CONFIG_PATH``):
that is where a hub sets ``Exchange.root``, so the instructor's commands and the students' Assignments
panel see the same exchange.  Grading between ``collect`` and ``release_feedback`` is the sandboxed
pipeline, unchanged: it reads ``submitted/`` and writes ``autograded/`` and the gradebook.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from autograder import course_dir


class ExchangeError(RuntimeError):
    """nbgrader's exchange step failed; the message has its log."""


def load_config(course: Path, exchange: Path | str | None = None, db: str | None = None):
    """The machine's nbgrader configuration, the course's nbgrader_config.py over it, then the overrides."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    for folder in reversed(jupyter_config_path()):  # the lowest priority first: later ones override
        if (Path(folder) / "nbgrader_config.py").is_file() and Path(folder).resolve() != Path(course).resolve():
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    config.merge(course_dir.load_config(course))
    if exchange is not None:
        config.Exchange.root = str(Path(exchange).resolve())
    if db is not None:
        config.CourseDirectory.db_url = db
    return config


def _run(step: str, course: Path, assignment: str, config, **kwargs) -> str:
    api = course_dir.api(course, config)
    result = getattr(api, step)(assignment, **kwargs)
    if not result or not result.get("success"):
        log = (result or {}).get("log") or ""
        error = (result or {}).get("error") or ""
        raise ExchangeError(f"nbgrader {step} {assignment} failed:\n{log}\n{error}".rstrip())
    return result.get("log") or ""


def release(course: Path, assignment: str, config=None) -> Path:
    """``nbgrader release_assignment``: the student version in ``release/`` goes to the exchange's outbound."""
    config = config if config is not None else load_config(course)
    if not (Path(course) / "release" / assignment).is_dir():
        raise ExchangeError(f"no release/{assignment}: run `python -m autograder build {assignment}` first")
    _run("release_assignment", course, assignment, config)
    return Path(config.Exchange.root) / config.CourseDirectory.course_id / "outbound" / assignment


def unrelease(course: Path, assignment: str, config=None) -> None:
    """``nbgrader list --remove``: take a released assignment back out of the exchange."""
    config = config if config is not None else load_config(course)
    _run("unrelease", course, assignment, config)


def collect(course: Path, assignment: str, config=None) -> list[str]:
    """``nbgrader collect``: each student's newest submission -> ``submitted/<student>/<assignment>/``.

    Returns the students whose submission is now in ``submitted/`` (all of them, collected before or now).
    """
    config = config if config is not None else load_config(course)
    _run("collect", course, assignment, config, update=True)
    root = Path(course) / "submitted"
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir()) if root.is_dir() else []


def release_feedback(course: Path, assignment: str, config=None) -> list[str]:
    """``nbgrader release_feedback``: ``feedback/<student>/<assignment>/`` -> the exchange, where each student's
    Assignments panel finds their own (named by a hash of a secret only their submission holds).

    The grading pipeline grades a staged copy of each submission and so does not carry nbgrader's
    ``submission_secret.txt`` into ``feedback/``; it is taken from ``submitted/``, where ``collect`` put it.
    Returns the students whose feedback was released.
    """
    config = config if config is not None else load_config(course)
    course = Path(course)
    released = []
    for folder in sorted((course / "feedback").glob(f"*/{assignment}")):
        student = folder.parent.name
        secret = course / "submitted" / student / assignment / "submission_secret.txt"
        if not any(folder.glob("*.html")):
            continue
        if not (folder / "submission_secret.txt").is_file():
            if not secret.is_file() or secret.is_symlink():
                continue  # not a submission from the exchange (an LMS zip): nothing to return it through
            shutil.copyfile(secret, folder / "submission_secret.txt")
        if not (folder / "timestamp.txt").is_file():
            continue
        released.append(student)
    if released:
        config.CourseDirectory.student_id_exclude = ",".join(
            sorted({p.parent.name for p in (course / "feedback").glob(f"*/{assignment}")} - set(released)))
        _run("release_feedback", course, assignment, config)
    return released


def hand_back(course: Path) -> int:
    """After root has graded a course that belongs to someone else (the instructor, on a hub), give them
    back what root wrote in it -- the gradebook, ``autograded/``, the statuses -- so that formgrader and
    the instructor's own commands, which run as the instructor, can write there.  Returns the count."""
    course = Path(course)
    owner = course.stat()
    if os.geteuid() != 0 or owner.st_uid == 0:
        return 0
    changed = 0
    for folder, dirs, files in os.walk(course):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if st.st_uid == 0:
                os.lchown(path, owner.st_uid, owner.st_gid)
                changed += 1
    return changed
