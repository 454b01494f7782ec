"""Grading is proven end to end: real `nbgrader autograde`, real kernels, a real SQLite gradebook.

A temporary course gets the reference answers, the blank release notebook,
every catalogued mistake, and a correct answer that prints a warning.  Each
must score exactly what is asserted here, and a lost exercise must come
with feedback that names the mistake.
"""

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import course_dir, demo, grading, notebooks
from autograder.mistakes import catalogue
from conftest import ROOT

ASSIGNMENTS = notebooks.assignments(ROOT)

# Each assignment's class is graded once per run (see ``graded``); its tests carry one xdist group, which
# keeps them on one worker where pytest-xdist honours the mark.
def _group(assignment):
    return pytest.mark.xdist_group(f"plain-nbgrader-{assignment}")


BY_ASSIGNMENT = [pytest.param(a, marks=_group(a), id=a) for a in ASSIGNMENTS]
_CLASSES: dict = {}


def _manual(assignment):
    """The written answers, graded by hand."""
    return set(notebooks.written_answers(assignment, ROOT))


# A correct answer that warns *while a test cell calls it*, so the warning lands on the test cell's stderr:
# (assignment, function) -> the model answer with a warning as the function's first statement.
WARNS_WHEN_CALLED = {"01_finite_differences": "forward_difference"}


def _warns_but_correct(assignment, correct, first):
    """A correct submission that also writes a warning to stderr (at call time where one is named)."""
    if assignment in WARNS_WHEN_CALLED:
        cell = WARNS_WHEN_CALLED[assignment]
        signature, body = correct[cell].strip().split("\n", 1)  # "def name(...):", then the model body
        return {cell: f"import warnings\n\n{signature}\n"
                      f"    warnings.warn('this warning must not cost any points')\n{body}"}
    return {first: 'import warnings\nwarnings.warn("this warning must not cost any points")\n' + correct[first]}


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], PYTHONPATH=str(ROOT),
               JAX_PLATFORMS="cpu")
    return subprocess.run([str(Path(bin_dir) / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture
def graded(assignment, tmp_path_factory):
    """The graded class of one assignment, graded once per test run even when workers share the tests.

    (pytest-xdist does not always keep an assignment's tests on one worker, so the class is graded under
    a file lock in a folder all workers of this run share, and the others read the results.)
    """
    if assignment not in _CLASSES:
        shared = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            shared = shared.parent  # the run's folder, above each worker's own
        folder = shared / "graded-classes" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / "done").exists():
                _grade_the_class(assignment, folder / "course")
                (folder / "done").touch()
        _CLASSES[assignment] = assignment, folder / "course", grading.results(folder / "course", assignment)
    return _CLASSES[assignment]


def _grade_the_class(ASSIGNMENT, path):
    course = course_dir.make_copy(path)
    build = _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert build.returncode == 0, build.stderr
    submissions = demo.demo_submissions(ASSIGNMENT, course)
    release = notebooks.notebook_path(ASSIGNMENT, "release", course)
    correct = demo.correct_answers(ASSIGNMENT, course)
    first = next(iter(notebooks.solutions(ASSIGNMENT, course)))
    submissions["warns_but_correct"] = notebooks.fill(
        release, {**correct, **_warns_but_correct(ASSIGNMENT, correct, first)})
    demo.write_submissions(course, ASSIGNMENT, submissions)
    run = _nbgrader(course, "autograde", ASSIGNMENT, "--force")
    assert run.returncode == 0, run.stderr[-3000:]
    feedback = _nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    return course


def _auto_cells(assignment, result):
    return {gid: c for gid, c in result.cells.items() if gid not in _manual(assignment)}


@pytest.mark.parametrize("assignment", BY_ASSIGNMENT)
def test_reference_solution_gets_every_automatic_point(graded):
    assignment, _, results = graded
    cells = _auto_cells(assignment, results["correct"])
    assert cells and all(c.score == c.max_score for c in cells.values()), \
        {g: (c.score, c.message) for g, c in cells.items()}
    assert _manual(assignment)
    for gid in _manual(assignment):
        assert results["correct"].cells[gid].needs_manual_grade


@pytest.mark.parametrize("assignment", BY_ASSIGNMENT)
def test_a_warning_on_stderr_costs_nothing(graded):
    assignment, _, results = graded
    cells = _auto_cells(assignment, results["warns_but_correct"])
    assert all(c.score == c.max_score for c in cells.values()), {g: c.message for g, c in cells.items()}


@pytest.mark.parametrize("assignment", BY_ASSIGNMENT)
def test_untouched_release_notebook_scores_zero(graded):
    assignment, _, results = graded
    assert results["blank"].score == 0
    assert all(c.score == 0 for c in _auto_cells(assignment, results["blank"]).values())


@pytest.mark.parametrize("assignment, mistake", [
    pytest.param(a, m, marks=_group(a), id=f"{a}-{m.name}") for a in ASSIGNMENTS for m in catalogue(a)])
def test_each_mistake_loses_its_exercise_and_is_named(graded, mistake):
    assignment, _, results = graded
    cells = _auto_cells(assignment, results[mistake.name])
    lost = {gid for gid, c in cells.items() if c.score < c.max_score}
    assert lost == set(mistake.loses), f"{mistake.name}: lost {lost}, expected {set(mistake.loses)}"
    for gid in mistake.loses:
        assert cells[gid].score == 0
    message = cells[mistake.loses[0]].message
    assert mistake.message in message, f"{mistake.name}: feedback was {message!r}"


@pytest.mark.parametrize("assignment", BY_ASSIGNMENT)
def test_feedback_never_shows_hidden_tests(graded):
    assignment, course, results = graded
    pages = list((course / "feedback").glob(f"*/{assignment}/*.html"))
    assert len(pages) == len(results)
    for page in pages:
        html = page.read_text()
        assert "run_hidden_tests" not in html and "HIDDEN TESTS" not in html, page
        assert "Model answer" not in html and "Mark scheme" not in html, page
    first = catalogue(assignment)[0]  # the feedback page names the mistake
    mistake = (course / "feedback" / first.name / assignment).glob("*.html")
    assert first.message in next(mistake).read_text()
    if assignment == "01_finite_differences":
        mistake = (course / "feedback" / "forward_wrong_sign" / assignment).glob("*.html")
        assert "wrong way round" in next(mistake).read_text()
