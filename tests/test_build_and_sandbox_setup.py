"""Building refuses broken nbgrader metadata; grading refuses to run without its sandbox."""

import nbformat
import pytest

from autograder import build, course_dir, notebooks, sandbox

A = "01_finite_differences"


def _course_with(tmp_path, edit):
    course = course_dir.make_copy(tmp_path / "course")
    path = notebooks.notebook_path(A, "source", course)
    nb = nbformat.read(path, as_version=4)
    edit(nb)
    nbformat.write(nb, path)
    return course


def _graded(nb):
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def test_the_source_notebook_is_valid():
    build.validate(A, notebooks.ROOT)


def test_a_duplicate_grade_id_is_refused_with_both_cells_named(tmp_path):
    def duplicate(nb):
        first, second = _graded(nb)[:2]
        second.metadata["nbgrader"]["grade_id"] = first.metadata["nbgrader"]["grade_id"]
    course = _course_with(tmp_path, duplicate)
    release = notebooks.notebook_path(A, "release", course)
    before = release.stat().st_mtime_ns
    with pytest.raises(build.SourceNotebookError, match=r"grade_id 'test_lecture_gradient' is already used by cell \d+"):
        build.build(course, A)
    assert release.stat().st_mtime_ns == before  # refused before nbgrader touched release/


def test_a_missing_grade_id_and_missing_points_are_refused(tmp_path):
    def break_metadata(nb):
        first, second = _graded(nb)[:2]
        del first.metadata["nbgrader"]["grade_id"]
        del second.metadata["nbgrader"]["points"]
    course = _course_with(tmp_path, break_metadata)
    with pytest.raises(build.SourceNotebookError) as error:
        build.validate(A, course)
    assert "has no grade_id" in str(error.value) and "has no positive points" in str(error.value)


def test_grading_refuses_to_run_unsandboxed(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda tool: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox.check_available()
